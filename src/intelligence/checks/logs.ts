/**
 * Log windows (job checks): bursts of FATAL/PANIC in PostgreSQL logs, disk I/O errors and full disks in
 * any log, and error patterns that keep repeating. Input through src/storage/queries/security.sql.ts.
 */
import {
  activeServers,
  type DiskErrorGroup,
  diskErrors,
  type ErrorPattern,
  errorPatterns,
  type FatalBurst,
  fatalBursts,
  type ReportedLogSource,
  reportedLogSources,
} from '../../storage/queries/security.sql.js';
import type { JobCheck, JobObservation, Scope } from './types.js';
import { cut, grade, isoTime, literal, shellWord } from './util.js';

const burstWindowMs = 5 * 60_000;
/** I/O errors come in clusters with quiet minutes between: a longer window keeps one episode one finding. */
const diskWindowMs = 15 * 60_000;
const patternWindowMs = 60 * 60_000;
/** The smallest count the pattern query returns (the threshold's minimum), to keep its answer small. */
const patternFloor = 5;
const activeServerMs = 60 * 60_000;
const maxPerServer = 20;

const scopesOf = (servers: readonly number[]): Scope[] =>
  servers.map((serverId) => ({ serverId, targetId: null }));

/** Keeps at most `maxPerServer` observations per server (inputs come largest first). */
function capped(): (o: JobObservation) => boolean {
  const n = new Map<number, number>();
  return (o) => {
    const c = n.get(o.serverId) ?? 0;
    n.set(o.serverId, c + 1);
    return c < maxPerServer;
  };
}

/** A log source's files as its agent reported them (status.logSources), fit to paste into a shell. */
export interface SourceFiles {
  parser: string;
  paths: string[];
}

/**
 * Paths given to a shell as they are (so that their globs expand): absolute, of letters, digits,
 * `_ . , + @ % = : / -` and the glob characters `* ? [ ]` only. An agent's report is input like any other:
 * a path with anything else is left out of the command.
 */
const shellSafePath = /^\/[A-Za-z0-9_.,+@%=:/*?[\]-]{1,1023}$/;

/** By `${serverId} ${source}`, the files of each source as the first agent reporting it says (≤ 10 paths). */
export function sourceFiles(rows: readonly ReportedLogSource[]): Map<string, SourceFiles> {
  const out = new Map<string, SourceFiles>();
  for (const r of rows) {
    const key = `${r.serverId} ${r.source}`;
    if (out.has(key) || !Array.isArray(r.paths)) continue;
    const paths = r.paths
      .slice(0, 10)
      .filter((p): p is string => typeof p === 'string' && shellSafePath.test(p));
    if (paths.length === 0) continue;
    out.set(key, { parser: typeof r.parser === 'string' ? r.parser.slice(0, 50) : '', paths });
  }
  return out;
}

/** The last FATAL and PANIC lines of a PostgreSQL log, in its files when they are known. */
export function fatalLinesCommand(files: SourceFiles | undefined): string {
  if (!files) return `grep -E ' (FATAL|PANIC): ' /var/log/postgresql/*.log | tail -n 50`;
  const pattern =
    files.parser === 'postgresql_json'
      ? `'"error_severity":"(FATAL|PANIC)"'`
      : files.parser === 'postgresql_csv'
        ? `',(FATAL|PANIC),'`
        : `' (FATAL|PANIC): '`;
  return `grep -E ${pattern} ${files.paths.join(' ')} | tail -n 50`;
}

export const pgFatalBurst: JobCheck<{
  servers: number[];
  bursts: FatalBurst[];
  sources: ReportedLogSource[];
}> = {
  id: 'logs.pg_fatal_burst',
  group: 'logs',
  mode: 'job',
  kind: 'alert',
  title: 'Burst of FATAL or PANIC in the PostgreSQL log',
  doc: {
    evidence:
      'FATAL and PANIC counts in 5 minutes, first and last time, the most frequent messages with their count and SQLSTATE',
    action:
      'read the messages in the log (`grep -E "(FATAL|PANIC):"` on the files the agent reads) and the sessions in `pg_stat_activity`',
  },
  thresholds: {
    warning: {
      default: 10,
      unit: 'count',
      help: 'FATAL entries in 5 minutes (authentication failures not counted)',
      min: 1,
      max: 100_000,
    },
    critical: {
      default: 100,
      unit: 'count',
      help: 'FATAL entries in 5 minutes; any PANIC is critical',
      min: 1,
      max: 1_000_000,
    },
  },
  clearAfter: 1,
  async load(db, now) {
    const bursts = await fatalBursts(db, new Date(now.getTime() - burstWindowMs), now);
    return {
      servers: await activeServers(db, new Date(now.getTime() - activeServerMs)),
      bursts,
      sources: await reportedLogSources(db, [...new Set(bursts.map((b) => b.serverId))]),
    };
  },
  evaluate(input, thresholdsFor) {
    const observations: JobObservation[] = [];
    const files = sourceFiles(input.sources);
    for (const b of input.bursts) {
      const fatal = Number(b.fatal) || 0;
      const panic = Number(b.panic) || 0;
      const severity = panic > 0 ? 'critical' : grade(fatal, thresholdsFor(b.serverId, null));
      if (!severity) continue;
      const top = (Array.isArray(b.top) ? b.top : []).slice(0, 5).map((m) => ({
        message: cut(String(m?.message ?? ''), 300),
        count: Number(m?.count) || 0,
        sqlstate: typeof m?.sqlstate === 'string' ? m.sqlstate.slice(0, 10) : null,
      }));
      const source = cut(b.source, 100);
      const logFiles = files.get(`${b.serverId} ${b.source}`);
      observations.push({
        serverId: b.serverId,
        targetId: null,
        object: source,
        severity,
        title:
          panic > 0
            ? `PANIC in the PostgreSQL log (${source})`
            : `${fatal} FATAL in 5 min in the PostgreSQL log (${source})`,
        explanation: `PostgreSQL wrote ${fatal} FATAL${panic > 0 ? ` and ${panic} PANIC` : ''} entries in 5 minutes. FATAL ends a session (clients see their connection dropped or refused); PANIC restarts the whole server. The most frequent: "${top[0]?.message ?? '?'}".`,
        evidence: {
          fatal,
          panic,
          first: isoTime(b.first),
          last: isoTime(b.last),
          window_s: burstWindowMs / 1000,
          top_messages: top,
          ...(logFiles ? { log_files: logFiles.paths } : {}),
        },
        action: `${fatalLinesCommand(logFiles)}; psql -c "SELECT pid, usename, datname, client_addr, backend_start, state FROM pg_stat_activity ORDER BY backend_start DESC LIMIT 20"`,
        value: fatal + panic,
      });
    }
    return { observations: observations.filter(capped()), scopes: scopesOf(input.servers) };
  },
};

/** The whole disk a partition is on, for smartctl: sdb1 → sdb, nvme0n1p2 → nvme0n1, dm-0 stays. */
export function wholeDisk(device: string): string {
  if (/^nvme\d+n\d+p\d+$/.test(device) || /^mmcblk\d+p\d+$/.test(device)) return device.replace(/p\d+$/, '');
  if (/^(?:sd|vd|xvd|hd)[a-z]+\d+$/.test(device)) return device.replace(/\d+$/, '');
  return device;
}

export const diskErrorCheck: JobCheck<{ servers: number[]; groups: DiskErrorGroup[] }> = {
  id: 'logs.disk_errors',
  group: 'logs',
  mode: 'job',
  kind: 'alert',
  title: 'Disk I/O errors or a full disk in the logs',
  doc: {
    evidence:
      'the device (I/O errors) or the log source (No space left on device), count in 15 minutes, first and last time, up to 5 lines',
    action:
      '`dmesg -T | tail -n 50` and `smartctl -a /dev/<disk>` for I/O errors; `df -h; df -i` for a full disk',
  },
  thresholds: {},
  clearAfter: 1,
  async load(db, now) {
    return {
      servers: await activeServers(db, new Date(now.getTime() - activeServerMs)),
      groups: await diskErrors(db, new Date(now.getTime() - diskWindowMs), now),
    };
  },
  evaluate(input) {
    const observations: JobObservation[] = [];
    for (const g of input.groups) {
      const count = Number(g.count) || 0;
      if (count <= 0) continue;
      const samples = (Array.isArray(g.samples) ? g.samples : []).slice(0, 5).map((s) => cut(String(s)));
      const evidence = {
        count,
        first: isoTime(g.first),
        last: isoTime(g.last),
        window_s: diskWindowMs / 1000,
        source: cut(g.source, 100),
        sample_lines: samples,
      };
      if (g.kind === 'io_error') {
        const device = cut(g.device, 64) || 'unknown';
        const disk = /^[\w.:-]+$/.test(device) ? wholeDisk(device) : null;
        observations.push({
          serverId: g.serverId,
          targetId: null,
          object: `io:${device}`,
          severity: 'critical',
          title: `${count} disk I/O errors on ${device}`,
          explanation: `The kernel reported ${count} I/O errors on ${device} in 15 minutes. The disk or its controller is failing or the filesystem is damaged: writes (PostgreSQL's WAL and data files among them) may have been lost. Check the disk now and be ready to fail over or restore.`,
          evidence: { ...evidence, device },
          action: `dmesg -T | tail -n 50${disk ? `; smartctl -a /dev/${disk}` : ''}`,
          value: count,
        });
      } else {
        const source = cut(g.source, 100);
        observations.push({
          serverId: g.serverId,
          targetId: null,
          object: `enospc:${source}`,
          severity: 'critical',
          title: `No space left on device (${source} log, ${count}×)`,
          explanation: `${count} log lines of ${source} in 15 minutes say "No space left on device": a filesystem is full. PostgreSQL stops (PANIC) when it cannot write WAL, and refuses writes when it cannot extend a data file.`,
          evidence,
          action: `df -h; df -i; du -xh --max-depth=2 /var | sort -h | tail -n 20`,
          value: count,
        });
      }
    }
    return { observations: observations.filter(capped()), scopes: scopesOf(input.servers) };
  },
};

/** The first step to see more of a pattern, by where it comes from. */
export function patternCommand(
  p: Pick<ErrorPattern, 'source' | 'component' | 'message' | 'context'>,
  files?: SourceFiles,
): string {
  const source = p.source.toLowerCase();
  if (source.startsWith('postgres') || source.startsWith('pg')) {
    const ctx = p.context && typeof p.context === 'object' ? p.context : {};
    const db =
      typeof ctx.database === 'string' && ctx.database !== ''
        ? ` AND datname = ${literal(ctx.database.slice(0, 100))}`
        : '';
    return `SELECT pid, usename, datname, application_name, client_addr, state, left(query, 200) FROM pg_stat_activity WHERE backend_type = 'client backend'${db} ORDER BY state_change DESC LIMIT 20;`;
  }
  if (p.component === 'kernel') return 'journalctl -k --since "-1h" -p err';
  if (/^[\w.@-]{1,64}$/.test(p.component))
    return `journalctl -t ${shellWord(p.component)} --since "-1h" -p err`;
  // The words before the first value: enough to find the lines, with nothing that varies.
  const fragment =
    p.message
      .split(/[0-9"'/]/)[0]!
      .trim()
      .slice(0, 60) || p.message.slice(0, 30);
  return files
    ? `grep -cHF -- ${shellWord(fragment)} ${files.paths.join(' ')} | grep -v ':0$'`
    : `grep -rcF -- ${shellWord(fragment)} /var/log/ | grep -v ':0$'`;
}

export const errorPatternCheck: JobCheck<{
  servers: number[];
  patterns: ErrorPattern[];
  sources: ReportedLogSource[];
}> = {
  id: 'logs.error_patterns',
  group: 'logs',
  mode: 'job',
  // An hour's window of every server's errors: a count over an hour moves slowly.
  intervalMs: 5 * 60_000,
  kind: 'recommendation',
  title: 'An error that keeps repeating',
  doc: {
    evidence:
      'the source, the program, a sample message, its fingerprint, count in the last hour, first and last time, a few context fields',
    action:
      'a diagnostic command for the source: `pg_stat_activity` for PostgreSQL, `journalctl -t <program>` for syslog programs, `grep -c` in the files the agent reads for others',
  },
  thresholds: {
    info: {
      default: 10,
      unit: 'count',
      help: 'entries of one error fingerprint in an hour above which it is reported',
      min: patternFloor,
      max: 1_000_000,
    },
    warning: {
      default: 1000,
      unit: 'count',
      help: 'entries of one error fingerprint in an hour above which it warns',
      min: patternFloor,
      max: 10_000_000,
    },
  },
  clearAfter: 2,
  async load(db, now) {
    const patterns = await errorPatterns(db, new Date(now.getTime() - patternWindowMs), now, patternFloor);
    return {
      servers: await activeServers(db, new Date(now.getTime() - activeServerMs)),
      patterns,
      sources: await reportedLogSources(db, [...new Set(patterns.map((p) => p.serverId))]),
    };
  },
  evaluate(input, thresholdsFor) {
    const observations: JobObservation[] = [];
    const files = sourceFiles(input.sources);
    for (const p of input.patterns) {
      const count = Number(p.count) || 0;
      const severity = grade(count, thresholdsFor(p.serverId, null), { info: 'info', warning: 'warning' });
      if (!severity) continue;
      const source = cut(String(p.source), 100);
      const component = cut(String(p.component ?? ''), 100);
      const message = cut(String(p.message ?? ''), 500);
      const context =
        p.context && typeof p.context === 'object' && !Array.isArray(p.context) ? p.context : {};
      observations.push({
        serverId: p.serverId,
        targetId: null,
        object: `${source}:${p.fingerprint}`,
        severity,
        title: `${count}× in 1 h from ${source}${component ? ` (${component})` : ''}: ${cut(message, 80)}`,
        explanation: `The same ${String(p.level)} repeated ${count} times in the last hour in the ${source} log: "${message}". A repeating error is usually one cause (a misconfigured client, a missing object, a full resource) worth fixing once.`,
        evidence: {
          source,
          component,
          fingerprint: String(p.fingerprint).slice(0, 16),
          level: String(p.level),
          count,
          first: isoTime(p.first),
          last: isoTime(p.last),
          message,
          context: JSON.parse(JSON.stringify(context)),
        },
        action: patternCommand(
          { source, component, message, context },
          files.get(`${p.serverId} ${String(p.source)}`),
        ),
        value: count,
      });
    }
    return { observations: observations.filter(capped()), scopes: scopesOf(input.servers) };
  },
};

export const logChecks = [pgFatalBurst, diskErrorCheck, errorPatternCheck];

/**
 * `pgvigil replay FILE`: runs a recorded or synthetic stream of batches (./replay-format.ts) through the
 * real server on a fresh store under a simulated clock, and prints every finding, incident and SLO
 * change it causes.
 *
 * What it guarantees: each batch goes through the real ingest route (`app.inject`, an enrolled agent's
 * credential): validation, ledger, COPY, then the ingest checks, whose findings are applied at the
 * batch's time (the engine's `clock`). At each minute boundary the stream crosses, the rollup, findings,
 * baselines, incidents, SLO and log-analysis jobs run as `pgvigil server` runs them, each at its own
 * interval of simulated time, with `now` = that boundary. After every step the store is read through the
 * same query functions the API uses and what changed is printed — so the times printed are the stream's,
 * never the wall clock's. A bad line is reported with its number and skipped; the rest still replays.
 *
 * Ingest refuses rows older than raw retention or in the future, so a stream that does not lie within
 * the last 6 days is moved as a whole (by whole minutes) to end a minute ago, and the times printed are
 * moved back: they are the file's.
 */
import { once } from 'node:events';
import { chmodSync, createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { gzipSync } from 'node:zlib';
import { PgvigilError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { batchMediaType } from '../protocol/batch.js';
import { type App, buildServerApp } from '../server/app.js';
import { createEnrollToken } from '../server/auth/agents.js';
import { baselinesJob } from '../server/jobs/baselines.js';
import { findingsJob } from '../server/jobs/findings.js';
import { incidentsJob } from '../server/jobs/incidents.js';
import { logAnalysisJob } from '../server/jobs/log-analysis.js';
import { rollupJob } from '../server/jobs/rollups.js';
import { type Job, runJobOnce } from '../server/jobs/runner.js';
import { slosJob } from '../server/jobs/slos.js';
import { openStore, type Store } from '../storage/db.js';
import { loadMigrations, migrate } from '../storage/migrate.js';
import { defaultRetention, maintainPartitions } from '../storage/partitions.js';
import { listFindings } from '../storage/queries/findings.sql.js';
import { listIncidents } from '../storage/queries/incidents.sql.js';
import { storeServerCount } from '../storage/queries/replay.sql.js';
import { serverName } from '../storage/queries/servers.sql.js';
import { listSlos } from '../storage/queries/slos.sql.js';
import { parseReplayLine, type ReplayLine, replayLimits, shiftTable, shiftTables } from './replay-format.js';

const minuteMs = 60_000;
const dayMs = 86_400_000;
/** How far back a stream may lie unmoved (raw retention is 7 days; a margin for the run itself). */
const maxAgeUnmovedMs = 6 * dayMs;

export interface ReplayEvent {
  time: string;
  kind: 'finding' | 'incident' | 'slo';
  key: string;
  event: 'opened' | 'resolved' | 'changed';
  severity: string;
  target: string;
  cause: string | null;
  explanation: string;
  /** Findings: the check and its one-line title; incidents: the title. */
  check?: string;
  title?: string;
}

export interface ReplayOptions {
  file: string;
  /** A fresh, empty database; without it a temporary embedded store. */
  databaseUrl?: string;
  json: boolean;
  out?: (s: string) => void;
  err?: (s: string) => void;
  log?: Logger;
}

export interface ReplaySummary {
  lines: number;
  replayed: number;
  skipped: number;
  events: number;
  shiftedMs: number;
  from: string | null;
  to: string | null;
}

interface Agent {
  agentId: string;
  credential: string;
  seq: number;
}

/** Reads the file's lines, numbered from 1, bounded in count. */
async function* lines(file: string): AsyncGenerator<{ n: number; text: string }> {
  const input = createReadStream(file, { encoding: 'utf8' });
  const open = once(input, 'open').catch((err: NodeJS.ErrnoException) => {
    throw new PgvigilError('BAD_ARGUMENT', `cannot read ${file}: ${err.message}`);
  });
  await open;
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  for await (const text of rl) {
    n++;
    if (n > replayLimits.maxLines) {
      throw new PgvigilError('BAD_ARGUMENT', `${file}: more than ${replayLimits.maxLines} lines`);
    }
    yield { n, text };
  }
}

/** First pass: the stream's first and last times, to decide whether it must be moved. */
async function timeRange(file: string): Promise<{ first: number; last: number } | undefined> {
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for await (const { text } of lines(file)) {
    if (text.trim() === '') continue;
    const p = parseReplayLine(text);
    // A line earlier than the one before is skipped by the replay: it does not count here either.
    if (!p.ok || p.line.time < last) continue;
    first = Math.min(first, p.line.time);
    last = p.line.time;
  }
  return Number.isFinite(first) ? { first, last } : undefined;
}

/** The shift that puts the stream within ingest's window, whole minutes; 0 when it already is. */
export function shiftFor(range: { first: number; last: number }, now: number): number {
  if (range.first >= now - maxAgeUnmovedMs && range.last <= now) return 0;
  if (range.last - range.first > maxAgeUnmovedMs - dayMs) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      'the stream spans more than 5 days: raw retention (7 days) cannot hold it; split the file',
    );
  }
  return Math.floor((now - minuteMs - range.last) / minuteMs) * minuteMs;
}

type Snapshot = {
  findings: Map<string, { state: string; severity: string }>;
  incidents: Map<string, { state: string; severity: string; cause: string | null }>;
  slos: Map<number, string>;
};

const emptySnapshot = (): Snapshot => ({ findings: new Map(), incidents: new Map(), slos: new Map() });

interface SloStatusView {
  sli?: number | null;
  budget?: { remainingFraction?: number | null; exhausted?: boolean };
}

/** An SLO's state as far as a replay reports it: budget exhausted, and which tenth of it remains. */
function sloSignature(status: unknown): string | null {
  if (typeof status !== 'object' || status === null) return null;
  const s = status as SloStatusView;
  const f = s.budget?.remainingFraction;
  if (f === null || f === undefined) return null;
  return `${s.budget?.exhausted === true}|${Math.floor(Math.max(-1, Math.min(1, f)) * 10)}`;
}

/** The file's parsed lines; blank ones are passed over, bad ones counted in `summary` and reported. */
async function* goodLines(
  file: string,
  summary: ReplaySummary,
  err: (s: string) => void,
): AsyncGenerator<{ n: number; line: ReplayLine }> {
  for await (const { n, text } of lines(file)) {
    summary.lines = n;
    if (text.trim() === '') continue;
    const p = parseReplayLine(text);
    if (p.ok) yield { n, line: p.line };
    else {
      summary.skipped++;
      err(`line ${n}: ${p.message}; skipped\n`);
    }
  }
}

export async function replay(opts: ReplayOptions): Promise<ReplaySummary> {
  const out = opts.out ?? ((s: string) => process.stdout.write(s));
  const err = opts.err ?? ((s: string) => process.stderr.write(s));
  const log = opts.log ?? createLogger('error');
  const summary: ReplaySummary = {
    lines: 0,
    replayed: 0,
    skipped: 0,
    events: 0,
    shiftedMs: 0,
    from: null,
    to: null,
  };
  const range = await timeRange(opts.file);
  if (!range) {
    // Nothing to replay: still read it once more so every bad line is reported.
    for await (const _ of goodLines(opts.file, summary, err));
    return summary;
  }
  const shift = shiftFor(range, Date.now());
  summary.shiftedMs = shift;
  if (shift !== 0) {
    err(
      `the stream is moved by ${Math.round(shift / minuteMs)} min to lie within raw retention; times printed are the file's\n`,
    );
  }

  let dir: string | undefined;
  if (!opts.databaseUrl) {
    dir = mkdtempSync(join(tmpdir(), 'pgvigil-replay-'));
    // The embedded PostgreSQL runs as its own user when started as root: it must enter the directory.
    chmodSync(dir, 0o755);
  }
  let store: Store | undefined;
  let built: App | undefined;
  try {
    store = await openStore({
      ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : { dataDir: join(dir!, 'data') }),
      log,
      applicationName: 'pgvigil replay',
    });
    const { latest } = await migrate(store.pool, log, await loadMigrations());
    if ((await storeServerCount(store.pool)) > 0) {
      throw new PgvigilError(
        'BAD_ARGUMENT',
        'the store already has servers: replay needs a fresh, empty database (or none: a temporary one is made)',
      );
    }
    const pool = store.pool;
    await maintainPartitions(pool, { log });
    let simNow = range.first + shift;
    const app = await buildServerApp({
      store,
      log,
      latestMigration: latest,
      clock: () => simNow,
      credentialCacheMs: 3_600_000,
      enrollLimit: { perSecond: 1e6, burst: 1e6 },
      ingestLimits: { agentRatePerSecond: 1e6, agentBurst: 1e6 },
    });
    built = app;
    await app.app.ready();

    const retention = defaultRetention;
    // The jobs `pgvigil server` runs that judge data (src/server/run.ts), in the order data flows.
    const jobs: Job[] = [
      rollupJob(retention),
      findingsJob(app.engine, minuteMs),
      baselinesJob(),
      incidentsJob({ retention }),
      slosJob(),
      logAnalysisJob(),
    ];
    const lastRun = new Map<string, number>();
    let prev = emptySnapshot();
    const fmt = (ms: number) => new Date(ms - shift).toISOString();
    const emit = (e: ReplayEvent) => {
      summary.events++;
      const { time, kind, key, event, severity, target, cause, explanation, ...rest } = e;
      const ordered = { time, kind, key, event, severity, target, cause, explanation, ...rest };
      if (opts.json) out(`${JSON.stringify(ordered)}\n`);
      else {
        const what = e.kind === 'finding' ? `${e.check} on ${e.target}` : `${e.key} on ${e.target}`;
        out(
          `${e.time} ${e.kind} ${e.event} ${e.severity} ${what}: ${e.title ?? e.explanation}${e.cause ? ` (cause: ${e.cause})` : ''}\n`,
        );
      }
    };
    const isoToFile = (iso: string | null, fallback: number) => fmt(iso ? Date.parse(iso) : fallback);

    /** Reads findings, incidents and SLOs; prints what changed since the last read. */
    const report = async (at: number) => {
      const next = emptySnapshot();
      const findings = await listFindings(pool, { limit: 100_000 });
      findings.sort((a, b) => Date.parse(a.openedAt) - Date.parse(b.openedAt) || Number(a.id) - Number(b.id));
      for (const f of findings) {
        const state = f.state === 'resolved' ? 'resolved' : 'open';
        next.findings.set(f.id, { state, severity: f.severity });
        const before = prev.findings.get(f.id);
        const base = {
          kind: 'finding' as const,
          key: f.key,
          severity: f.severity,
          target: `${f.serverName ?? f.serverId}${f.targetName ? `/${f.targetName}` : ''}${f.object ? ` ${f.object}` : ''}`,
          cause: null,
          explanation: f.explanation,
          check: f.check,
          title: f.title,
        };
        if (!before || (before.state === 'resolved' && state === 'open')) {
          emit({ ...base, time: before ? fmt(at) : isoToFile(f.openedAt, at), event: 'opened' });
        } else if (state === 'open' && before.severity !== f.severity) {
          emit({ ...base, time: fmt(at), event: 'changed' });
        }
        if (state === 'resolved' && before?.state !== 'resolved') {
          emit({ ...base, time: isoToFile(f.resolvedAt, at), event: 'resolved' });
        }
      }
      for (const i of await listIncidents(pool, { limit: 100_000 })) {
        const cause = typeof i.cause?.name === 'string' ? i.cause.name : null;
        next.incidents.set(i.id, { state: i.state, severity: i.severity, cause });
        const before = prev.incidents.get(i.id);
        const why =
          typeof i.cause?.explanation === 'string'
            ? i.cause.explanation
            : `${i.members} findings together; no known chain explains them`;
        const base = {
          kind: 'incident' as const,
          key: `incident:${i.id}`,
          severity: i.severity,
          target: i.serverName ?? String(i.serverId),
          cause,
          explanation: why,
          title: i.title,
        };
        if (!before) emit({ ...base, time: isoToFile(i.openedAt, at), event: 'opened' });
        else if (
          i.state === 'open' &&
          (before.severity !== i.severity || before.cause !== cause || before.state !== 'open')
        )
          emit({ ...base, time: fmt(at), event: 'changed' });
        if (i.state === 'resolved' && before?.state !== 'resolved')
          emit({ ...base, time: isoToFile(i.resolvedAt, at), event: 'resolved' });
      }
      const names = new Map<number, string>();
      const nameOf = async (id: number) => {
        let n = names.get(id);
        if (n === undefined) {
          n = (await serverName(pool, id)) ?? String(id);
          names.set(id, n);
        }
        return n;
      };
      for (const s of await listSlos(pool, { limit: 100_000 })) {
        const sig = sloSignature(s.status);
        if (sig === null) continue;
        next.slos.set(s.id, sig);
        if (prev.slos.get(s.id) === sig) continue;
        const st = s.status as SloStatusView;
        const left = st.budget?.remainingFraction ?? 0;
        emit({
          time: fmt(at),
          kind: 'slo',
          key: `slo:${s.id}`,
          event: 'changed',
          severity: st.budget?.exhausted ? 'critical' : left < 0.5 ? 'warning' : 'info',
          target: `${await nameOf(s.serverId)} ${s.name}`,
          cause: null,
          explanation: `${s.name}: SLI ${st.sli ?? 'n/a'} % against ${s.objective} %; ${Math.round(left * 100)} % of the error budget left${st.budget?.exhausted ? ' (exhausted)' : ''}`,
        });
      }
      prev = next;
    };

    /** Runs the jobs due at a minute boundary, in simulated time. */
    const tick = async (boundary: number) => {
      simNow = boundary;
      for (const job of jobs) {
        const last = lastRun.get(job.name);
        if (last !== undefined && boundary - last < job.intervalMs) continue;
        lastRun.set(job.name, boundary);
        await runJobOnce(pool, job, log, { now: new Date(boundary), wait: true });
      }
      await app.engine.idle();
      await report(boundary);
    };

    const agents = new Map<string, Agent>();
    const agentFor = async (server: string): Promise<Agent> => {
      const known = agents.get(server);
      if (known) return known;
      const { token } = await createEnrollToken(pool, {});
      const res = await app.app.inject({
        method: 'POST',
        url: '/api/v1/agents/enroll',
        payload: { token, hostname: server, os: 'linux', agentVersion: 'replay' },
      });
      if (res.statusCode !== 201) {
        throw new PgvigilError('BAD_ARGUMENT', `cannot enrol an agent for server ${server}: ${res.body}`);
      }
      const a = { ...(res.json() as { agentId: string; credential: string }), seq: 0 };
      agents.set(server, a);
      return a;
    };

    let boundary = Math.floor((range.first + shift) / minuteMs) * minuteMs;
    let lastTime = Number.NEGATIVE_INFINITY;
    const push = async (n: number, line: ReplayLine) => {
      const t = line.time + shift;
      if (t < lastTime) {
        summary.skipped++;
        err(`line ${n}: time ${new Date(line.time).toISOString()} is before the previous line's; skipped\n`);
        return;
      }
      lastTime = t;
      for (let b = boundary + minuteMs; b <= t; b += minuteMs) {
        await tick(b);
        boundary = b;
      }
      simNow = t;
      const agent = await agentFor(line.server);
      const body = {
        v: 1,
        agentId: agent.agentId,
        seq: agent.seq + 1,
        sealedAt: t,
        families: shiftTables(line.families, shift),
        ...(line.logs !== undefined ? { logs: shiftTable(line.logs, shift) } : {}),
        ...(line.gaps !== undefined ? { gaps: line.gaps } : {}),
        ...(line.status !== undefined ? { status: line.status } : {}),
      };
      const res = await app.app.inject({
        method: 'POST',
        url: '/api/v1/ingest',
        headers: {
          authorization: `Bearer ${agent.credential}`,
          'content-type': batchMediaType,
          'content-encoding': 'gzip',
        },
        payload: gzipSync(JSON.stringify(body)),
      });
      if (res.statusCode !== 200) {
        summary.skipped++;
        let why = res.body;
        try {
          const e = (res.json() as { error?: { code?: string; message?: string } }).error;
          if (e?.code && e.message) why = `${e.code}: ${e.message}`;
        } catch {}
        err(`line ${n}: refused by ingest (${res.statusCode} ${why}); skipped\n`);
        return;
      }
      agent.seq++;
      summary.replayed++;
      const rejected = (res.json() as { rejectedRows?: { future?: number; tooOld?: number } }).rejectedRows;
      if (rejected && (rejected.future || rejected.tooOld)) {
        err(
          `line ${n}: ingest dropped ${rejected.tooOld ?? 0} rows older than raw retention and ${rejected.future ?? 0} rows in the future\n`,
        );
      }
      summary.from ??= new Date(line.time).toISOString();
      summary.to = new Date(line.time).toISOString();
      await app.engine.idle();
      await report(t);
    };

    for await (const { n, line } of goodLines(opts.file, summary, err)) await push(n, line);
    // The minute the stream ends in is judged too, and the one after (the jobs read complete minutes).
    for (let k = 0; k < 2; k++) {
      boundary += minuteMs;
      await tick(boundary);
    }
    return summary;
  } finally {
    await built?.app.close().catch(() => {});
    await store?.close().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

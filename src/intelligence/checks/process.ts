/**
 * Watched-process checks on ingest (host_process: one row per watch, summed over its matching processes):
 * a watch that matches nothing, a main process stuck in a bad state, and CPU, memory, file descriptors and
 * threads over seed 000's limits (watchdog process health and the recommendation table).
 *
 * The resource limits are per process: the row's sums divided by `processes`. A watched `postgres` with a
 * hundred backends sums a hundred RSS figures that each count the shared buffers they touched, a hundred
 * fd tables and a hundred CPU shares — a healthy cluster would cross any per-process limit summed. Per
 * process is also what the limits are about (RLIMIT_NOFILE, the OOM killer's choice). The price: one
 * runaway process among many idle ones is diluted by the average; a single-process watch (an API, a
 * pooler) is judged exactly.
 */
import type { Severity } from '../model.js';
import { forSpec, maxText, sustainedGrade } from './host.js';
import type { Draft, IngestCheck, Row, ScopeRows, Thresholds } from './types.js';
import { cut, grade, humanBytes, humanSeconds, num, round2, shellWord, str } from './util.js';

/** At most this many watches are looked at per batch (the agent's list is configuration, but untrusted). */
const maxWatches = 64;

function watchesOf(input: ScopeRows): Row[] {
  return input.latest('host_process').slice(0, maxWatches);
}

function isPattern(watch: string): boolean {
  return watch.startsWith('/');
}

/** The shell commands that show a watched process: its unit and log for a name, the matches for a pattern. */
export function processAction(watch: string, pid: number | null): string {
  if (isPattern(watch)) {
    const re = watch.replace(/^\/|\/i?$/g, '');
    return `pgrep -af ${shellWord(re)}${pid !== null ? `; systemctl status ${pid}; cat /proc/${pid}/status` : ''}`;
  }
  const name = shellWord(watch);
  return pid !== null
    ? `systemctl status ${pid}; ps -o pid,stat,rss,etime,cmd -C ${name}; cat /proc/${pid}/status`
    : `systemctl status ${name}; journalctl -u ${name} --since "-15 min"`;
}

function evidenceOf(r: Row): Record<string, string | number | boolean | null> {
  return {
    watch: cut(str(r.watch), maxText),
    processes: num(r.processes),
    pid: num(r.pid),
    state: cut(str(r.state), 40),
    cpu_pct: num(r.cpu_pct),
    rss_bytes: num(r.rss_bytes),
    fds: num(r.fds),
    threads: num(r.threads),
    uptime_s: num(r.uptime_s),
    ts: new Date(num(r.ts) ?? 0).toISOString(),
  };
}

export const processMissing: IngestCheck = {
  id: 'process.missing',
  group: 'process',
  mode: 'ingest',
  scope: 'host',
  kind: 'alert',
  title: 'Watched process not running',
  doc: {
    evidence: 'the watch (name or /pattern/) that matched no process, when it was last looked for',
    action: '`systemctl status <name>; journalctl -u <name> --since "-15 min"` (`pgrep -af` for a pattern)',
  },
  inputs: ['host_process'],
  thresholds: {},
  // A process that is back is back: one sample that finds it resolves (seed 000's watchdog does the same).
  clearAfter: 1,
  evaluate(input) {
    const out: Draft[] = [];
    for (const r of watchesOf(input)) {
      if (r.up !== false || r.state !== 'missing') continue;
      const watch = cut(str(r.watch), maxText);
      out.push({
        object: watch,
        severity: 'critical',
        title: `${watch} is not running`,
        explanation: `No process on this host matches the watch ${watch}. Whatever it serves is down; a crash or an OOM kill shows in its log.`,
        evidence: evidenceOf(r),
        action: processAction(watch, null),
        value: null,
      });
    }
    return out;
  },
};

const badStates: Record<string, string> = {
  zombie:
    'has exited but its parent has not collected it (a zombie): it does no work, and whatever it served is gone',
  'disk-sleep':
    'is blocked in uninterruptible I/O (D state): it cannot even be killed until the I/O returns, often a hung disk or NFS server',
  stopped: 'is stopped (SIGSTOP or a debugger): it does no work until it gets SIGCONT',
};

export const processState: IngestCheck = {
  id: 'process.state',
  group: 'process',
  mode: 'ingest',
  scope: 'host',
  kind: 'alert',
  title: 'Watched process stuck (zombie, D state, stopped)',
  doc: {
    evidence: 'the state of the main (oldest) matching process, its pid, how long it held',
    action:
      '`ps -o pid,stat,rss,etime,cmd -C <name>; cat /proc/<pid>/status` (and `cat /proc/<pid>/stack` for D state)',
  },
  inputs: ['host_process'],
  thresholds: {
    // A process is in D state for every disk read it waits on: only minutes of it mean a hang.
    for_s: { ...forSpec, default: 120 },
  },
  evaluate(input, t) {
    const out: Draft[] = [];
    const series = new Map<string, Row[]>();
    for (const r of input.rows('host_process')) {
      const w = str(r.watch);
      let rows = series.get(w);
      if (!rows) {
        if (series.size >= maxWatches) continue;
        rows = [];
        series.set(w, rows);
      }
      rows.push(r);
    }
    for (const [w, rows] of series) {
      const watch = cut(w, maxText);
      const last = rows[rows.length - 1]!;
      const state = str(last.state);
      let heldS = 0;
      for (const r of rows) {
        heldS = input.since(
          `process.state|${watch}`,
          r.up === true && Object.hasOwn(badStates, str(r.state)) && str(r.state) === state,
          num(r.ts) ?? 0,
        );
      }
      if (!Object.hasOwn(badStates, state) || heldS < (t.for_s ?? 0)) continue;
      const pid = num(last.pid);
      out.push({
        object: watch,
        severity: 'warning',
        title: `${watch} is ${state} for ${humanSeconds(heldS)}`,
        explanation: `The main process of ${watch}${pid !== null ? ` (pid ${pid})` : ''} ${badStates[state]}.`,
        evidence: { ...evidenceOf(last), held_s: Math.round(heldS) },
        action: `${processAction(watch, pid)}${state === 'disk-sleep' && pid !== null ? `; cat /proc/${pid}/stack` : ''}`,
        value: null,
      });
    }
    return out;
  },
};

interface ResourceRule {
  id: string;
  title: string;
  column: string;
  /** What the value is, for titles and explanations. */
  show(v: number): string;
  why: string;
}

/** A per-process resource check: the row's sum divided by its `processes`. */
function resourceCheck(
  rule: ResourceRule,
  thresholds: IngestCheck['thresholds'],
  names: { info?: string; warning?: string; critical?: string },
  sustained: boolean,
): IngestCheck {
  return {
    id: rule.id,
    group: 'process',
    mode: 'ingest',
    scope: 'host',
    kind: 'alert',
    title: rule.title,
    doc: {
      evidence: `${rule.column} per process (the watch's sum over its processes), processes, pid of the main one`,
      action: '`ps -o pid,stat,rss,etime,cmd -C <name>; cat /proc/<pid>/status`',
    },
    inputs: ['host_process'],
    thresholds,
    evaluate(input: ScopeRows, t: Thresholds) {
      const out: Draft[] = [];
      const perProcess = (r: Row): number | null => {
        const v = num(r[rule.column]);
        const n = num(r.processes);
        if (r.up !== true || v === null || n === null || n < 1 || v < 0) return null;
        return v / n;
      };
      for (const r of watchesOf(input)) {
        const watch = cut(str(r.watch), maxText);
        let severity: Severity | null;
        let heldS = 0;
        if (sustained) {
          const rows = input.rows('host_process').filter((x) => x.watch === r.watch);
          const samples = rows.map((x) => ({ ts: num(x.ts) ?? 0, value: perProcess(x) }));
          ({ severity, heldS } = sustainedGrade(input, `${rule.id}|${watch}`, samples, t, names));
        } else {
          severity = grade(perProcess(r), t, names);
        }
        const v = perProcess(r);
        if (!severity || v === null) continue;
        const n = num(r.processes)!;
        const pid = num(r.pid);
        const each = n > 1 ? ` per process on average (${n} processes)` : '';
        out.push({
          object: watch,
          severity,
          title: `${watch}: ${rule.show(v)}${n > 1 ? ' per process' : ''}${heldS > 0 ? ` for ${humanSeconds(heldS)}` : ''}`,
          explanation: `${watch} uses ${rule.show(v)}${each}${heldS > 0 ? ` and has for ${humanSeconds(heldS)}` : ''}. ${rule.why}`,
          evidence: {
            ...evidenceOf(r),
            per_process: round2(v),
            ...(sustained ? { held_s: Math.round(heldS) } : {}),
          },
          action: processAction(watch, pid),
          value: round2(v),
        });
      }
      return out;
    },
  };
}

export const processCpu = resourceCheck(
  {
    id: 'process.cpu',
    title: 'Watched process using much CPU for minutes',
    column: 'cpu_pct',
    show: (v) => `${Math.round(v)} % CPU`,
    why: 'A process that keeps a core this busy is either overloaded or spinning; everything it serves slows down.',
  },
  {
    warning: {
      default: 30,
      unit: '%',
      help: 'CPU per process, 100 = one core (seed 000)',
      min: 1,
      max: 10_000,
    },
    critical: {
      default: 80,
      unit: '%',
      help: 'CPU per process, 100 = one core (seed 000)',
      min: 1,
      max: 10_000,
    },
    for_s: forSpec,
  },
  { warning: 'warning', critical: 'critical' },
  true,
);

export const processMemory = resourceCheck(
  {
    id: 'process.memory',
    title: 'Watched process using much memory',
    column: 'rss_bytes',
    show: (v) => `${humanBytes(v)} resident`,
    why: 'A process that large is the OOM killer’s first choice when memory runs short; steady growth is a leak. (PostgreSQL backends count the shared buffers they touched in their RSS: raise the limits for a postgres watch on a box with large shared_buffers.)',
  },
  {
    warning: {
      default: 500 * 2 ** 20,
      unit: 'bytes',
      help: 'resident memory per process (seed 000: 500 MB)',
      min: 1,
    },
    critical: {
      default: 2 ** 30,
      unit: 'bytes',
      help: 'resident memory per process (seed 000: 1 GB)',
      min: 1,
    },
  },
  { warning: 'warning', critical: 'critical' },
  false,
);

export const processFds = resourceCheck(
  {
    id: 'process.fds',
    title: 'Watched process holding many file descriptors',
    column: 'fds',
    show: (v) => `${Math.round(v)} open files`,
    why: 'The default soft limit (ulimit -n) is 1024 per process: past it, accept() and open() fail with "Too many open files". Check the limit in /proc/<pid>/limits.',
  },
  {
    info: { default: 500, unit: 'count', help: 'open file descriptors per process (seed 000)', min: 1 },
    warning: { default: 1000, unit: 'count', help: 'open file descriptors per process (seed 000)', min: 1 },
  },
  { info: 'info', warning: 'warning' },
  false,
);

export const processThreads = resourceCheck(
  {
    id: 'process.threads',
    title: 'Watched process running many threads',
    column: 'threads',
    show: (v) => `${Math.round(v)} threads`,
    why: 'Threads that keep piling up are usually requests stuck waiting on something downstream, or a leak; each costs a stack of memory.',
  },
  { warning: { default: 500, unit: 'count', help: 'threads per process (seed 000 watchdog)', min: 1 } },
  { warning: 'warning' },
  false,
);

export const processChecks = [
  processMissing,
  processState,
  processCpu,
  processMemory,
  processFds,
  processThreads,
];

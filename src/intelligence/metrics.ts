/**
 * The metric catalogue of baselines and anomalies: every metric pgvigil learns a normal range for, as
 * data — id, the family and columns it is computed from, the object it is kept per (device, standby,
 * table, statement, or none), unit, which direction is bad, the floor of its spread, and the first
 * diagnostic step — plus one small pure `compute` per metric that turns one step of the family's series
 * (as src/storage/series.ts returns them: gauges as the step's average, counters as the step's increase)
 * into values per object.
 *
 * The same `compute` turns hourly rollup steps into the baseline's history and minute steps into the
 * points the detector judges, so both sides measure the same thing. Other modules (incidents, the replay)
 * refer to these ids: they are stable.
 *
 * Approximations, said once: a gauge summed over a family's groups (blocked sessions over pg_activity
 * groups, connections over databases, traffic over interfaces) is the sum of each group's average over the
 * step; a maximum over groups (longest transaction, standby lag) is the largest group average; a counter
 * rate is the step's increase over the whole step, so a step the agent covered only in part reads low (the
 * median and MAD the detector uses are robust to a few such hours).
 */
import { appMetricDefs } from './app-metrics.js';
import { objectIn, psqlCommand, type TargetSettings } from './checks/psql.js';

/** Which direction is bad: `lower` is better (a drop is no anomaly), `higher` is better, or `both`. */
export type Better = 'lower' | 'higher' | 'both';

/** One series of a family at one step: its labels and the step's value per column (absent: no data). */
export interface StepRow {
  labels: Readonly<Record<string, string>>;
  v: Readonly<Record<string, number | undefined>>;
}

/** What a compute needs besides the rows. */
export interface MetricContext {
  /** CPU cores of the host (load per core). */
  cores?: number;
  /** The objects the metric is bounded to on this target (top tables, top statements). */
  objects?: ReadonlySet<string>;
}

export interface MetricValue {
  object: string;
  value: number;
}

export interface MetricDef {
  /** Stable id: `host.cpu_busy_pct`; the anomaly check is `anomaly.<id>`. */
  id: string;
  family: string;
  scope: 'host' | 'target';
  /** Columns read from the family (at most 20). */
  columns: readonly string[];
  /** `label:value` filters for the series read. */
  labelFilter?: readonly string[];
  /** What the object is ('' when the metric has none). */
  object: '' | 'device' | 'standby' | 'table' | 'statement' | 'app';
  /** Bounded to the largest tables or the busiest statements of each target. */
  bounded?: 'tables' | 'statements';
  unit: string;
  better: Better;
  title: string;
  /** How it is computed, for the documentation and the API. */
  how: string;
  /**
   * The smallest spread the detector uses, so a metric that hardly moves (a flat 0 deadlocks) does not make
   * every small change a large z: max(abs, rel × |baseline median|).
   */
  floor: { abs: number; rel: number };
  /** Counts of rare discrete events per minute (0 or 1 most minutes): judged by a run's mean. */
  discrete?: boolean;
  /**
   * Accumulates while its cause acts (a standby's lag grows for as long as it cannot keep up): an unusual
   * level that has risen every minute for `fastMinutes` minutes is judged at once (./anomalies.ts).
   */
  accumulates?: boolean;
  /** The first diagnostic step for an anomaly of this metric on `object`. */
  action(object: string, target?: TargetSettings): string;
  compute(rows: readonly StepRow[], stepSeconds: number, ctx: MetricContext): MetricValue[];
}

const fin = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

/** Sum of a column over the rows that have it; undefined when none has. */
function sumOf(rows: readonly StepRow[], col: string, keep: (r: StepRow) => boolean = () => true) {
  let s: number | undefined;
  for (const r of rows) {
    const v = r.v[col];
    if (keep(r) && fin(v)) s = (s ?? 0) + v;
  }
  return s;
}

function maxOf(rows: readonly StepRow[], col: string): number | undefined {
  let m: number | undefined;
  for (const r of rows) {
    const v = r.v[col];
    if (fin(v) && (m === undefined || v > m)) m = v;
  }
  return m;
}

const one = (value: number | undefined): MetricValue[] =>
  value !== undefined && Number.isFinite(value) ? [{ object: '', value }] : [];

/** A counter rate over the step from the summed increase of `cols`. */
const rateOf = (rows: readonly StepRow[], cols: readonly string[], stepSeconds: number) => {
  let s: number | undefined;
  for (const c of cols) {
    const v = sumOf(rows, c);
    if (v !== undefined) s = (s ?? 0) + v;
  }
  return s === undefined || stepSeconds <= 0 ? undefined : s / stepSeconds;
};

/** Values grouped by an object built from labels, each group reduced by `f`. */
function perObject(
  rows: readonly StepRow[],
  objectOf: (r: StepRow) => string,
  f: (group: StepRow[], object: string) => number | undefined,
  keep?: ReadonlySet<string>,
): MetricValue[] {
  const groups = new Map<string, StepRow[]>();
  for (const r of rows) {
    const o = objectOf(r);
    if (keep && !keep.has(o)) continue;
    const g = groups.get(o);
    if (g) g.push(r);
    else groups.set(o, [r]);
  }
  const out: MetricValue[] = [];
  for (const [object, g] of groups) {
    const value = f(g, object);
    if (value !== undefined && Number.isFinite(value)) out.push({ object, value });
  }
  return out;
}

const label = (r: StepRow, name: string) => r.labels[name] ?? '';
const tableObject = (r: StepRow) =>
  objectIn(label(r, 'datname'), label(r, 'schemaname'), label(r, 'relname'));
/** A statement is kept per queryid, over the databases and roles that ran it. */
export const statementObject = (queryid: string) => `query:${queryid}`;
const dbOfTable = (object: string) => object.slice(0, object.indexOf('/'));
const shellQuoted = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

const hostPage = 'the Host page of this server in the dashboard';
const pgPage = 'the PostgreSQL page of this target in the dashboard';

export const metrics: readonly MetricDef[] = [
  {
    id: 'host.cpu_busy_pct',
    family: 'host_cpu',
    scope: 'host',
    columns: ['idle_pct', 'iowait_pct'],
    labelFilter: ['cpu:total'],
    object: '',
    unit: '%',
    better: 'both',
    title: 'CPU busy',
    how: '100 − idle − iowait of all cores (host_cpu, cpu = total)',
    floor: { abs: 3, rel: 0 },
    action: () => `top -b -n 1 -o %CPU | head -20 (and ${hostPage})`,
    compute: (rows) => {
      const r = rows[0];
      const idle = r?.v.idle_pct;
      return fin(idle) ? one(100 - idle - (fin(r?.v.iowait_pct) ? r.v.iowait_pct : 0)) : [];
    },
  },
  {
    id: 'host.iowait_pct',
    family: 'host_cpu',
    scope: 'host',
    columns: ['iowait_pct'],
    labelFilter: ['cpu:total'],
    object: '',
    unit: '%',
    better: 'lower',
    title: 'CPU iowait',
    how: 'iowait share of all cores (host_cpu, cpu = total)',
    floor: { abs: 2, rel: 0 },
    action: () => 'iostat -x 5 3 (which device is busy, its await), then iotop -o -b -n 3',
    compute: (rows) => one(rows[0]?.v.iowait_pct),
  },
  {
    id: 'host.memory_used_pct',
    family: 'host_memory',
    scope: 'host',
    columns: ['total_bytes', 'available_bytes'],
    object: '',
    unit: '%',
    better: 'lower',
    title: 'Memory used',
    how: '100 × (1 − available / total) (host_memory)',
    floor: { abs: 2, rel: 0 },
    action: () => 'free -m; ps -eo pid,rss,comm --sort=-rss | head -15',
    compute: (rows) => {
      const t = rows[0]?.v.total_bytes;
      const a = rows[0]?.v.available_bytes;
      return fin(t) && fin(a) && t > 0 ? one(100 * (1 - a / t)) : [];
    },
  },
  {
    id: 'host.load_per_core',
    family: 'host_load',
    scope: 'host',
    columns: ['load1'],
    object: '',
    unit: 'ratio',
    better: 'lower',
    title: 'Load per core',
    how: '1-minute load average / CPU cores (host_load; cores from host_cpu)',
    floor: { abs: 0.1, rel: 0.1 },
    action: () =>
      'uptime; ps -eo state,pid,comm | grep -E "^[RD]" | head -20 (running and uninterruptible tasks)',
    compute: (rows, _s, ctx) => {
      const l = rows[0]?.v.load1;
      return fin(l) && ctx.cores !== undefined && ctx.cores > 0 ? one(l / ctx.cores) : [];
    },
  },
  {
    id: 'host.disk_await_ms',
    family: 'host_disk',
    scope: 'host',
    columns: ['reads_per_s', 'writes_per_s', 'read_await_ms', 'write_await_ms'],
    object: 'device',
    unit: 'ms',
    better: 'lower',
    title: 'Disk await',
    how: 'read and write await weighted by reads and writes per second, per device (host_disk)',
    floor: { abs: 1, rel: 0.2 },
    action: (device) => `iostat -x ${shellQuoted(device)} 5 3 (r_await, w_await, aqu-sz, %util)`,
    compute: (rows) =>
      perObject(
        rows,
        (r) => label(r, 'device'),
        (g) => {
          const { reads_per_s: r, writes_per_s: w, read_await_ms: ra, write_await_ms: wa } = g[0]!.v;
          const rr = fin(r) && fin(ra) ? r : 0;
          const ww = fin(w) && fin(wa) ? w : 0;
          // No I/O in the step: no await to speak of (not 0 ms).
          if (rr + ww <= 0) return undefined;
          return ((rr > 0 ? rr * ra! : 0) + (ww > 0 ? ww * wa! : 0)) / (rr + ww);
        },
      ),
  },
  {
    id: 'host.disk_util_pct',
    family: 'host_disk',
    scope: 'host',
    columns: ['util_pct'],
    object: 'device',
    unit: '%',
    better: 'lower',
    title: 'Disk utilisation',
    how: 'share of time the device was busy, per device (host_disk)',
    floor: { abs: 3, rel: 0 },
    action: (device) => `iostat -x ${shellQuoted(device)} 5 3; iotop -o -b -n 3`,
    compute: (rows) =>
      perObject(
        rows,
        (r) => label(r, 'device'),
        (g) => g[0]!.v.util_pct,
      ),
  },
  {
    id: 'host.network_rx_bytes_per_s',
    family: 'host_network',
    scope: 'host',
    columns: ['rx_bytes_per_s'],
    object: '',
    unit: 'bytes/s',
    better: 'both',
    title: 'Network received',
    how: 'bytes received per second, summed over interfaces except lo (host_network)',
    floor: { abs: 1024, rel: 0.1 },
    action: () =>
      `ip -s link; ss -tn state established | awk '{print $5}' | sort | uniq -c | sort -rn | head (and ${hostPage})`,
    compute: (rows) => one(sumOf(rows, 'rx_bytes_per_s', (r) => label(r, 'interface') !== 'lo')),
  },
  {
    id: 'host.network_tx_bytes_per_s',
    family: 'host_network',
    scope: 'host',
    columns: ['tx_bytes_per_s'],
    object: '',
    unit: 'bytes/s',
    better: 'both',
    title: 'Network sent',
    how: 'bytes sent per second, summed over interfaces except lo (host_network)',
    floor: { abs: 1024, rel: 0.1 },
    action: () =>
      `ip -s link; ss -tn state established | awk '{print $5}' | sort | uniq -c | sort -rn | head (and ${hostPage})`,
    compute: (rows) => one(sumOf(rows, 'tx_bytes_per_s', (r) => label(r, 'interface') !== 'lo')),
  },
  {
    id: 'pg.tps',
    family: 'pg_database',
    scope: 'target',
    columns: ['xact_commit', 'xact_rollback'],
    object: '',
    unit: '1/s',
    better: 'both',
    title: 'Transactions per second',
    how: 'increase of xact_commit + xact_rollback over all databases, per second (pg_database)',
    floor: { abs: 0.5, rel: 0.1 },
    action: (_object, target) =>
      `${psqlCommand(null, ['SELECT datname, xact_commit, xact_rollback FROM pg_stat_database ORDER BY xact_commit DESC LIMIT 10;'], target)} (and ${pgPage})`,
    compute: (rows, step) => one(rateOf(rows, ['xact_commit', 'xact_rollback'], step)),
  },
  {
    id: 'pg.connections',
    family: 'pg_database',
    scope: 'target',
    columns: ['numbackends'],
    object: '',
    unit: 'count',
    better: 'both',
    title: 'Connections',
    how: 'backends connected to any database, summed over databases (pg_database.numbackends)',
    floor: { abs: 2, rel: 0.1 },
    action: (_object, target) =>
      `${psqlCommand(null, ["SELECT datname, usename, application_name, state, count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC LIMIT 20;"], target)}`,
    compute: (rows) => one(sumOf(rows, 'numbackends')),
  },
  {
    id: 'pg.cache_hit_pct',
    family: 'pg_database',
    scope: 'target',
    columns: ['blks_hit', 'blks_read'],
    object: '',
    unit: '%',
    better: 'higher',
    title: 'Cache hit ratio',
    how: '100 × blks_hit / (blks_hit + blks_read) over the step, all databases (pg_database)',
    floor: { abs: 0.5, rel: 0 },
    action: (_object, target) =>
      `${psqlCommand(null, ['SELECT relname, heap_blks_read, heap_blks_hit FROM pg_statio_user_tables ORDER BY heap_blks_read DESC LIMIT 10;'], target)} (which tables are read from disk)`,
    compute: (rows) => {
      const h = sumOf(rows, 'blks_hit');
      const r = sumOf(rows, 'blks_read');
      // Too few block accesses to make a ratio of: no value rather than a noisy one.
      return h !== undefined && r !== undefined && h + r >= 100 ? one((100 * h) / (h + r)) : [];
    },
  },
  {
    id: 'pg.rollbacks_per_s',
    family: 'pg_database',
    scope: 'target',
    columns: ['xact_rollback'],
    object: '',
    unit: '1/s',
    better: 'lower',
    title: 'Rollbacks per second',
    how: 'increase of xact_rollback over all databases, per second (pg_database)',
    floor: { abs: 0.05, rel: 0.2 },
    action: () =>
      'the PostgreSQL log of the last minutes (ERROR lines: the failing statements), then the Logs page',
    compute: (rows, step) => one(rateOf(rows, ['xact_rollback'], step)),
  },
  {
    id: 'pg.deadlocks_per_s',
    family: 'pg_database',
    scope: 'target',
    columns: ['deadlocks'],
    object: '',
    unit: '1/s',
    better: 'lower',
    title: 'Deadlocks per second',
    how: 'increase of deadlocks over all databases, per second (pg_database)',
    floor: { abs: 0.005, rel: 0.2 },
    discrete: true,
    action: () =>
      'grep -A8 "deadlock detected" in the PostgreSQL log (the two statements and their lock order; log_lock_waits = on helps)',
    compute: (rows, step) => one(rateOf(rows, ['deadlocks'], step)),
  },
  {
    id: 'pg.temp_bytes_per_s',
    family: 'pg_database',
    scope: 'target',
    columns: ['temp_bytes'],
    object: '',
    unit: 'bytes/s',
    better: 'lower',
    title: 'Temporary file bytes per second',
    how: 'increase of temp_bytes over all databases, per second (pg_database)',
    floor: { abs: 65_536, rel: 0.2 },
    action: (_object, target) =>
      `${psqlCommand(null, ['SELECT queryid, calls, temp_blks_written, left(query, 80) FROM pg_stat_statements ORDER BY temp_blks_written DESC LIMIT 10;'], target)} (sorts and hashes spilling: work_mem)`,
    compute: (rows, step) => one(rateOf(rows, ['temp_bytes'], step)),
  },
  {
    id: 'pg.wal_bytes_per_s',
    family: 'pg_wal',
    scope: 'target',
    columns: ['lsn_bytes'],
    object: '',
    unit: 'bytes/s',
    better: 'both',
    title: 'WAL bytes per second',
    how: 'increase of the WAL position per second (pg_wal.lsn_bytes)',
    floor: { abs: 65_536, rel: 0.1 },
    action: (_object, target) =>
      `${psqlCommand(null, ['SELECT queryid, calls, wal_bytes, left(query, 80) FROM pg_stat_statements ORDER BY wal_bytes DESC LIMIT 10;'], target)}`,
    compute: (rows, step) => one(rateOf(rows, ['lsn_bytes'], step)),
  },
  {
    id: 'pg.replication_lag_s',
    family: 'pg_replication',
    scope: 'target',
    columns: ['replay_lag_s'],
    object: 'standby',
    unit: 's',
    better: 'lower',
    title: 'Replication lag',
    how: 'replay lag in seconds per standby (application_name), the largest of its connections (pg_replication)',
    floor: { abs: 1, rel: 0.2 },
    accumulates: true,
    action: (_object, target) =>
      `${psqlCommand(null, ['SELECT application_name, client_addr, state, write_lag, flush_lag, replay_lag FROM pg_stat_replication;'], target)} then the standby's disk and network`,
    compute: (rows) =>
      perObject(
        rows,
        (r) => label(r, 'application_name'),
        (g) => maxOf(g, 'replay_lag_s'),
      ),
  },
  {
    id: 'pg.blocked_sessions',
    family: 'pg_activity',
    scope: 'target',
    columns: ['blocked'],
    object: '',
    unit: 'count',
    better: 'lower',
    title: 'Blocked sessions',
    how: 'sessions blocked by another (pg_blocking_pids), summed over pg_activity groups',
    floor: { abs: 1, rel: 0.2 },
    action: (_object, target) =>
      `${psqlCommand(null, ['SELECT pid, pg_blocking_pids(pid), wait_event_type, now() - query_start AS waiting, left(query, 80) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0;'], target)}`,
    compute: (rows) => one(sumOf(rows, 'blocked')),
  },
  {
    id: 'pg.longest_xact_s',
    family: 'pg_activity',
    scope: 'target',
    columns: ['max_xact_age_s'],
    object: '',
    unit: 's',
    better: 'lower',
    title: 'Longest transaction',
    how: 'age of the oldest open transaction, the largest pg_activity group (pg_activity.max_xact_age_s)',
    floor: { abs: 5, rel: 0.2 },
    action: (_object, target) =>
      `${psqlCommand(null, ['SELECT pid, usename, application_name, state, now() - xact_start AS age, left(query, 80) FROM pg_stat_activity WHERE xact_start IS NOT NULL ORDER BY xact_start LIMIT 5;'], target)}`,
    compute: (rows) => one(maxOf(rows, 'max_xact_age_s')),
  },
  {
    id: 'pg.seq_scans_per_s',
    family: 'pg_tables',
    scope: 'target',
    columns: ['seq_scan'],
    object: 'table',
    bounded: 'tables',
    unit: '1/s',
    better: 'lower',
    title: 'Sequential scans per second',
    how: 'increase of seq_scan per second, per table (database/schema.table), the largest tables only (pg_tables)',
    floor: { abs: 0.05, rel: 0.2 },
    action: (object, target) =>
      `${psqlCommand(dbOfTable(object), ['SELECT queryid, calls, left(query, 100) FROM pg_stat_statements ORDER BY calls DESC LIMIT 20;'], target)} (the statements that scan ${object.slice(object.indexOf('/') + 1)}; EXPLAIN them)`,
    compute: (rows, step, ctx) =>
      perObject(rows, tableObject, (g) => rateOf(g, ['seq_scan'], step), ctx.objects),
  },
  {
    id: 'pg.table_dead_ratio',
    family: 'pg_tables',
    scope: 'target',
    columns: ['dead_pct'],
    object: 'table',
    bounded: 'tables',
    unit: '%',
    better: 'lower',
    title: 'Dead rows',
    how: 'dead rows as a share of all rows, per table, the largest tables only (pg_tables.dead_pct)',
    floor: { abs: 2, rel: 0.1 },
    action: (object, target) =>
      `${psqlCommand(dbOfTable(object), ['SELECT schemaname, relname, n_dead_tup, last_autovacuum FROM pg_stat_user_tables ORDER BY n_dead_tup DESC LIMIT 10;'], target)} (then what holds the xmin horizon: the PostgreSQL page)`,
    compute: (rows, _s, ctx) => perObject(rows, tableObject, (g) => g[0]!.v.dead_pct, ctx.objects),
  },
  {
    id: 'pg.statement_mean_ms',
    family: 'pg_statements',
    scope: 'target',
    columns: ['exec_time_ms', 'calls'],
    object: 'statement',
    bounded: 'statements',
    unit: 'ms',
    better: 'lower',
    title: 'Statement mean time',
    how: 'execution time / calls per statement (queryid, over its databases and roles), the busiest statements only (pg_statements)',
    floor: { abs: 1, rel: 0.2 },
    action: (object, target) =>
      `${psqlCommand(null, [`SELECT calls, mean_exec_time, rows, query FROM pg_stat_statements WHERE queryid = ${object.slice(6)};`], target)} then EXPLAIN (ANALYZE, BUFFERS) it`,
    compute: (rows, _s, ctx) =>
      perObject(
        rows,
        (r) => statementObject(label(r, 'queryid')),
        (g) => {
          const t = sumOf(g, 'exec_time_ms');
          const c = sumOf(g, 'calls');
          return t !== undefined && c !== undefined && c > 0 ? t / c : undefined;
        },
        ctx.objects,
      ),
  },
  {
    id: 'pg.statement_total_ms_per_s',
    family: 'pg_statements',
    scope: 'target',
    columns: ['exec_time_ms', 'interval_s'],
    object: 'statement',
    bounded: 'statements',
    unit: 'ms/s',
    better: 'lower',
    title: 'Statement time per second',
    how: 'execution time per second of wall clock per statement (queryid), the busiest statements only (pg_statements)',
    floor: { abs: 5, rel: 0.2 },
    action: (object, target) =>
      `${psqlCommand(null, [`SELECT calls, total_exec_time, mean_exec_time, query FROM pg_stat_statements WHERE queryid = ${object.slice(6)};`], target)} (more calls, or slower ones?)`,
    compute: (rows, _s, ctx) =>
      perObject(
        rows,
        (r) => statementObject(label(r, 'queryid')),
        (g) => {
          // Each row is a per-interval delta: its time over its interval, summed over databases and roles.
          let s: number | undefined;
          for (const r of g) {
            const t = r.v.exec_time_ms;
            const i = r.v.interval_s;
            if (fin(t) && fin(i) && i > 0) s = (s ?? 0) + t / i;
          }
          return s;
        },
        ctx.objects,
      ),
  },
  {
    id: 'pg.checkpoints_per_min',
    family: 'pg_bgwriter',
    scope: 'target',
    columns: ['checkpoints_timed', 'checkpoints_req'],
    object: '',
    unit: '1/min',
    better: 'lower',
    title: 'Checkpoints per minute',
    how: 'increase of checkpoints_timed + checkpoints_req per minute (pg_bgwriter)',
    floor: { abs: 0.05, rel: 0.2 },
    discrete: true,
    action: (_object, target) =>
      `${psqlCommand(null, ['SHOW max_wal_size;', 'SHOW checkpoint_timeout;'], target)} and the PostgreSQL log lines "checkpoints are occurring too frequently"`,
    compute: (rows, step) => {
      const r = rateOf(rows, ['checkpoints_timed', 'checkpoints_req'], step);
      return one(r === undefined ? undefined : r * 60);
    },
  },
  // Scraped applications' request rate, 5xx share and latency p95 (./app-metrics.ts).
  ...appMetricDefs,
];

const byId = new Map(metrics.map((m) => [m.id, m]));

/** A metric by id, own entries only. */
export function metricById(id: string): MetricDef | undefined {
  return byId.get(id);
}

/** How many tables and statements per target bounded metrics follow. */
export const boundedTop = { tables: 20, statements: 20 };

/**
 * `pgvigil bench ingest`: simulated agents push realistic batches (host + 20 tables + 50 statements ≈
 * 1,000 values) to a real server over HTTP, end to end, and the rows are verified in the store after.
 *
 * Self-contained by default: it starts its own embedded store and a `pgvigil server` child process (so
 * the load generator and the server do not share an event loop). With `--server URL --database-url URL`
 * it loads an existing deployment (agents are created directly in that store).
 *
 * It also times a plain COPY of the same rows on one connection — the ceiling for this machine, with the
 * rows spread over as many servers as the run has agents, as the run's are — once the
 * servers it started are stopped and the store has settled (a checkpoint, no autovacuum or other work
 * running), and reads the server's own phase timings (decode, validate, encode, write) from its /metrics.
 *
 * The load generator is this process; the servers and the store are others. Each one's CPU time over the
 * load window is reported per acknowledged push (from /proc), so the server's and the store's cost per
 * push is a figure of their own, whatever the load generator and other work on the machine take. So that
 * the load generator takes little of the machine during the window, it builds each agent's bodies (JSON,
 * gzip) before it, up to a memory bound (`prepareBudgetBytes`), and in the window only sends them over
 * keep-alive connections; a body beyond the prepared ones is built in the window and counted.
 * `--servers N` starts N server children on the one store and spreads the agents over them round-robin.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { silentLogger } from '../log.js';
import { batchMediaType, validateBatch } from '../protocol/batch.js';
import { type ColumnSpec, type FamilySpec, families, wireColumns } from '../protocol/families/index.js';
import { ensureServer, localAgent } from '../server/auth/agents.js';
import { createApiToken } from '../server/auth/api-tokens.js';
import { addUser } from '../server/auth/users.js';
import { encodeTable } from '../server/ingest/copy.js';
import { freePort } from '../storage/cluster.js';
import { startEmbeddedStore } from '../storage/embedded.js';
import { migrate } from '../storage/migrate.js';
import { maintainPartitions } from '../storage/partitions.js';
import { handlePoolErrors } from '../storage/pool-errors.js';
import { copyTables } from '../storage/queries/ingest.sql.js';
import { familyRowCount, ledgerTotals } from '../storage/queries/ledger.sql.js';
import {
  busyBackends,
  checkpoint,
  checkpointCounter,
  setAutovacuum,
} from '../storage/queries/store-activity.sql.js';
import { upsertTargets } from '../storage/queries/targets.sql.js';
import { userIdByName } from '../storage/queries/users.sql.js';
import { inTransaction } from '../storage/tx.js';
import { packageRoot } from '../version.js';
import { BenchConnection } from './bench-http.js';
import { machineBusySeconds, postmasterPid, treeCpuSeconds } from './proc-cpu.js';

export interface BenchIngestOptions {
  agents: number;
  durationS: number;
  /** Offered pushes per second across all agents (open loop); closed loop when absent. */
  rate?: number;
  values: number;
  server?: string;
  databaseUrl?: string;
  /** `pgvigil server` children to start (agents spread over them round-robin); 1 when absent. */
  servers?: number;
  /** Servers the COPY ceiling spreads its rows over; `agents` when absent (as the run's rows are). */
  ceilingServers?: number;
  /** The values the agents report: a healthy fleet (default) or the findings engine's worst case. */
  data?: BenchData;
  json: boolean;
}

/**
 * Bodies built before the window: enough per agent for this many pushes a second over the whole window in
 * closed loop (the offered rate with `--rate`), within `prepareBudgetBytes` of gzip bodies in all.
 */
const preparePushesPerS = 2_000;
/** The prepared bodies' bound: 256 MiB of gzip bodies (≈ 3.1 KB each for the default batch: ≈ 85,000). */
const prepareBudgetBytes = 256 * 1024 * 1024;
/** How far ahead of the clock prepared timestamps may run at most (the server accepts 10 minutes). */
const maxAheadMs = 5 * 60_000;

interface Shape {
  family: FamilySpec;
  rows: number;
}

/** The batch shape: host families as a 2-core host has them, then 20 tables and ~50 statements. */
export function batchShape(values: number): Shape[] {
  const host: Array<[string, number]> = [
    ['host_cpu', 3],
    ['host_memory', 1],
    ['host_load', 1],
    ['host_pressure', 3],
    ['host_disk', 2],
    ['host_filesystem', 3],
    ['host_network', 2],
  ];
  const shape: Shape[] = host
    .filter(([f]) => families[f])
    .map(([f, rows]) => ({ family: families[f]!, rows }));
  if (families.pg_database) shape.push({ family: families.pg_database, rows: 1 });
  if (families.pg_tables) shape.push({ family: families.pg_tables, rows: 20 });
  const valuesOf = (s: Shape) => s.rows * s.family.columns.filter((c) => !c.label).length;
  const used = shape.reduce((n, s) => n + valuesOf(s), 0);
  const stmt = families.pg_statements;
  if (stmt) {
    const perRow = stmt.columns.filter((c) => !c.label).length;
    shape.push({ family: stmt, rows: Math.max(1, Math.round((values - used) / perRow)) });
  }
  return shape;
}

/**
 * The bench's data. `healthy` (the default): what a healthy 2-core host and its PostgreSQL report — gauges
 * that stay put within a few per cent, counters that grow at a steady rate, no errors, vacuumed tables — so
 * no check has anything to say, as on most of a real fleet most of the time. `alerting`: the worst case for
 * the findings engine — values that march with the batch number, so every batch of every host carries about
 * 25 findings (bloated tables, full disks, memory…) whose severities keep changing.
 */
export type BenchData = 'healthy' | 'alerting';

/** The timestamps of the alerting data: 2026-01-01. */
const alertingEpoch = Date.UTC(2026, 0, 1);

function alertingValue(c: ColumnSpec, row: number, seq: number): unknown {
  switch (c.type) {
    case 'text':
      return `v${row % 7}`;
    case 'bool':
      return row % 2 === 0;
    case 'jsonb':
      return { n: row };
    case 'timestamptz':
      // One time for every batch (statistics reset, last vacuum…): a time that moved with each batch would
      // read as a statistics reset in every batch, and whether it moved would depend on the clock's
      // milliseconds between two batches.
      return alertingEpoch;
    case 'int4':
      return (row * 31 + seq) % 100_000;
    case 'int8':
      return row * 1_000_003 + seq * 17;
    default:
      return (row * 7 + seq) / 3;
  }
}

const GiB = 1024 ** 3;
/** A small deterministic wobble in [0, 1) by row and batch, so gauges are not constants. */
const wobble = (row: number, seq: number) => (((row * 7919 + seq * 104_729) % 1000) + 0.5) / 1000;
type HealthyColumn = (row: number, seq: number, ts: number) => unknown;

/** Healthy values by family and column; a column not listed is 0 (a rate or count of errors). */
const healthy: Record<string, Record<string, HealthyColumn>> = {
  host_cpu: {
    user_pct: (r, s) => 12 + 6 * wobble(r, s),
    nice_pct: () => 0,
    system_pct: (r, s) => 4 + 2 * wobble(r + 1, s),
    idle_pct: (r, s) => 80 - 6 * wobble(r, s),
    iowait_pct: (r, s) => 0.5 * wobble(r + 2, s),
    softirq_pct: () => 0.3,
  },
  host_memory: {
    total_bytes: () => 16 * GiB,
    available_bytes: (r, s) => Math.round(10 * GiB + 0.2 * GiB * wobble(r, s)),
    used_bytes: (r, s) => Math.round(5 * GiB - 0.2 * GiB * wobble(r, s)),
    free_bytes: () => 2 * GiB,
    buffers_bytes: () => GiB / 2,
    cached_bytes: () => 8 * GiB,
    swap_total_bytes: () => 2 * GiB,
    swap_used_bytes: () => 0,
  },
  host_load: {
    load1: (r, s) => 0.4 + 0.3 * wobble(r, s),
    load5: () => 0.5,
    load15: () => 0.5,
  },
  host_pressure: {
    some_avg10: (r, s) => 0.2 * wobble(r, s),
    some_avg60: () => 0.1,
    some_avg300: () => 0.1,
    some_stall_pct: () => 0.1,
  },
  host_disk: {
    reads_per_s: (r, s) => 20 + 10 * wobble(r, s),
    writes_per_s: (r, s) => 60 + 20 * wobble(r + 1, s),
    read_bytes_per_s: (r, s) => 400_000 + 100_000 * wobble(r, s),
    write_bytes_per_s: (r, s) => 1_500_000 + 300_000 * wobble(r + 1, s),
    read_await_ms: () => 0.4,
    write_await_ms: () => 1.1,
    util_pct: (r, s) => 4 + 3 * wobble(r, s),
  },
  host_filesystem: {
    device: (r) => `/dev/vda${r + 1}`,
    fstype: () => 'ext4',
    size_bytes: () => 100 * GiB,
    used_bytes: () => 40 * GiB,
    avail_bytes: () => 55 * GiB,
    inodes_total: () => 6_553_600,
    inodes_used: () => 200_000,
    inodes_free: () => 6_353_600,
  },
  host_network: {
    rx_bytes_per_s: (r, s) => 800_000 + 200_000 * wobble(r, s),
    tx_bytes_per_s: (r, s) => 600_000 + 200_000 * wobble(r + 1, s),
    rx_packets_per_s: (r, s) => 900 + 200 * wobble(r, s),
    tx_packets_per_s: (r, s) => 800 + 200 * wobble(r + 1, s),
  },
  pg_database: {
    numbackends: () => 12,
    xact_commit: (_r, s) => 50_000_000 + s * 1_200,
    xact_rollback: (_r, s) => 20_000 + Math.floor(s / 2),
    blks_read: (_r, s) => 4_000_000 + s * 50,
    blks_hit: (_r, s) => 900_000_000 + s * 40_000,
    tup_returned: (_r, s) => 2_000_000_000 + s * 60_000,
    tup_fetched: (_r, s) => 700_000_000 + s * 20_000,
    tup_inserted: (_r, s) => 30_000_000 + s * 500,
    tup_updated: (_r, s) => 20_000_000 + s * 300,
    tup_deleted: (_r, s) => 1_000_000 + s * 20,
    blk_read_time_ms: (_r, s) => 120_000 + s * 2,
    blk_write_time_ms: (_r, s) => 30_000 + s,
    session_time_ms: (_r, s) => 5e9 + s * 12_000,
    active_time_ms: (_r, s) => 4e8 + s * 600,
    idle_in_transaction_time_ms: (_r, s) => 1e6 + s,
    sessions: (_r, s) => 80_000 + Math.floor(s / 10),
    cache_hit_pct: () => 99.5,
    size_bytes: () => 5 * GiB,
    stats_reset: (_r, _s, ts) => ts - 30 * 86_400_000,
    checksum_last_failure: () => null,
  },
  pg_tables: {
    schemaname: () => 'public',
    n_live_tup: (r) => 100_000 * (r + 1),
    n_dead_tup: (r) => 1_000 * (r + 1),
    dead_pct: () => 1,
    seq_scan: (r, s) => 1_000 + r + Math.floor(s / 20),
    seq_tup_read: (r, s) => 5_000_000 * (r + 1) + s * 100,
    idx_scan: (r, s) => 10_000_000 + r * 1000 + s * 50,
    idx_tup_fetch: (r, s) => 20_000_000 + r * 1000 + s * 60,
    n_tup_ins: (r, s) => 1_000_000 * (r + 1) + s * 5,
    n_tup_upd: (r, s) => 500_000 * (r + 1) + s * 3,
    n_tup_del: (r, s) => 10_000 * (r + 1) + Math.floor(s / 10),
    n_tup_hot_upd: (r, s) => 400_000 * (r + 1) + s * 2,
    n_mod_since_analyze: (r, s) => 500 + r + (s % 1000),
    n_ins_since_vacuum: (r, s) => 300 + r + (s % 1000),
    last_vacuum: () => null,
    last_autovacuum: (_r, _s, ts) => ts - 3_600_000,
    last_analyze: () => null,
    last_autoanalyze: (_r, _s, ts) => ts - 3_600_000,
    vacuum_count: () => 0,
    autovacuum_count: (r) => 200 + r,
    analyze_count: () => 0,
    autoanalyze_count: (r) => 300 + r,
    table_bytes: (r) => 20_000_000 * (r + 1),
    toast_bytes: () => 8192,
    indexes_bytes: (r) => 5_000_000 * (r + 1),
    total_bytes: (r) => 25_008_192 * (r + 1),
  },
  pg_statements: {
    datname: () => 'app',
    usename: () => 'app',
    top_by: () => 'total_time',
    interval_s: () => 60,
    calls: (r) => 600 + 50 * r,
    plans: () => 0,
    exec_time_ms: (r, s) => (600 + 50 * r) * (0.8 + 0.2 * wobble(r, s)),
    plan_time_ms: () => 0,
    mean_exec_time_ms: (r, s) => 0.8 + 0.2 * wobble(r, s),
    rows: (r) => 600 + 50 * r,
    shared_blks_hit: (r) => 6_000 + 500 * r,
    shared_blks_read: (r) => 6 + r,
    shared_blks_dirtied: (r) => 2 + r,
    shared_blks_written: () => 0,
  },
};

function valueFor(
  c: ColumnSpec,
  row: number,
  seq: number,
  family: string,
  data: BenchData,
  ts: number,
): unknown {
  if (c.label) return c.type === 'text' ? `${c.name}_${row}` : c.type === 'bool' ? row % 2 === 0 : row + 1;
  if (data === 'alerting') return alertingValue(c, row, seq);
  const f = healthy[family]?.[c.name];
  if (f) return f(row, seq, ts);
  if (c.type === 'text') return `v${row % 7}`;
  if (c.type === 'bool') return false;
  if (c.type === 'timestamptz' || c.type === 'jsonb') return null;
  return 0;
}

/** One batch as JSON text; ts increases per push so rows never collide on their keys. */
export function makeBatch(
  shape: Shape[],
  agentId: string,
  seq: number,
  ts: number,
  data: BenchData = 'healthy',
): { body: string; values: number } {
  const fams: Record<string, { columns: string[]; rows: unknown[][] }> = {};
  let values = 0;
  for (const { family, rows } of shape) {
    const target = family.scope === 'target';
    const columns = wireColumns(family);
    const out: unknown[][] = [];
    for (let r = 0; r < rows; r++) {
      out.push([
        ts,
        ...(target ? ['bench-pg'] : []),
        ...family.columns.map((c) => valueFor(c, r, seq, family.name, data, ts)),
      ]);
      values += family.columns.filter((c) => !c.label).length;
    }
    fams[family.name] = { columns, rows: out };
  }
  return { body: JSON.stringify({ v: 1, agentId, seq, sealedAt: ts, families: fams }), values };
}

/** Seconds of the window per slice of `ackLatencyBySlice`. */
const latencySliceS = 30;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A viewer API token for reading the server's /metrics (a bench user, made once per store). */
async function metricsToken(pool: pg.Pool): Promise<string> {
  const userId =
    (await userIdByName(pool, 'bench-metrics', true)) ??
    (await addUser(pool, { name: 'bench-metrics', role: 'viewer' })).userId;
  return (
    await createApiToken(pool, { userId, name: 'bench ingest', role: 'viewer', expiresInMs: 3_600_000 })
  ).token;
}

/**
 * Node options for the server children only, from PGVIGIL_BENCH_SERVER_NODE_ARGS (space-separated), e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the server and not the load generator. Unset, the
 * server runs with the young generation its systemd unit gives it (deploy/systemd/pgvigil-server.service),
 * so the bench measures the configuration that ships; set it to an empty string for Node's defaults.
 */
function serverNodeArgs(): string[] {
  return (process.env.PGVIGIL_BENCH_SERVER_NODE_ARGS ?? '--max-semi-space-size=64')
    .split(' ')
    .filter((a) => a !== '');
}

/**
 * The checkout whose `bin/pgvigil.js` the server children run: this one, or PGVIGIL_BENCH_SERVER_ROOT — another
 * build of the same schema, so that two servers can be measured under one load generator, store and data.
 */
function serverRoot(): string {
  return process.env.PGVIGIL_BENCH_SERVER_ROOT || packageRoot;
}

/**
 * A `pgvigil server` child process on a free loopback port over `databaseUrl` (its own event loop, as in
 * production), once it answers readiness; `env` adds to its environment (e.g. DATABASE_READ_URL); `root`:
 * the package to run (another build, as a same-run peer).
 */
export async function startServerChild(
  databaseUrl: string,
  timeoutMs = 60_000,
  env: Record<string, string> = {},
  root = serverRoot(),
): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...serverNodeArgs(), join(root, 'bin', 'pgvigil.js'), 'server', '--port', String(port)],
    {
      env: { ...process.env, DATABASE_URL: databaseUrl, PGVIGIL_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, child, timeoutMs);
  return { child, url };
}

/** Waits until a server child answers /api/v1/ready (within `timeoutMs`), failing early if it exits. */
export async function waitHealthy(url: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  for (let i = 0; i < timeoutMs / 100; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/api/v1/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error('server did not become ready');
}

async function serverMetrics(url: string, token: string): Promise<string> {
  return (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
}

/**
 * The findings job's runs on that server since it started (the warm-up included) and the seconds its
 * costliest job checks took in all: the job shares the store and the machine with ingest.
 */
export function findingsJobTimings(text: string): {
  runs: number;
  seconds: number;
  checks: Record<string, number>;
} {
  const job =
    /pgvigil_findings_evaluation_seconds_sum\{mode="job"\} ([0-9.e+-]+)\npgvigil_findings_evaluation_seconds_count\{mode="job"\} ([0-9]+)/.exec(
      text,
    );
  const checks = [
    ...text.matchAll(/^pgvigil_findings_job_check_seconds_sum\{check="([^"]+)"\} ([0-9.e+-]+)$/gm),
  ]
    .map((m) => [m[1]!, Number(Number(m[2]).toFixed(2))] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5);
  return {
    runs: job ? Number(job[2]) : 0,
    seconds: job ? Number(Number(job[1]).toFixed(2)) : 0,
    checks: Object.fromEntries(checks),
  };
}

function phaseTimings(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const phase of ['decode', 'validate', 'encode', 'write']) {
    const sum = Number(
      new RegExp(`pgvigil_ingest_phase_seconds_sum\\{phase="${phase}"\\} ([0-9.e+-]+)`).exec(text)?.[1],
    );
    const count = Number(
      new RegExp(`pgvigil_ingest_phase_seconds_count\\{phase="${phase}"\\} ([0-9]+)`).exec(text)?.[1],
    );
    out[phase] = count > 0 ? (sum / count) * 1000 : Number.NaN;
  }
  const groups =
    /pgvigil_ingest_group_batches_sum ([0-9.e+]+)\npgvigil_ingest_group_batches_count ([0-9]+)/.exec(text);
  out.avgGroupBatches = groups ? Number(groups[1]) / Number(groups[2]) : Number.NaN;
  const w = /pgvigil_ingest_write_seconds_sum ([0-9.e+-]+)\npgvigil_ingest_write_seconds_count ([0-9]+)/.exec(
    text,
  );
  out.commitMsPerGroup = w ? (Number(w[1]) / Number(w[2])) * 1000 : Number.NaN;
  // The findings engine's share: evaluation per batch (off the answer's path, on the same event loop) and
  // how many evaluations went to the store.
  const e =
    /pgvigil_findings_evaluation_seconds_sum\{mode="ingest"\} ([0-9.e+-]+)\npgvigil_findings_evaluation_seconds_count\{mode="ingest"\} ([0-9]+)/.exec(
      text,
    );
  out.findingsEvalMsPerBatch = e ? (Number(e[1]) / Number(e[2])) * 1000 : Number.NaN;
  for (const outcome of ['written', 'unchanged']) {
    const m = new RegExp(`pgvigil_findings_applications_total\\{outcome="${outcome}"\\} ([0-9]+)`).exec(text);
    out[`findings${outcome === 'written' ? 'Written' : 'Unchanged'}`] = m ? Number(m[1]) : 0;
  }
  return out;
}

/**
 * Waits (at most `maxS`) until the store is quiet: a checkpoint of what the window wrote, then no
 * autovacuum worker (and, with `sessions`, no other active session) seen twice in a row. Returns the
 * seconds it took.
 */
async function settleStore(pool: pg.Pool, sessions: boolean, maxS = 60): Promise<number> {
  const started = performance.now();
  // Not allowed to every role (an existing store's): the wait below still holds.
  await checkpoint(pool);
  let quiet = 0;
  while (quiet < 2 && performance.now() - started < maxS * 1000) {
    quiet = (await busyBackends(pool, sessions)) === 0 ? quiet + 1 : 0;
    if (quiet < 2) await sleep(250);
  }
  return (performance.now() - started) / 1000;
}

/**
 * Times COPY of `pushes` batches' rows on one connection, in one transaction per batch-sized chunk. The
 * rows are spread over `servers` servers of their own, a batch from each in turn as a fleet's agents push:
 * the rows of one server alone would all go to the right-hand end of each primary key, where PostgreSQL
 * inserts without descending the tree, which the rows of many servers do not.
 */
async function copyCeiling(
  url: string,
  shape: Shape[],
  servers: number,
  pushes: number,
  data: BenchData,
): Promise<number> {
  // One connection, so every chunk's COPY runs on the same one.
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  handlePoolErrors(pool, (err) => process.stderr.write(`bench: store connection lost: ${err.message}\n`));
  try {
    const agent = '00000000-0000-4000-8000-000000000000';
    const base = Date.now() - 3_600_000;
    const v = validateBatch(JSON.parse(makeBatch(shape, agent, 1, base, data).body));
    if (!v.ok) throw new Error(v.message);
    const ceilingServers: Array<{ id: number; targets: Map<string, number> }> = [];
    for (let i = 0; i < Math.max(1, servers); i++) {
      const id = await ensureServer(pool, `bench-copy-ceiling-${i}`);
      ceilingServers.push({ id, targets: await upsertTargets(pool, id, ['bench-pg']) });
    }
    const started = performance.now();
    const perTx = 50;
    for (let done = 0; done < pushes; done += perTx) {
      await inTransaction(pool, async (client) => {
        for (const t of v.batch.tables) {
          const lines: Buffer[] = [];
          let columns: string[] = [];
          for (let k = 0; k < Math.min(perTx, pushes - done); k++) {
            const n = done + k;
            const server = ceilingServers[n % ceilingServers.length]!;
            const ts = base + Math.floor(n / ceilingServers.length);
            for (const row of t.rows) row[t.tsIndex] = ts;
            const chunk = encodeTable(t, server.id, server.targets);
            columns = chunk.columns;
            lines.push(chunk.tuples);
          }
          // The format and path the server writes (src/storage/queries/ingest.sql.ts): binary, one round trip.
          await copyTables(client, [{ table: t.table, once: false, columns, parts: lines }]);
        }
      });
    }
    return (performance.now() - started) / 1000;
  } finally {
    await pool.end();
  }
}

export async function benchIngest(opts: BenchIngestOptions): Promise<Record<string, unknown>> {
  const log = silentLogger();
  const cleanup: Array<() => Promise<void>> = [];
  try {
    let databaseUrl = opts.databaseUrl;
    let storePid: number | undefined;
    if (!databaseUrl) {
      const dir = mkdtempSync(join(tmpdir(), 'pgvigil-bench-'));
      chmodSync(dir, 0o755);
      const store = await startEmbeddedStore(join(dir, 'data'), log);
      cleanup.push(async () => {
        await store.stop();
        rmSync(dir, { recursive: true, force: true });
      });
      databaseUrl = store.url;
      storePid = postmasterPid(join(store.dataDir, 'postgres'));
    }
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
    // A connection losing its server (the store stopped under the benchmark) must not end the process with
    // an unhandled 'error' event: the query that next needs the store reports it.
    handlePoolErrors(pool, (err, idle) => {
      if (idle) process.stderr.write(`bench: store connection lost: ${err.message}\n`);
    });
    cleanup.push(() => pool.end());
    await migrate(pool, log);
    await maintainPartitions(pool, { log });

    const serverUrls: string[] = opts.server ? [opts.server] : [];
    const serverPids: number[] = [];
    const serverStops: Array<() => Promise<void>> = [];
    for (let n = 0; !opts.server && n < (opts.servers ?? 1); n++) {
      const { child, url } = await startServerChild(databaseUrl, 30_000);
      const exited = new Promise((r) => child.once('exit', r));
      const stop = async () => {
        child.kill('SIGTERM');
        await exited;
      };
      serverStops.push(stop);
      cleanup.push(stop);
      serverUrls.push(url);
      if (child.pid !== undefined) serverPids.push(child.pid);
    }
    const serverUrl = serverUrls[0]!;

    const shape = batchShape(opts.values);
    const agents = [];
    for (let i = 0; i < opts.agents; i++) agents.push(await localAgent(pool, `bench-host-${i}`, undefined));
    const data = opts.data ?? 'healthy';
    const valuesPerBatch = makeBatch(shape, agents[0]!.agentId, 1, Date.now(), data).values;

    // Prepare: every agent's bodies for the window, built now so that the window only sends. A prepared
    // batch cannot take the clock's time when it is sent: an agent's batches are as far apart as they would
    // be at the rate prepared for (so their timestamps follow the clock at that rate, as an agent's do),
    // from the time of preparing, and never more than `maxAheadMs` beyond it.
    const gzipBody = (agentId: string, seq: number, ts: number) =>
      gzipSync(makeBatch(shape, agentId, seq, ts, data).body, { level: 1 });
    const sampleBytes = gzipBody(agents[0]!.agentId, 1, Date.now()).length;
    const wantedPerAgent = Math.ceil(((opts.rate ?? preparePushesPerS) * opts.durationS) / opts.agents) + 1;
    const perAgent = Math.max(
      1,
      Math.min(wantedPerAgent, Math.floor(prepareBudgetBytes / (sampleBytes * opts.agents))),
    );
    const batchStepMs = Math.max(
      1,
      Math.min((1000 * opts.agents) / (opts.rate ?? preparePushesPerS), maxAheadMs / perAgent),
    );
    const base = Date.now();
    const tsOf = (seq: number) => Math.round(base + seq * batchStepMs);
    const prepareStarted = performance.now();
    const prepareCpu0 = process.cpuUsage();
    let preparedBytes = 0;
    const state = agents.map((a, i) => {
      const bodies: Array<Buffer | undefined> = [];
      for (let seq = 1; seq <= perAgent; seq++) {
        const b = gzipBody(a.agentId, seq, tsOf(seq));
        preparedBytes += b.length;
        bodies.push(b);
      }
      return { ...a, seq: 0, bodies, url: serverUrls[i % serverUrls.length]! };
    });
    const prepareCpu = process.cpuUsage(prepareCpu0);
    const prepareS = (performance.now() - prepareStarted) / 1000;
    let builtInWindow = 0;
    /** The agent's next batch: a prepared body, or one built now (counted in `builtInWindow`). */
    const takeBody = (a: (typeof state)[number]): Buffer => {
      a.seq++;
      const body = a.bodies[a.seq - 1];
      if (body) {
        a.bodies[a.seq - 1] = undefined;
        return body;
      }
      builtInWindow++;
      return gzipBody(a.agentId, a.seq, tsOf(a.seq));
    };
    // One keep-alive connection per agent, written to directly (bench-http.ts says why).
    const connections = new Map(
      state.map((a) => [
        a,
        new BenchConnection(new URL(a.url), '/api/v1/ingest', {
          authorization: `Bearer ${a.credential}`,
          'content-type': batchMediaType,
          'content-encoding': 'gzip',
        }),
      ]),
    );
    cleanup.push(async () => {
      for (const c of connections.values()) c.close();
    });
    const post = (a: (typeof state)[number], body: Buffer): Promise<number> => connections.get(a)!.post(body);

    // Before the window, each agent's first batch, 20 agents at a time: the first push of an agent does what
    // later ones do not (its credential looked up, its targets created, its presence flipped to online), so a
    // window that began with a thousand of them at once would measure a fleet's cold start, not its steady
    // state. They are verified with the others, not timed.
    const warmUpStarted = performance.now();
    let warmedUp = 0;
    for (let i = 0; i < state.length; i += 20) {
      await Promise.all(
        state.slice(i, i + 20).map(async (a) => {
          const status = await post(a, takeBody(a));
          if (status !== 200) throw new Error(`warm-up push of agent ${a.agentId} answered ${status}`);
          warmedUp++;
        }),
      );
    }
    const warmUpS = (performance.now() - warmUpStarted) / 1000;

    const latencies: number[] = [];
    // The same latencies by the slice of the window the push was due in: whether a tail is spread over the
    // run or comes in bursts (a checkpoint, a job's run, autovacuum).
    const bySlice: number[][] = [];
    // How late this process's own event loop ran: a push sent late by a busy load generator counts in the
    // latency above (from when it was due), so a tail is the server's only when this stays small.
    const generatorLag = monitorEventLoopDelay({ resolution: 10 });
    // The store's background work by the same slices, sampled every second: autovacuum worker-seconds
    // (workers seen × the interval) and checkpoints counted.
    const storeBySlice: Array<{ autovacuumS: number; checkpoints: number }> = [];
    const checkpoints = await checkpointCounter(pool);
    const sampleStore = async () => ({
      autovacuumWorkers: await busyBackends(pool, false),
      checkpoints: await checkpoints(),
    });
    const sliceOf = (at: number) => Math.max(0, Math.floor((at - start) / (latencySliceS * 1000)));
    let errors = 0;
    const errorKinds = new Map<string, number>();
    let accepted = 0;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const end = start + opts.durationS * 1000;
    const acceptedBy = new Map<string, number>();
    // CPU of each part over the load window: the servers, the store (postmaster and backends), this
    // process (the load generator) and the whole machine (others' work included: the box is shared).
    const cpuNow = () => ({
      // Unknown (null in the result, not zero) for a server this bench did not start.
      server:
        serverPids.length === 0
          ? Number.NaN
          : serverPids.reduce((n, pid) => n + (treeCpuSeconds(pid) ?? 0), 0),
      store: storePid === undefined ? Number.NaN : (treeCpuSeconds(storePid) ?? Number.NaN),
      machine: machineBusySeconds(),
    });
    const cpuStart = cpuNow();
    generatorLag.enable();
    const sampling = (async () => {
      let prev = await sampleStore();
      let prevAt = performance.now();
      while (performance.now() < end) {
        await sleep(1000);
        const next = await sampleStore();
        const at = performance.now();
        const k = sliceOf(prevAt);
        const slot = storeBySlice[k] ?? { autovacuumS: 0, checkpoints: 0 };
        storeBySlice[k] = slot;
        slot.autovacuumS += (next.autovacuumWorkers * (at - prevAt)) / 1000;
        slot.checkpoints += next.checkpoints - prev.checkpoints;
        prev = next;
        prevAt = at;
      }
    })().then(
      () => true,
      () => false,
    );

    const pushOnce = async (a: (typeof state)[number], scheduledAt: number): Promise<void> => {
      const body = takeBody(a);
      try {
        const status = await post(a, body);
        if (status === 200) {
          accepted++;
          acceptedBy.set(a.url, (acceptedBy.get(a.url) ?? 0) + 1);
          const ms = performance.now() - scheduledAt;
          latencies.push(ms);
          const k = sliceOf(scheduledAt);
          const slice = bySlice[k] ?? [];
          bySlice[k] = slice;
          slice.push(ms);
        } else {
          errors++;
          errorKinds.set(String(status), (errorKinds.get(String(status)) ?? 0) + 1);
        }
      } catch (err) {
        errors++;
        const k = (err as Error).message;
        errorKinds.set(k, (errorKinds.get(k) ?? 0) + 1);
      }
    };

    if (opts.rate === undefined) {
      await Promise.all(
        state.map(async (a) => {
          while (performance.now() < end) await pushOnce(a, performance.now());
        }),
      );
    } else {
      // Each agent sends one batch at a time, oldest first, as an agent's shipper does: a push due while the
      // agent's previous one is still unanswered waits for it, and its latency counts from when it was due.
      // (Sent side by side instead, an agent's batches overtake one another, which no agent does.)
      const last = new Map<(typeof state)[number], Promise<void>>();
      const interval = 1000 / opts.rate;
      let k = 0;
      for (let next = start; next < end; next += interval) {
        const wait = next - performance.now();
        if (wait > 1) await sleep(wait);
        const a = state[k++ % state.length]!;
        const due = next;
        last.set(
          a,
          (last.get(a) ?? Promise.resolve()).then(() => pushOnce(a, due)),
        );
      }
      await Promise.all(last.values());
    }
    const elapsedS = (performance.now() - start) / 1000;
    generatorLag.disable();
    const cpu = process.cpuUsage(cpu0);
    // A sampler that failed (a store that stopped answering) leaves its figures unknown, not zero.
    const sampled = await sampling;
    const cpuEnd = cpuNow();
    const metricsText = await serverMetrics(serverUrl, await metricsToken(pool));
    const phases = phaseTimings(metricsText);

    // Verify: every acknowledged batch is in the ledger exactly once and its rows are in the tables.
    const ids = state.map((a) => a.agentId);
    const ledger = await ledgerTotals(pool, ids);
    const serverIds = state.map((a) => a.serverId);
    let stored = 0;
    for (const { family } of shape) {
      stored += await familyRowCount(pool, family, serverIds);
    }
    const rowsPerBatch = shape.reduce((n, s) => n + s.rows, 0);

    // The ceiling on a settled store: the servers' jobs (rolling up the window's data) and autovacuum of
    // the window's rows would otherwise run during it, and its figure would swing with them.
    await Promise.all(serverStops.map((stop) => stop()));
    // Settling waits for the autovacuum workers at work; one could still start on the window's rows in the
    // middle of the ceiling's COPYs (runs of one build gave 0.23 to 0.47 ms of store CPU a push for them).
    // On the bench's own store, autovacuum is off until the ceiling is timed.
    if (!opts.databaseUrl) await setAutovacuum(pool, false);
    // An existing deployment's own sessions (`--server`) are not waited for.
    const settleS = await settleStore(pool, serverStops.length > 0);
    const ceilingServers = opts.ceilingServers ?? opts.agents;
    const ceilingCpu0 = { store: cpuNow().store, self: process.cpuUsage() };
    const ceilingS = await copyCeiling(databaseUrl, shape, ceilingServers, accepted, data);
    // Its backend has closed its socket but may not be reaped yet (its CPU not yet in the postmaster's).
    await sleep(500);
    // The ceiling's CPU per push, client (this process) and store: the same measure as the end-to-end run's
    // server + store, so their ratio says how much work the path adds per push, at any machine load.
    const ceilingSelf = process.cpuUsage(ceilingCpu0.self);
    const ceilingCpuS = {
      client: (ceilingSelf.user + ceilingSelf.system) / 1e6,
      store: cpuNow().store - ceilingCpu0.store,
    };
    if (!opts.databaseUrl) await setAutovacuum(pool, true);
    latencies.sort((x, y) => x - y);
    const perPush = (cpuS: number) =>
      Number.isFinite(cpuS) && accepted > 0 ? Number(((cpuS * 1000) / accepted).toFixed(3)) : null;
    const result = {
      agents: opts.agents,
      data,
      serverRoot: serverRoot() === packageRoot ? null : serverRoot(),
      durationS: Number(elapsedS.toFixed(1)),
      offeredRate: opts.rate ?? null,
      valuesPerBatch,
      rowsPerBatch,
      pushes: accepted,
      pushesPerS: Number((accepted / elapsedS).toFixed(1)),
      valuesPerS: Math.round((accepted * valuesPerBatch) / elapsedS),
      ackLatencyMs: {
        p50: Number(percentile(latencies, 50).toFixed(1)),
        p95: Number(percentile(latencies, 95).toFixed(1)),
        p99: Number(percentile(latencies, 99).toFixed(1)),
      },
      ackLatencyBySlice: [...bySlice.entries()].map(([k, ms = []]) => {
        ms.sort((x, y) => x - y);
        return {
          fromS: k * latencySliceS,
          pushes: ms.length,
          p50: ms.length > 0 ? Number(percentile(ms, 50).toFixed(1)) : null,
          p95: ms.length > 0 ? Number(percentile(ms, 95).toFixed(1)) : null,
          max: ms.length > 0 ? Number(ms.at(-1)!.toFixed(1)) : null,
          autovacuumWorkerS: sampled ? Number((storeBySlice[k]?.autovacuumS ?? 0).toFixed(1)) : null,
          checkpoints: sampled ? (storeBySlice[k]?.checkpoints ?? 0) : null,
        };
      }),
      // The histogram's figures are nanoseconds.
      loadGeneratorLagMs: {
        p99: Number((generatorLag.percentile(99) / 1e6).toFixed(1)),
        max: Number((generatorLag.max / 1e6).toFixed(1)),
      },
      errors,
      errorKinds: Object.fromEntries(errorKinds),
      verified: {
        batchesInLedger: ledger.batches,
        rowsExpected: (accepted + warmedUp) * rowsPerBatch,
        rowsStored: stored,
        ok: ledger.batches === accepted + warmedUp && stored === (accepted + warmedUp) * rowsPerBatch,
      },
      serverPhaseMsPerBatch: Object.fromEntries(
        Object.entries(phases).map(([k, v]) => [k, Number(v.toFixed(3))]),
      ),
      findingsJob: findingsJobTimings(metricsText),
      copyCeiling: {
        seconds: Number(ceilingS.toFixed(2)),
        pushesPerS: Number((accepted / ceilingS).toFixed(1)),
        ratio: Number((accepted / elapsedS / (accepted / ceilingS)).toFixed(3)),
        settleS: Number(settleS.toFixed(1)),
        servers: ceilingServers,
      },
      loadGeneratorCpuS: Number(((cpu.user + cpu.system) / 1e6).toFixed(1)),
      // The bodies built before the window (their CPU is not in the window's), and those built in it.
      prepared: {
        bodiesPerAgent: perAgent,
        megabytes: Number((preparedBytes / 1024 / 1024).toFixed(1)),
        seconds: Number(prepareS.toFixed(1)),
        cpuS: Number(((prepareCpu.user + prepareCpu.system) / 1e6).toFixed(1)),
        builtInWindow,
      },
      // Each agent's first push, before the window: verified, not timed.
      warmUp: { pushes: warmedUp, seconds: Number(warmUpS.toFixed(1)) },
      servers: serverUrls.length,
      pushesPerSByServer: serverUrls.map((u) => Number(((acceptedBy.get(u) ?? 0) / elapsedS).toFixed(1))),
      // CPU milliseconds per acknowledged push, by part: the server figure is independent of how much the
      // load generator on the same box costs.
      cpuMsPerPush: {
        server: perPush(cpuEnd.server - cpuStart.server),
        store: perPush(cpuEnd.store - cpuStart.store),
        loadGenerator: perPush((cpu.user + cpu.system) / 1e6),
        machine: perPush(cpuEnd.machine - cpuStart.machine),
        copyCeilingClient: perPush(ceilingCpuS.client),
        copyCeilingStore: perPush(ceilingCpuS.store),
      },
      // CPU per push of the COPY ceiling (client + store) over that of the path (servers + store).
      cpuEfficiencyRatio: ((x: number) => (Number.isFinite(x) ? Number(x.toFixed(3)) : null))(
        (ceilingCpuS.client + ceilingCpuS.store) /
          (cpuEnd.server - cpuStart.server + cpuEnd.store - cpuStart.store),
      ),
      machineCpuBusy: Number(((cpuEnd.machine - cpuStart.machine) / elapsedS).toFixed(2)),
    };
    return result;
  } finally {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  }
}

export function formatBenchIngest(r: Record<string, unknown>): string {
  const lat = r.ackLatencyMs as Record<string, number>;
  const lag = r.loadGeneratorLagMs as Record<string, number>;
  const slices = r.ackLatencyBySlice as Array<{
    p95: number | null;
    autovacuumWorkerS: number | null;
    checkpoints: number | null;
  }>;
  const ver = r.verified as Record<string, unknown>;
  const ceil = r.copyCeiling as Record<string, number>;
  const ph = r.serverPhaseMsPerBatch as Record<string, number>;
  const cpu = r.cpuMsPerPush as Record<string, number | null>;
  const prep = r.prepared as Record<string, number>;
  const warm = r.warmUp as Record<string, number>;
  const job = r.findingsJob as ReturnType<typeof findingsJobTimings>;
  return [
    `agents ${r.agents}, ${r.durationS} s, ${r.data} data, ${r.valuesPerBatch} values (${r.rowsPerBatch} rows) per batch${r.offeredRate ? `, offered ${r.offeredRate} pushes/s` : ', closed loop'}`,
    `pushes/s        ${r.pushesPerS}   (${r.pushes} acknowledged, ${r.errors} errors ${JSON.stringify(r.errorKinds)})`,
    `values/s        ${r.valuesPerS}`,
    `ack latency ms  p50 ${lat.p50}  p95 ${lat.p95}  p99 ${lat.p99}`,
    `  by ${latencySliceS} s      p95 ${slices.map((x) => x.p95 ?? '–').join(' / ')}`,
    `  store by ${latencySliceS} s autovacuum worker-s ${slices.map((x) => x.autovacuumWorkerS ?? '?').join(' / ')}; checkpoints ${slices.map((x) => x.checkpoints ?? '?').join(' / ')}`,
    `  load generator's event loop late by p99 ${lag.p99} ms, max ${lag.max} ms`,
    `verified        ${ver.ok ? 'OK' : 'MISMATCH'}: ${ver.batchesInLedger} batches in ledger, ${ver.rowsStored}/${ver.rowsExpected} rows (with the ${warm.pushes} warm-up pushes before the window, ${warm.seconds} s: each agent's first)`,
    `server ms/batch decode ${ph.decode}  validate ${ph.validate}  encode ${ph.encode}  write(queue+commit) ${ph.write}; ${Number(ph.avgGroupBatches).toFixed(1)} batches/group, ${Number(ph.commitMsPerGroup).toFixed(1)} ms/group`,
    `findings        ${Number(ph.findingsEvalMsPerBatch).toFixed(3)} ms of evaluation per batch; ${ph.findingsWritten} evaluations written, ${ph.findingsUnchanged} unchanged (store skipped)`,
    `findings job    ${job.runs} runs, ${job.seconds} s in all; costliest checks (s): ${Object.entries(
      job.checks,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `COPY ceiling    ${ceil.pushesPerS} pushes/s on one connection, rows of ${ceil.servers} servers (${ceil.seconds} s, after ${ceil.settleS} s for the store to settle); end-to-end / ceiling = ${ceil.ratio}`,
    `load generator  ${r.loadGeneratorCpuS} CPU s in the window (this process, same machine); ${prep.bodiesPerAgent} bodies per agent prepared before it (${prep.megabytes} MB, ${prep.seconds} s, ${prep.cpuS} CPU s), ${prep.builtInWindow} built in it`,
    `CPU ms/push     server ${cpu.server}  store ${cpu.store}  load generator ${cpu.loadGenerator}  machine ${cpu.machine} (busy cores ${r.machineCpuBusy}, others' work included)`,
    `COPY ceiling    CPU ms/push client ${cpu.copyCeilingClient}  store ${cpu.copyCeilingStore}; ceiling CPU / (server + store) CPU = ${r.cpuEfficiencyRatio}`,
    `servers         ${r.servers}: ${(r.pushesPerSByServer as number[]).join(' / ')} pushes/s each${r.serverRoot ? ` (run from ${r.serverRoot})` : ''}`,
  ].join('\n');
}

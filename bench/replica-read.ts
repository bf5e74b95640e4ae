/**
 * Reads from a streaming standby (DATABASE_READ_URL) while ingest runs: how far the standby lags, what the
 * read API's typical reads cost with the standby and without it, and how many of them the standby answered.
 *
 * Set-up, on loopback, as the unprivileged user `pgvigil`: Debian's PostgreSQL 15 primary (wal_level
 * replica) and a standby made from its base backup, streaming through a slot (test/helpers/standby.ts),
 * both with fsync on and 128 MB shared_buffers. Three `pgvigil server` children on the primary: "ingest"
 * takes the pushes; "replica" answers reads with DATABASE_READ_URL set to the standby (default
 * --read-max-lag, 5 s); "primary" is the same server without it.
 *
 * Data through real ingest: `--hosts` agents push `--hours` of host families every 10 s and PostgreSQL log
 * entries, one batch per host and 10 minutes (as an agent sends its spool after an outage), time-major;
 * then the rollup job rolls the complete hours.
 *
 * Two phases, each with the standby's lag sampled every `--sample-ms` and the reads taking turns:
 *   idle  `--idle` seconds without ingest;
 *   load  `pgvigil bench ingest` in its own process offers `--rate` pushes a second of ~1,000 values
 *         (`--agents` agents) to the ingest server for `--duration` seconds; reads run while it pushes.
 * Reads, each on both read servers in turn (which goes first alternates): host_cpu of one host over 1 h
 * (raw tier) and 24 h (minute tier), 10 series each; the fleet overview (`limit=1000`: computed, not the
 * cached default answer); a log search (text, all servers, last 6 h).
 *
 * Lag: bytes = pg_wal_lsn_diff(the primary's current LSN, the standby's replay LSN read just before it);
 * seconds = how long before the standby's read the primary was at the replayed position (the primary's
 * positions sampled with their times, interpolated; 0 when caught up), beside PostgreSQL's own replay_lag
 * from pg_stat_replication. Which reads the standby answered: the replica server's own count
 * (GET /api/v1/health, store.readReplicas[0].reads), read after each of its reads. CPU: each process tree's
 * user + system time over the phase, from /proc.
 *
 * Run: npm run build && node dist/bench/replica-read.js [--hosts 30] [--hours 4] [--idle 20] [--duration 60]
 *      [--rate 20] [--agents 20] [--sample-ms 200]
 * Skips (exit 0) when Debian's PostgreSQL 15 is not installed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { silentLogger } from '../src/log.js';
import { batchMediaType } from '../src/protocol/batch.js';
import { families, wireColumns } from '../src/protocol/families/index.js';
import { localAgent } from '../src/server/auth/agents.js';
import { createApiToken } from '../src/server/auth/api-tokens.js';
import { addUser } from '../src/server/auth/users.js';
import { rollupJob } from '../src/server/jobs/rollups.js';
import { runJobOnce } from '../src/server/jobs/runner.js';
import { migrate } from '../src/storage/migrate.js';
import { defaultRetention, maintainPartitions } from '../src/storage/partitions.js';
import { lockJob } from '../src/storage/queries/jobs.sql.js';
import { parseLsn } from '../src/storage/read-replicas.js';
import { startServerChild } from '../src/tools/bench-ingest.js';
import { machineBusySeconds, treeCpuSeconds } from '../src/tools/proc-cpu.js';
import { packageRoot, version } from '../src/version.js';
import { debianPg15Bin, debianToolSkip, removeDir } from '../test/helpers/pg-cluster.js';
import { query, startPrimaryAndStandby } from '../test/helpers/standby.js';

const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '30' },
    hours: { type: 'string', default: '4' },
    idle: { type: 'string', default: '20' },
    duration: { type: 'string', default: '60' },
    rate: { type: 'string', default: '20' },
    agents: { type: 'string', default: '20' },
    'sample-ms': { type: 'string', default: '200' },
  },
});
const hosts = Number(args.hosts);
const hours = Number(args.hours);
const idleS = Number(args.idle);
const durationS = Number(args.duration);
const rate = Number(args.rate);
const agents = Number(args.agents);
const sampleMs = Number(args['sample-ms']);
for (const [name, v] of Object.entries({ hosts, hours, duration: durationS, rate, agents })) {
  if (!Number.isInteger(v) || v <= 0) {
    process.stderr.write(`replica-read: --${name} must be a positive integer\n`);
    process.exit(2);
  }
}
if (!(idleS >= 0) || !(sampleMs >= 50 && sampleMs <= 1000) || hours > 48) {
  process.stderr.write('replica-read: --idle ≥ 0, --sample-ms 50–1000, --hours ≤ 48\n');
  process.exit(2);
}

const hourMs = 3_600_000;
/** The jobs whose history reads go to a standby (docs/operations.md, "Read replicas"). */
const analysisJobs = ['baselines', 'slos', 'incidents'];
const stepMs = 10_000;
const windowMs = 10 * 60_000;
/** The whole run stops by then, whatever hangs. */
const watchdogMs = 20 * 60_000;
const log = silentLogger();

function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const sortNum = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '—');
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- seeding through ingest ------------------------------------------------------------------------

const wave = (t: number, host: number, k: number) =>
  50 + 40 * Math.sin(t / (600_000 + k * 37_000) + host * (k + 1));
const r2 = (x: number) => Math.round(x * 100) / 100;

const logPatterns: Array<{ level: string; component: string; text: (n: number) => string }> = [
  { level: 'info', component: 'checkpointer', text: (n) => `checkpoint complete: wrote ${n} buffers` },
  { level: 'info', component: 'client backend', text: (n) => `connection authorized: user=app${n % 5}` },
  { level: 'info', component: 'client backend', text: (n) => `duration: ${n}.12 ms  statement: SELECT 1` },
  {
    level: 'error',
    component: 'client backend',
    text: (n) => `canceling statement due to statement timeout (pid ${n})`,
  },
  {
    level: 'warning',
    component: 'client backend',
    text: (n) => `could not receive data from client: Connection reset by peer (${n})`,
  },
];
const fingerprints = logPatterns.map((p) =>
  createHash('sha256')
    .update(`postgresql|${p.level}|${p.text(0)}`)
    .digest('hex')
    .slice(0, 16),
);

/** One host's batch of collections every 10 s over [from, to), with five log entries a minute. */
function seedBatch(agentId: string, host: number, seq: number, from: number, to: number): Buffer {
  const cpu: unknown[][] = [];
  const memory: unknown[][] = [];
  const loadRows: unknown[][] = [];
  const network: unknown[][] = [];
  const disk: unknown[][] = [];
  const logs: unknown[][] = [];
  for (let t = from; t < to; t += stepMs) {
    for (const [c, label] of ['total', '0', '1', '2', '3'].entries()) {
      const user = r2(wave(t, host, 1 + c) / 4);
      const system = r2(wave(t, host, 2 + c) / 10);
      const iowait = r2(wave(t, host, 3 + c) / 40);
      cpu.push([t, label, user, 0, system, r2(100 - user - system - iowait), iowait, 0.1, 0.2, 0]);
    }
    memory.push([
      t,
      17_179_869_184,
      Math.round(wave(t, host, 4) * 1e8),
      Math.round(wave(t, host, 5) * 1e8),
      1e9,
      1e8,
      4e9,
      2e9,
      0,
    ]);
    loadRows.push([t, r2(wave(t, host, 6) / 25), r2(wave(t, host, 7) / 30), r2(wave(t, host, 8) / 35)]);
    for (const [i, name] of ['eth0', 'lo'].entries()) {
      network.push([t, name, wave(t, host, 9 + i) * 1e4, wave(t, host, 10 + i) * 1e4, 500, 400, 0, 0, 0, 0]);
    }
    for (const [i, name] of ['sda', 'sdb'].entries()) {
      const w = wave(t, host, 13 + i);
      disk.push([t, name, w, w / 2, w * 4096, w * 2048, w / 50, w / 40, w / 3, 1]);
    }
    if (t % 60_000 === 0) {
      for (let k = 0; k < 5; k++) {
        const p = logPatterns[(k + Math.floor(t / 60_000) + host) % logPatterns.length]!;
        const n = (t / 1000 + host * 7 + k) % 997;
        logs.push([
          new Date(t + k * 1000).toISOString(),
          'postgresql',
          p.level,
          p.component,
          p.text(n),
          {},
          fingerprints[logPatterns.indexOf(p)],
        ]);
      }
    }
  }
  const body = {
    v: 1,
    agentId,
    seq,
    sealedAt: to,
    families: {
      host_cpu: { columns: wireColumns(families.host_cpu!), rows: cpu },
      host_memory: { columns: wireColumns(families.host_memory!), rows: memory },
      host_load: { columns: wireColumns(families.host_load!), rows: loadRows },
      host_network: { columns: wireColumns(families.host_network!), rows: network },
      host_disk: { columns: wireColumns(families.host_disk!), rows: disk },
    },
    logs: {
      columns: ['ts', 'source', 'level', 'component', 'message', 'context', 'fingerprint'],
      rows: logs,
    },
  };
  return gzipSync(JSON.stringify(body), { level: 1 });
}

async function seed(pool: pg.Pool, ingestUrl: string): Promise<{ ids: number[]; pushes: number }> {
  const list: Array<Awaited<ReturnType<typeof localAgent>> & { seq: number }> = [];
  for (let i = 0; i < hosts; i++)
    list.push({
      ...(await localAgent(pool, `replica-host-${String(i).padStart(3, '0')}`, undefined)),
      seq: 0,
    });
  const end = Math.floor(Date.now() / stepMs) * stepMs;
  const start = end - hours * hourMs;
  let pushes = 0;
  // Time-major, as a fleet's agents deliver: every host's 10 minutes, then the next 10 minutes.
  for (let w = start; w < end; w += windowMs) {
    const to = Math.min(w + windowMs, end);
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < list.length) {
          const i = next++;
          const a = list[i]!;
          a.seq++;
          const res = await fetch(`${ingestUrl}/api/v1/ingest`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${a.credential}`,
              'content-type': batchMediaType,
              'content-encoding': 'gzip',
            },
            body: seedBatch(a.agentId, i, a.seq, w, to),
          });
          const text = await res.text();
          if (res.status !== 200)
            throw new Error(`seeding: ingest answered ${res.status}: ${text.slice(0, 300)}`);
          pushes++;
        }
      }),
    );
  }
  return { ids: list.map((a) => a.serverId), pushes };
}

// ---- lag sampling ----------------------------------------------------------------------------------

interface LagSample {
  bytes: number;
  seconds: number;
  /** pg_stat_replication.replay_lag, s (null when PostgreSQL has none to report). */
  pgReplayLag: number | null;
}

/** When the primary's WAL reached `lsn`, from its positions sampled with their times (oldest first). */
function reachedAt(positions: ReadonlyArray<{ t: number; lsn: bigint }>, lsn: bigint): number | undefined {
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i]!;
    if (p.lsn < lsn) continue;
    if (p.lsn === lsn || i === 0) return p.t;
    const q = positions[i - 1]!;
    return q.t + (Number(lsn - q.lsn) / Number(p.lsn - q.lsn)) * (p.t - q.t);
  }
  return undefined;
}

class LagSampler {
  readonly samples: LagSample[] = [];
  private readonly positions: Array<{ t: number; lsn: bigint }> = [];
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly primary: pg.Client,
    private readonly standby: pg.Client,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const tick = Date.now();
        await this.sample();
        await sleep(Math.max(0, sampleMs - (Date.now() - tick)));
      }
    })();
  }

  private async sample(): Promise<void> {
    const t = Date.now();
    const { rows: s } = await this.standby.query<{ lsn: string }>(
      'SELECT pg_last_wal_replay_lsn()::text AS lsn',
    );
    const replayed = s[0]!.lsn;
    const { rows: p } = await this.primary.query<{ cur: string; bytes: number; lag: number | null }>(
      `SELECT pg_current_wal_lsn()::text AS cur, pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::float8 AS bytes,
              (SELECT extract(epoch FROM replay_lag)::float8 FROM pg_stat_replication
                WHERE application_name = 'standby1') AS lag`,
      [replayed],
    );
    const cur = parseLsn(p[0]!.cur);
    this.positions.push({ t: Date.now(), lsn: cur });
    if (this.positions.length > 10_000) this.positions.shift();
    const rep = parseLsn(replayed);
    // Behind every position sampled in the phase (none so far at its start): at least since the first.
    const at = rep >= cur ? t : (reachedAt(this.positions, rep) ?? this.positions[0]!.t);
    this.samples.push({
      bytes: Math.max(0, p[0]!.bytes),
      seconds: Math.max(0, (t - at) / 1000),
      pgReplayLag: p[0]!.lag,
    });
  }

  /** Samples one more time (the primary's positions before a phase), without recording it. */
  async prime(): Promise<void> {
    await this.sample();
    this.samples.length = 0;
  }

  async stop(): Promise<LagSample[]> {
    this.stopped = true;
    await this.loop;
    return this.samples;
  }

  /** WAL the primary wrote per second over the samples. */
  walBytesPerS(): number {
    const a = this.positions[0];
    const b = this.positions.at(-1);
    return a && b && b.t > a.t ? (Number(b.lsn - a.lsn) * 1000) / (b.t - a.t) : Number.NaN;
  }
}

// ---- reads -----------------------------------------------------------------------------------------

interface ReadKind {
  name: string;
  path(serverId: number, now: number): string;
}

const series = (serverId: number, from: number, to: number) =>
  `/api/v1/series?${new URLSearchParams({
    family: 'host_cpu',
    metrics: 'user_pct,system_pct',
    server: String(serverId),
    from: String(from),
    to: String(to),
  })}`;

const kinds: ReadKind[] = [
  { name: 'series 1 h (raw, 10 series)', path: (s, now) => series(s, now - hourMs, now) },
  { name: 'series 24 h (minute, 10 series)', path: (s, now) => series(s, now - 24 * hourMs, now) },
  { name: 'fleet overview (limit=1000)', path: () => '/api/v1/fleet?limit=1000' },
  {
    name: 'log search (text, 6 h, all servers)',
    path: (_s, now) =>
      `/api/v1/logs?${new URLSearchParams({ q: 'timeout', from: new Date(now - 6 * hourMs).toISOString(), limit: '100' })}`,
  },
];

type Mode = 'replica' | 'primary';

interface ReadRecord {
  kind: number;
  mode: Mode;
  ms: number;
  /** Replica mode: whether the standby answered (the server's own count moved). */
  viaStandby?: boolean;
}

interface Health {
  reads: number;
  state: string;
  lagMs: number | null;
}

async function health(base: string): Promise<Health | undefined> {
  const body = (await (await fetch(`${base}/api/v1/health`)).json()) as {
    store: { readReplicas?: Array<{ reads: number; state: string; lagMs: number | null }> };
  };
  return body.store.readReplicas?.[0];
}

interface ReadServer {
  mode: Mode;
  url: string;
  child: ChildProcess;
  lastReads: number;
}

interface PhaseResult {
  name: string;
  seconds: number;
  loadStart: string;
  loadEnd: string;
  reads: ReadRecord[];
  lag: LagSample[];
  walBytesPerS: number;
  /** Router's view: states seen in the replica server's health after each of its reads. */
  states: Map<string, number>;
  routerLagMaxMs: number;
  /** Extra counted standby reads (the server's jobs) beside the bench's own. */
  extraReads: number;
  cpuS: Record<string, number>;
}

async function readPhase(
  name: string,
  servers: [ReadServer, ReadServer],
  ids: number[],
  token: string,
  sampler: LagSampler,
  pids: Record<string, number>,
  until: () => boolean,
  iterationsDone: { n: number },
): Promise<PhaseResult> {
  const states = new Map<string, number>();
  let routerLagMaxMs = 0;
  let extraReads = 0;
  const reads: ReadRecord[] = [];
  const cpu0 = cpuOf(pids);
  const t0 = performance.now();
  const loadStart = load();
  await sampler.prime();
  sampler.start();
  const headers = { authorization: `Bearer ${token}` };
  try {
    while (!until()) {
      const it = iterationsDone.n++;
      const serverId = ids[(it * 7) % ids.length]!;
      for (const [k, kind] of kinds.entries()) {
        const order = (it + k) % 2 === 0 ? servers : ([servers[1], servers[0]] as const);
        for (const s of order) {
          const path = kind.path(serverId, Date.now());
          const start = performance.now();
          const res = await fetch(`${s.url}${path}`, { headers });
          await res.arrayBuffer();
          const ms = performance.now() - start;
          if (res.status !== 200) throw new Error(`${kind.name} on ${s.mode}: ${res.status}`);
          // Both servers are asked for their health after each read, so both pay the same between reads.
          const h = await health(s.url);
          const rec: ReadRecord = { kind: k, mode: s.mode, ms };
          if (s.mode === 'replica' && h) {
            const moved = h.reads - s.lastReads;
            s.lastReads = h.reads;
            rec.viaStandby = moved > 0;
            if (moved > 1) extraReads += moved - 1;
            states.set(h.state, (states.get(h.state) ?? 0) + 1);
            routerLagMaxMs = Math.max(routerLagMaxMs, h.lagMs ?? 0);
          }
          reads.push(rec);
        }
      }
    }
  } finally {
    await sampler.stop();
  }
  const cpu1 = cpuOf(pids);
  return {
    name,
    seconds: (performance.now() - t0) / 1000,
    loadStart,
    loadEnd: load(),
    reads,
    lag: sampler.samples,
    walBytesPerS: sampler.walBytesPerS(),
    states,
    routerLagMaxMs,
    extraReads,
    cpuS: Object.fromEntries(Object.keys(cpu0).map((k) => [k, cpu1[k]! - cpu0[k]!])),
  };
}

function cpuOf(pids: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, pid] of Object.entries(pids)) out[k] = treeCpuSeconds(pid) ?? Number.NaN;
  out.machine = machineBusySeconds();
  return out;
}

function report(p: PhaseResult): string {
  const lines: string[] = [];
  lines.push(
    `\n== ${p.name}: ${p.seconds.toFixed(1)} s, load average ${p.loadStart} → ${p.loadEnd}, ${p.reads.length} reads`,
  );
  const bytes = sortNum(p.lag.map((s) => s.bytes));
  const secs = sortNum(p.lag.map((s) => s.seconds).filter(Number.isFinite));
  const pgLag = sortNum(p.lag.map((s) => s.pgReplayLag).filter((x): x is number => x !== null));
  lines.push(
    `standby replay lag (${p.lag.length} samples every ${sampleMs} ms): bytes p50 ${Math.round(pct(bytes, 50)).toLocaleString('en')} p95 ${Math.round(pct(bytes, 95)).toLocaleString('en')} max ${Math.round(bytes.at(-1) ?? Number.NaN).toLocaleString('en')}; ` +
      `seconds p50 ${pct(secs, 50).toFixed(3)} p95 ${pct(secs, 95).toFixed(3)} max ${(secs.at(-1) ?? Number.NaN).toFixed(3)}; ` +
      `pg_stat_replication.replay_lag (${pgLag.length} non-null) p50 ${pct(pgLag, 50).toFixed(3)} p95 ${pct(pgLag, 95).toFixed(3)} max ${(pgLag.at(-1) ?? Number.NaN).toFixed(3)} s; ` +
      `the primary wrote ${(p.walBytesPerS / 1e6).toFixed(2)} MB of WAL a second`,
  );
  lines.push(
    `router (replica server's health after each read): states ${[...p.states].map(([s, n]) => `${s} ${n}`).join(', ')}; lag max ${p.routerLagMaxMs} ms; standby reads by its jobs meanwhile ${p.extraReads}`,
  );
  lines.push('| read | with standby p50 / p95 ms | primary only p50 / p95 ms | answered by the standby |');
  lines.push('| --- | --- | --- | --- |');
  for (const [k, kind] of kinds.entries()) {
    const rep = p.reads.filter((r) => r.kind === k && r.mode === 'replica');
    const pri = sortNum(p.reads.filter((r) => r.kind === k && r.mode === 'primary').map((r) => r.ms));
    const repMs = sortNum(rep.map((r) => r.ms));
    const via = rep.filter((r) => r.viaStandby).length;
    lines.push(
      `| ${kind.name} | ${f1(pct(repMs, 50))} / ${f1(pct(repMs, 95))} | ${f1(pct(pri, 50))} / ${f1(pct(pri, 95))} | ${via} of ${rep.length} |`,
    );
  }
  const rep = p.reads.filter((r) => r.mode === 'replica');
  const via = rep.filter((r) => r.viaStandby).length;
  lines.push(
    `standby answered ${via} of ${rep.length} reads (${rep.length ? ((100 * via) / rep.length).toFixed(1) : '—'} %); the primary the other ${rep.length - via}`,
  );
  const n = rep.length;
  const ms = (s: number) => (n > 0 ? ((s * 1000) / n).toFixed(2) : '—');
  const c = p.cpuS;
  lines.push(
    `CPU over the phase (s): replica server ${c.replicaServer?.toFixed(2)} (${ms(c.replicaServer!)} ms a read), primary-only server ${c.primaryServer?.toFixed(2)} (${ms(c.primaryServer!)} ms a read), ` +
      `ingest server ${c.ingestServer?.toFixed(2)}, primary PostgreSQL ${c.primaryPg?.toFixed(2)}, standby PostgreSQL ${c.standbyPg?.toFixed(2)}, ` +
      `${c.loadGenerator !== undefined ? `load generator ${c.loadGenerator.toFixed(2)}, ` : ''}machine busy ${(c.machine! / p.seconds).toFixed(2)} cores`,
  );
  return lines.join('\n');
}

// ---- main ------------------------------------------------------------------------------------------

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(kill);
}

async function main(): Promise<void> {
  if (debianToolSkip(join(debianPg15Bin, 'postgres'))) return;
  const cleanup: Array<() => Promise<unknown>> = [];
  const runCleanup = async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
  };
  const watchdog = setTimeout(() => {
    process.stderr.write(`replica-read: still running after ${watchdogMs / 60_000} min; stopping\n`);
    void runCleanup().finally(() => process.exit(1));
  }, watchdogMs);
  watchdog.unref();
  const t0 = Date.now();
  process.stdout.write(`replica-read: ${new Date().toISOString()}, load average ${load()}\n`);
  try {
    const { primary, standby } = await startPrimaryAndStandby(
      { fsync: 'on', shared_buffers: '128MB' },
      debianPg15Bin,
    );
    cleanup.push(async () => {
      await primary.stop();
      await removeDir(primary.dir);
    });
    cleanup.push(() => standby.stop());
    const [{ v }] = (await query<{ v: string }>(primary.url(), 'SELECT version() AS v')) as [{ v: string }];
    process.stdout.write(`primary and standby: ${v.split(' on ')[0]}, as user pgvigil, fsync on\n`);

    const pool = new pg.Pool({ connectionString: primary.url(), max: 4 });
    pool.on('error', () => {});
    cleanup.push(() => pool.end());
    await migrate(pool, log);
    await maintainPartitions(pool, { log });
    const { userId } = await addUser(pool, { name: 'bench-replica-reader', role: 'viewer' });
    const { token } = await createApiToken(pool, { userId, name: 'bench', role: 'viewer' });

    // Its warnings (open-loop pushes of one agent arriving out of order) are not what is measured here.
    const ingest = await startServerChild(primary.url(), 60_000, { PGVIGIL_LOG_LEVEL: 'error' });
    cleanup.push(() => stopChild(ingest.child));
    const seedT = performance.now();
    const { ids, pushes } = await seed(pool, ingest.url);
    process.stdout.write(
      `seeded through ingest: ${hosts} hosts × ${hours} h every 10 s (host_cpu ×5, memory, load, network ×2, disk ×2) + 5 log entries a minute, ${pushes} pushes, ${((performance.now() - seedT) / 1000).toFixed(1)} s\n`,
    );
    const rollT = performance.now();
    const outcome = await runJobOnce(pool, rollupJob(defaultRetention), log, { now: new Date() });
    if (outcome !== 'ran') throw new Error(`rollup job ${outcome}`);
    const vacT = performance.now();
    await pool.query('VACUUM ANALYZE');
    process.stdout.write(
      `rollup job ${((vacT - rollT) / 1000).toFixed(1)} s, VACUUM ANALYZE ${((performance.now() - vacT) / 1000).toFixed(1)} s\n`,
    );

    // The standby replays all of it before anything is measured.
    const caughtUpBy = Date.now() + 120_000;
    for (;;) {
      const [p] = await query<{ lsn: string }>(primary.url(), 'SELECT pg_current_wal_lsn()::text AS lsn');
      const [s] = await query<{ lsn: string }>(standby.url(), 'SELECT pg_last_wal_replay_lsn()::text AS lsn');
      if (parseLsn(s!.lsn) >= parseLsn(p!.lsn)) break;
      if (Date.now() > caughtUpBy) throw new Error(`the standby did not catch up: ${s!.lsn} < ${p!.lsn}`);
      await sleep(250);
    }
    const [size] = await query<{ s: string }>(
      primary.url(),
      'SELECT pg_size_pretty(pg_database_size(current_database())) AS s',
    );
    process.stdout.write(`store ${size!.s}; the standby has replayed it\n`);

    // The analysis jobs that read history on a standby (baselines, slos, incidents) are held off by holding
    // their locks, as a running instance would: the replica server's count of standby reads is then the
    // bench's reads alone (the report's "standby reads by its jobs" says whether it was).
    const jobLocks = await pool.connect();
    cleanup.push(async () => jobLocks.release(true));
    for (const job of analysisJobs) await lockJob(jobLocks, job, true);

    const replica = await startServerChild(primary.url(), 60_000, { DATABASE_READ_URL: standby.url() });
    cleanup.push(() => stopChild(replica.child));
    const primaryOnly = await startServerChild(primary.url());
    cleanup.push(() => stopChild(primaryOnly.child));
    const readyBy = Date.now() + 30_000;
    while ((await health(replica.url))?.state !== 'ready') {
      if (Date.now() > readyBy) throw new Error('the replica server never saw its standby ready');
      await sleep(200);
    }
    const servers: [ReadServer, ReadServer] = [
      {
        mode: 'replica',
        url: replica.url,
        child: replica.child,
        lastReads: (await health(replica.url))!.reads,
      },
      { mode: 'primary', url: primaryOnly.url, child: primaryOnly.child, lastReads: 0 },
    ];
    const pids: Record<string, number> = {
      replicaServer: replica.child.pid!,
      primaryServer: primaryOnly.child.pid!,
      ingestServer: ingest.child.pid!,
      primaryPg: primary.cluster.pid,
      standbyPg: standby.cluster.pid,
    };
    const pc = new pg.Client({ connectionString: primary.url() });
    const sc = new pg.Client({ connectionString: standby.url() });
    await pc.connect();
    await sc.connect();
    cleanup.push(() => pc.end());
    cleanup.push(() => sc.end());
    const sampler = () => new LagSampler(pc, sc);
    const iterations = { n: 0 };

    // Warm-up: every read once on each server, not counted.
    const warm = Date.now() + 2_000;
    await readPhase('warm-up', servers, ids, token, sampler(), pids, () => Date.now() > warm, iterations);

    const phases: PhaseResult[] = [];
    if (idleS > 0) {
      const end = Date.now() + idleS * 1000;
      phases.push(
        await readPhase(
          'idle (no ingest)',
          servers,
          ids,
          token,
          sampler(),
          pids,
          () => Date.now() > end,
          iterations,
        ),
      );
      process.stdout.write(`${report(phases.at(-1)!)}\n`);
    }

    // The ingest load: the ingest bench's load generator in a process of its own, bounded by --duration.
    const loadGen = spawn(
      process.execPath,
      [
        join(packageRoot, 'bin', 'pgvigil.js'),
        'bench',
        'ingest',
        '--server',
        ingest.url,
        '--database-url',
        primary.url(),
        '--agents',
        String(agents),
        '--duration',
        String(durationS),
        '--rate',
        String(rate),
        '--json',
      ],
      { env: { ...process.env, PGVIGIL_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanup.push(() => stopChild(loadGen));
    let loadOut = '';
    loadGen.stdout!.on('data', (d) => (loadOut += d));
    const loadExit = once(loadGen, 'exit');
    // It creates its agents, then pushes: the last agent's server row marks the start.
    const lastAgent = `bench-host-${agents - 1}`;
    const startBy = Date.now() + 60_000;
    for (;;) {
      const { rows } = await pool.query('SELECT 1 FROM pgvigil.servers WHERE name = $1', [lastAgent]);
      if (rows.length > 0) break;
      if (loadGen.exitCode !== null) throw new Error(`the ingest load exited early (${loadGen.exitCode})`);
      if (Date.now() > startBy) throw new Error('the ingest load did not start');
      await sleep(100);
    }
    const loadEnd = Date.now() + (durationS - 2) * 1000;
    phases.push(
      await readPhase(
        `ingest load (${rate} pushes/s offered, ${agents} agents)`,
        servers,
        ids,
        token,
        sampler(),
        { ...pids, loadGenerator: loadGen.pid! },
        () => Date.now() > loadEnd || loadGen.exitCode !== null,
        iterations,
      ),
    );
    process.stdout.write(`${report(phases.at(-1)!)}\n`);
    const killLoad = setTimeout(() => loadGen.kill('SIGKILL'), (durationS + 180) * 1000);
    await loadExit;
    clearTimeout(killLoad);
    try {
      const r = JSON.parse(loadOut) as {
        pushesPerS: number;
        ackLatencyMs: { p50: number; p95: number };
        errors: number;
        errorKinds: Record<string, number>;
        verified: { ok: boolean; batchesInLedger: number };
        cpuMsPerPush: { server: number | null; loadGenerator: number | null };
      };
      process.stdout.write(
        `ingest load: ${r.pushesPerS} pushes/s acknowledged, ack p50 ${r.ackLatencyMs.p50} / p95 ${r.ackLatencyMs.p95} ms, ${r.errors} errors ${JSON.stringify(r.errorKinds)}, ${r.verified.batchesInLedger} batches verified ${r.verified.ok ? 'OK' : 'NOT OK'}, load generator ${r.cpuMsPerPush.loadGenerator} ms CPU a push\n`,
      );
    } catch {
      process.stdout.write(`ingest load: no result (${loadOut.slice(0, 200)})\n`);
    }
    process.stdout.write(
      `\npgvigil ${version}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; ${((Date.now() - t0) / 1000).toFixed(0)} s in all, load average at the end ${load()}\n`,
    );
  } finally {
    clearTimeout(watchdog);
    await runCleanup();
  }
}

await main();

/**
 * Agent overhead, side by side with prometheus-node-exporter.
 *
 * Runs the real `pgvigil agent` (every collector: host, containers and one process watch; 10 s interval;
 * exporter on), the same agent without a process watch (node_exporter's scope), and Debian's node_exporter
 * over the same minutes, scraping each every 10 s as Prometheus would, and reports for each: CPU seconds
 * used over the window and over its second half (utime + stime from /proc/<pid>/stat; the second half
 * leaves out the agent's JIT warm-up) and peak resident memory (VmHWM), with ratios to node_exporter. Then it times one full host collection cycle (all host
 * collectors, as the scheduler runs them) in this process: p50 and p95.
 *
 * Each agent is started the way the product starts it: node gets the NODE_OPTIONS of the shipped systemd
 * unit (deploy/systemd/pgvigil-agent.service) and the agent the unit's ExecStart flags (--max-memory …),
 * less --server (the bench scrapes the exporter instead of shipping).
 *
 * With PostgreSQL to watch: unless --no-pg-load, a private Debian PostgreSQL 15 cluster (run as the
 * `postgres` user, in a temporary directory) with `pgbench -c 8 -R 20` against it runs for the whole window,
 * so the process watch has its backends and auxiliary processes to read; it is stopped and removed at the
 * end. Other PostgreSQL servers on the machine are matched by the watch too.
 *
 * Same-run comparisons: --against <dir> (repeatable) adds the full agent of another built checkout
 * (started as that checkout's unit says); --variant 'label=node flags' (repeatable) adds the full agent of this checkout
 * with extra flags on node's command line (V8 options that NODE_OPTIONS does not take).
 *
 * Goals: agent peak RSS ≤ 64 MB, agent CPU ≤ node_exporter's, host cycle p95 < 5 ms.
 *
 * Usage: node dist/bench/agent-overhead.js [--minutes 3] [--interval 10] [--cycles 500] [--json]
 *        [--no-pg-load] [--against /path/to/checkout] [--variant 'label=--flag …']…
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createCollectors } from '../src/agent/collectors/index.js';
import { USER_HZ } from '../src/agent/collectors/proc.js';
import type { CollectContext } from '../src/agent/collectors/types.js';
import { silentLogger } from '../src/log.js';
import { type RunningCluster, startCluster } from '../src/storage/cluster.js';
import { packageRoot } from '../src/version.js';

const nodeExporterPath = '/usr/bin/prometheus-node-exporter';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    interval: { type: 'string', default: '10' },
    cycles: { type: 'string', default: '500' },
    json: { type: 'boolean', default: false },
    'no-pg-load': { type: 'boolean', default: false },
    against: { type: 'string', multiple: true, default: [] },
    variant: { type: 'string', multiple: true, default: [] },
  },
});
const minutes = Number(args.minutes);
const intervalS = Number(args.interval);
const cycles = Number(args.cycles);
if (!(minutes > 0) || !(intervalS > 0) || !(cycles > 0)) {
  process.stderr.write('agent-overhead: --minutes, --interval and --cycles must be positive numbers\n');
  process.exit(2);
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5); f[0] is field 3.
  return (Number(f[11]) + Number(f[12])) / USER_HZ;
}

/**
 * A process and its direct children: an agent started with a heap limit above its --max-memory starts
 * itself again under it (src/agent/memory.ts) and the work is then in the child. The unit's NODE_OPTIONS
 * avoid that; a --variant that raises the heap limit does not.
 */
function processTree(pid: number): number[] {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return [pid, ...(children === '' ? [] : children.split(' ').map(Number))];
  } catch {
    return [pid];
  }
}

/** CPU seconds of a process and its direct children. */
function treeCpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + cpuSeconds(p), 0);
}

function peakRssBytes(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  if (a === null || typeof a === 'string') throw new Error('no free port');
  return a.port;
}

async function waitForMetrics(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}`);
    try {
      const res = await fetch(url);
      if (res.ok && (await res.text()).includes('node_cpu_seconds_total')) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within 30 s`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** One full host collection cycle in this process: every host collector, concurrently. */
async function timeHostCycles(n: number): Promise<{ p50: number; p95: number; max: number }> {
  const host = createCollectors({})
    .filter((g) => g.group === 'host')
    .map((g) => g.collector);
  const ctx: CollectContext = {
    procRoot: '/proc',
    sysRoot: '/sys',
    now: Date.now,
    monotonic: () => performance.now(),
    log: silentLogger(),
    signal: new AbortController().signal,
    expose: () => {},
  };
  // Warm up (JIT, first-sample paths), then measure cycles 20 ms apart like a busy scheduler would run them.
  for (let i = 0; i < 20; i++) await Promise.all(host.map((c) => c.collect(ctx)));
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await Promise.all(host.map((c) => c.collect(ctx)));
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p95: percentile(times, 95), max: times.at(-1)! };
}

interface Subject {
  label: string;
  child: ChildProcess;
  url: string;
  cpuStart: number;
  cpuHalf: number;
  bytes: number;
}

/**
 * How the shipped systemd unit of the checkout at `root` starts the agent: node's NODE_OPTIONS and the
 * agent's flags from ExecStart, less `--server …` (nothing to ship to here).
 */
function productStart(root: string): { nodeOptions: string; flags: string[] } {
  const unit = readFileSync(join(root, 'deploy', 'systemd', 'pgvigil-agent.service'), 'utf8');
  const nodeOptions = /^Environment="NODE_OPTIONS=(.*)"$/m.exec(unit)?.[1] ?? '';
  const exec = /^ExecStart=\S+ agent(.*)$/m.exec(unit)?.[1] ?? '';
  const tokens = exec.split(/\s+/).filter((t) => t !== '');
  const flags: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === '--server') i++;
    else flags.push(tokens[i]!);
  }
  return { nodeOptions, flags };
}

async function startAgent(
  label: string,
  extra: string[],
  root = packageRoot,
  nodeArgs: string[] = [],
): Promise<Subject> {
  const port = await freePort();
  const product = productStart(root);
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      `${root}/bin/pgvigil.js`,
      'agent',
      ...product.flags,
      '--listen',
      `127.0.0.1:${port}`,
      '--interval',
      `${intervalS}s`,
      ...extra,
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, PGVIGIL_LOG_LEVEL: 'warn', NODE_OPTIONS: product.nodeOptions },
    },
  );
  return { label, child, url: `http://127.0.0.1:${port}/metrics`, cpuStart: 0, cpuHalf: 0, bytes: 0 };
}

const debianPg15Bin = '/usr/lib/postgresql/15/bin';

/**
 * A private Debian PostgreSQL 15 cluster with `pgbench -c 8 -R 20` against it, for the process watch to
 * have backends to read; `stop` ends pgbench and the server and removes the directory.
 */
async function startPgLoad(seconds: number): Promise<{ stop(): Promise<void> } | undefined> {
  const pgbench = join(debianPg15Bin, 'pgbench');
  if (!existsSync(pgbench)) {
    process.stderr.write(
      `agent-overhead: ${pgbench} is missing (apt-get install postgresql-15); no PostgreSQL load\n`,
    );
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-bench-agent-'));
  await chmod(dir, 0o755);
  let cluster: RunningCluster | undefined;
  let load: ChildProcess | undefined;
  const stopAll = async () => {
    if (load && load.exitCode === null && load.signalCode === null) {
      const exited = new Promise((r) => load!.once('exit', r));
      load.kill('SIGTERM');
      await exited;
    }
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    cluster = await startCluster({
      binDir: debianPg15Bin,
      pgdata: join(dir, 'pgdata'),
      superuser: 'bench',
      password: 'bench-pw',
      logFile: join(dir, 'postgres.log'),
      runAsUser: 'postgres',
      settings: { fsync: 'off', shared_buffers: '32MB' },
      log: silentLogger(),
    });
    const url = cluster.url('postgres');
    const init = spawn(pgbench, ['-i', '-s', '1', '-q', url], { stdio: 'ignore' });
    const code = await new Promise((r) => init.once('exit', r));
    if (code !== 0) throw new Error(`pgbench -i exited with ${code}`);
    // Bounded by -T as well: it stops by itself even if this process is killed.
    load = spawn(pgbench, ['-c', '8', '-R', '20', '-T', String(Math.ceil(seconds)), '-n', url], {
      stdio: 'ignore',
    });
    return { stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

// Started first so that its processes are there when the agents start; generous: the agents' start-up
// and the host cycles after the window run under it too.
const pgLoad = args['no-pg-load'] ? undefined : await startPgLoad(minutes * 60 + 120);
const loadAtStart = loadavg()[0]!;

const nePort = await freePort();
const ne: Subject = {
  label: 'node_exporter',
  child: spawn(nodeExporterPath, [`--web.listen-address=127.0.0.1:${nePort}`], { stdio: 'ignore' }),
  url: `http://127.0.0.1:${nePort}/metrics`,
  cpuStart: 0,
  cpuHalf: 0,
  bytes: 0,
};
ne.child.on('error', (err) => {
  process.stderr.write(
    `agent-overhead: cannot run ${nodeExporterPath} (${err.message}); apt-get install prometheus-node-exporter\n`,
  );
  process.exit(2);
});
// The agent with every host collector and one process watch, and the same agent limited to
// node_exporter's scope (host and containers, no process scan) for a like-for-like line.
const full = await startAgent('pgvigil agent', ['--watch-process', 'postgres']);
const hostOnly = await startAgent('agent, no process watch', []);
const subjects = [full, hostOnly, ne];
for (const [i, root] of (args.against as string[]).entries())
  subjects.push(await startAgent(`--against agent ${i + 1}`, ['--watch-process', 'postgres'], root));
for (const v of args.variant as string[]) {
  const eq = v.indexOf('=');
  const flags = v
    .slice(eq + 1)
    .split(/\s+/)
    .filter((f) => f !== '');
  subjects.push(
    await startAgent(eq > 0 ? v.slice(0, eq) : v, ['--watch-process', 'postgres'], packageRoot, flags),
  );
}

try {
  await Promise.all(subjects.map((s) => waitForMetrics(s.url, s.child)));
  for (const s of subjects) s.cpuStart = treeCpuSeconds(s.child.pid!);
  const startedAt = performance.now();
  /** How many processes the full agent's watch matched, scrape by scrape (its cost grows with them). */
  const watched: number[] = [];
  const scrapes = Math.round((minutes * 60) / intervalS);
  for (let i = 0; i < scrapes; i++) {
    if (i === Math.floor(scrapes / 2)) for (const s of subjects) s.cpuHalf = treeCpuSeconds(s.child.pid!);
    const bodies = await Promise.all(subjects.map((s) => fetch(s.url).then((r) => r.text())));
    bodies.forEach((b, j) => {
      subjects[j]!.bytes = b.length;
    });
    const matching = /^pgvigil_process_matching_processes\{watch="postgres"\} (\d+)$/m.exec(bodies[0]!);
    if (matching) watched.push(Number(matching[1]));
    await new Promise((r) => setTimeout(r, intervalS * 1000));
  }
  const windowS = (performance.now() - startedAt) / 1000;
  const measured = subjects.map((s) => {
    const now = treeCpuSeconds(s.child.pid!);
    return {
      label: s.label,
      cpu_s: now - s.cpuStart,
      cpu_second_half_s: now - s.cpuHalf,
      peak_rss_mb: Math.max(...processTree(s.child.pid!).map(peakRssBytes)) / 1048576,
      metrics_bytes: s.bytes,
    };
  });
  await Promise.all(subjects.map((s) => stop(s.child)));
  const cycle = await timeHostCycles(cycles);
  const [agentM, hostM, neM] = measured as [(typeof measured)[0], (typeof measured)[0], (typeof measured)[0]];

  const result = {
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      kernel: release(),
      node: process.version,
    },
    window_s: Math.round(windowS),
    load_average: { start: loadAtStart, end: loadavg()[0]! },
    pg_load: pgLoad ? 'Debian PostgreSQL 15, pgbench -c 8 -R 20' : 'none',
    interval_s: intervalS,
    scrapes,
    subjects: measured,
    watched_processes: { min: Math.min(...watched), max: Math.max(...watched) },
    host_cycle_ms: { p50: cycle.p50, p95: cycle.p95, max: cycle.max, cycles },
    goals: {
      rss_le_64mb: agentM.peak_rss_mb <= 64,
      cpu_le_node_exporter: agentM.cpu_s <= neM.cpu_s,
      cycle_p95_lt_5ms: cycle.p95 < 5,
    },
  };
  if (args.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    const f = (n: number, d = 2) => n.toFixed(d);
    const cols = (label: string, values: string[]) =>
      `${label.padEnd(30)}${values.map((v) => v.padStart(26)).join('')}\n`;
    const vs = (m: (typeof measured)[0], key: 'cpu_s' | 'cpu_second_half_s' | 'peak_rss_mb', d = 2) =>
      m === neM ? f(m[key], d) : `${f(m[key], d)} (${f(m[key] / neM[key])}x)`;
    const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
    process.stdout.write(
      `agent overhead over ${result.window_s} s, collectors every ${intervalS} s, each /metrics scraped every ${intervalS} s\n` +
        `machine: ${result.machine.cores} cores (${result.machine.cpu}), Linux ${result.machine.kernel}, Node ${result.machine.node}\n` +
        `load average (1 min) ${f(result.load_average.start)} at the start, ${f(result.load_average.end)} at the end; PostgreSQL load: ${result.pg_load}\n\n` +
        cols(
          '',
          measured.map((m) => m.label),
        ) +
        cols(
          'CPU seconds (whole window)',
          measured.map((m) => vs(m, 'cpu_s')),
        ) +
        cols(
          'CPU seconds (second half)',
          measured.map((m) => vs(m, 'cpu_second_half_s')),
        ) +
        cols(
          'peak RSS, MB (VmHWM)',
          measured.map((m) => vs(m, 'peak_rss_mb', 1)),
        ) +
        cols(
          '/metrics size, bytes',
          measured.map((m) => String(m.metrics_bytes)),
        ) +
        `\nthe full agent's watch matched ${result.watched_processes.min}-${result.watched_processes.max} postgres processes\n` +
        `host collection cycle (${cycles} cycles, in process): p50 ${f(cycle.p50, 3)} ms, p95 ${f(cycle.p95, 3)} ms, max ${f(cycle.max, 3)} ms\n` +
        `goals (the full agent): RSS <= 64 MB ${met(result.goals.rss_le_64mb)}; CPU <= node_exporter ${met(result.goals.cpu_le_node_exporter)}; ` +
        `host cycle p95 < 5 ms ${met(result.goals.cycle_p95_lt_5ms)}\n` +
        `(without the process watch: CPU ${f(hostM.cpu_s)} s against node_exporter's ${f(neM.cpu_s)} s)\n`,
    );
  }
} finally {
  await Promise.all(subjects.map((s) => stop(s.child)));
  await pgLoad?.stop();
}

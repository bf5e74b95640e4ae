/**
 * Baselines and anomalies: what the baselines job costs per server and what the anomaly checks' read of
 * the last 15 minutes costs per server, on an embedded store with `--servers` full servers.
 *
 * Data, generated in SQL: per server a host (4 cores + total, memory, load, 2 disks, 2 interfaces) and one
 * PostgreSQL target (2 databases, 4 activity groups, a standby, 30 tables, 30 statements, WAL,
 * checkpoints) — 8 weeks of hourly rollups (every value column: gauges around 50, counters +2 a second)
 * and the last 20 minutes of raw rows every 10 s, their hours pending as the ingest writer leaves them.
 *
 * Measured: (a) the baselines job refreshing every server (ms per server: reading the hourly tier and
 * computing, then replacing its rows), (b) the anomaly checks' shared read (the baselines cache loaded,
 * then the last 15 minutes of every server, 100 servers per statement and family), (c) the pure
 * evaluation of every anomaly check over that read.
 *
 * Each part reports its wall time and, for (a) and (b), the CPU it took: this process's and the store's
 * (the embedded PostgreSQL's processes, from /proc), which is the figure to read on a shared machine.
 *
 * With `--processes N` (N > 1), (a) is then measured again `--rounds` times (default 2) in one child
 * process and in N side by side, taking turns, each time after every server's baselines were made due
 * again: each child of this script runs the job's `refreshDueBaselines` on the store, as a server instance
 * does, and the bench checks that every server was refreshed by exactly one of them. The children are
 * started once and warmed up by a first run of all of them, not counted, so no measured run pays a
 * process start-up or the first compiling.
 *
 * Run: npm run build && node dist/bench/baselines.js [--servers 20] [--processes 2 [--rounds 2]]
 */
import type pg from 'pg';
import { anomalyChecks, loadRecentMetrics } from '../src/intelligence/checks/anomalies.js';
import { refreshDueBaselines } from '../src/server/jobs/baselines.js';
import { arg } from './args.js';
import { seedServerHistory as seed } from './baselines-seed.js';
import {
  benchChildren,
  machineLine,
  runChildren,
  serveRuns,
  serversWithTarget,
  stopChildren,
  withBenchStore,
} from './bench-store.js';

const servers = Number(arg('servers', '20'));
const processes = Number(arg('processes', '1'));
const rounds = Number(arg('rounds', '2'));
const minute = 60_000;
const hourMs = 3_600_000;

const ms = (v: number) => `${v.toFixed(0)} ms`;

/**
 * (a) again, one child process against `processes` in turns, every server made due before each
 * measurement (its state forgotten; the rows stay, so each refresh replaces them, as in steady state).
 */
async function compareProcesses(
  pool: pg.Pool,
  url: string,
  now: number,
  cpu: () => { self: number; store: number },
): Promise<void> {
  const dueAgain = () => pool.query('DELETE FROM pgvigil.baseline_state');
  const children = benchChildren(url, processes, ['--servers', String(servers)]);
  const walls: Record<'one' | 'many', number[]> = { one: [], many: [] };
  try {
    // Warm-up: every child's code compiled before anything is counted.
    await dueAgain();
    await runChildren<Refreshed>(children, now);
    for (let round = 1; round <= rounds; round++) {
      for (const [side, n] of [
        ['one', 1],
        ['many', processes],
      ] as const) {
        await dueAgain();
        const c0 = cpu();
        const t0 = performance.now();
        const done = await runChildren<Refreshed>(children.slice(0, n), now);
        const wall = performance.now() - t0;
        const c1 = cpu();
        walls[side].push(wall);
        const all = done.flatMap((d) => d.refreshed);
        const childCpu = done.reduce((s, d) => s + d.cpu, 0);
        const once = all.length === servers && new Set(all).size === servers;
        process.stdout.write(
          `    round ${round}, ${n} process${n > 1 ? 'es' : ''}: ${all.length} refreshes of ${new Set(all).size} servers (${done.map((d) => d.refreshed.length).join(' + ')}; ${once ? 'each server once' : 'NOT each server once'}) in ${ms(wall)}; CPU per server: process${n > 1 ? 'es' : ''} ${ms((childCpu * 1000) / all.length)}, store ${ms(((c1.store - c0.store) * 1000) / all.length)}\n`,
        );
        if (!once) throw new Error('a server was refreshed twice or not at all');
      }
    }
  } finally {
    await stopChildren(children);
  }
  const ratios = walls.one.map((w, i) => (w / walls.many[i]!).toFixed(2));
  process.stdout.write(
    `    ${processes} processes against 1, wall time per round: ${ratios.join(', ')}× faster\n`,
  );
}

/** What a child answers for a run: the servers it refreshed. */
interface Refreshed {
  refreshed: number[];
}

async function main(): Promise<void> {
  await withBenchStore('baselines', 4, async ({ pool, url, cpu }) => {
    const H = Math.floor(Date.now() / hourMs) * hourMs;
    const now = H + 30 * minute;
    const { ids, targets } = await serversWithTarget(pool, 'bench-baselines', servers);
    let t0 = performance.now();
    await seed(pool, ids, targets, H, now);
    process.stdout.write(`seeded ${servers} servers in ${ms(performance.now() - t0)}\n`);

    const cpuText = (c0: ReturnType<typeof cpu>, perServer: number) => {
      const c1 = cpu();
      const ms1 = (s: number) => `${((s * 1000) / perServer).toFixed(0)} ms`;
      return `CPU per server: this process ${ms1(c1.self - c0.self)}, store ${ms1(c1.store - c0.store)}`;
    };

    t0 = performance.now();
    let c0 = cpu();
    const done = await refreshDueBaselines(pool, new Date(now), servers);
    const jobMs = performance.now() - t0;
    const jobCpu = cpuText(c0, done.length);
    const per = done.map((d) => d.ms).sort((a, b) => a - b);
    const seriesTotal = done.reduce((n, d) => n + d.series, 0);
    process.stdout.write(
      `(a) baselines job: ${done.length} servers, ${seriesTotal} series, ${ms(jobMs)} in all, ${ms(jobMs / done.length)} per server (median compute ${ms(per[per.length >> 1]!)}, max ${ms(per[per.length - 1]!)}); ${jobCpu}\n`,
    );

    if (processes > 1) {
      process.stdout.write(`(a') the baselines job in 1 and ${processes} processes, in turns:\n`);
      await compareProcesses(pool, url, now, cpu);
    }

    const reads: number[] = [];
    let load = await loadRecentMetrics(pool, new Date(now));
    c0 = cpu();
    for (let i = 0; i < 5; i++) {
      t0 = performance.now();
      load = await loadRecentMetrics(pool, new Date(now + i * minute));
      reads.push(performance.now() - t0);
    }
    const readCpu = cpuText(c0, servers * reads.length);
    reads.sort((a, b) => a - b);
    process.stdout.write(
      `(b) anomaly read, last 15 minutes of ${servers} servers (${load.series.length} series): median ${ms(reads[2]!)}, ${(reads[2]! / servers).toFixed(1)} ms per server; ${readCpu}\n`,
    );

    t0 = performance.now();
    let observations = 0;
    const defaults = () => ({ warn_z: 2, crit_z: 3, minutes: 5 });
    for (const c of anomalyChecks) observations += c.evaluate(load, defaults, now).observations.length;
    process.stdout.write(
      `(c) pure evaluation of ${anomalyChecks.length} anomaly checks over ${load.series.length} series: ${ms(performance.now() - t0)} (${observations} anomalies)\n`,
    );
    process.stdout.write(machineLine(`${servers} servers`));
  });
}

if (process.argv.includes('--child'))
  serveRuns<Refreshed>(2, (pool) => async (at) => ({
    refreshed: (await refreshDueBaselines(pool, at, servers)).map((d) => d.serverId),
  }));
else await main();

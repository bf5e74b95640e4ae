/**
 * The anomaly checks' job on one and on several server processes: how fast a pass over the fleet gets
 * done when N instances take its slices (src/intelligence/checks/fleet-pass.ts), and that each server is
 * judged once in it.
 *
 * Data (bench/baselines-seed.ts): `--servers` hosts (4 cores + total, memory, load, 2 disks, 2
 * interfaces: the host families only, so that a fleet of several slices fits this machine), the last 20
 * minutes of raw rows every 10 s. Baselines: the baselines job refreshes the first server from 8 weeks of
 * its hourly rollups, and its rows are copied to every other server (the same values, so every server's
 * read and evaluation is the same work), with their `baseline_state`, as computed an hour before:
 * refreshes spread over the hour, as the job makes them, not all in the last minutes.
 *
 * Measured: each round, one child process of this script runs the job's checks once (a whole pass), then
 * `--processes` children run them at once, each an engine with its own pool and baselines cache, as
 * server instances are. Every run begins a new pass (`everyCheck`, as tests and replays do) and must take
 * each server once: the rows of the pass each child took are counted (each child runs at its own
 * millisecond, so its claims carry its own time). Two first runs of every child at once are a warm-up,
 * not counted. Busy cores: the children's and the store's CPU over the wall time; on a machine whose cores
 * one process and the store already keep busy, more processes cannot go faster.
 *
 * Last, the heap a baselines cache takes per series, every host's baselines loaded into one in this process.
 *
 * With PGVIGIL_BASELINE_CACHE_SERIES below the fleet's series (10 a server here), each child's baselines
 * cache holds only part of the fleet, and each slice reads its servers' baselines from the store.
 *
 * Run: npm run build && [PGVIGIL_BASELINE_CACHE_SERIES=N] node dist/bench/anomaly-checks.js [--servers 2000]
 *      [--processes 2] [--rounds 3]
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BaselineBook } from '../src/intelligence/baseline-book.js';
import { anomalySlices, setBaselineCacheSeries } from '../src/intelligence/checks/anomalies.js';
import { refreshServerBaselines } from '../src/server/jobs/baselines.js';
import { baselineCacheSeriesFromEnv } from '../src/server/jobs/findings.js';
import type { Queryable } from '../src/storage/queries/queryable.js';
import { arg } from './args.js';
import { seedServerHistory } from './baselines-seed.js';
import {
  benchChildren,
  machineLine,
  runChildren,
  serveEngineRuns,
  serversWithTarget,
  stopChildren,
  withBenchStore,
} from './bench-store.js';

const servers = Number(arg('servers', '2000'));
const processes = Number(arg('processes', '2'));
const rounds = Number(arg('rounds', '3'));
const minute = 60_000;
const hourMs = 3_600_000;
const hostFamilies = ['host_cpu', 'host_memory', 'host_load', 'host_disk', 'host_network'];

async function main(): Promise<void> {
  await withBenchStore('anomaly-checks', 4, async ({ pool, url, cpu }) => {
    const H = Math.floor(Date.now() / hourMs) * hourMs;
    const now = H + 30 * minute;
    let t0 = performance.now();
    const { ids, targets } = await serversWithTarget(pool, 'bench-anomalies', servers);
    await seedServerHistory(pool, ids.slice(0, 1), targets.slice(0, 1), H, now, { only: hostFamilies });
    await seedServerHistory(pool, ids.slice(1), targets.slice(1), H, now, {
      only: hostFamilies,
      hourly: false,
    });
    const template = await refreshServerBaselines(pool, ids[0]!, new Date(now));
    await pool.query(
      `INSERT INTO pgvigil.baselines (server_id, target_id, metric, object, through, computed_at, stats_7d,
              stats_30d, hour_of_week, hour_of_day)
       SELECT s, NULL, metric, object, through, computed_at - interval '1 hour', stats_7d, stats_30d, hour_of_week,
              hour_of_day
         FROM pgvigil.baselines, unnest($2::bigint[]) s
        WHERE server_id = $1 AND target_id IS NULL`,
      [ids[0], ids.slice(1)],
    );
    // And their state, as the job writes it with them (the checks' cache reads which servers changed there).
    await pool.query(
      `INSERT INTO pgvigil.baseline_state (server_id, through, refreshed_at, series, duration_ms)
       SELECT s, through, refreshed_at - interval '1 hour', series, duration_ms
         FROM pgvigil.baseline_state, unnest($2::bigint[]) s
        WHERE server_id = $1`,
      [ids[0], ids.slice(1)],
    );
    process.stdout.write(
      `seeded ${servers} hosts, ${template.series} baselines each, in ${(performance.now() - t0).toFixed(0)} ms\n`,
    );

    const takenBy = async (at: number, n: number): Promise<number[]> => {
      const { rows } = await pool.query<{ t: Date; n: number }>(
        "SELECT taken_at AS t, count(*)::int AS n FROM pgvigil.check_pass WHERE pass = 'anomalies' GROUP BY 1",
      );
      return Array.from({ length: n }, (_, i) => rows.find((r) => r.t.getTime() === at + i)?.n ?? 0);
    };
    const children = benchChildren(url, processes);
    try {
      let at = now;
      // Warm-up: every child's baselines cache loaded and its code compiled before anything is counted.
      for (let i = 0; i < 2; i++) {
        at += minute;
        await runChildren<{ observations: number }>(children, at, 1);
      }
      const walls: Record<'one' | 'many', number[]> = { one: [], many: [] };
      for (let round = 1; round <= rounds; round++) {
        for (const side of [children.slice(0, 1), children]) {
          at += minute;
          const c0 = cpu();
          t0 = performance.now();
          const childCpu = (await runChildren<{ observations: number }>(side, at, 1)).map((r) => r.cpu);
          const wall = performance.now() - t0;
          const c1 = cpu();
          const taken = await takenBy(at, side.length);
          const sum = taken.reduce((a, b) => a + b, 0);
          const per = (sec: number) => `${((sec * 1000) / servers).toFixed(1)} ms`;
          const busy = (childCpu.reduce((a, b) => a + b, 0) + c1.store - c0.store) / (wall / 1000);
          walls[side.length > 1 ? 'many' : 'one'].push(wall);
          process.stdout.write(
            `round ${round}, ${side.length} process${side.length > 1 ? 'es' : ''}: ${(wall / 1000).toFixed(2)} s (${(wall / servers).toFixed(2)} ms a server), servers taken ${taken.join(' + ')}; CPU a server: process${side.length > 1 ? 'es' : ''} ${per(childCpu.reduce((a, b) => a + b, 0))}, store ${per(c1.store - c0.store)}; busy cores ${busy.toFixed(2)}\n`,
          );
          if (sum !== servers || taken.some((n) => n === 0))
            throw new Error(`expected ${servers} servers taken once, by every process: ${taken.join(' + ')}`);
        }
      }
      const ratios = walls.one.map((w, i) => (w / walls.many[i]!).toFixed(2));
      process.stdout.write(
        `${processes} processes against 1, wall time a pass: ${ratios.join(', ')}× faster\n`,
      );
    } finally {
      await stopChildren(children);
    }
    await cacheMemory(pool, ids, new Date(now));
    process.stdout.write(machineLine(`${servers} hosts`));
  });
}

/**
 * The heap a baselines cache takes per series it holds: every server's baselines loaded slice by slice (as
 * the checks load them) into a cache bounded above the fleet and each one's slots asked for as the detector
 * asks, the heap measured after full collections.
 */
async function cacheMemory(pool: Queryable, ids: number[], now: Date): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const before = heap();
  const book = new BaselineBook(10_000_000);
  for (let i = 0; i < ids.length; i += 500) await book.load(pool, now, ids.slice(i, i + 500));
  // Each series' slots asked for, as the detector asks for them, in case anything is kept from that.
  for (const id of ids)
    for (const e of book.ofServer(id)) for (const t of [0, 15]) e.slotAt(now.getTime() - t * 60_000);
  const bytes = heap() - before;
  process.stdout.write(
    `baselines cache: ${book.size.toLocaleString('en-US')} series of ${ids.length} hosts held in ${(bytes / 1048576).toFixed(1)} MiB of heap, ${Math.round(bytes / book.size)} bytes a series\n`,
  );
}

if (process.argv.includes('--child')) {
  // As a server sets it (PGVIGIL_BASELINE_CACHE_SERIES): the children inherit this process's environment.
  setBaselineCacheSeries(baselineCacheSeriesFromEnv());
  serveEngineRuns(3, (engine, at) => engine.runJobChecks(at, { everyCheck: true, slices: anomalySlices }));
} else await main();

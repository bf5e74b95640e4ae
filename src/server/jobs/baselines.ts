/**
 * The baselines job: keeps each server's baselines (src/intelligence/baselines.ts) up to date with its
 * hourly rollup tier. Every instance runs it: a refresh claims its server (`claimBaselineRefresh`, an
 * advisory lock held by the refresh's transaction), so instances on one store share the due servers,
 * each taking those no other holds, and N instances refresh N times as many servers an hour.
 *
 * Incremental by server and hour: a server is refreshed only when its hourly tier has rolled an hour past
 * its baselines' `through` and it sent data since (`baseline_state`), so in steady state each reporting
 * server is refreshed once an hour, soon after its hour is rolled; a silent server costs nothing. A
 * refresh recomputes all of that server's series from the hourly tier (with `cachedSeries`, the robust
 * statistics of that many series are kept in memory between runs, `BaselineStates`, and only what the new
 * hour changed is recomputed; the replay relies on it, the job by default does not) and replaces its rows
 * in one transaction. Work per run is
 * bounded: at most `serversPerRun` servers and `maxRunMs`, least recently refreshed first; the rest wait
 * for the next run. Servers another instance holds or has refreshed meanwhile are passed over and do not
 * count.
 */
import type pg from 'pg';
import {
  BaselineStates,
  computeServerBaselines,
  type HistoryReader,
} from '../../intelligence/baseline-refresh.js';
import {
  baselineCandidates,
  claimBaselineRefresh,
  replaceServerBaselines,
  rolledThrough,
} from '../../storage/queries/baselines.sql.js';
import { readReplicasOf } from '../../storage/read-replicas.js';
import { inReadSnapshot, inTransaction } from '../../storage/tx.js';
import { numberFromEnv } from '../env.js';
import type { Job } from './runner.js';

export const defaultBaselinesIntervalMs = 10 * 60_000;
export const defaultServersPerRun = 200;

/**
 * PGVIGIL_BASELINES_PER_RUN: servers one run of an instance refreshes at most (1–10,000; default 200). A
 * refresh costs about a second of CPU, mostly this process's, so 200 a run every 10 minutes is 1,200 servers
 * an hour per instance; an instance with a core to spare may take more (a run still stops taking servers
 * after 5 minutes).
 */
export function baselinesPerRunFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return numberFromEnv(env, 'PGVIGIL_BASELINES_PER_RUN', { min: 1, max: 10_000 }) ?? defaultServersPerRun;
}
/** Statement timeout of one server's history read (30 days of hourly rows; a day of minutes). */
const analysisReadTimeoutMs = 120_000;
/** A run stops taking new servers after this long (the rest wait for the next run). */
export const defaultMaxRunMs = 5 * 60_000;

export interface BaselineRefresh {
  serverId: number;
  series: number;
  ms: number;
  through: Date;
}

/** Recomputes and stores one server's baselines through its rolled-through hour. */
export async function refreshServerBaselines(
  pool: pg.Pool,
  serverId: number,
  now: Date,
  through?: Date,
  states?: BaselineStates,
): Promise<BaselineRefresh> {
  return (await refresh(pool, serverId, now, through, states, false))!;
}

/** `refreshServerBaselines`; with `claim`, null when another instance holds the server or refreshed it. */
async function refresh(
  pool: pg.Pool,
  serverId: number,
  now: Date,
  through: Date | undefined,
  states: BaselineStates | undefined,
  claim: boolean,
): Promise<BaselineRefresh | null> {
  const started = performance.now();
  return inTransaction(pool, async (client) => {
    const until = through ?? (await rolledThrough(client, serverId, now));
    if (claim && !(await claimBaselineRefresh(client, serverId, until))) return null;
    // The tier reads may run on a streaming standby (DATABASE_READ_URL). Rollup rows are written after
    // the time they cover, so the range asks the standby to be fresh up to now (less the lag bound), and
    // its own snapshot must show the server rolled through `until` — else the primary answers.
    // Without standbys the reads stay in this transaction, as one snapshot on one connection.
    const read: HistoryReader | undefined = readReplicasOf(pool)
      ? (range, fn) =>
          inReadSnapshot(
            pool,
            analysisReadTimeoutMs,
            fn,
            { from: range.from, to: now },
            {
              holds: async (c) => (await rolledThrough(c, serverId, now)).getTime() >= until.getTime(),
            },
          )
      : undefined;
    const rows = await computeServerBaselines(client, serverId, until, now, states, read);
    const ms = performance.now() - started;
    const series = await replaceServerBaselines(client, serverId, until, now, rows, ms);
    return { serverId, series, ms, through: until };
  });
}

/** Refreshes the servers that are due (at most `serversPerRun`). */
export async function refreshDueBaselines(
  pool: pg.Pool,
  now: Date,
  serversPerRun = defaultServersPerRun,
  maxRunMs = defaultMaxRunMs,
  states?: BaselineStates,
): Promise<BaselineRefresh[]> {
  const out: BaselineRefresh[] = [];
  const started = performance.now();
  // More candidates than a run refreshes: those other instances take are passed over.
  for (const c of await baselineCandidates(pool, now, 2 * serversPerRun)) {
    if (out.length >= serversPerRun || performance.now() - started > maxRunMs) break;
    const done = await refresh(pool, c.serverId, now, c.rolledThrough, states, true);
    if (done) out.push(done);
  }
  return out;
}

export function baselinesJob(
  opts: {
    intervalMs?: number;
    serversPerRun?: number;
    maxRunMs?: number;
    /**
     * Series whose statistics are kept in memory for incremental refreshes (about 115 kB each, measured).
     * None by default: in the job, reading the hourly tier dominates and the states made no measurable
     * difference (bench/RESULTS.md, "Intelligence scored by replay"), while 500 series would hold ~57 MB.
     */
    cachedSeries?: number;
  } = {},
): Job {
  const states = opts.cachedSeries ? new BaselineStates(opts.cachedSeries) : undefined;
  return {
    name: 'baselines',
    intervalMs: opts.intervalMs ?? defaultBaselinesIntervalMs,
    ownLocks: true,
    run: async ({ pool, log, now }) => {
      const done = await refreshDueBaselines(pool, now, opts.serversPerRun, opts.maxRunMs, states);
      if (done.length > 0) {
        const ms = done.reduce((s, d) => s + d.ms, 0);
        log.info(
          { servers: done.length, series: done.reduce((s, d) => s + d.series, 0), ms: Math.round(ms) },
          'baselines refreshed',
        );
      }
    },
  };
}

/**
 * The findings job: runs the checks that need history, catalog joins or log windows (job checks), then
 * sweeps findings no evaluation has touched for a while and ends expired silences; prunes resolved
 * findings past their retention. Advisory-locked like every job, so one instance runs it at a time. The
 * statement and anomaly checks, which judge the fleet in slices, each have a job of their own that every
 * instance runs (`statementChecksJob`, `anomalyChecksJob`, below).
 */
import { defaultMaxSeries } from '../../intelligence/baseline-book.js';
import { anomalySlices, setBaselineCacheSeries } from '../../intelligence/checks/anomalies.js';
import {
  statementChecksIntervalMs,
  statementHourSlices,
} from '../../intelligence/checks/postgres-statements.js';
import { storeSecurityEvents } from '../../intelligence/checks/security.js';
import type { FindingsEngine } from '../../intelligence/engine.js';
import { pruneResolvedFindings } from '../../storage/queries/findings.sql.js';
import { numberFromEnv } from '../env.js';
import type { Job } from './runner.js';

/** Resolved findings are kept this long after their last change. */
export const resolvedFindingRetentionMs = 30 * 86_400_000;

/** PGVIGIL_FINDINGS_INTERVAL (seconds, default 60, from 5 to 3600). */
export function findingsIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const s = numberFromEnv(env, 'PGVIGIL_FINDINGS_INTERVAL', {
    min: 5,
    max: 3600,
    whole: false,
    unit: 'seconds',
  });
  return (s ?? 60) * 1000;
}

/**
 * PGVIGIL_FINDINGS_READERS (1–4, default 1): connections the largest reads of the checks (the statement
 * checks' hour, past 1,000 targets) use side by side — for standbys, or a store with cores to spare. At most 4:
 * each holds a connection of the instance's pool (10 on the primary, 5 a standby) while it reads.
 */
export function findingsReadersFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return numberFromEnv(env, 'PGVIGIL_FINDINGS_READERS', { min: 1, max: 4 }) ?? 1;
}

/**
 * `everyCheck`: run every job check now, also those whose own interval has not passed (tests, replays);
 * `readers`: see findingsReadersFromEnv; `slicedElsewhere`: the checks that read in slices are left to
 * their own jobs (as a server runs them).
 */
export function findingsJob(
  engine: FindingsEngine,
  intervalMs: number,
  opts: { everyCheck?: boolean; readers?: number; slicedElsewhere?: boolean } = {},
): Job {
  const { slicedElsewhere, ...rest } = opts;
  return {
    name: 'findings',
    intervalMs,
    run: async ({ pool, log, now }) => {
      const r = await engine.runJobChecks(now, { ...rest, ...(slicedElsewhere ? { sliced: 'skip' } : {}) });
      const security = await storeSecurityEvents(pool, now, engine.thresholds);
      const pruned = await pruneResolvedFindings(pool, new Date(now.getTime() - resolvedFindingRetentionMs));
      if (r.events > 0 || pruned > 0 || security.written > 0)
        log.info({ ...r, pruned, security }, 'findings job');
    },
  };
}

/**
 * A job for the checks of one read made in slices (`JobCheck.slices`), on every instance: each run takes
 * its slices from the checks' pass over the fleet in the store (src/intelligence/checks/fleet-pass.ts), so
 * instances share a pass and N instances judge N times as much in a run's time.
 */
function slicedChecksJob(
  name: string,
  slices: string,
  engine: FindingsEngine,
  intervalMs: number,
  opts: { readers?: number },
): Job {
  return {
    name,
    intervalMs,
    ownLocks: true,
    run: async ({ log, now }) => {
      const r = await engine.runJobChecks(now, { ...opts, slices });
      if (r.events > 0) log.info(r, name);
    },
  };
}

/** The statement checks (slow statement, regression, missing index), every 5 minutes on every instance. */
export function statementChecksJob(engine: FindingsEngine, opts: { readers?: number } = {}): Job {
  return slicedChecksJob('statement-checks', statementHourSlices, engine, statementChecksIntervalMs, opts);
}

/**
 * PGVIGIL_BASELINE_CACHE_SERIES (10,000–10,000,000, default 200,000): the baselines the anomaly checks keep
 * in memory on each instance, about 0.8 kB each (src/intelligence/baseline-book.ts). A fleet with more
 * series than this has each slice of the checks read its servers' baselines from the store.
 */
export function baselineCacheSeriesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return (
    numberFromEnv(env, 'PGVIGIL_BASELINE_CACHE_SERIES', { min: 10_000, max: 10_000_000 }) ?? defaultMaxSeries
  );
}

/** The anomaly checks, at the findings job's interval on every instance; `cacheSeries`: see above. */
export function anomalyChecksJob(
  engine: FindingsEngine,
  intervalMs: number,
  opts: { cacheSeries?: number } = {},
): Job {
  if (opts.cacheSeries !== undefined) setBaselineCacheSeries(opts.cacheSeries);
  return slicedChecksJob('anomaly-checks', anomalySlices, engine, intervalMs, {});
}

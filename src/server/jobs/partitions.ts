/**
 * The partitions job: creates the daily, monthly and yearly partitions the retention window needs ahead of
 * time and drops those that fell out of it (the work is storage/partitions.ts `maintainPartitions`).
 * `quick` covers only the raw tables' partitions for rows stamped within the accepted clock skew of now
 * (today's, and yesterday's or tomorrow's only near midnight): what start-up cannot do without. The full
 * pass follows at once, in the background.
 */
import { defaultBatchLimits } from '../../protocol/batch.js';
import { maintainPartitions, type RetentionPolicy } from '../../storage/partitions.js';
import { effectiveRetention } from '../settings.js';
import type { Job } from './runner.js';

/** The clock skew ingest accepts, in days. */
const skewDays = defaultBatchLimits.maxFutureMs / 86_400_000;

export function partitionJob(retention: RetentionPolicy, quick = false): Job {
  return {
    name: 'partitions',
    intervalMs: 3_600_000,
    run: async ({ pool, log, now }) =>
      maintainPartitions(pool, {
        now,
        retention: await effectiveRetention(pool, retention),
        log,
        // Only the rollup job writes rollup tables; should it run before the full pass made a partition, its
        // round fails and the buckets stay pending for the next one.
        ...(quick ? { backfillDays: skewDays, aheadDays: skewDays, tiers: ['raw'] as const } : {}),
      }),
  };
}

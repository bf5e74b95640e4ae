/**
 * The partitions job: creates the daily, monthly and yearly partitions the retention window needs ahead of
 * time and drops those that fell out of it (the work is storage/partitions.ts `maintainPartitions`).
 * `quick` covers only yesterday to tomorrow of the raw tables: what start-up cannot do without.
 */
import { maintainPartitions, type RetentionPolicy } from '../../storage/partitions.js';
import { effectiveRetention } from '../settings.js';
import type { Job } from './runner.js';

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
        ...(quick ? { backfillDays: 1, aheadDays: 1, tiers: ['raw'] as const } : {}),
      }),
  };
}

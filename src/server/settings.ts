/**
 * Settings an admin changes through the API, stored in `pgvigil.settings` so every server instance sees
 * them: they override what the server was started with.
 */
import type pg from 'pg';
import { PgvigilError } from '../errors.js';
import type { RetentionPolicy } from '../storage/partitions.js';
import { setting, storeSetting } from '../storage/queries/settings.sql.js';

const limits: Record<keyof RetentionPolicy, [number, number]> = {
  rawDays: [1, 90],
  hourlyDays: [7, 3650],
  dailyDays: [30, 36500],
};

/** The retention in force: the stored one over the start-up one. */
export async function effectiveRetention(pool: pg.Pool, base: RetentionPolicy): Promise<RetentionPolicy> {
  return { ...base, ...((await setting<Partial<RetentionPolicy>>(pool, 'retention')) ?? {}) };
}

/**
 * A reader of the retention in force that asks the store at most every 10 s (read routes plan a query
 * with it on every request).
 */
export function cachedRetention(pool: pg.Pool, base: RetentionPolicy): () => Promise<RetentionPolicy> {
  let cached: { at: number; retention: RetentionPolicy } | undefined;
  return async () => {
    const now = Date.now();
    if (!cached || now - cached.at > 10_000) {
      cached = { at: now, retention: await effectiveRetention(pool, base) };
    }
    return cached.retention;
  };
}

export function checkRetention(r: RetentionPolicy): RetentionPolicy {
  for (const [k, [lo, hi]] of Object.entries(limits) as Array<[keyof RetentionPolicy, [number, number]]>) {
    const v = r[k];
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new PgvigilError(
        'BAD_ARGUMENT',
        `${k} must be a whole number of days from ${lo} to ${hi}; got ${v}`,
      );
    }
  }
  if (r.hourlyDays < r.rawDays || r.dailyDays < r.hourlyDays) {
    throw new PgvigilError('BAD_ARGUMENT', 'each tier must be kept at least as long as the finer one');
  }
  return r;
}

export async function storeRetention(pool: pg.Pool, r: RetentionPolicy, by: string): Promise<void> {
  await storeSetting(pool, 'retention', checkRetention(r), by);
}

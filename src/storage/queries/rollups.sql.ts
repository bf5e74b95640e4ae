/**
 * The rollup job's statements: the pending queue (`pgvigil.rollup_pending`), the writers' advisory lock
 * taken exclusively around its deletes, and one roll statement per family and tier (built from the family
 * registry by ../rollups.ts).
 */
import { type RolledTier, rollBucketSql, rollupSpecs } from '../rollups.js';
import type { Queryable } from './queryable.js';

/** For `inTransaction`'s afterRollback: releases advisory locks a failed transaction may still hold. */
export const unlockAllAdvisoryLocks = 'SELECT pg_advisory_unlock_all()';

const sqlCache = new Map<string, string>();
function sqlFor(family: string, tier: RolledTier): string {
  const key = `${family}/${tier}`;
  let sql = sqlCache.get(key);
  if (sql === undefined) {
    sql = rollBucketSql(rollupSpecs[family]!, tier);
    sqlCache.set(key, sql);
  }
  return sql;
}

/** Rolls one family's bucket [start, end) for these servers; rollup rows written and deleted. */
export async function rollFamilyBucket(
  db: Queryable,
  family: string,
  tier: RolledTier,
  serverIds: readonly number[],
  start: Date,
  end: Date,
): Promise<{ produced: number; deleted: number }> {
  const { rows } = await db.query<{ produced: number; deleted: number }>(sqlFor(family, tier), [
    serverIds,
    start,
    end,
  ]);
  return { produced: rows[0]?.produced ?? 0, deleted: rows[0]?.deleted ?? 0 };
}

/** Pending (server, bucket) pairs of a tier with buckets starting at or before `cutoff`. */
export async function pendingBuckets(
  db: Queryable,
  tier: RolledTier,
  cutoff: Date,
): Promise<Array<{ server_id: string; bucket: Date }>> {
  const { rows } = await db.query<{ server_id: string; bucket: Date }>(
    `SELECT server_id, bucket FROM pgvigil.rollup_pending WHERE tier = $1 AND bucket <= $2`,
    [tier, cutoff],
  );
  return rows;
}

export async function deletePendingBuckets(
  db: Queryable,
  tier: RolledTier,
  start: Date,
  serverIds: readonly number[],
): Promise<void> {
  await db.query(
    'DELETE FROM pgvigil.rollup_pending WHERE tier = $1 AND bucket = $2 AND server_id = ANY($3::bigint[])',
    [tier, start, serverIds],
  );
}

/** Records a day as pending for these servers (rolling an hour changes its day). */
export async function markDaysPending(db: Queryable, serverIds: readonly number[], day: Date): Promise<void> {
  await db.query(
    `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket)
     SELECT s, 'daily', $2 FROM unnest($1::bigint[]) AS s
     ON CONFLICT DO NOTHING`,
    [serverIds, day],
  );
}

/** Takes a two-key advisory lock exclusively (session level), waiting for it. */
export async function advisoryLock(db: Queryable, lock: { space: number; key: number }): Promise<void> {
  await db.query('SELECT pg_advisory_lock($1, $2)', [lock.space, lock.key]);
}

export async function advisoryUnlock(db: Queryable, lock: { space: number; key: number }): Promise<void> {
  await db.query('SELECT pg_advisory_unlock($1, $2)', [lock.space, lock.key]);
}

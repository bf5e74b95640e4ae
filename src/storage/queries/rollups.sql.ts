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

/** Servers with a pending hour starting at or after `since`: those whose running hour has raw rows. */
export async function serversWithRecentRows(db: Queryable, since: Date): Promise<number[]> {
  const { rows } = await db.query<{ server_id: string }>(
    `SELECT DISTINCT server_id::text AS server_id FROM pgvigil.rollup_pending
      WHERE tier = 'hourly' AND bucket >= $1 ORDER BY 1`,
    [since],
  );
  return rows.map((r) => Number(r.server_id));
}

export interface MinuteMarkRow {
  server_id: string;
  since: Date;
  rolled_to: Date;
}

/**
 * The minute marks of these servers, locked for the caller's transaction (in server order, as every other
 * locker takes them); a server without one gets one starting (and ending) at `start`.
 */
export async function lockMinuteMarks(
  db: Queryable,
  serverIds: readonly number[],
  start: Date,
): Promise<MinuteMarkRow[]> {
  await db.query(
    `INSERT INTO pgvigil.rollup_minute_marks (server_id, since, rolled_to)
     SELECT s, $2, $2 FROM unnest($1::bigint[]) AS s ORDER BY s
     ON CONFLICT DO NOTHING`,
    [serverIds, start],
  );
  const { rows } = await db.query<MinuteMarkRow>(
    `SELECT server_id::text AS server_id, since, rolled_to FROM pgvigil.rollup_minute_marks
      WHERE server_id = ANY($1::bigint[]) ORDER BY server_id FOR UPDATE`,
    [serverIds],
  );
  return rows;
}

export async function setMinuteMarks(
  db: Queryable,
  marks: ReadonlyArray<{ serverId: number; since: Date; rolledTo: Date }>,
): Promise<void> {
  if (marks.length === 0) return;
  await db.query(
    `UPDATE pgvigil.rollup_minute_marks m SET since = u.since, rolled_to = u.rolled_to
       FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) AS u(server_id, since, rolled_to)
      WHERE m.server_id = u.server_id`,
    [marks.map((m) => m.serverId), marks.map((m) => m.since), marks.map((m) => m.rolledTo)],
  );
}

/**
 * Moves servers' minute marks back to `to` (never before their `since`) where they are past it, so the
 * minutes from there are rolled again: rows arrived late, or an hour before them was rolled again. Rows
 * are locked in server order.
 */
export async function rewindMinuteMarks(
  db: Queryable,
  pairs: ReadonlyArray<readonly [number, number]>,
): Promise<void> {
  if (pairs.length === 0) return;
  await db.query(
    `WITH u AS (SELECT s, min(to_timestamp(t / 1000.0)) AS t
                  FROM unnest($1::bigint[], $2::float8[]) AS x(s, t) GROUP BY s),
          locked AS (SELECT m.server_id, u.t FROM pgvigil.rollup_minute_marks m JOIN u ON u.s = m.server_id
                      WHERE m.rolled_to > u.t ORDER BY m.server_id FOR UPDATE OF m)
     UPDATE pgvigil.rollup_minute_marks m SET rolled_to = greatest(m.since, least(m.rolled_to, l.t))
       FROM locked l WHERE m.server_id = l.server_id`,
    [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
  );
}

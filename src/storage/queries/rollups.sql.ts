/**
 * The rollup job's statements: the pending queue (`pgvigil.rollup_pending`) and its claims, the writers'
 * advisory lock taken exclusively around the claims of hours, the minute marks, and one roll statement per
 * family and tier (built from the family registry by ../rollups.ts).
 */
import { type RolledTier, rollBucketSql, rollupSpecs } from '../rollups.js';
import { floatArray, intArray } from './literals.js';
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

/**
 * The buckets of a tier that have a claimable pending row due (bucket at or before `cutoff`), oldest first.
 * Hourly: the oldest pending hour of each server (a server's hours are rolled in order). Daily: days of
 * servers with no hour pending at or before `hourCutoff` (hours are rolled before their days).
 */
export async function dueBuckets(
  db: Queryable,
  tier: Exclude<RolledTier, 'minute'>,
  cutoff: Date,
  hourCutoff: Date,
): Promise<Date[]> {
  const { rows } = await db.query<{ bucket: Date }>(
    tier === 'hourly'
      ? `SELECT DISTINCT min(bucket) AS bucket FROM pgvigil.rollup_pending
          WHERE tier = 'hourly' AND bucket <= $1 GROUP BY server_id ORDER BY 1`
      : `SELECT DISTINCT q.bucket FROM pgvigil.rollup_pending q
          WHERE q.tier = 'daily' AND q.bucket <= $1
            AND NOT EXISTS (SELECT 1 FROM pgvigil.rollup_pending e
                             WHERE e.server_id = q.server_id AND e.tier = 'hourly' AND e.bucket <= $2)
          ORDER BY 1`,
    tier === 'hourly' ? [cutoff] : [cutoff, hourCutoff],
  );
  return rows.map((r) => r.bucket);
}

/**
 * Claims up to `limit` servers' pending rows of one bucket: deletes them and returns their servers. A row
 * another transaction holds (claimed and not yet committed) is skipped, never waited for, and never taken
 * twice. An hour is claimed only when it is its server's oldest pending hour: while another transaction
 * rolls a server's earlier hour, that hour's pending row is still there for this statement, so no two
 * hours of one server are rolled at once and they are rolled in order (an hour's first counter steps are
 * looked up in the minute tier of the hour before: ../rollups.ts, `rawLookbackSeconds`). A day is claimed
 * only when its server has no hour pending at or before `hourCutoff`. Hours are claimed under the writers'
 * lock held exclusively by the caller (../../server/ingest/rollup-pending.ts).
 */
export async function claimPendingBuckets(
  db: Queryable,
  tier: Exclude<RolledTier, 'minute'>,
  bucket: Date,
  hourCutoff: Date,
  limit: number,
): Promise<number[]> {
  const { rows } = await db.query<{ server_id: string }>(
    `WITH c AS (
       SELECT q.server_id FROM pgvigil.rollup_pending q
        WHERE q.tier = $1 AND q.bucket = $2
          AND NOT EXISTS (SELECT 1 FROM pgvigil.rollup_pending e
                           WHERE e.server_id = q.server_id AND e.tier = 'hourly'
                             AND CASE WHEN $1 = 'hourly' THEN e.bucket < $2 ELSE e.bucket <= $3 END)
        ORDER BY q.server_id
        LIMIT $4
        FOR UPDATE SKIP LOCKED)
     DELETE FROM pgvigil.rollup_pending p USING c
      WHERE p.server_id = c.server_id AND p.tier = $1 AND p.bucket = $2
     RETURNING p.server_id::text AS server_id`,
    [tier, bucket, hourCutoff, limit],
  );
  return rows.map((r) => Number(r.server_id)).sort((a, b) => a - b);
}

/** Which of these servers have `bucket` pending as an hour. */
export async function pendingHourOf(
  db: Queryable,
  serverIds: readonly number[],
  bucket: Date,
): Promise<number[]> {
  const { rows } = await db.query<{ server_id: string }>(
    `SELECT server_id::text AS server_id FROM pgvigil.rollup_pending
      WHERE tier = 'hourly' AND bucket = $1 AND server_id = ANY($2::bigint[])`,
    [bucket, serverIds],
  );
  return rows.map((r) => Number(r.server_id));
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

/** Gives each of these servers without a minute mark one starting (and ending) at `start`: nothing rolled. */
export async function ensureMinuteMarks(
  db: Queryable,
  serverIds: readonly number[],
  start: Date,
): Promise<void> {
  await db.query(
    `INSERT INTO pgvigil.rollup_minute_marks (server_id, since, rolled_to)
     SELECT s, $2, $2 FROM unnest($1::bigint[]) AS s ORDER BY s
     ON CONFLICT DO NOTHING`,
    [serverIds, start],
  );
}

/**
 * The minute marks of these servers, locked for the caller's transaction; a mark another transaction holds
 * (a roll of that server's hour, or another instance rolling its minutes) is skipped, not waited for.
 */
export async function lockMinuteMarks(db: Queryable, serverIds: readonly number[]): Promise<MinuteMarkRow[]> {
  const { rows } = await db.query<MinuteMarkRow>(
    `SELECT server_id::text AS server_id, since, rolled_to FROM pgvigil.rollup_minute_marks
      WHERE server_id = ANY($1::bigint[]) ORDER BY server_id FOR UPDATE SKIP LOCKED`,
    [serverIds],
  );
  return rows;
}

/**
 * Locks the minute marks of these servers for the caller's transaction (in server order, as every other
 * locker takes them), waiting for them: a roll of their hours keeps the minute rolls of these servers out
 * until it commits.
 */
export async function holdMinuteMarks(db: Queryable, serverIds: readonly number[]): Promise<void> {
  await db.query(
    `SELECT 1 FROM pgvigil.rollup_minute_marks WHERE server_id = ANY($1::bigint[]) ORDER BY server_id FOR UPDATE`,
    [serverIds],
  );
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
  await db.query(rewindSql('$1::bigint[]', '$2::float8[]'), [pairs.map((p) => p[0]), pairs.map((p) => p[1])]);
}

/** `rewindMinuteMarks` as a statement without parameters (none when there is nothing to move back). */
export function rewindMinuteMarksSql(pairs: ReadonlyArray<readonly [number, number]>): string[] {
  if (pairs.length === 0) return [];
  return [rewindSql(intArray(pairs.map((p) => p[0])), floatArray(pairs.map((p) => p[1])))];
}

function rewindSql(servers: string, times: string): string {
  return `WITH u AS (SELECT s, min(to_timestamp(t / 1000.0)) AS t
                  FROM unnest(${servers}, ${times}) AS x(s, t) GROUP BY s),
          locked AS (SELECT m.server_id, u.t FROM pgvigil.rollup_minute_marks m JOIN u ON u.s = m.server_id
                      WHERE m.rolled_to > u.t ORDER BY m.server_id FOR UPDATE OF m)
     UPDATE pgvigil.rollup_minute_marks m SET rolled_to = greatest(m.since, least(m.rolled_to, l.t))
       FROM locked l WHERE m.server_id = l.server_id`;
}

/**
 * Passes over the fleet for the job checks that judge it in slices (`pgvigil.check_pass`): a pass lists
 * what it judges once — (server, target) pairs; target 0 where a check judges whole servers — and every
 * server instance takes its next slice from it, so instances share a pass and nothing in it is judged twice.
 * A pass is named by the checks it serves ('statements', 'anomalies').
 */
import type { Queryable } from './queryable.js';

export interface TargetRef {
  serverId: number;
  targetId: number;
}

/**
 * The most rows a pass lists: ten times the fleet this store is sized for (100,000 hosts), a bound on the
 * pass table and on each instance's view of it, never reached by design.
 */
export const maxPassRows = 1_000_000;

export interface CheckPass {
  /** Rows in the pass (taken or not). */
  size: number;
  /** When it began (ms). */
  startedAt: number;
  /** How long the last whole pass took (ms), null before the first ended. */
  lastPassMs: number | null;
}

/** First key of the two-key advisory lock held while a pass is checked and, when due, listed anew ("pv"). */
const passLockSpace = 0x7076;

/**
 * A new pass's rows: a SELECT of (server_id, target_id) pairs, its parameters numbered from $2 ($1 is
 * the pass's name), at most `maxPassRows` of them (the SELECT's own LIMIT, given as a parameter).
 */
export interface PassListing {
  select: string;
  params: unknown[];
}

/**
 * Pass `pass` as it stands, begun anew when everything in the last one is taken and that one began at
 * least `minGapMs` before `now`: then `listing()` lists it. The last pass's length is its start to its last
 * claim. Instances that ask at once wait for one another on an advisory lock (per pass), held to the end
 * of the caller's transaction, which `c` must be in: one lists the pass.
 */
export async function openCheckPass(
  c: Queryable,
  pass: string,
  now: Date,
  minGapMs: number,
  listing: () => PassListing,
): Promise<CheckPass> {
  await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [passLockSpace, `check pass ${pass}`]);
  const { rows } = await c.query<{
    size: number;
    open: number;
    started_at: Date | null;
    last_taken: Date | null;
    last_pass_ms: number | null;
  }>(
    `SELECT p.size, p.open, p.last_taken, s.started_at, s.last_pass_ms
       FROM (SELECT count(*)::int AS size, (count(*) FILTER (WHERE taken_at IS NULL))::int AS open,
                    max(taken_at) AS last_taken
               FROM pgvigil.check_pass WHERE pass = $1) p
       LEFT JOIN pgvigil.check_pass_state s ON s.pass = $1`,
    [pass],
  );
  const r = rows[0]!;
  const started = r.started_at?.getTime();
  if (r.open > 0 || (started !== undefined && now.getTime() - started < minGapMs && now.getTime() >= started))
    return { size: r.size, startedAt: started ?? now.getTime(), lastPassMs: r.last_pass_ms };
  const lastPassMs =
    started !== undefined && r.last_taken ? Math.max(0, r.last_taken.getTime() - started) : r.last_pass_ms;
  await c.query('DELETE FROM pgvigil.check_pass WHERE pass = $1', [pass]);
  const l = listing();
  const listed = await c.query(
    `INSERT INTO pgvigil.check_pass (pass, server_id, target_id) SELECT $1, l.* FROM (${l.select}) l`,
    [pass, ...l.params],
  );
  await c.query(
    `INSERT INTO pgvigil.check_pass_state (pass, started_at, last_pass_ms) VALUES ($1, $2, $3)
       ON CONFLICT (pass) DO UPDATE SET started_at = excluded.started_at, last_pass_ms = excluded.last_pass_ms`,
    [pass, now, lastPassMs],
  );
  return { size: listed.rowCount ?? 0, startedAt: now.getTime(), lastPassMs };
}

/**
 * Takes the next `limit` rows of pass `pass` not taken yet, in (server, target) order, marking them taken
 * at `now`: rows another instance is taking at the same moment are skipped, so nothing is taken twice.
 */
export async function takeFromCheckPass(
  db: Queryable,
  pass: string,
  now: Date,
  limit: number,
): Promise<TargetRef[]> {
  const { rows } = await db.query<TargetRef>(
    `UPDATE pgvigil.check_pass p SET taken_at = $2
       FROM (SELECT server_id, target_id FROM pgvigil.check_pass
              WHERE pass = $1 AND taken_at IS NULL
              ORDER BY server_id, target_id
              LIMIT $3
                FOR UPDATE SKIP LOCKED) t
      WHERE p.pass = $1 AND p.server_id = t.server_id AND p.target_id = t.target_id
     RETURNING p.server_id::int AS "serverId", p.target_id::int AS "targetId"`,
    [pass, now, limit],
  );
  return rows.sort((a, b) => a.serverId - b.serverId || a.targetId - b.targetId);
}

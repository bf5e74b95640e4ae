/**
 * The store's own background work, as a benchmark waits it out before timing a ceiling: a checkpoint of
 * what was just written, and the sessions still busy (autovacuum workers, and other clients' statements).
 */
import type { Queryable } from './queryable.js';

/** Forces a checkpoint; false where the role may not (an existing store's, without pg_checkpoint). */
export async function checkpoint(db: Queryable): Promise<boolean> {
  try {
    await db.query('CHECKPOINT');
    return true;
  } catch {
    return false;
  }
}

/**
 * Turns autovacuum off or on for the whole store (ALTER SYSTEM and a reload), for a benchmark's own store
 * only; workers already running finish their table.
 */
export async function setAutovacuum(db: Queryable, on: boolean): Promise<void> {
  await db.query(`ALTER SYSTEM SET autovacuum = ${on ? 'on' : 'off'}`);
  await db.query('SELECT pg_reload_conf()');
}

/** Autovacuum workers at work, and with `clients` other client sessions running a statement. */
export async function busyBackends(db: Queryable, clients: boolean): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE pid <> pg_backend_pid()
        AND (backend_type = 'autovacuum worker' OR ($1 AND backend_type = 'client backend' AND state = 'active'))`,
    [clients],
  );
  return rows[0]?.n ?? 0;
}

/**
 * A reader of the store's checkpoint count since it started, timed and requested alike, its statement chosen
 * once for the store's version: pg_stat_checkpointer from PostgreSQL 17, pg_stat_bgwriter before (both
 * readable by any role).
 */
export async function checkpointCounter(db: Queryable): Promise<() => Promise<number>> {
  const { rows } = await db.query<{ checkpointer: boolean }>(
    `SELECT to_regclass('pg_catalog.pg_stat_checkpointer') IS NOT NULL AS checkpointer`,
  );
  const sql = rows[0]?.checkpointer
    ? 'SELECT num_timed + num_requested AS n FROM pg_stat_checkpointer'
    : 'SELECT checkpoints_timed + checkpoints_req AS n FROM pg_stat_bgwriter';
  return async () => Number((await db.query<{ n: string }>(sql)).rows[0]?.n ?? 0);
}

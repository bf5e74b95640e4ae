/** What the read-replica router asks the primary and each standby (src/storage/read-replicas.ts). */
import type { Queryable } from './queryable.js';

/** The primary's current WAL write position (`X/Y` text). */
export async function primaryWalLsn(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return rows[0]!.lsn;
}

/** Whether a server is a standby, and the WAL position it has replayed (null on a primary). */
export async function standbyReplay(
  db: Queryable,
): Promise<{ inRecovery: boolean; replayLsn: string | null }> {
  const { rows } = await db.query<{ in_recovery: boolean; replay_lsn: string | null }>(
    'SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS replay_lsn',
  );
  return { inRecovery: rows[0]!.in_recovery, replayLsn: rows[0]!.replay_lsn };
}

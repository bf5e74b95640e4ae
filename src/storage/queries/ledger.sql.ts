/** The ingest ledger (migration 0005): one row per batch accepted, keyed by (server, agent, seq). */
import type pg from 'pg';

type Queryable = pg.Pool | pg.PoolClient;

/** Forgets batches received before `cutoff`; returns how many rows went. */
export async function deleteLedgerRowsBefore(db: Queryable, cutoff: Date): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM pgvigil.ingest_ledger WHERE received_at < $1', [cutoff]);
  return rowCount ?? 0;
}

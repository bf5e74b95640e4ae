/**
 * The ingest ledger (migration 0005: one row per batch accepted, keyed by server, agent and seq): what
 * ingest stored, as checks (the ingest bench's verification) count it, and the prune job's delete.
 */
import type { FamilySpec } from '../../protocol/families/index.js';
import { familyTable } from './identifiers.js';
import type { Queryable } from './queryable.js';

/** Batches in the ingest ledger of these agents, and the rows they carried. */
export async function ledgerTotals(
  db: Queryable,
  agentIds: readonly string[],
): Promise<{ batches: number; rows: number }> {
  const { rows } = await db.query<{ batches: number; rows: number }>(
    'SELECT count(*)::int AS batches, coalesce(sum(row_count), 0)::int AS rows FROM pgvigil.ingest_ledger WHERE agent_id = ANY($1::uuid[])',
    [agentIds],
  );
  return rows[0]!;
}

/** Rows of a family's table that belong to these servers. */
export async function familyRowCount(
  db: Queryable,
  family: FamilySpec,
  serverIds: readonly number[],
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${familyTable(family)} WHERE server_id = ANY($1::bigint[])`,
    [serverIds],
  );
  return rows[0]!.n;
}

/** Forgets batches received before `cutoff`; returns how many rows went. */
export async function deleteLedgerRowsBefore(db: Queryable, cutoff: Date): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM pgvigil.ingest_ledger WHERE received_at < $1', [cutoff]);
  return rowCount ?? 0;
}

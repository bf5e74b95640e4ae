/**
 * The statements of ingest: the ledger (exactly-once effect and batch digests), COPY of
 * family rows, gaps and agent presence. Called by src/server/ingest (the writer), inside the
 * writer's group transaction where a client is taken.
 *
 * Table and column names come from the family registry (validated before), never from a request.
 */
import type pg from 'pg';
import { copyBinaryHeader, copyBinaryTrailer, runCopyPipeline } from '../copy-pipeline.js';

export interface LedgerRow {
  serverId: number;
  agentId: string;
  seq: number;
  rowCount: number;
  digest: Buffer;
}

export interface LedgerInsert {
  /** `agentId/seq` of the rows inserted now (the others were there already). */
  inserted: Set<string>;
  /** Each agent's highest seq stored before this statement (null: none). */
  highestBefore: Map<string, number | null>;
}

/**
 * Inserts ledger rows, keeping those already stored. One statement: the highest seq per agent is read in
 * the same snapshot, which does not see the rows this statement inserts.
 */
export async function insertLedgerRows(
  client: pg.PoolClient,
  items: readonly LedgerRow[],
): Promise<LedgerInsert> {
  const { rows } = await client.query<{ kind: 'new' | 'max'; agent_id: string; seq: string | null }>(
    `WITH input AS (
       SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::int[], $5::bytea[])
         AS i (server_id, agent_id, seq, row_count, digest)
     ), ins AS (
       INSERT INTO pgvigil.ingest_ledger (server_id, agent_id, seq, row_count, digest)
       SELECT server_id, agent_id, seq, row_count, digest FROM input
       ON CONFLICT DO NOTHING RETURNING agent_id, seq
     )
     SELECT 'new' AS kind, agent_id, seq::text FROM ins
     UNION ALL
     SELECT 'max', a.agent_id,
            (SELECT max(l.seq) FROM pgvigil.ingest_ledger l
              WHERE l.server_id = a.server_id AND l.agent_id = a.agent_id)::text
       FROM (SELECT DISTINCT server_id, agent_id FROM input) a`,
    [
      items.map((i) => i.serverId),
      items.map((i) => i.agentId),
      items.map((i) => i.seq),
      items.map((i) => i.rowCount),
      items.map((i) => i.digest),
    ],
  );
  const out: LedgerInsert = { inserted: new Set(), highestBefore: new Map() };
  for (const r of rows) {
    if (r.kind === 'new') out.inserted.add(`${r.agent_id}/${r.seq}`);
    else out.highestBefore.set(r.agent_id, r.seq === null ? null : Number(r.seq));
  }
  return out;
}

/** Stored digests of ledger rows by `agentId/seq` (null for rows stored before digests were kept). */
export async function ledgerDigests(
  client: pg.PoolClient,
  keys: ReadonlyArray<{ serverId: number; agentId: string; seq: number }>,
): Promise<Map<string, Buffer | null>> {
  const { rows } = await client.query<{ agent_id: string; seq: string; digest: Buffer | null }>(
    `SELECT l.agent_id, l.seq::text, l.digest FROM pgvigil.ingest_ledger l
       JOIN unnest($1::bigint[], $2::uuid[], $3::bigint[]) AS k (server_id, agent_id, seq)
         USING (server_id, agent_id, seq)`,
    [keys.map((k) => k.serverId), keys.map((k) => k.agentId), keys.map((k) => k.seq)],
  );
  return new Map(rows.map((r) => [`${r.agent_id}/${r.seq}`, r.digest]));
}

/** One row of pgvigil.gaps: server, agent, reason, from seq, to seq, count. */
export type GapRow = [number, string, string, number | null, number | null, number];

export async function insertGaps(client: pg.PoolClient, gapRows: readonly GapRow[]): Promise<void> {
  if (gapRows.length === 0) return;
  await client.query(
    `INSERT INTO pgvigil.gaps (server_id, agent_id, reason, from_seq, to_seq, count)
     SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])`,
    [0, 1, 2, 3, 4, 5].map((k) => gapRows.map((r) => r[k])),
  );
}

/**
 * Marks agents (and their servers) as seen now and stores each one's latest self-report where given
 * (`statuses[i]` is JSON text or null to keep the stored one). Agent ids sorted, so that concurrent
 * groups lock rows in one order.
 */
export async function touchAgents(
  client: pg.PoolClient,
  agentIds: readonly string[],
  statuses: ReadonlyArray<string | null>,
): Promise<void> {
  await client.query(
    `UPDATE pgvigil.agents a SET last_seen_at = now(), status = coalesce(u.status, a.status)
       FROM unnest($1::uuid[], $2::jsonb[]) AS u (agent_id, status)
      WHERE a.agent_id = u.agent_id`,
    [agentIds, statuses],
  );
  await client.query(
    `UPDATE pgvigil.servers s SET last_seen_at = now() FROM pgvigil.agents a
      WHERE a.server_id = s.server_id AND a.agent_id = ANY($1::uuid[])`,
    [agentIds],
  );
}

/**
 * Marks (server, hour) rollup buckets pending, under the shared advisory lock `lock` (why:
 * src/server/ingest/rollup-pending.ts). `pairs` are [server id, hour start in ms], sorted.
 */
export async function insertPendingHours(
  client: pg.PoolClient,
  pairs: ReadonlyArray<readonly [number, number]>,
  lock: { space: number; key: number },
): Promise<void> {
  await client.query(
    `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket)
     SELECT u.s, 'hourly', to_timestamp(u.h / 1000.0)
       FROM (SELECT pg_advisory_xact_lock_shared($3::int, $4::int)) l,
            unnest($1::bigint[], $2::float8[]) WITH ORDINALITY AS u(s, h, n)
      ORDER BY u.n
     ON CONFLICT DO NOTHING`,
    [pairs.map((p) => p[0]), pairs.map((p) => p[1]), lock.space, lock.key],
  );
}

function columnList(columns: readonly string[]): string {
  return columns.map((c) => `"${c}"`).join(', ');
}

/** One table's rows of a group: binary COPY tuples (no header or trailer), in parts of whole tuples. */
export interface CopyTable {
  table: string;
  /** Rows already stored are kept (written through a session temp table, emptied at commit). */
  once: boolean;
  columns: readonly string[];
  parts: readonly Buffer[];
}

/**
 * COPYs every table's rows in one round trip (src/storage/copy-pipeline.ts), in COPY's binary format: one
 * statement list, each table's data after it. A `once` table goes through a session temp table and keeps
 * the rows already stored (families whose rows are written once, such as statement texts).
 */
export function copyTables(client: pg.ClientBase, tables: readonly CopyTable[]): Promise<void> {
  if (tables.length === 0) return Promise.resolve();
  const statements: string[] = [];
  for (const t of tables) {
    const cols = columnList(t.columns);
    if (!t.once) {
      statements.push(`COPY pgvigil."${t.table}" (${cols}) FROM STDIN (FORMAT binary)`);
      continue;
    }
    const temp = `pgvigil_in_${t.table}`;
    statements.push(
      `CREATE TEMP TABLE IF NOT EXISTS "${temp}" (LIKE pgvigil."${t.table}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
      `COPY "${temp}" (${cols}) FROM STDIN (FORMAT binary)`,
      `INSERT INTO pgvigil."${t.table}" (${cols}) SELECT ${cols} FROM "${temp}" ON CONFLICT DO NOTHING`,
    );
  }
  return runCopyPipeline(
    client,
    statements.join(';\n'),
    tables.map((t) => [copyBinaryHeader, ...t.parts, copyBinaryTrailer]),
  );
}

/**
 * The statements of ingest: the ledger (exactly-once effect and batch digests), COPY of
 * family rows, gaps and agent presence. Called by src/server/ingest (the writer), inside the
 * writer's group transaction where a client is taken.
 *
 * Table and column names come from the family registry (validated before), never from a request.
 */
import type pg from 'pg';
import {
  copyBinaryHeader,
  copyBinaryTrailer,
  type PipelinedResult,
  runCopyPipeline,
} from '../copy-pipeline.js';
import { byteaArray, floatArray, intArray, intText, textArray } from './literals.js';

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
 * Opens the group transaction and inserts ledger rows, keeping those already stored: `BEGIN` and the
 * insert in one simple-query message (one round trip; the values are written as literals, see
 * ./literals.ts). One statement: the highest seq per agent is read in the same snapshot, which does not see
 * the rows this statement inserts. The caller's transaction must not be open yet (`inTransaction` with
 * `begin: null`).
 */
export async function beginWithLedgerRows(
  client: pg.PoolClient,
  items: readonly LedgerRow[],
): Promise<LedgerInsert> {
  const results = (await client.query(
    `BEGIN;
     WITH input AS (
       SELECT * FROM unnest(${intArray(items.map((i) => i.serverId))}, ${textArray(
         items.map((i) => i.agentId),
         'uuid',
       )}, ${intArray(items.map((i) => i.seq))}, ${intArray(
         items.map((i) => i.rowCount),
         'int',
       )}, ${byteaArray(items.map((i) => i.digest))})
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
  )) as unknown as Array<pg.QueryResult<{ kind: 'new' | 'max'; agent_id: string; seq: string | null }>>;
  const out: LedgerInsert = { inserted: new Set(), highestBefore: new Map() };
  for (const r of results[1]!.rows) {
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

/** The statement that inserts gap rows (none: no statement), values as literals. */
export function insertGapsSql(gapRows: readonly GapRow[]): string[] {
  if (gapRows.length === 0) return [];
  return [
    `INSERT INTO pgvigil.gaps (server_id, agent_id, reason, from_seq, to_seq, count)
     SELECT * FROM unnest(${intArray(gapRows.map((r) => r[0]))}, ${textArray(
       gapRows.map((r) => r[1]),
       'uuid',
     )}, ${textArray(gapRows.map((r) => r[2]))}, ${intArray(gapRows.map((r) => r[3]))}, ${intArray(
       gapRows.map((r) => r[4]),
     )}, ${intArray(gapRows.map((r) => r[5]))})`,
  ];
}

/**
 * Marks agents (and their servers) as seen now and stores each one's latest self-report where given
 * (`statuses[i]` is JSON text or null to keep the stored one). Agent ids sorted, so that concurrent
 * groups lock rows in one order.
 */
export function touchAgentsSql(
  agentIds: readonly string[],
  statuses: ReadonlyArray<string | null>,
): string[] {
  const ids = textArray(agentIds, 'uuid');
  return [
    `UPDATE pgvigil.agents a SET last_seen_at = now(), status = coalesce(u.status, a.status)
       FROM unnest(${ids}, ${textArray(statuses, 'jsonb')}) AS u (agent_id, status)
      WHERE a.agent_id = u.agent_id`,
    `UPDATE pgvigil.servers s SET last_seen_at = now() FROM pgvigil.agents a
      WHERE a.server_id = s.server_id AND a.agent_id = ANY(${ids})`,
  ];
}

/**
 * Marks (server, hour) rollup buckets pending, under the shared advisory lock `lock` (why:
 * src/server/ingest/rollup-pending.ts). `pairs` are [server id, hour start in ms], sorted.
 */
export function insertPendingHoursSql(
  pairs: ReadonlyArray<readonly [number, number]>,
  lock: { space: number; key: number },
): string {
  return `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket)
     SELECT u.s, 'hourly', to_timestamp(u.h / 1000.0)
       FROM (SELECT pg_advisory_xact_lock_shared(${intText(lock.space)}, ${intText(lock.key)})) l,
            unnest(${intArray(pairs.map((p) => p[0]))}, ${floatArray(pairs.map((p) => p[1]))}) WITH ORDINALITY AS u(s, h, n)
      ORDER BY u.n
     ON CONFLICT DO NOTHING`;
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
 * statement list, each table's data after it, then the statements `then` (without parameters: see
 * ./literals.ts) in the same message; resolves with the rows of those of them that return some. A `once`
 * table goes through a session temp table and keeps the rows already stored (families whose rows are
 * written once, such as statement texts).
 */
export function copyTables(
  client: pg.ClientBase,
  tables: readonly CopyTable[],
  then: readonly string[] = [],
): Promise<PipelinedResult[]> {
  if (tables.length === 0 && then.length === 0) return Promise.resolve([]);
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
  statements.push(...then);
  return runCopyPipeline(
    client,
    statements.join(';\n'),
    tables.map((t) => [copyBinaryHeader, ...t.parts, copyBinaryTrailer]),
  );
}

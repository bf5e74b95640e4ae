/** Servers (hosts): registered by name when their first agent enrolls. */
import type { Queryable } from './queryable.js';

/** The server with this name, created when absent; its id. */
export async function upsertServer(db: Queryable, name: string): Promise<number> {
  const { rows } = await db.query<{ server_id: number }>(
    `INSERT INTO pgvigil.servers (name) VALUES ($1)
     ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING server_id`,
    [name],
  );
  return Number(rows[0]!.server_id);
}

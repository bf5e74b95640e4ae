/** Targets: what an agent watches on a server (today a PostgreSQL instance), by kind and name. */
import type { Queryable } from './queryable.js';

export type TargetKind = 'postgres';

/** Registers a target; nothing happens when it exists already. */
export async function ensureTarget(
  db: Queryable,
  serverId: number,
  kind: TargetKind,
  name: string,
): Promise<void> {
  await db.query(
    `INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, $2, $3) ON CONFLICT (server_id, kind, name) DO NOTHING`,
    [serverId, kind, name],
  );
}

/** A target of a server by id (`byId`: `target` is all digits) or by name. */
export async function findTarget(
  db: Queryable,
  serverId: number,
  target: string,
  byId: boolean,
): Promise<{ target_id: number; name: string; kind: string } | undefined> {
  const { rows } = await db.query<{ target_id: number; name: string; kind: string }>(
    `SELECT target_id, name, kind FROM pgvigil.targets
      WHERE server_id = $1 AND ${byId ? 'target_id = $2::bigint' : 'name = $2'}`,
    [serverId, target],
  );
  return rows[0];
}

/** The id of a target, registered when absent. */
export async function targetId(
  db: Queryable,
  serverId: number,
  kind: TargetKind,
  name: string,
): Promise<number> {
  const { rows } = await db.query<{ target_id: number }>(
    `INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, $2, $3)
     ON CONFLICT (server_id, kind, name) DO UPDATE SET name = EXCLUDED.name RETURNING target_id`,
    [serverId, kind, name],
  );
  return Number(rows[0]!.target_id);
}

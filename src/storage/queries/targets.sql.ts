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

/** Ids of a server's PostgreSQL targets by name, created when new. `names` must be distinct. */
export async function upsertTargets(
  db: Queryable,
  serverId: number,
  names: readonly string[],
): Promise<Map<string, number>> {
  const { rows } = await db.query<{ name: string; target_id: string | number }>(
    `INSERT INTO pgvigil.targets (server_id, kind, name)
     SELECT $1, 'postgres', n FROM unnest($2::text[]) AS n
     ON CONFLICT (server_id, kind, name) DO UPDATE SET name = EXCLUDED.name RETURNING name, target_id`,
    [serverId, names],
  );
  return new Map(rows.map((r) => [r.name, Number(r.target_id)]));
}

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

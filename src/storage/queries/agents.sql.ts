/** Agents: credentials, pushed configuration and what the agent reports about applying it. */
import type { Queryable } from './queryable.js';

export interface CredentialOwner {
  agent_id: string;
  server_id: number;
  revoked: boolean;
}

export async function agentByCredential(
  db: Queryable,
  credentialHash: Buffer,
): Promise<CredentialOwner | undefined> {
  const { rows } = await db.query<CredentialOwner>(
    `SELECT agent_id, server_id, revoked_at IS NOT NULL AS revoked FROM pgvigil.agents WHERE credential_hash = $1`,
    [credentialHash],
  );
  return rows[0];
}

/** Revokes an agent's credential; true when an active credential was revoked. */
export async function revokeAgent(db: Queryable, agentId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE pgvigil.agents SET revoked_at = now() WHERE agent_id = $1 AND revoked_at IS NULL',
    [agentId],
  );
  return (rowCount ?? 0) > 0;
}

/** Stores the configuration pushed to an agent; false when there is no such agent. */
export async function storeConfig(db: Queryable, agentId: string, config: unknown): Promise<boolean> {
  const { rowCount } = await db.query('UPDATE pgvigil.agents SET config = $2 WHERE agent_id = $1', [
    agentId,
    JSON.stringify(config),
  ]);
  return (rowCount ?? 0) > 0;
}

export async function agentConfig(
  db: Queryable,
  agentId: string,
): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.query<{ config: Record<string, unknown> }>(
    'SELECT config FROM pgvigil.agents WHERE agent_id = $1',
    [agentId],
  );
  return rows[0]?.config;
}

export async function storeConfigStatus(db: Queryable, agentId: string, status: unknown): Promise<void> {
  await db.query('UPDATE pgvigil.agents SET config_status = $2 WHERE agent_id = $1', [
    agentId,
    JSON.stringify(status),
  ]);
}

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

/** The agent with this id and whether it is revoked (a client certificate names its agent by id). */
export async function agentById(db: Queryable, agentId: string): Promise<CredentialOwner | undefined> {
  const { rows } = await db.query<CredentialOwner>(
    'SELECT agent_id, server_id, revoked_at IS NOT NULL AS revoked FROM pgvigil.agents WHERE agent_id = $1',
    [agentId],
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

export interface AgentListRow {
  agentId: string;
  serverId: number;
  serverName: string;
  hostname: string;
  os: string | null;
  version: string | null;
  enrolledAt: Date;
  lastSeenAt: Date | null;
  revokedAt: Date | null;
  presence: string;
  presenceReason: string | null;
  configStatus: unknown;
  /** Whether a non-empty configuration is pushed to it. */
  configured: boolean;
}

const agentColumns = `a.agent_id AS "agentId", a.server_id AS "serverId", s.name AS "serverName", a.hostname,
  a.os, a.agent_version AS version, a.enrolled_at AS "enrolledAt", a.last_seen_at AS "lastSeenAt",
  a.revoked_at AS "revokedAt", a.presence, a.presence_reason AS "presenceReason",
  a.config_status AS "configStatus", a.config <> '{}'::jsonb AS configured`;

/** Agents, the most recently seen first (never seen last), at most `limit`. */
export async function listAgents(db: Queryable, limit: number): Promise<AgentListRow[]> {
  const { rows } = await db.query<AgentListRow>(
    `SELECT ${agentColumns}
       FROM pgvigil.agents a JOIN pgvigil.servers s USING (server_id)
      ORDER BY a.revoked_at IS NOT NULL, a.last_seen_at DESC NULLS LAST, a.enrolled_at DESC LIMIT $1`,
    [limit],
  );
  return rows;
}

/** One agent with the configuration pushed to it; undefined when there is none. */
export async function agentWithConfig(
  db: Queryable,
  agentId: string,
): Promise<(AgentListRow & { config: Record<string, unknown> }) | undefined> {
  const { rows } = await db.query<AgentListRow & { config: Record<string, unknown> }>(
    `SELECT ${agentColumns}, a.config
       FROM pgvigil.agents a JOIN pgvigil.servers s USING (server_id) WHERE a.agent_id = $1`,
    [agentId],
  );
  return rows[0];
}

/** Storing the configuration the server pushes to an agent (API and CLI share this). */
import type pg from 'pg';
import { PgvigilError } from '../errors.js';
import { parseRemoteConfig } from '../protocol/agent-config.js';

/** Validates and stores an agent's config; the agent applies it at its next pull. */
export async function storeAgentConfig(
  pool: pg.Pool,
  agentId: string,
  value: unknown,
  where = 'config',
): Promise<void> {
  const parsed = parseRemoteConfig(value);
  if (!parsed.ok) throw new PgvigilError('CONFIG_INVALID', `${where}: ${parsed.error}`);
  const { rowCount } = await pool.query('UPDATE pgvigil.agents SET config = $2 WHERE agent_id = $1', [
    agentId,
    JSON.stringify(parsed.config),
  ]);
  if (!rowCount) throw new PgvigilError('NOT_FOUND', `no agent ${agentId}`);
}

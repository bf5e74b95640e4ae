/** Storing the configuration the server pushes to an agent (API and CLI share this). */
import type pg from 'pg';
import { PgvigilError } from '../errors.js';
import { parseRemoteConfig } from '../protocol/agent-config.js';
import { storeConfig } from '../storage/queries/agents.sql.js';

/** Validates and stores an agent's config; the agent applies it at its next pull. */
export async function storeAgentConfig(
  pool: pg.Pool,
  agentId: string,
  value: unknown,
  where = 'config',
): Promise<void> {
  const parsed = parseRemoteConfig(value);
  if (!parsed.ok) throw new PgvigilError('CONFIG_INVALID', `${where}: ${parsed.error}`);
  if (!(await storeConfig(pool, agentId, parsed.config)))
    throw new PgvigilError('NOT_FOUND', `no agent ${agentId}`);
}

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

const hidden = '***';

/**
 * A pushed config as an admin may see it: the passwords in its targets' URLs (URL or key=value form) are
 * replaced by `***`, as every other stored secret is never shown after it is set.
 */
export function configForDisplay(config: Record<string, unknown>): Record<string, unknown> {
  const targets = config.targets;
  if (!Array.isArray(targets)) return config;
  return {
    ...config,
    targets: targets.map((t: unknown) => {
      if (typeof t !== 'object' || t === null || typeof (t as { url?: unknown }).url !== 'string') return t;
      return { ...t, url: hidePassword((t as { url: string }).url) };
    }),
  };
}

export function hidePassword(conn: string): string {
  if (/^postgres(ql)?:\/\//i.test(conn)) {
    try {
      const u = new URL(conn);
      if (u.password) u.password = hidden;
      const params = u.searchParams;
      if (params.has('password')) params.set('password', hidden);
      return u.toString().replace(/%2A%2A%2A/g, hidden);
    } catch {
      return conn.replace(/:[^:@/]*@/, `:${hidden}@`);
    }
  }
  return conn.replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, `$1${hidden}`);
}

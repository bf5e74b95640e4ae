/**
 * Registering an agentless target: in one transaction, its server entry (marked agentless), the agent
 * row its batches are ledgered under, its PostgreSQL target row and the target itself with the URL sealed.
 * And opening the sealed URL again for the poller, with a clear error when the key differs.
 *
 * Guarantees: the password is in memory only between the request and the seal, and in the poller's
 * collector; it is in no column in clear and in no answer or log line (the route returns the public row).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import type { SecretBox } from '../../secrets.js';
import {
  type AgentlessTargetChange,
  agentlessTargetTls,
  insertAgentlessAgent,
  insertAgentlessServer,
  insertAgentlessTarget,
  updateAgentlessTarget,
} from '../../storage/queries/agentless.sql.js';
import { ensureTarget } from '../../storage/queries/targets.sql.js';
import { inTransaction } from '../../storage/tx.js';
import { version } from '../../version.js';
import { checkCaBundle, parseTargetUrl } from './connection.js';

export interface AgentlessTargetInput {
  name: string;
  url: string;
  caPem?: string;
  intervalSeconds?: number;
}

export const defaultAgentlessIntervalSeconds = 30;

/** The authenticated data of a target's seal: a sealed URL moved to another target's row does not open. */
export function sealContext(name: string): string {
  return `agentless:${name}`;
}

export async function createAgentlessTarget(
  pool: pg.Pool,
  box: SecretBox,
  input: AgentlessTargetInput,
): Promise<number> {
  const conn = parseTargetUrl(input.url);
  const caPem = input.caPem === undefined || input.caPem === '' ? null : checkCaBundle(input.caPem);
  checkCaWithMode(caPem, conn.sslmode);
  const intervalMs = Math.round((input.intervalSeconds ?? defaultAgentlessIntervalSeconds) * 1000);
  const sealed = box.seal(conn.sealedUrl, sealContext(input.name));
  return inTransaction(pool, async (c) => {
    const serverId = await insertAgentlessServer(c, input.name);
    if (serverId === undefined)
      throw new PgvigilError(
        'AGENTLESS_TARGET_EXISTS',
        `a server named ${input.name} exists already (an agent's host or another agentless target); choose another name`,
      );
    const agentId = randomUUID();
    await insertAgentlessAgent(c, serverId, agentId, `agentless:${conn.host}`, `${version} (agentless)`);
    await ensureTarget(c, serverId, 'postgres', input.name);
    const id = await insertAgentlessTarget(c, serverId, {
      name: input.name,
      agentId,
      host: conn.host,
      port: conn.port,
      dbname: conn.dbname,
      username: conn.username,
      sslmode: conn.sslmode,
      caPem,
      urlSealed: sealed,
      keyId: box.keyId,
      intervalMs,
    });
    if (id === undefined)
      throw new PgvigilError(
        'AGENTLESS_TARGET_EXISTS',
        `an agentless target named ${input.name} exists already`,
      );
    return id;
  });
}

/** A CA bundle only makes sense with an sslmode that verifies the server. */
function checkCaWithMode(caPem: string | null, sslmode: string): void {
  if (caPem && (sslmode === 'disable' || sslmode === 'require'))
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `caPem is given but sslmode=${sslmode} does not verify the server; use sslmode=verify-full (or verify-ca)`,
    );
}

/**
 * Changes a target's URL (sealed again, e.g. a rotated password), CA bundle (null removes it) or
 * interval. Its name, server entry and series stay. False when there is no such target.
 */
export async function changeAgentlessTarget(
  pool: pg.Pool,
  box: SecretBox,
  targetId: number,
  input: { url?: string; caPem?: string | null; intervalSeconds?: number },
): Promise<boolean> {
  return inTransaction(pool, async (c) => {
    const current = await agentlessTargetTls(c, targetId);
    if (!current) return false;
    const change: AgentlessTargetChange = {};
    let sslmode = current.sslmode;
    if (input.url !== undefined) {
      const conn = parseTargetUrl(input.url);
      sslmode = conn.sslmode;
      change.connection = {
        host: conn.host,
        port: conn.port,
        dbname: conn.dbname,
        username: conn.username,
        sslmode: conn.sslmode,
        urlSealed: box.seal(conn.sealedUrl, sealContext(current.name)),
        keyId: box.keyId,
      };
    }
    if (input.caPem !== undefined)
      change.caPem = input.caPem === null || input.caPem === '' ? null : checkCaBundle(input.caPem);
    checkCaWithMode(change.caPem !== undefined ? change.caPem : current.ca_pem, sslmode);
    if (input.intervalSeconds !== undefined) change.intervalMs = Math.round(input.intervalSeconds * 1000);
    return updateAgentlessTarget(c, targetId, change);
  });
}

/** The target's URL with its password; SECRET_UNREADABLE naming both keys when this server's differs. */
export function openTargetUrl(
  box: SecretBox,
  t: { name: string; url_sealed: Buffer; key_id: string },
): string {
  if (t.key_id !== box.keyId)
    throw new PgvigilError(
      'SECRET_UNREADABLE',
      `agentless target ${t.name} was sealed under secret key ${t.key_id}; this server has key ${box.keyId} (give every server the same PGVIGIL_SECRET_KEY or key file)`,
    );
  return box.open(t.url_sealed, sealContext(t.name)).toString('utf8');
}

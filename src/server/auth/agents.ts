/**
 * Agent identity: enrollment tokens (created by an admin, shown once) and per-agent credentials
 * (256-bit random, recognisable prefix `pgv_agent_`). Both are stored only as sha256 — they are long
 * random secrets, so a slow hash would add cost without adding safety — and compared by hash lookup.
 *
 * Credential checks are cached for a few seconds per credential so ingest does not query the store
 * on every push; a revocation therefore takes effect within `cacheTtlMs`.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { inTransaction } from '../../storage/tx.js';

export const credentialPrefix = 'pgv_agent_';
export const enrollTokenPrefix = 'pgv_enroll_';

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

export function newCredential(): string {
  return credentialPrefix + randomBytes(32).toString('base64url');
}

export function newEnrollToken(): string {
  return enrollTokenPrefix + randomBytes(24).toString('base64url');
}

export interface AgentIdentity {
  agentId: string;
  serverId: number;
}

/** Parses "Bearer <credential>"; undefined when absent or malformed. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S{1,4096})$/i.exec(header.trim());
  return m?.[1];
}

export class AgentAuthenticator {
  private cache = new Map<string, { at: number; identity?: AgentIdentity; revoked?: boolean }>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly cacheTtlMs = 5000,
  ) {}

  /** The agent a credential belongs to; throws 401 errors for unknown or revoked credentials. */
  async authenticate(credential: string | undefined): Promise<AgentIdentity> {
    if (!credential) throw new PgvigilError('CREDENTIAL_MISSING');
    if (!credential.startsWith(credentialPrefix)) throw new PgvigilError('CREDENTIAL_INVALID');
    const now = Date.now();
    const key = hashSecret(credential).toString('base64');
    let hit = this.cache.get(key);
    if (!hit || now - hit.at > this.cacheTtlMs) {
      const { rows } = await this.pool.query<{ agent_id: string; server_id: number; revoked: boolean }>(
        `SELECT agent_id, server_id, revoked_at IS NOT NULL AS revoked FROM pgvigil.agents WHERE credential_hash = $1`,
        [Buffer.from(key, 'base64')],
      );
      const r = rows[0];
      hit = {
        at: now,
        identity: r ? { agentId: r.agent_id, serverId: Number(r.server_id) } : undefined,
        revoked: r?.revoked,
      };
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(key, hit);
    }
    if (!hit.identity) throw new PgvigilError('CREDENTIAL_INVALID');
    if (hit.revoked) throw new PgvigilError('CREDENTIAL_REVOKED');
    return hit.identity;
  }
}

export interface EnrollRequest {
  token: string;
  /** A random key the agent keeps until its credential is saved; a retry with it is not a new agent. */
  enrollKey?: string;
  hostname: string;
  os?: string;
  agentVersion?: string;
  targets?: Array<{ kind: 'postgres'; name: string }>;
}

export interface Enrollment {
  agentId: string;
  serverId: number;
  credential: string;
}

/**
 * Registers an agent: spends one use of the token, creates (or finds) the server by host name, creates
 * the agent with a fresh credential and its targets — all in one transaction. A retry carrying the
 * enrollment key of an agent this token already created (the first answer never reached the agent)
 * re-issues that agent's credential without spending another use; the token must still be valid.
 */
export async function enrollAgent(pool: pg.Pool, req: EnrollRequest): Promise<Enrollment> {
  return inTransaction(pool, async (client) => {
    const keyHash = req.enrollKey ? hashSecret(req.enrollKey) : null;
    const retried = keyHash ? await reissue(client, req.token, keyHash) : undefined;
    if (retried) return retried;
    const tok = await client.query<{ token_id: string }>(
      `UPDATE pgvigil.enrollment_tokens SET uses_left = uses_left - 1
        WHERE token_hash = $1 AND revoked_at IS NULL
          AND (expires_at IS NULL OR expires_at > now())
          AND (uses_left IS NULL OR uses_left > 0)
        RETURNING token_id`,
      [hashSecret(req.token)],
    );
    if (tok.rowCount === 0) throw new PgvigilError('ENROLL_TOKEN_INVALID');
    // The same key with another token: the agent enrolls anew (say, its first token was revoked before it
    // saved the credential); the key now belongs to the new agent.
    if (keyHash) {
      await client.query('UPDATE pgvigil.agents SET enroll_key_hash = NULL WHERE enroll_key_hash = $1', [
        keyHash,
      ]);
    }
    const serverId = await ensureServer(client, req.hostname);
    const agentId = randomUUID();
    const credential = newCredential();
    await client.query(
      `INSERT INTO pgvigil.agents (server_id, agent_id, hostname, os, agent_version, credential_hash,
         credential_prefix, enroll_key_hash, enroll_token_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        serverId,
        agentId,
        req.hostname,
        req.os ?? null,
        req.agentVersion ?? null,
        hashSecret(credential),
        credential.slice(0, 14),
        keyHash,
        tok.rows[0]!.token_id,
      ],
    );
    for (const t of req.targets ?? []) {
      await client.query(
        `INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, $2, $3) ON CONFLICT (server_id, kind, name) DO NOTHING`,
        [serverId, t.kind, t.name],
      );
    }
    return { agentId, serverId, credential };
  });
}

/** A new credential for the unrevoked agent this (still valid) token enrolled with this key, if any. */
async function reissue(
  client: pg.PoolClient,
  token: string,
  keyHash: Buffer,
): Promise<Enrollment | undefined> {
  const credential = newCredential();
  const { rows } = await client.query<{ agent_id: string; server_id: string }>(
    `UPDATE pgvigil.agents a SET credential_hash = $3, credential_prefix = $4
       FROM pgvigil.enrollment_tokens t
      WHERE a.enroll_key_hash = $2 AND a.enroll_token_id = t.token_id AND a.revoked_at IS NULL
        AND t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
      RETURNING a.agent_id, a.server_id`,
    [hashSecret(token), keyHash, hashSecret(credential), credential.slice(0, 14)],
  );
  const r = rows[0];
  return r ? { agentId: r.agent_id, serverId: Number(r.server_id), credential } : undefined;
}

export async function ensureServer(db: pg.Pool | pg.PoolClient, name: string): Promise<number> {
  const { rows } = await db.query<{ server_id: number }>(
    `INSERT INTO pgvigil.servers (name) VALUES ($1)
     ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING server_id`,
    [name],
  );
  return Number(rows[0]!.server_id);
}

export interface TokenOptions {
  uses?: number;
  expiresInMs?: number;
  note?: string;
}

/** Creates an enrollment token; the token itself is returned once and never stored. */
export async function createEnrollToken(
  pool: pg.Pool,
  opts: TokenOptions = {},
): Promise<{ tokenId: number; token: string }> {
  const token = newEnrollToken();
  const { rows } = await pool.query<{ token_id: number }>(
    `INSERT INTO pgvigil.enrollment_tokens (token_hash, token_prefix, uses_left, expires_at, note)
     VALUES ($1, $2, $3, $4, $5) RETURNING token_id`,
    [
      hashSecret(token),
      token.slice(0, 15),
      opts.uses ?? null,
      opts.expiresInMs === undefined ? null : new Date(Date.now() + opts.expiresInMs),
      opts.note ?? null,
    ],
  );
  return { tokenId: Number(rows[0]!.token_id), token };
}

/** Revokes an agent's credential; true when an active credential was revoked. */
export async function revokeAgentCredential(pool: pg.Pool, agentId: string): Promise<boolean> {
  const { rowCount } = await pool.query(
    'UPDATE pgvigil.agents SET revoked_at = now() WHERE agent_id = $1 AND revoked_at IS NULL',
    [agentId],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * An agent for this very host, created directly in the store (no token): what `pgvigil up` uses for its
 * built-in agent. Returns a fresh credential each time (the previous local one is revoked).
 */
export async function localAgent(
  pool: pg.Pool,
  hostname: string,
  agentId: string | undefined,
): Promise<Enrollment> {
  const serverId = await ensureServer(pool, hostname);
  const credential = newCredential();
  const id = agentId ?? randomUUID();
  await pool.query(
    `INSERT INTO pgvigil.agents (server_id, agent_id, hostname, os, agent_version, credential_hash, credential_prefix)
     VALUES ($1, $2, $3, $4, 'local', $5, $6)
     ON CONFLICT (server_id, agent_id) DO UPDATE SET credential_hash = EXCLUDED.credential_hash,
       credential_prefix = EXCLUDED.credential_prefix, revoked_at = NULL`,
    [serverId, id, hostname, process.platform, hashSecret(credential), credential.slice(0, 14)],
  );
  return { agentId: id, serverId, credential };
}

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
import { agentByCredential, agentById, revokeAgent } from '../../storage/queries/agents.sql.js';
import {
  insertEnrolledAgent,
  insertEnrollToken,
  reissueCredential,
  releaseEnrollKey,
  spendEnrollToken,
  upsertLocalAgent,
} from '../../storage/queries/enrollment.sql.js';
import type { Queryable } from '../../storage/queries/queryable.js';
import { upsertServer } from '../../storage/queries/servers.sql.js';
import { ensureTarget } from '../../storage/queries/targets.sql.js';
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
  /** How the agent proved itself on this request (a client certificate on the agent port, or bearer). */
  via?: 'certificate' | 'bearer';
}

/** A client certificate as the agent port saw it (./agent-listener.ts `peerCertificateOf`). */
export interface PresentedCertificate {
  authorized: boolean;
  error?: string;
  agentId?: string;
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
      const r = await agentByCredential(this.pool, Buffer.from(key, 'base64'));
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
    return { ...hit.identity, via: 'bearer' };
  }

  /**
   * The agent of a request from what it presented: a client certificate (agent port only) and/or a bearer
   * credential. Every credential presented must hold and all must name the same agent:
   * - an authorized certificate names the agent; the agent is looked up by id (cached as credentials are),
   *   so a revoked agent's certificate is refused like its bearer credential;
   * - a certificate that is not authorized (another issuer, expired) counts for nothing when a bearer
   *   credential comes with it (an agent renewing after expiry), and is refused when none does;
   * - a bearer credential sent with a certificate must be the same agent's (AGENT_MISMATCH otherwise).
   */
  async authenticateRequest(
    credential: string | undefined,
    certificate: PresentedCertificate | undefined,
  ): Promise<AgentIdentity> {
    let fromCertificate: AgentIdentity | undefined;
    if (certificate) {
      if (certificate.authorized && certificate.agentId) {
        fromCertificate = await this.byCertificate(certificate.agentId);
      } else if (credential === undefined) {
        throw new PgvigilError(
          'CERTIFICATE_INVALID',
          certificate.authorized
            ? 'the client certificate names no agent (no URI pgvigil:agent:<id>)'
            : `the client certificate is not accepted (${certificate.error ?? 'not from the agent CA'})`,
        );
      }
    }
    if (fromCertificate && credential === undefined) return fromCertificate;
    const fromBearer = await this.authenticate(credential);
    if (fromCertificate && fromCertificate.agentId !== fromBearer.agentId) {
      throw new PgvigilError(
        'AGENT_MISMATCH',
        `the client certificate is agent ${fromCertificate.agentId}'s, the bearer credential agent ${fromBearer.agentId}'s`,
      );
    }
    return fromCertificate ?? fromBearer;
  }

  private async byCertificate(agentId: string): Promise<AgentIdentity> {
    const now = Date.now();
    const key = `agent:${agentId}`;
    let hit = this.cache.get(key);
    if (!hit || now - hit.at > this.cacheTtlMs) {
      const r = await agentById(this.pool, agentId);
      hit = {
        at: now,
        identity: r ? { agentId: r.agent_id, serverId: Number(r.server_id) } : undefined,
        revoked: r?.revoked,
      };
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(key, hit);
    }
    if (!hit.identity) {
      throw new PgvigilError(
        'CERTIFICATE_INVALID',
        `the client certificate names agent ${agentId}, unknown here`,
      );
    }
    if (hit.revoked) throw new PgvigilError('CREDENTIAL_REVOKED', `agent ${agentId} was revoked`);
    return { ...hit.identity, via: 'certificate' };
  }
}

export interface EnrollRequest {
  token: string;
  /** A random key the agent keeps until its credential is saved; a retry with it is not a new agent. */
  enrollKey?: string;
  hostname: string;
  /** The host's machine identity (src/agent/identity.ts machineIdentity): tells hosts named alike apart. */
  machineId?: string;
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
    const tokenId = await spendEnrollToken(client, hashSecret(req.token));
    if (tokenId === undefined) throw new PgvigilError('ENROLL_TOKEN_INVALID');
    // The same key with another token: the agent enrolls anew (say, its first token was revoked before it
    // saved the credential); the key now belongs to the new agent.
    if (keyHash) {
      await releaseEnrollKey(client, keyHash);
    }
    const serverId = await ensureServer(client, req.hostname, req.machineId);
    const agentId = randomUUID();
    const credential = newCredential();
    await insertEnrolledAgent(client, {
      serverId,
      agentId,
      hostname: req.hostname,
      os: req.os ?? null,
      agentVersion: req.agentVersion ?? null,
      credentialHash: hashSecret(credential),
      credentialPrefix: credential.slice(0, 14),
      keyHash,
      tokenId,
    });
    for (const t of req.targets ?? []) await ensureTarget(client, serverId, t.kind, t.name);
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
  const r = await reissueCredential(
    client,
    hashSecret(token),
    keyHash,
    hashSecret(credential),
    credential.slice(0, 14),
  );
  return r ? { agentId: r.agent_id, serverId: Number(r.server_id), credential } : undefined;
}

/**
 * The server entry of a host: the one with its name, unless another machine holds that name — two hosts
 * named alike (containers, a cloned VM) must not mix their data — then `<name>~<first 8 hex of its machine
 * id>`, which the same host finds again when it enrolls anew. Without a machine id (older agents) the name
 * alone decides, as it always did.
 */
export async function ensureServer(db: Queryable, name: string, machineId?: string): Promise<number> {
  const entry = await upsertServer(db, name, machineId ?? null);
  if (!machineId || entry.machineId === machineId) return entry.serverId;
  const own = await upsertServer(db, `${name.slice(0, 244)}~${machineId.slice(0, 8)}`, machineId);
  if (own.machineId === machineId) return own.serverId;
  // Two machines whose ids share 8 hex digits and their host name: the full id tells them apart.
  return (await upsertServer(db, `${name.slice(0, 220)}~${machineId}`, machineId)).serverId;
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
  const tokenId = await insertEnrollToken(pool, {
    hash: hashSecret(token),
    prefix: token.slice(0, 15),
    uses: opts.uses ?? null,
    expiresAt: opts.expiresInMs === undefined ? null : new Date(Date.now() + opts.expiresInMs),
    note: opts.note ?? null,
  });
  return { tokenId, token };
}

/** Revokes an agent's credential; true when an active credential was revoked. */
export async function revokeAgentCredential(pool: pg.Pool, agentId: string): Promise<boolean> {
  return revokeAgent(pool, agentId);
}

/**
 * An agent for this very host, created directly in the store (no token): what `pgvigil up` uses for its
 * built-in agent. Returns a fresh credential each time (the previous local one is revoked).
 */
export async function localAgent(
  pool: pg.Pool,
  hostname: string,
  agentId: string | undefined,
  machineId?: string,
): Promise<Enrollment> {
  const serverId = await ensureServer(pool, hostname, machineId);
  const credential = newCredential();
  const id = agentId ?? randomUUID();
  await upsertLocalAgent(pool, {
    serverId,
    agentId: id,
    hostname,
    os: process.platform,
    credentialHash: hashSecret(credential),
    credentialPrefix: credential.slice(0, 14),
  });
  return { agentId: id, serverId, credential };
}

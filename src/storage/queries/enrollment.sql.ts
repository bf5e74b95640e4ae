/** Enrollment tokens and the agents they register (credentials stored as sha256 and a short prefix). */
import type { Queryable } from './queryable.js';

export async function insertEnrollToken(
  db: Queryable,
  t: { hash: Buffer; prefix: string; uses: number | null; expiresAt: Date | null; note: string | null },
): Promise<number> {
  const { rows } = await db.query<{ token_id: number }>(
    `INSERT INTO pgvigil.enrollment_tokens (token_hash, token_prefix, uses_left, expires_at, note)
     VALUES ($1, $2, $3, $4, $5) RETURNING token_id`,
    [t.hash, t.prefix, t.uses, t.expiresAt, t.note],
  );
  return Number(rows[0]!.token_id);
}

/** Spends one use of a valid enrollment token; its id, or undefined when it is not valid. */
export async function spendEnrollToken(db: Queryable, hash: Buffer): Promise<string | undefined> {
  const { rows } = await db.query<{ token_id: string }>(
    `UPDATE pgvigil.enrollment_tokens SET uses_left = uses_left - 1
      WHERE token_hash = $1 AND revoked_at IS NULL
        AND (expires_at IS NULL OR expires_at > now())
        AND (uses_left IS NULL OR uses_left > 0)
      RETURNING token_id`,
    [hash],
  );
  return rows[0]?.token_id;
}

/** Revokes an enrollment token (idempotent); false when there is no such token. */
export async function revokeEnrollToken(db: Queryable, tokenId: number): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE pgvigil.enrollment_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_id = $1',
    [tokenId],
  );
  return (rowCount ?? 0) > 0;
}

/** Frees an enrollment key from whichever agent held it (the key now belongs to a new agent). */
export async function releaseEnrollKey(db: Queryable, keyHash: Buffer): Promise<void> {
  await db.query('UPDATE pgvigil.agents SET enroll_key_hash = NULL WHERE enroll_key_hash = $1', [keyHash]);
}

export async function insertEnrolledAgent(
  db: Queryable,
  a: {
    serverId: number;
    agentId: string;
    hostname: string;
    os: string | null;
    agentVersion: string | null;
    credentialHash: Buffer;
    credentialPrefix: string;
    keyHash: Buffer | null;
    tokenId: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO pgvigil.agents (server_id, agent_id, hostname, os, agent_version, credential_hash,
       credential_prefix, enroll_key_hash, enroll_token_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      a.serverId,
      a.agentId,
      a.hostname,
      a.os,
      a.agentVersion,
      a.credentialHash,
      a.credentialPrefix,
      a.keyHash,
      a.tokenId,
    ],
  );
}

/**
 * Gives a new credential to the unrevoked agent that a still-valid token enrolled with this key;
 * undefined when there is none.
 */
export async function reissueCredential(
  db: Queryable,
  tokenHash: Buffer,
  keyHash: Buffer,
  credentialHash: Buffer,
  credentialPrefix: string,
): Promise<{ agent_id: string; server_id: string } | undefined> {
  const { rows } = await db.query<{ agent_id: string; server_id: string }>(
    `UPDATE pgvigil.agents a SET credential_hash = $3, credential_prefix = $4
       FROM pgvigil.enrollment_tokens t
      WHERE a.enroll_key_hash = $2 AND a.enroll_token_id = t.token_id AND a.revoked_at IS NULL
        AND t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
      RETURNING a.agent_id, a.server_id`,
    [tokenHash, keyHash, credentialHash, credentialPrefix],
  );
  return rows[0];
}

/** The local agent of `pgvigil up`: created, or given a fresh credential and un-revoked. */
export async function upsertLocalAgent(
  db: Queryable,
  a: {
    serverId: number;
    agentId: string;
    hostname: string;
    os: string;
    credentialHash: Buffer;
    credentialPrefix: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO pgvigil.agents (server_id, agent_id, hostname, os, agent_version, credential_hash, credential_prefix)
     VALUES ($1, $2, $3, $4, 'local', $5, $6)
     ON CONFLICT (server_id, agent_id) DO UPDATE SET credential_hash = EXCLUDED.credential_hash,
       credential_prefix = EXCLUDED.credential_prefix, revoked_at = NULL`,
    [a.serverId, a.agentId, a.hostname, a.os, a.credentialHash, a.credentialPrefix],
  );
}

export interface EnrollTokenRow {
  tokenId: number;
  prefix: string;
  usesLeft: number | null;
  expiresAt: Date | null;
  note: string | null;
  createdAt: Date;
  revokedAt: Date | null;
  agents: number;
}

/** Enrollment tokens, newest first, with how many agents each enrolled (never the token itself). */
export async function listEnrollTokens(db: Queryable, limit: number): Promise<EnrollTokenRow[]> {
  const { rows } = await db.query<EnrollTokenRow>(
    `SELECT t.token_id AS "tokenId", t.token_prefix AS prefix, t.uses_left AS "usesLeft",
            t.expires_at AS "expiresAt", t.note, t.created_at AS "createdAt", t.revoked_at AS "revokedAt",
            (SELECT count(*)::int FROM pgvigil.agents a WHERE a.enroll_token_id = t.token_id) AS agents
       FROM pgvigil.enrollment_tokens t ORDER BY t.token_id DESC LIMIT $1`,
    [limit],
  );
  return rows;
}

/** API tokens (scripts) and enrollment tokens (agents): stored as sha256 and a short prefix only. */
import type { Queryable } from './queryable.js';
import type { UserRoleName } from './users.sql.js';

export async function insertApiToken(
  db: Queryable,
  t: {
    userId: number;
    name: string;
    role: UserRoleName;
    hash: Buffer;
    prefix: string;
    expiresAt: Date | null;
  },
): Promise<number> {
  const { rows } = await db.query<{ token_id: string }>(
    `INSERT INTO pgvigil.api_tokens (user_id, name, role, token_hash, token_prefix, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING token_id`,
    [t.userId, t.name, t.role, t.hash, t.prefix, t.expiresAt],
  );
  return Number(rows[0]!.token_id);
}

export interface ApiTokenUse {
  token_id: string;
  user_id: string;
  name: string;
  trole: UserRoleName;
  urole: UserRoleName;
}

/** Marks a live token of an active user as used and returns it with its owner; undefined otherwise. */
export async function useApiToken(db: Queryable, hash: Buffer): Promise<ApiTokenUse | undefined> {
  const { rows } = await db.query<ApiTokenUse>(
    `UPDATE pgvigil.api_tokens t SET last_used_at = now()
       FROM pgvigil.users u
      WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
        AND u.user_id = t.user_id AND u.disabled_at IS NULL
      RETURNING t.token_id, u.user_id, u.name, t.role AS trole, u.role AS urole`,
    [hash],
  );
  return rows[0];
}

export interface ApiTokenRow {
  tokenId: number;
  userId: number;
  name: string;
  role: UserRoleName;
  prefix: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revoked: boolean;
}

export async function listApiTokens(db: Queryable): Promise<ApiTokenRow[]> {
  const { rows } = await db.query<ApiTokenRow>(
    `SELECT token_id::int AS "tokenId", user_id::int AS "userId", name, role, token_prefix AS prefix,
            created_at AS "createdAt", expires_at AS "expiresAt", last_used_at AS "lastUsedAt",
            revoked_at IS NOT NULL AS revoked
       FROM pgvigil.api_tokens ORDER BY token_id LIMIT 10000`,
  );
  return rows;
}

/** Revokes an API token (idempotent); false when there is no such token. */
export async function revokeApiToken(db: Queryable, tokenId: number): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE pgvigil.api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_id = $1',
    [tokenId],
  );
  return (rowCount ?? 0) > 0;
}

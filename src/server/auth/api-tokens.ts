/**
 * API tokens (`pgv_api_…`) for scripts: they carry a role, never above their owner's, and may expire.
 * The token is returned once and stored as sha256 with a short prefix to recognise it by.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { insertApiToken } from '../../storage/queries/tokens.sql.js';
import { activeUserRole } from '../../storage/queries/users.sql.js';
import { roleAtLeast, type UserRole } from '../roles.js';
import { hashSecret } from './agents.js';

export const apiTokenPrefix = 'pgv_api_';

export interface CreatedApiToken {
  tokenId: number;
  token: string;
  expiresAt: string | null;
}

/** An API token for a user; its role may not exceed the user's. Returned once, stored hashed. */
export async function createApiToken(
  pool: pg.Pool,
  opts: { userId: number; name: string; role: UserRole; expiresInMs?: number },
): Promise<CreatedApiToken> {
  const ownerRole = await activeUserRole(pool, opts.userId);
  if (!ownerRole) throw new PgvigilError('NOT_FOUND', `no active user ${opts.userId}`);
  if (!roleAtLeast(ownerRole, opts.role)) {
    throw new PgvigilError('FORBIDDEN', `a ${ownerRole} cannot create a token with role ${opts.role}`);
  }
  const token = apiTokenPrefix + randomBytes(32).toString('base64url');
  const expiresAt = opts.expiresInMs === undefined ? null : new Date(Date.now() + opts.expiresInMs);
  const tokenId = await insertApiToken(pool, {
    userId: opts.userId,
    name: opts.name,
    role: opts.role,
    hash: hashSecret(token),
    prefix: token.slice(0, 14),
    expiresAt,
  });
  return { tokenId, token, expiresAt: expiresAt?.toISOString() ?? null };
}

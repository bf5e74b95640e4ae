/**
 * Sessions: login checks the scrypt hash and starts a session — a short-lived access token (JWT, 15 min)
 * and a refresh token (30 days) that rotates on every use. Presenting a refresh token that was already
 * rotated away means it was copied: the whole session is revoked.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import type { Queryable } from '../../storage/queries/queryable.js';
import {
  insertSession,
  revokeByPreviousRefresh,
  revokeSessionById,
  revokeSessionsOfUser,
  rotateRefresh,
} from '../../storage/queries/sessions.sql.js';
import { accessTokenKey, activeUserByName } from '../../storage/queries/users.sql.js';
import type { UserRole } from '../roles.js';
import { hashSecret } from './agents.js';
import { type AccessClaims, signAccessToken } from './jwt.js';
import { hashPassword, verifyPassword } from './passwords.js';

const refreshPrefix = 'pgv_refresh_';
export const accessTtlSeconds = 15 * 60;
export const refreshTtlSeconds = 30 * 86_400;

/** The access-token signing key shared by every instance; made on first use. */
export async function signingKey(pool: pg.Pool): Promise<Buffer> {
  return accessTokenKey(pool, randomBytes(32));
}

export interface SessionTokens {
  accessToken: string;
  accessExpiresAt: number;
  refreshToken: string;
  refreshExpiresAt: number;
  user: { userId: number; name: string; role: UserRole };
}

async function accessFor(
  key: Buffer,
  user: { userId: number; name: string; role: UserRole },
  sid: string,
  now: number,
) {
  const iat = Math.floor(now / 1000);
  const claims: AccessClaims = {
    sub: String(user.userId),
    sid,
    role: user.role,
    name: user.name,
    iat,
    exp: iat + accessTtlSeconds,
  };
  return { accessToken: await signAccessToken(claims, key), accessExpiresAt: claims.exp * 1000 };
}

// A real scrypt hash of nothing anyone knows: unknown users cost the same time as wrong passwords.
let decoyHash: Promise<string> | undefined;

/** Checks name and password and starts a session; one error for every way it can fail. */
export async function login(
  pool: pg.Pool,
  key: Buffer,
  name: string,
  password: string,
  client?: string,
): Promise<SessionTokens> {
  const u = await activeUserByName(pool, name);
  decoyHash ??= hashPassword(randomBytes(16).toString('hex'));
  const ok = await verifyPassword(password, u?.password_hash ?? (await decoyHash));
  if (!u || !ok) throw new PgvigilError('LOGIN_FAILED');
  const user = { userId: Number(u.user_id), name: u.name, role: u.role };
  const sid = randomUUID();
  const refreshToken = refreshPrefix + randomBytes(32).toString('base64url');
  const now = Date.now();
  const refreshExpiresAt = now + refreshTtlSeconds * 1000;
  await insertSession(pool, {
    sessionId: sid,
    userId: user.userId,
    refreshHash: hashSecret(refreshToken),
    expiresAt: new Date(refreshExpiresAt),
    client: client?.slice(0, 200) ?? null,
  });
  return { ...(await accessFor(key, user, sid, now)), refreshToken, refreshExpiresAt, user };
}

/**
 * Rotates a refresh token: the old one stops working and a new pair is returned. A token that was
 * already rotated away revokes its session (it was copied).
 */
export async function refreshSession(
  pool: pg.Pool,
  key: Buffer,
  refreshToken: string,
): Promise<SessionTokens> {
  if (!refreshToken.startsWith(refreshPrefix) || refreshToken.length > 200) {
    throw new PgvigilError('REFRESH_INVALID');
  }
  const hash = hashSecret(refreshToken);
  const next = refreshPrefix + randomBytes(32).toString('base64url');
  const now = Date.now();
  const s = await rotateRefresh(pool, hash, hashSecret(next));
  if (!s) {
    await revokeByPreviousRefresh(pool, hash);
    throw new PgvigilError('REFRESH_INVALID');
  }
  const user = { userId: Number(s.user_id), name: s.name, role: s.role };
  return {
    ...(await accessFor(key, user, s.session_id, now)),
    refreshToken: next,
    refreshExpiresAt: s.expires_at.getTime(),
    user,
  };
}

/** Ends a user's sessions (all but `keep`); how many ended. */
export async function revokeUserSessions(
  db: Queryable,
  userId: number,
  reason: string,
  keep?: string,
): Promise<number> {
  return revokeSessionsOfUser(db, userId, reason, keep ?? null);
}

export async function revokeSession(pool: pg.Pool, sessionId: string, reason: string): Promise<void> {
  await revokeSessionById(pool, sessionId, reason);
}

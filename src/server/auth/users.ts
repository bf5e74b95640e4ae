/**
 * Users, sessions and API tokens, and the one check every user-facing route goes through.
 *
 * - Login checks the scrypt hash and starts a session: a short-lived access token (JWT, 15 min) and a
 *   refresh token (30 days) that rotates on every use. Presenting a refresh token that was already
 *   rotated away means it was copied: the whole session is revoked.
 * - API tokens (`pgv_api_…`) carry a role, never above their owner's, and may expire.
 * - Secrets are stored as sha256 (tokens: long random strings) or scrypt (passwords) only.
 * - `UserAuthenticator` answers "who is this request and what may they do", from the Authorization
 *   header or the browser's session cookie, with a short cache so a revocation, a disabled user or a
 *   changed role takes effect within `cacheTtlMs` on every instance.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { inTransaction } from '../../storage/tx.js';
import { canonicalOrigin, ownOrigin } from '../origin.js';
import type { Role } from '../roles.js';
import { bearer, hashSecret } from './agents.js';
import { type AccessClaims, signAccessToken, verifyAccessToken } from './jwt.js';
import { generatePassword, hashPassword, passwordProblem, verifyPassword } from './passwords.js';

export type UserRole = Extract<Role, 'viewer' | 'user' | 'admin'>;
export const userRoles: readonly UserRole[] = ['viewer', 'user', 'admin'];
const rank: Record<UserRole, number> = { viewer: 1, user: 2, admin: 3 };

export function roleAtLeast(have: UserRole, need: UserRole): boolean {
  return rank[have] >= rank[need];
}

export const apiTokenPrefix = 'pgv_api_';
const refreshPrefix = 'pgv_refresh_';
export const accessTtlSeconds = 15 * 60;
export const refreshTtlSeconds = 30 * 86_400;
export const accessCookie = 'pgvigil_access';
export const refreshCookie = 'pgvigil_refresh';

export interface UserIdentity {
  userId: number;
  name: string;
  role: UserRole;
  /** How the request proved it: a session (browser or login) or an API token. */
  via: 'session' | 'api-token';
  sessionId?: string;
  tokenId?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: UserIdentity;
  }
}

/** The access-token signing key shared by every instance; made on first use. */
export async function signingKey(pool: pg.Pool): Promise<Buffer> {
  await pool.query(
    `INSERT INTO pgvigil.server_keys (name, secret) VALUES ('access-token', $1) ON CONFLICT (name) DO NOTHING`,
    [randomBytes(32)],
  );
  const { rows } = await pool.query<{ secret: Buffer }>(
    `SELECT secret FROM pgvigil.server_keys WHERE name = 'access-token'`,
  );
  return rows[0]!.secret;
}

export interface NewUser {
  name: string;
  role: UserRole;
  /** Generated (and returned) when absent. */
  password?: string;
}

export async function addUser(
  pool: pg.Pool | pg.PoolClient,
  u: NewUser,
): Promise<{ userId: number; password: string }> {
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(u.name)) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `user name "${u.name.slice(0, 80)}": use 1–64 of A–Z a–z 0–9 . _ @ -`,
    );
  }
  if (!userRoles.includes(u.role))
    throw new PgvigilError('BAD_ARGUMENT', `role must be one of ${userRoles.join(', ')}`);
  const password = u.password ?? generatePassword();
  const problem = passwordProblem(password);
  if (problem) throw new PgvigilError('PASSWORD_WEAK', problem);
  try {
    const { rows } = await pool.query<{ user_id: string }>(
      'INSERT INTO pgvigil.users (name, role, password_hash) VALUES ($1, $2, $3) RETURNING user_id',
      [u.name, u.role, await hashPassword(password)],
    );
    return { userId: Number(rows[0]!.user_id), password };
  } catch (err) {
    if ((err as { code?: string }).code === '23505') {
      throw new PgvigilError('USER_EXISTS', `a user named ${u.name} exists already`);
    }
    throw err;
  }
}

/**
 * On a store with no users: creates `admin` with a generated password and returns it (to be shown once).
 * Several servers starting at once create one admin between them.
 */
export async function ensureFirstAdmin(
  pool: pg.Pool,
): Promise<{ name: string; password: string } | undefined> {
  return inTransaction(pool, async (client) => {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('pgvigil.first-admin'))`);
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pgvigil.users');
    if (rows[0]!.n > 0) return undefined;
    const { password } = await addUser(client, { name: 'admin', role: 'admin' });
    return { name: 'admin', password };
  });
}

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
  const { rows: users } = await pool.query<{ role: UserRole }>(
    'SELECT role FROM pgvigil.users WHERE user_id = $1 AND disabled_at IS NULL',
    [opts.userId],
  );
  const owner = users[0];
  if (!owner) throw new PgvigilError('NOT_FOUND', `no active user ${opts.userId}`);
  if (!roleAtLeast(owner.role, opts.role)) {
    throw new PgvigilError('FORBIDDEN', `a ${owner.role} cannot create a token with role ${opts.role}`);
  }
  const token = apiTokenPrefix + randomBytes(32).toString('base64url');
  const expiresAt = opts.expiresInMs === undefined ? null : new Date(Date.now() + opts.expiresInMs);
  const { rows } = await pool.query<{ token_id: string }>(
    `INSERT INTO pgvigil.api_tokens (user_id, name, role, token_hash, token_prefix, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING token_id`,
    [opts.userId, opts.name, opts.role, hashSecret(token), token.slice(0, 14), expiresAt],
  );
  return { tokenId: Number(rows[0]!.token_id), token, expiresAt: expiresAt?.toISOString() ?? null };
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
  const { rows } = await pool.query<{ user_id: string; name: string; role: UserRole; password_hash: string }>(
    'SELECT user_id, name, role, password_hash FROM pgvigil.users WHERE lower(name) = lower($1) AND disabled_at IS NULL',
    [name],
  );
  const u = rows[0];
  decoyHash ??= hashPassword(randomBytes(16).toString('hex'));
  const ok = await verifyPassword(password, u?.password_hash ?? (await decoyHash));
  if (!u || !ok) throw new PgvigilError('LOGIN_FAILED');
  const user = { userId: Number(u.user_id), name: u.name, role: u.role };
  const sid = randomUUID();
  const refreshToken = refreshPrefix + randomBytes(32).toString('base64url');
  const now = Date.now();
  const refreshExpiresAt = now + refreshTtlSeconds * 1000;
  await pool.query(
    `INSERT INTO pgvigil.sessions (session_id, user_id, refresh_hash, expires_at, client) VALUES ($1, $2, $3, $4, $5)`,
    [sid, user.userId, hashSecret(refreshToken), new Date(refreshExpiresAt), client?.slice(0, 200) ?? null],
  );
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
  const { rows } = await pool.query<{
    session_id: string;
    user_id: string;
    name: string;
    role: UserRole;
    expires_at: Date;
  }>(
    `UPDATE pgvigil.sessions s SET refresh_hash = $2, previous_hash = s.refresh_hash, refreshed_at = now()
       FROM pgvigil.users u
      WHERE s.refresh_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
        AND u.user_id = s.user_id AND u.disabled_at IS NULL
      RETURNING s.session_id, u.user_id, u.name, u.role, s.expires_at`,
    [hash, hashSecret(next)],
  );
  const s = rows[0];
  if (!s) {
    await pool.query(
      `UPDATE pgvigil.sessions SET revoked_at = now(), revoked_reason = 'refresh token reused'
        WHERE previous_hash = $1 AND revoked_at IS NULL`,
      [hash],
    );
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
  db: pg.Pool | pg.PoolClient,
  userId: number,
  reason: string,
  keep?: string,
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE pgvigil.sessions SET revoked_at = now(), revoked_reason = $2
      WHERE user_id = $1 AND revoked_at IS NULL AND session_id IS DISTINCT FROM $3`,
    [userId, reason, keep ?? null],
  );
  return rowCount ?? 0;
}

/**
 * Sets a user's password (checked, scrypt-hashed) and ends their sessions but `keep` — whoever knew the
 * old one is signed out. Returns how many sessions ended.
 */
export async function setPassword(
  db: pg.Pool | pg.PoolClient,
  userId: number,
  password: string,
  reason: string,
  keep?: string,
): Promise<number> {
  const problem = passwordProblem(password);
  if (problem) throw new PgvigilError('PASSWORD_WEAK', problem);
  const { rowCount } = await db.query(
    'UPDATE pgvigil.users SET password_hash = $2, password_changed_at = now() WHERE user_id = $1',
    [userId, await hashPassword(password)],
  );
  if (!rowCount) throw new PgvigilError('NOT_FOUND', `no user ${userId}`);
  return revokeUserSessions(db, userId, reason, keep);
}

export async function revokeSession(pool: pg.Pool, sessionId: string, reason: string): Promise<void> {
  await pool.query(
    'UPDATE pgvigil.sessions SET revoked_at = now(), revoked_reason = $2 WHERE session_id = $1 AND revoked_at IS NULL',
    [sessionId, reason],
  );
}

/** Cookie header → name/value pairs (no dependency for three cookies). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header || header.length > 8192) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const name = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim();
    try {
      out.set(name, decodeURIComponent(value));
    } catch {
      out.set(name, value);
    }
  }
  return out;
}

/** Sets (or with `maxAgeSeconds` 0 clears) an httpOnly, SameSite=Strict cookie. */
export function setCookie(
  reply: FastifyReply,
  name: string,
  value: string,
  opts: { maxAgeSeconds: number; path: string; secure: boolean },
): void {
  const parts = [
    `${name}=${encodeURIComponent(value)}`,
    `Max-Age=${opts.maxAgeSeconds}`,
    `Path=${opts.path}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (opts.secure) parts.push('Secure');
  const prev = reply.getHeader('set-cookie');
  const list = Array.isArray(prev) ? prev : prev === undefined ? [] : [String(prev)];
  reply.header('set-cookie', [...list, parts.join('; ')]);
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

interface CachedPrincipal {
  at: number;
  identity?: UserIdentity;
}

export class UserAuthenticator {
  private cache = new Map<string, CachedPrincipal>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly key: Buffer,
    private readonly cacheTtlMs = 5000,
  ) {}

  /**
   * Who sent this request: from `Authorization: Bearer` (API token or access token), else the session
   * cookie. A cookie-authenticated request that changes something must come from our own origin (CSRF).
   */
  async authenticate(req: FastifyRequest): Promise<UserIdentity> {
    let token = bearer(req.headers.authorization);
    let fromCookie = false;
    if (!token) {
      token = parseCookies(req.headers.cookie).get(accessCookie);
      fromCookie = token !== undefined;
    }
    if (!token)
      throw new PgvigilError('CREDENTIAL_MISSING', 'sign in, or send Authorization: Bearer <token>');
    const origin = req.headers.origin;
    if (
      fromCookie &&
      !safeMethods.has(req.method) &&
      (origin === undefined || canonicalOrigin(origin) !== ownOrigin(req))
    ) {
      throw new PgvigilError(
        'FORBIDDEN',
        'a cookie-authenticated change must come from this server’s own pages',
      );
    }
    const identity = token.startsWith(apiTokenPrefix)
      ? await this.apiToken(token)
      : await this.session(token);
    if (!identity)
      throw new PgvigilError('CREDENTIAL_INVALID', 'the token is not valid, expired or was revoked');
    return identity;
  }

  private cached(key: string): CachedPrincipal | undefined {
    const hit = this.cache.get(key);
    return hit && Date.now() - hit.at <= this.cacheTtlMs ? hit : undefined;
  }

  private remember(key: string, identity: UserIdentity | undefined): UserIdentity | undefined {
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(key, { at: Date.now(), identity });
    return identity;
  }

  private async apiToken(token: string): Promise<UserIdentity | undefined> {
    const hash = hashSecret(token);
    const key = `t:${hash.toString('base64')}`;
    const hit = this.cached(key);
    if (hit) return hit.identity;
    const { rows } = await this.pool.query<{
      token_id: string;
      user_id: string;
      name: string;
      trole: UserRole;
      urole: UserRole;
    }>(
      `UPDATE pgvigil.api_tokens t SET last_used_at = now()
         FROM pgvigil.users u
        WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
          AND u.user_id = t.user_id AND u.disabled_at IS NULL
        RETURNING t.token_id, u.user_id, u.name, t.role AS trole, u.role AS urole`,
      [hash],
    );
    const r = rows[0];
    return this.remember(
      key,
      r
        ? {
            userId: Number(r.user_id),
            name: r.name,
            role: roleAtLeast(r.urole, r.trole) ? r.trole : r.urole,
            via: 'api-token',
            tokenId: Number(r.token_id),
          }
        : undefined,
    );
  }

  private async session(token: string): Promise<UserIdentity | undefined> {
    const claims = await verifyAccessToken(token, this.key);
    if (!claims) return undefined;
    const key = `s:${claims.sid}`;
    const hit = this.cached(key);
    if (hit) return hit.identity;
    // The session must still be live and the user active; the role is today's, not the token's.
    const { rows } = await this.pool.query<{ user_id: string; name: string; role: UserRole }>(
      `SELECT u.user_id, u.name, u.role FROM pgvigil.sessions s JOIN pgvigil.users u USING (user_id)
        WHERE s.session_id = $1 AND s.revoked_at IS NULL AND u.disabled_at IS NULL`,
      [claims.sid],
    );
    const r = rows[0];
    return this.remember(
      key,
      r && String(r.user_id) === claims.sub
        ? { userId: Number(r.user_id), name: r.name, role: r.role, via: 'session', sessionId: claims.sid }
        : undefined,
    );
  }

  /** Forgets cached answers, so a change made by this instance applies at once here. */
  forget(): void {
    this.cache.clear();
  }
}

/** The global onRequest check: routes for viewer/user/admin need a user of at least that role. */
export function userGuard(auth: UserAuthenticator) {
  return async (req: FastifyRequest): Promise<void> => {
    const need = req.routeOptions.config?.role;
    if (need !== 'viewer' && need !== 'user' && need !== 'admin') return;
    const user = await auth.authenticate(req);
    if (!roleAtLeast(user.role, need)) {
      throw new PgvigilError('FORBIDDEN', `this needs the ${need} role; you have ${user.role}`);
    }
    req.user = user;
  };
}

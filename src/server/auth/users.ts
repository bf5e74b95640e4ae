/**
 * Users and their passwords, and the one check every user-facing route goes through.
 *
 * - Passwords are stored scrypt-hashed only; setting one ends the user's other sessions.
 * - `UserAuthenticator` answers "who is this request and what may they do", from the Authorization
 *   header or the browser's session cookie, with a short cache so a revocation, a disabled user or a
 *   changed role takes effect within `cacheTtlMs` on every instance.
 *
 * Sessions live in `sessions.ts`, API tokens in `api-tokens.ts`, the cookies in `cookies.ts`.
 */
import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import type { Queryable } from '../../storage/queries/queryable.js';
import { liveSessionUser } from '../../storage/queries/sessions.sql.js';
import { useApiToken } from '../../storage/queries/tokens.sql.js';
import { countUsers, insertUser, lockAdminSet, updatePasswordHash } from '../../storage/queries/users.sql.js';
import { inTransaction } from '../../storage/tx.js';
import { canonicalOrigin, ownOrigin } from '../origin.js';
import { isUserRole, roleAtLeast, type UserRole, userRoles } from '../roles.js';
import { bearer, hashSecret } from './agents.js';
import { apiTokenPrefix } from './api-tokens.js';
import { accessCookie, parseCookies } from './cookies.js';
import { verifyAccessToken } from './jwt.js';
import { generatePassword, hashPassword, passwordProblem } from './passwords.js';
import { revokeUserSessions } from './sessions.js';

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

export interface NewUser {
  name: string;
  role: UserRole;
  /** Generated (and returned) when absent. */
  password?: string;
}

export async function addUser(db: Queryable, u: NewUser): Promise<{ userId: number; password: string }> {
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(u.name)) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `user name "${u.name.slice(0, 80)}": use 1–64 of A–Z a–z 0–9 . _ @ -`,
    );
  }
  if (!isUserRole(u.role))
    throw new PgvigilError('BAD_ARGUMENT', `role must be one of ${userRoles.join(', ')}`);
  const password = u.password ?? generatePassword();
  const problem = passwordProblem(password);
  if (problem) throw new PgvigilError('PASSWORD_WEAK', problem);
  try {
    const userId = await insertUser(db, u.name, u.role, await hashPassword(password));
    return { userId, password };
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
    await lockAdminSet(client);
    if ((await countUsers(client)) > 0) return undefined;
    const { password } = await addUser(client, { name: 'admin', role: 'admin' });
    return { name: 'admin', password };
  });
}

/**
 * Sets a user's password (checked, scrypt-hashed) and ends their sessions but `keep` — whoever knew the
 * old one is signed out. Returns how many sessions ended.
 */
export async function setPassword(
  db: Queryable,
  userId: number,
  password: string,
  reason: string,
  keep?: string,
): Promise<number> {
  const problem = passwordProblem(password);
  if (problem) throw new PgvigilError('PASSWORD_WEAK', problem);
  if (!(await updatePasswordHash(db, userId, await hashPassword(password))))
    throw new PgvigilError('NOT_FOUND', `no user ${userId}`);
  return revokeUserSessions(db, userId, reason, keep);
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
    const r = await useApiToken(this.pool, hash);
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
    const r = await liveSessionUser(this.pool, claims.sid);
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
    if (!isUserRole(need)) return;
    const user = await auth.authenticate(req);
    if (!roleAtLeast(user.role, need)) {
      throw new PgvigilError('FORBIDDEN', `this needs the ${need} role; you have ${user.role}`);
    }
    req.user = user;
  };
}

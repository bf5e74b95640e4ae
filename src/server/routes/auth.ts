/**
 * Sessions: login (rate-limited per client address and per user name), refresh with rotation, logout,
 * and who-am-I. Browsers get both tokens as httpOnly SameSite=Strict cookies (the refresh cookie is
 * sent only to /api/v1/auth); scripts use the JSON body and `Authorization: Bearer`.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { accessCookie, parseCookies, refreshCookie, setCookie } from '../auth/cookies.js';
import {
  accessTtlSeconds,
  login,
  refreshSession,
  revokeSession,
  type SessionTokens,
} from '../auth/sessions.js';
import type { UserAuthenticator } from '../auth/users.js';
import { RateLimiter } from '../ratelimit.js';
import { errorBody, userRoleSchema } from './schemas.js';

export interface AuthRouteOptions {
  pool: pg.Pool;
  key: Buffer;
  userAuth: UserAuthenticator;
  /** Login attempts per client address and per user name: a steady rate and a burst. */
  loginLimit?: { perSecond: number; burst: number };
}

const userSchema = {
  type: 'object',
  required: ['userId', 'name', 'role'],
  properties: { userId: { type: 'integer' }, name: { type: 'string' }, role: userRoleSchema },
} as const;

const sessionSchema = {
  type: 'object',
  required: ['accessToken', 'accessExpiresAt', 'refreshToken', 'refreshExpiresAt', 'user'],
  properties: {
    accessToken: { type: 'string', description: 'JWT; send as Authorization: Bearer. Lives 15 minutes.' },
    accessExpiresAt: { type: 'integer', description: 'ms since the epoch' },
    refreshToken: { type: 'string', description: 'single use: each refresh returns the next one' },
    refreshExpiresAt: { type: 'integer' },
    user: userSchema,
  },
} as const;

export const authRoutes: FastifyPluginAsync<AuthRouteOptions> = async (app, opts) => {
  const { pool, key, userAuth } = opts;
  const perSecond = opts.loginLimit?.perSecond ?? 0.1;
  const burst = opts.loginLimit?.burst ?? 10;
  const byAddress = new RateLimiter(perSecond, burst);
  const byName = new RateLimiter(perSecond, burst);

  const secure = (req: FastifyRequest) => req.protocol === 'https';
  const sendSession = (req: FastifyRequest, reply: FastifyReply, s: SessionTokens) => {
    setCookie(reply, accessCookie, s.accessToken, {
      maxAgeSeconds: accessTtlSeconds,
      path: '/',
      secure: secure(req),
    });
    setCookie(reply, refreshCookie, s.refreshToken, {
      maxAgeSeconds: Math.max(0, Math.floor((s.refreshExpiresAt - Date.now()) / 1000)),
      path: '/api/v1/auth',
      secure: secure(req),
    });
    reply.header('cache-control', 'no-store');
    return s;
  };
  const clearCookies = (req: FastifyRequest, reply: FastifyReply) => {
    setCookie(reply, accessCookie, '', { maxAgeSeconds: 0, path: '/', secure: secure(req) });
    setCookie(reply, refreshCookie, '', { maxAgeSeconds: 0, path: '/api/v1/auth', secure: secure(req) });
  };

  app.post<{ Body: { name: string; password: string } }>(
    '/auth/login',
    {
      config: { role: 'public' },
      bodyLimit: 8 * 1024,
      schema: {
        summary: 'Sign in with name and password',
        tags: ['auth'],
        body: {
          type: 'object',
          required: ['name', 'password'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 64 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
          },
        },
        response: { 200: sessionSchema, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      const wait = Math.max(byAddress.take(req.ip), byName.take(req.body.name.toLowerCase()));
      // Refused sign-ins are logged with address and name (never the password): guessing shows in the log.
      const who = { address: req.ip, user: req.body.name };
      if (wait > 0) {
        req.log.warn(who, 'sign-in refused: too many attempts');
        reply.header('retry-after', String(wait));
        throw new PgvigilError('RATE_LIMITED', 'too many sign-in attempts; wait and try again');
      }
      const s = await login(pool, key, req.body.name, req.body.password, req.headers['user-agent']).catch(
        (err: unknown) => {
          if (err instanceof PgvigilError && err.code === 'LOGIN_FAILED') req.log.warn(who, 'sign-in failed');
          throw err;
        },
      );
      req.log.info({ user: s.user.name }, 'user signed in');
      return sendSession(req, reply, s);
    },
  );

  app.post<{ Body: { refreshToken?: string } | undefined }>(
    '/auth/refresh',
    {
      config: { role: 'public' },
      bodyLimit: 4 * 1024,
      // A browser refreshing with its cookie sends no body at all.
      preValidation: async (req) => {
        req.body ??= {};
      },
      schema: {
        summary: 'Exchange a refresh token (body or cookie) for a new pair; the old one stops working',
        tags: ['auth'],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { refreshToken: { type: 'string', minLength: 1, maxLength: 200 } },
        },
        response: { 200: sessionSchema, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      const token = req.body?.refreshToken ?? parseCookies(req.headers.cookie).get(refreshCookie);
      if (!token) throw new PgvigilError('REFRESH_INVALID', 'no refresh token in the body or the cookie');
      try {
        return sendSession(req, reply, await refreshSession(pool, key, token));
      } catch (err) {
        clearCookies(req, reply);
        throw err;
      }
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Sign out: revokes this session (its access and refresh tokens) and clears the cookies',
        tags: ['auth'],
        response: { 204: { type: 'null' }, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      if (req.user?.sessionId) await revokeSession(pool, req.user.sessionId, 'signed out');
      userAuth.forget();
      clearCookies(req, reply);
      return reply.status(204).send();
    },
  );

  app.get(
    '/auth/session',
    {
      config: { role: 'public' },
      schema: {
        summary: 'Whether this browser is signed in (never 401: the dashboard asks before it shows a page)',
        description:
          'user: who the session cookie (or bearer credential) signs in, else null; refreshable: the refresh cookie is present, so POST /auth/refresh may start a new access token',
        tags: ['auth'],
        response: {
          200: {
            type: 'object',
            required: ['user', 'refreshable'],
            properties: {
              user: { anyOf: [{ type: 'null' }, userSchema] },
              refreshable: { type: 'boolean' },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      const refreshable = parseCookies(req.headers.cookie).has(refreshCookie);
      try {
        const u = await userAuth.authenticate(req);
        return { user: { userId: u.userId, name: u.name, role: u.role }, refreshable };
      } catch (err) {
        if (err instanceof PgvigilError) return { user: null, refreshable };
        throw err;
      }
    },
  );

  app.get(
    '/auth/me',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Who the request is signed in as',
        tags: ['auth'],
        response: {
          200: {
            type: 'object',
            required: ['userId', 'name', 'role', 'via'],
            properties: { ...userSchema.properties, via: { type: 'string', enum: ['session', 'api-token'] } },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const u = req.user!;
      return { userId: u.userId, name: u.name, role: u.role, via: u.via };
    },
  );
};

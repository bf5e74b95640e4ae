/**
 * Administration: users, API tokens, enrollment tokens, agents' credentials and pushed configs,
 * retention — admin only — plus each user's own password and settings, and the periodic jobs' status.
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { parseDurationMs } from '../../duration.js';
import { PgvigilError } from '../../errors.js';
import type { RetentionPolicy } from '../../storage/partitions.js';
import { agentWithConfig, listAgents } from '../../storage/queries/agents.sql.js';
import { listEnrollTokens, revokeEnrollToken } from '../../storage/queries/enrollment.sql.js';
import { jobStatuses } from '../../storage/queries/jobs.sql.js';
import type { Queryable } from '../../storage/queries/queryable.js';
import { listApiTokens, revokeApiToken } from '../../storage/queries/tokens.sql.js';
import {
  countOtherActiveAdmins,
  deleteUser,
  listUsers,
  lockAdminSet,
  storeUserSettings,
  updateUser,
  userPasswordHash,
  userSettings,
} from '../../storage/queries/users.sql.js';
import { inTransaction } from '../../storage/tx.js';
import { configForDisplay, storeAgentConfig } from '../agent-config.js';
import { createEnrollToken, revokeAgentCredential } from '../auth/agents.js';
import { createApiToken } from '../auth/api-tokens.js';
import { verifyPassword } from '../auth/passwords.js';
import { revokeUserSessions } from '../auth/sessions.js';
import { addUser, setPassword, type UserAuthenticator } from '../auth/users.js';
import type { UserRole } from '../roles.js';
import { effectiveRetention, storeRetention } from '../settings.js';
import { durationString, errorBody, numericIdParams, userRoleSchema } from './schemas.js';

export interface AdminRouteOptions {
  pool: pg.Pool;
  userAuth: UserAuthenticator;
  retention: RetentionPolicy;
}

const userRow = {
  type: 'object',
  required: ['userId', 'name', 'role', 'createdAt', 'disabled'],
  properties: {
    userId: { type: 'integer' },
    name: { type: 'string' },
    role: userRoleSchema,
    createdAt: { type: 'string', format: 'date-time' },
    disabled: { type: 'boolean' },
  },
} as const;

const tokenRow = {
  type: 'object',
  required: ['tokenId', 'name', 'role', 'prefix', 'userId', 'createdAt'],
  properties: {
    tokenId: { type: 'integer' },
    userId: { type: 'integer' },
    name: { type: 'string' },
    role: userRoleSchema,
    prefix: {
      type: 'string',
      description: 'the first characters, to recognise a token; the rest is never stored',
    },
    createdAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
    lastUsedAt: { type: ['string', 'null'], format: 'date-time' },
    revoked: { type: 'boolean' },
  },
} as const;

const retentionSchema = {
  type: 'object',
  required: ['rawDays', 'hourlyDays', 'dailyDays'],
  additionalProperties: false,
  properties: {
    rawDays: { type: 'integer', minimum: 1, maximum: 90 },
    hourlyDays: { type: 'integer', minimum: 7, maximum: 3650 },
    dailyDays: { type: 'integer', minimum: 30, maximum: 36500 },
  },
} as const;

const enrollTokenRow = {
  type: 'object',
  required: ['tokenId', 'prefix', 'createdAt', 'agents'],
  properties: {
    tokenId: { type: 'integer' },
    prefix: { type: 'string', description: 'the first characters; the token itself is never stored' },
    usesLeft: { type: ['integer', 'null'], description: 'null: unlimited' },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
    note: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
    agents: { type: 'integer', description: 'agents enrolled with it' },
  },
} as const;

const agentProperties = {
  agentId: { type: 'string' },
  serverId: { type: 'integer' },
  serverName: { type: 'string' },
  hostname: { type: 'string' },
  os: { type: ['string', 'null'] },
  version: { type: ['string', 'null'] },
  enrolledAt: { type: 'string', format: 'date-time' },
  lastSeenAt: { type: ['string', 'null'], format: 'date-time' },
  revokedAt: { type: ['string', 'null'], format: 'date-time' },
  presence: { type: 'string', enum: ['unknown', 'online', 'offline', 'degraded'] },
  presenceReason: { type: ['string', 'null'] },
  configStatus: {
    type: ['object', 'null'],
    additionalProperties: true,
    description: 'what the agent said when it last applied pushed configuration (etag, applied, error, at)',
  },
  configured: { type: 'boolean', description: 'a non-empty configuration is pushed to it' },
} as const;
const agentRequired = ['agentId', 'serverId', 'serverName', 'hostname', 'enrolledAt', 'presence'] as const;

const uuidParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;

function duration(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0)
    throw new PgvigilError('BAD_ARGUMENT', `${what}: "${text}" is not a duration like 30d`);
  return ms;
}

/** Refuses a change that would leave no active admin. Runs inside the caller's transaction. */
async function keepAnAdmin(client: Queryable, userId: number): Promise<void> {
  await lockAdminSet(client);
  if ((await countOtherActiveAdmins(client, userId)) === 0) throw new PgvigilError('LAST_ADMIN');
}

export const adminRoutes: FastifyPluginAsync<AdminRouteOptions> = async (
  app,
  { pool, userAuth, retention },
) => {
  // ---- users (admin) ----
  app.get(
    '/users',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'List users',
        tags: ['users'],
        response: {
          200: {
            type: 'object',
            required: ['users'],
            properties: { users: { type: 'array', items: userRow } },
          },
          '4xx': errorBody,
        },
      },
    },
    async () => ({ users: await listUsers(pool, 10_000) }),
  );

  app.post<{ Body: { name: string; role: UserRole; password?: string } }>(
    '/users',
    {
      config: { role: 'admin' },
      bodyLimit: 8 * 1024,
      schema: {
        summary: 'Add a user; without a password one is generated and returned once',
        tags: ['users'],
        body: {
          type: 'object',
          required: ['name', 'role'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 64 },
            role: userRoleSchema,
            password: { type: 'string', minLength: 10, maxLength: 1024 },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['userId', 'name', 'role'],
            properties: {
              userId: { type: 'integer' },
              name: { type: 'string' },
              role: userRoleSchema,
              password: { type: 'string', description: 'only when generated; shown this once' },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req, reply) => {
      const { userId, password } = await addUser(pool, req.body);
      req.log.info({ user: req.body.name, role: req.body.role, by: req.user?.name }, 'user added');
      return reply.status(201).send({
        userId,
        name: req.body.name,
        role: req.body.role,
        ...(req.body.password ? {} : { password }),
      });
    },
  );

  app.patch<{ Params: { id: number }; Body: { role?: UserRole; disabled?: boolean; password?: string } }>(
    '/users/:id',
    {
      config: { role: 'admin' },
      bodyLimit: 8 * 1024,
      schema: {
        summary: 'Change a user’s role, disable or enable them, or set a new password (ends their sessions)',
        tags: ['users'],
        params: numericIdParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            role: userRoleSchema,
            disabled: { type: 'boolean' },
            password: { type: 'string', minLength: 10, maxLength: 1024 },
          },
        },
        response: { 200: userRow, '4xx': errorBody },
      },
    },
    async (req) => {
      const { role, disabled, password } = req.body;
      const row = await inTransaction(pool, async (c) => {
        if ((role !== undefined && role !== 'admin') || disabled === true)
          await keepAnAdmin(c, req.params.id);
        const user = await updateUser(c, req.params.id, role ?? null, disabled ?? null);
        if (!user) throw new PgvigilError('NOT_FOUND', `no user ${req.params.id}`);
        if (password !== undefined) await setPassword(c, req.params.id, password, 'changed by an admin');
        else if (disabled === true) await revokeUserSessions(c, req.params.id, 'changed by an admin');
        return user;
      });
      userAuth.forget();
      return row;
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/users/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Delete a user with their sessions and API tokens',
        tags: ['users'],
        params: numericIdParams,
        response: { 204: { type: 'null' }, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      await inTransaction(pool, async (c) => {
        await keepAnAdmin(c, req.params.id);
        if (!(await deleteUser(c, req.params.id)))
          throw new PgvigilError('NOT_FOUND', `no user ${req.params.id}`);
      });
      userAuth.forget();
      return reply.status(204).send();
    },
  );

  // ---- one's own account ----
  app.put<{ Body: { currentPassword: string; newPassword: string } }>(
    '/me/password',
    {
      config: { role: 'viewer' },
      bodyLimit: 8 * 1024,
      schema: {
        summary: 'Change your own password (every role may); ends your other sessions',
        tags: ['users'],
        body: {
          type: 'object',
          required: ['currentPassword', 'newPassword'],
          additionalProperties: false,
          properties: {
            currentPassword: { type: 'string', minLength: 1, maxLength: 1024 },
            newPassword: { type: 'string', minLength: 1, maxLength: 1024 },
          },
        },
        response: { 204: { type: 'null' }, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      const me = req.user!;
      const hash = await userPasswordHash(pool, me.userId);
      if (hash === undefined || !(await verifyPassword(req.body.currentPassword, hash))) {
        throw new PgvigilError('LOGIN_FAILED', 'the current password is wrong');
      }
      await setPassword(pool, me.userId, req.body.newPassword, 'password changed', me.sessionId);
      userAuth.forget();
      return reply.status(204).send();
    },
  );

  const settingsSchema = {
    type: 'object',
    maxProperties: 50,
    additionalProperties: true,
    description: 'the dashboard’s per-user preferences (free-form, up to 16 KiB)',
  } as const;
  app.get(
    '/me/settings',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Your own settings',
        tags: ['users'],
        response: { 200: settingsSchema, '4xx': errorBody },
      },
    },
    async (req) => (await userSettings(pool, req.user!.userId)) ?? {},
  );
  app.put<{ Body: Record<string, unknown> }>(
    '/me/settings',
    {
      config: { role: 'user' },
      bodyLimit: 16 * 1024,
      schema: {
        summary: 'Replace your own settings (role user and above)',
        tags: ['users'],
        body: settingsSchema,
        response: { 200: settingsSchema, '4xx': errorBody },
      },
    },
    async (req) => {
      await storeUserSettings(pool, req.user!.userId, req.body);
      return req.body;
    },
  );

  // ---- API tokens (admin) ----
  app.get(
    '/tokens',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'List API tokens (never the tokens themselves)',
        tags: ['tokens'],
        response: {
          200: {
            type: 'object',
            required: ['tokens'],
            properties: { tokens: { type: 'array', items: tokenRow } },
          },
          '4xx': errorBody,
        },
      },
    },
    async () => ({ tokens: await listApiTokens(pool) }),
  );

  app.post<{ Body: { name: string; role: UserRole; expires?: string; userId?: number } }>(
    '/tokens',
    {
      config: { role: 'admin' },
      bodyLimit: 4 * 1024,
      schema: {
        summary: 'Create an API token for scripts; it is returned once and stored hashed',
        tags: ['tokens'],
        body: {
          type: 'object',
          required: ['name', 'role'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 100 },
            role: userRoleSchema,
            expires: { ...durationString, description: 'lifetime such as 90d; none = until revoked' },
            userId: {
              type: 'integer',
              minimum: 1,
              description: 'owner (default: you); the role may not exceed theirs',
            },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['tokenId', 'token'],
            properties: {
              tokenId: { type: 'integer' },
              token: { type: 'string' },
              expiresAt: { type: ['string', 'null'] },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req, reply) => {
      const t = await createApiToken(pool, {
        userId: req.body.userId ?? req.user!.userId,
        name: req.body.name,
        role: req.body.role,
        expiresInMs: duration(req.body.expires, 'expires'),
      });
      return reply.status(201).send(t);
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/tokens/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Revoke an API token',
        tags: ['tokens'],
        params: numericIdParams,
        response: { 204: { type: 'null' }, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      if (!(await revokeApiToken(pool, req.params.id)))
        throw new PgvigilError('NOT_FOUND', `no API token ${req.params.id}`);
      userAuth.forget();
      return reply.status(204).send();
    },
  );

  // ---- enrollment tokens and agents (admin) ----
  app.post<{ Body: { uses?: number; expires?: string; note?: string } }>(
    '/enroll-tokens',
    {
      config: { role: 'admin' },
      bodyLimit: 4 * 1024,
      schema: {
        summary: 'Create an enrollment token for agents; returned once, stored hashed',
        tags: ['agents'],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            uses: { type: 'integer', minimum: 1, maximum: 1_000_000 },
            expires: durationString,
            note: { type: 'string', maxLength: 200 },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['tokenId', 'token'],
            properties: { tokenId: { type: 'integer' }, token: { type: 'string' } },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req, reply) => {
      const t = await createEnrollToken(pool, {
        uses: req.body.uses,
        expiresInMs: duration(req.body.expires, 'expires'),
        note: req.body.note,
      });
      return reply.status(201).send(t);
    },
  );

  app.get<{ Querystring: { limit: number } }>(
    '/enroll-tokens',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'List enrollment tokens, newest first (never the tokens themselves)',
        tags: ['agents'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 200 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['tokens'],
            properties: { tokens: { type: 'array', items: enrollTokenRow } },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => ({ tokens: await listEnrollTokens(pool, req.query.limit) }),
  );

  app.delete<{ Params: { id: number } }>(
    '/enroll-tokens/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Revoke an enrollment token',
        tags: ['agents'],
        params: numericIdParams,
        response: { 204: { type: 'null' }, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      if (!(await revokeEnrollToken(pool, req.params.id)))
        throw new PgvigilError('NOT_FOUND', `no enrollment token ${req.params.id}`);
      return reply.status(204).send();
    },
  );

  app.get<{ Querystring: { limit: number } }>(
    '/agents',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'List agents with last contact, version, presence and pushed-config status',
        description: 'The most recently seen first; revoked agents last.',
        tags: ['agents'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 5000, default: 500 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['agents'],
            properties: {
              agents: {
                type: 'array',
                items: { type: 'object', required: agentRequired, properties: agentProperties },
              },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => ({ agents: await listAgents(pool, req.query.limit) }),
  );

  app.get<{ Params: { id: string } }>(
    '/agents/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'One agent with the configuration pushed to it (passwords in target URLs shown as ***)',
        tags: ['agents'],
        params: uuidParams,
        response: {
          200: {
            type: 'object',
            required: [...agentRequired, 'config'],
            properties: {
              ...agentProperties,
              config: { type: 'object', additionalProperties: true, description: 'the pushed configuration' },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const agent = await agentWithConfig(pool, req.params.id);
      if (!agent) throw new PgvigilError('NOT_FOUND', `no agent ${req.params.id}`);
      return { ...agent, config: configForDisplay(agent.config) };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/agents/:id/revoke',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Revoke an agent’s credential (it must enroll again)',
        tags: ['agents'],
        params: uuidParams,
        response: { 204: { type: 'null' }, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      if (!(await revokeAgentCredential(pool, req.params.id))) {
        throw new PgvigilError('NOT_FOUND', `no agent ${req.params.id} with an active credential`);
      }
      return reply.status(204).send();
    },
  );

  app.put<{ Params: { id: string }; Body: Record<string, unknown> }>(
    '/agents/:id/config',
    {
      config: { role: 'admin' },
      bodyLimit: 64 * 1024,
      schema: {
        summary: 'Store the configuration pushed to an agent (validated; applied at its next pull)',
        tags: ['agents'],
        params: uuidParams,
        body: { type: 'object', additionalProperties: true },
        response: { 204: { type: 'null' }, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      await storeAgentConfig(pool, req.params.id, req.body);
      return reply.status(204).send();
    },
  );

  // ---- retention (admin reads and writes; it is not secret but is operations) ----
  app.get(
    '/settings/retention',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'How long each tier is kept, in days',
        tags: ['settings'],
        response: { 200: retentionSchema, '4xx': errorBody },
      },
    },
    async () => effectiveRetention(pool, retention),
  );
  app.put<{ Body: RetentionPolicy }>(
    '/settings/retention',
    {
      config: { role: 'admin' },
      bodyLimit: 1024,
      schema: {
        summary: 'Set retention per tier; the partition job applies it on its next run',
        tags: ['settings'],
        body: retentionSchema,
        response: { 200: retentionSchema, '4xx': errorBody },
      },
    },
    async (req) => {
      await storeRetention(pool, req.body, req.user!.name);
      return req.body;
    },
  );

  // ---- periodic jobs (read) ----
  app.get(
    '/jobs',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Periodic jobs: last run, duration, error, counts',
        tags: ['jobs'],
        response: {
          200: {
            type: 'object',
            required: ['jobs'],
            properties: {
              jobs: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['job', 'runs', 'failures'],
                  properties: {
                    job: { type: 'string' },
                    lastStartedAt: { type: ['string', 'null'], format: 'date-time' },
                    lastFinishedAt: { type: ['string', 'null'], format: 'date-time' },
                    lastDurationMs: { type: ['number', 'null'] },
                    lastError: { type: ['string', 'null'] },
                    running: { type: 'boolean', description: 'started and not finished since' },
                    runs: { type: 'integer' },
                    failures: { type: 'integer' },
                  },
                },
              },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async () => ({ jobs: await jobStatuses(pool) }),
  );
};

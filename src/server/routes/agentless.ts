/**
 * Agentless targets: managed PostgreSQL the server polls itself (src/server/agentless/).
 * POST /agentless-targets, PATCH and DELETE /agentless-targets/:id are admin's; GET (list, one) is
 * viewer's.
 *
 * The connection URL's password is sealed on creation and never returned: answers carry host, port,
 * database, user, sslmode, whether a CA bundle is set and the id of the key that sealed the URL, with
 * who polls the target now (the lease) and how its last poll ended.
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import type { SecretBox } from '../../secrets.js';
import {
  type AgentlessTargetRow,
  agentlessTargetById,
  deleteAgentlessTarget,
  listAgentlessTargets,
} from '../../storage/queries/agentless.sql.js';
import { sslModes } from '../agentless/connection.js';
import {
  changeAgentlessTarget,
  createAgentlessTarget,
  defaultAgentlessIntervalSeconds,
} from '../agentless/targets.js';
import { errorBody, numericIdParams } from './schemas.js';

export interface AgentlessRouteOptions {
  pool: pg.Pool;
  box: SecretBox;
}

/** What the server view and this API say instead of reporting the missing host families as gaps. */
export const agentlessHostMetricsNote = 'agentless: no host metrics';

const nullableString = { type: ['string', 'null'] } as const;

const targetSchema = {
  type: 'object',
  required: [
    'targetId',
    'name',
    'serverId',
    'agentId',
    'host',
    'port',
    'database',
    'user',
    'sslmode',
    'caBundle',
    'keyId',
    'intervalSeconds',
    'createdAt',
    'lease',
    'lastPollAt',
    'lastError',
    'agentless',
    'hostMetrics',
  ],
  properties: {
    targetId: { type: 'integer' },
    name: { type: 'string' },
    serverId: { type: 'integer', description: 'its server entry (GET /servers/ID), marked agentless' },
    agentId: { type: 'string', description: 'the agent id its batches carry in the ingest ledger' },
    host: { type: 'string' },
    port: { type: 'integer' },
    database: { type: 'string' },
    user: { type: 'string' },
    sslmode: { type: 'string', enum: sslModes },
    caBundle: { type: 'boolean', description: 'a CA bundle is set (its certificates are not returned)' },
    keyId: { type: 'string', description: 'id of the secret key that sealed the password' },
    intervalSeconds: { type: 'number' },
    createdAt: { type: 'string', format: 'date-time' },
    lease: {
      type: 'object',
      required: ['owner', 'expiresAt'],
      properties: {
        owner: { ...nullableString, description: 'the server instance that polls it' },
        expiresAt: nullableString,
      },
    },
    lastPollAt: nullableString,
    lastPollBy: nullableString,
    lastError: { ...nullableString, description: 'why its last poll was not written (null: it was)' },
    agentless: { type: 'boolean', enum: [true] },
    hostMetrics: { type: 'string', enum: [agentlessHostMetricsNote] },
  },
} as const;

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

function targetOut(r: AgentlessTargetRow) {
  return {
    targetId: Number(r.target_id),
    name: r.name,
    serverId: Number(r.server_id),
    agentId: r.agent_id,
    host: r.host,
    port: r.port,
    database: r.dbname,
    user: r.username,
    sslmode: r.sslmode,
    caBundle: r.has_ca,
    keyId: r.key_id,
    intervalSeconds: r.interval_ms / 1000,
    createdAt: r.created_at.toISOString(),
    lease: { owner: r.lease_owner, expiresAt: iso(r.lease_expires_at) },
    lastPollAt: iso(r.last_poll_at),
    lastPollBy: r.last_poll_by,
    lastError: r.last_error,
    agentless: true,
    hostMetrics: agentlessHostMetricsNote,
  };
}

const urlSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 2048,
  description:
    'postgres://user:password@host:port/database?sslmode=verify-full; the password is never returned',
} as const;
const caPemSchema = {
  type: 'string',
  maxLength: 262_144,
  description: 'CA certificates (PEM) that sign the target server certificate',
} as const;
const intervalSchema = {
  type: 'number',
  minimum: 1,
  // An agent's silence is judged from its deliveries: offline after 60 s by default
  // (PGVIGIL_AGENT_OFFLINE_AFTER), so a target polled less often would flap.
  maximum: 60,
} as const;

export const agentlessRoutes: FastifyPluginAsync<AgentlessRouteOptions> = async (app, opts) => {
  const { pool, box } = opts;

  app.post<{ Body: { name: string; url: string; caPem?: string; intervalSeconds?: number } }>(
    '/agentless-targets',
    {
      config: { role: 'admin' },
      bodyLimit: 512 * 1024,
      schema: {
        summary: 'Add a PostgreSQL the server polls itself (managed databases: no agent on their host)',
        description:
          'The URL is postgres://user:password@host:port/database?sslmode=verify-full (disable, require, verify-ca, verify-full; default verify-full). Its password is sealed with the server secret key and never returned.',
        tags: ['agentless'],
        body: {
          type: 'object',
          required: ['name', 'url'],
          additionalProperties: false,
          properties: {
            name: {
              type: 'string',
              pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$',
              description: 'its server name too (unique among servers)',
            },
            url: urlSchema,
            caPem: caPemSchema,
            intervalSeconds: { ...intervalSchema, default: defaultAgentlessIntervalSeconds },
          },
        },
        response: { 201: targetSchema, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      const id = await createAgentlessTarget(pool, box, req.body);
      const row = await agentlessTargetById(pool, id);
      if (!row) throw new PgvigilError('NOT_FOUND', `agentless target ${id} vanished`);
      req.log.info(
        { targetId: id, name: row.name, host: row.host, port: row.port, by: req.user?.name },
        'agentless target added',
      );
      return reply.status(201).send(targetOut(row));
    },
  );

  app.get<{ Querystring: { limit: number } }>(
    '/agentless-targets',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Agentless targets with who polls them and how their last poll ended (no secrets)',
        tags: ['agentless'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 500 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['targets'],
            properties: { targets: { type: 'array', items: targetSchema } },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => ({ targets: (await listAgentlessTargets(pool, req.query.limit)).map(targetOut) }),
  );

  app.get<{ Params: { id: number } }>(
    '/agentless-targets/:id',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'One agentless target (no secrets)',
        tags: ['agentless'],
        params: numericIdParams,
        response: { 200: targetSchema, '4xx': errorBody },
      },
    },
    async (req) => {
      const row = await agentlessTargetById(pool, req.params.id);
      if (!row) throw new PgvigilError('NOT_FOUND', `no agentless target ${req.params.id}`);
      return targetOut(row);
    },
  );

  app.patch<{
    Params: { id: number };
    Body: { url?: string; caPem?: string | null; intervalSeconds?: number };
  }>(
    '/agentless-targets/:id',
    {
      config: { role: 'admin' },
      bodyLimit: 512 * 1024,
      schema: {
        summary:
          'Change a target: its URL (e.g. a rotated password), CA bundle (null removes it) or interval',
        description: 'The name, server entry and series stay; the poller reconnects at its next poll.',
        tags: ['agentless'],
        params: numericIdParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            url: urlSchema,
            caPem: { anyOf: [caPemSchema, { type: 'null' }] },
            intervalSeconds: intervalSchema,
          },
        },
        response: { 200: targetSchema, '4xx': errorBody },
      },
    },
    async (req) => {
      if (!(await changeAgentlessTarget(pool, box, req.params.id, req.body)))
        throw new PgvigilError('NOT_FOUND', `no agentless target ${req.params.id}`);
      const row = await agentlessTargetById(pool, req.params.id);
      if (!row) throw new PgvigilError('NOT_FOUND', `no agentless target ${req.params.id}`);
      req.log.info(
        { targetId: row.target_id, name: row.name, by: req.user?.name },
        'agentless target changed',
      );
      return targetOut(row);
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/agentless-targets/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary:
          'Stop polling a target and remove it with its server entry (stored rows stay until retention drops them)',
        tags: ['agentless'],
        params: numericIdParams,
        response: { 204: { type: 'null' }, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      if (!(await deleteAgentlessTarget(pool, req.params.id)))
        throw new PgvigilError('NOT_FOUND', `no agentless target ${req.params.id}`);
      req.log.info({ targetId: req.params.id, by: req.user?.name }, 'agentless target removed');
      return reply.status(204).send();
    },
  );
};

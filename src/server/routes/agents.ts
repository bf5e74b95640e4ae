/**
 * Agent lifecycle: enrollment (role public, authenticated by an enrollment token in the body, limited per
 * client address) and configuration pull with ETag plus the agent's report of applying it (role agent,
 * own id only).
 */
import { createHash } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { agentConfig, storeConfigStatus } from '../../storage/queries/agents.sql.js';
import { type AgentAuthenticator, type EnrollRequest, enrollAgent } from '../auth/agents.js';
import { agentGuard, requireOwnAgent } from '../auth/guard.js';
import { RateLimiter } from '../ratelimit.js';
import { errorBody } from './schemas.js';

export interface AgentRouteOptions {
  pool: pg.Pool;
  auth: AgentAuthenticator;
  enrollLimit?: { perSecond: number; burst: number };
}

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;

export function configEtag(config: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(config)).digest('base64url').slice(0, 22)}"`;
}

export const agentRoutes: FastifyPluginAsync<AgentRouteOptions> = async (
  app,
  { pool, auth, enrollLimit },
) => {
  const enrollLimiter = new RateLimiter(enrollLimit?.perSecond ?? 0.5, enrollLimit?.burst ?? 10);

  app.post<{ Body: EnrollRequest }>(
    '/agents/enroll',
    {
      config: { role: 'public' },
      bodyLimit: 64 * 1024,
      schema: {
        body: {
          type: 'object',
          required: ['token', 'hostname'],
          additionalProperties: false,
          properties: {
            token: { type: 'string', minLength: 1, maxLength: 200 },
            enrollKey: { type: 'string', minLength: 16, maxLength: 200 },
            hostname: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[^\\s/\\\\]+$' },
            os: { type: 'string', maxLength: 200 },
            agentVersion: { type: 'string', maxLength: 50 },
            targets: {
              type: 'array',
              maxItems: 100,
              items: {
                type: 'object',
                required: ['kind', 'name'],
                additionalProperties: false,
                properties: {
                  kind: { type: 'string', enum: ['postgres'] },
                  name: { type: 'string', minLength: 1, maxLength: 253 },
                },
              },
            },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['agentId', 'serverId', 'credential'],
            properties: {
              agentId: { type: 'string' },
              serverId: { type: 'integer' },
              credential: { type: 'string' },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req, reply) => {
      const wait = enrollLimiter.take(req.ip);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        throw new PgvigilError('RATE_LIMITED', 'too many enrollment attempts from this address');
      }
      const enrolled = await enrollAgent(pool, req.body);
      req.log.info({ agentId: enrolled.agentId, hostname: req.body.hostname }, 'agent enrolled');
      return reply.status(201).send(enrolled);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/agents/:id/config',
    {
      config: { role: 'agent' },
      onRequest: agentGuard(auth),
      schema: {
        params: idParams,
        response: {
          200: {
            type: 'object',
            required: ['config'],
            properties: { config: { type: 'object', additionalProperties: true } },
          },
          304: { type: 'null' },
          '4xx': errorBody,
        },
      },
    },
    async (req, reply) => {
      const agent = requireOwnAgent(req, req.params.id);
      const config = (await agentConfig(pool, agent.agentId)) ?? {};
      const etag = configEtag(config);
      reply.header('etag', etag);
      if (req.headers['if-none-match'] === etag) return reply.status(304).send();
      return { config };
    },
  );

  app.post<{ Params: { id: string }; Body: { etag: string; applied: boolean; error?: string } }>(
    '/agents/:id/config-status',
    {
      config: { role: 'agent' },
      onRequest: agentGuard(auth),
      bodyLimit: 16 * 1024,
      schema: {
        params: idParams,
        body: {
          type: 'object',
          required: ['etag', 'applied'],
          additionalProperties: false,
          properties: {
            etag: { type: 'string', maxLength: 100 },
            applied: { type: 'boolean' },
            error: { type: 'string', maxLength: 4000 },
          },
        },
        response: { 204: { type: 'null' }, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      const agent = requireOwnAgent(req, req.params.id);
      await storeConfigStatus(pool, agent.agentId, { ...req.body, at: new Date().toISOString() });
      return reply.status(204).send();
    },
  );
};

/**
 * Agent lifecycle: enrollment (role public, authenticated by an enrollment token in the body, limited per
 * client address), configuration pull with ETag plus the agent's report of applying it (role agent,
 * own id only), and client certificates: on the agent port (../agent-listener.ts) an enrollment that
 * carries a certificate request gets a certificate from the agent CA (../auth/ca.ts) with its credential,
 * and an enrolled agent renews its certificate with a new request (role agent, own id only).
 */
import { createHash } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { parseCsr } from '../../protocol/csr.js';
import { agentConfig, storeConfigStatus } from '../../storage/queries/agents.sql.js';
import { onAgentPort } from '../agent-listener.js';
import { type AgentAuthenticator, type EnrollRequest, enrollAgent } from '../auth/agents.js';
import type { AgentCa, IssuedCertificate } from '../auth/ca.js';
import { agentGuard, requireOwnAgent } from '../auth/guard.js';
import { RateLimiter } from '../ratelimit.js';
import { errorBody } from './schemas.js';

export interface AgentRouteOptions {
  pool: pg.Pool;
  auth: AgentAuthenticator;
  enrollLimit?: { perSecond: number; burst: number };
  /** The agent CA, when the server has an agent port: certificates are issued there. */
  ca?: AgentCa;
  /** Lifetime of an issued agent certificate (default 30 days). */
  certificateLifetimeMs?: number;
}

const csrSchema = {
  type: 'string',
  minLength: 100,
  maxLength: 16 * 1024,
  description: 'a PEM PKCS#10 certificate request (EC P-256/P-384, Ed25519 or RSA ≥ 2048)',
} as const;

const certificateProperties = {
  certificate: { type: 'string', description: 'PEM client certificate naming URI pgvigil:agent:<id>' },
  certificateSerial: { type: 'string' },
  certificateNotAfter: { type: 'string', format: 'date-time' },
} as const;

function certificateFields(issued: IssuedCertificate) {
  return {
    certificate: issued.certificate,
    certificateSerial: issued.serial,
    certificateNotAfter: issued.notAfter.toISOString(),
  };
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
  { pool, auth, enrollLimit, ca, certificateLifetimeMs },
) => {
  const enrollLimiter = new RateLimiter(enrollLimit?.perSecond ?? 0.5, enrollLimit?.burst ?? 10);
  // Renewal is once in 20 days per agent; a few tries an hour leave room for retries and nothing more.
  const renewLimiter = new RateLimiter(1 / 600, 5);
  /** The CA that issues for this request: only on the agent port. */
  const issuerFor = (req: FastifyRequest): AgentCa | undefined => (ca && onAgentPort(req) ? ca : undefined);

  app.post<{ Body: EnrollRequest & { csr?: string } }>(
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
            machineId: { type: 'string', pattern: '^[0-9a-f]{32}$' },
            os: { type: 'string', maxLength: 200 },
            agentVersion: { type: 'string', maxLength: 50 },
            csr: csrSchema,
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
              ...certificateProperties,
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
      const { csr, ...request } = req.body;
      const issuer = issuerFor(req);
      // A bad request is refused before the token's use is spent.
      if (csr !== undefined && issuer) checkCsr(csr);
      const enrolled = await enrollAgent(pool, request);
      const issued =
        csr !== undefined && issuer
          ? issuer.issue(enrolled.agentId, csr, new Date(), certificateLifetimeMs)
          : undefined;
      req.log.info(
        { agentId: enrolled.agentId, hostname: req.body.hostname, certificateSerial: issued?.serial },
        'agent enrolled',
      );
      return reply.status(201).send({ ...enrolled, ...(issued ? certificateFields(issued) : {}) });
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

  app.post<{ Params: { id: string }; Body: { csr: string } }>(
    '/agents/:id/certificate',
    {
      config: { role: 'agent' },
      onRequest: agentGuard(auth),
      bodyLimit: 32 * 1024,
      schema: {
        summary: 'Issue a new client certificate to this agent (agent port only)',
        description:
          'The agent sends a certificate request for a key it made; the answer is a certificate from the agent CA for that key, naming URI pgvigil:agent:<id>. Authenticated by the current certificate or the bearer credential (after expiry).',
        tags: ['agents'],
        params: idParams,
        body: {
          type: 'object',
          required: ['csr'],
          additionalProperties: false,
          properties: { csr: csrSchema },
        },
        response: {
          201: {
            type: 'object',
            required: ['certificate', 'certificateSerial', 'certificateNotAfter'],
            properties: certificateProperties,
          },
          '4xx': errorBody,
        },
      },
    },
    async (req, reply) => {
      const agent = requireOwnAgent(req, req.params.id);
      const issuer = issuerFor(req);
      if (!issuer) {
        throw new PgvigilError(
          'CERTIFICATE_UNAVAILABLE',
          ca
            ? 'client certificates are issued on the agent port only; connect there to get one'
            : 'this server has no agent port (--agent-port), so it issues no client certificates',
        );
      }
      const wait = renewLimiter.take(agent.agentId);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        throw new PgvigilError('RATE_LIMITED', 'too many certificate requests from this agent');
      }
      const issued = issuer.issue(agent.agentId, req.body.csr, new Date(), certificateLifetimeMs);
      req.log.info(
        { agentId: agent.agentId, certificateSerial: issued.serial, via: agent.via },
        'agent certificate issued',
      );
      return reply.status(201).send(certificateFields(issued));
    },
  );
};

/** Refuses a malformed or unverifiable request with CSR_INVALID (400). */
function checkCsr(csr: string): void {
  try {
    parseCsr(csr);
  } catch (err) {
    throw new PgvigilError('CSR_INVALID', (err as Error).message);
  }
}

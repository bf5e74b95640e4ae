import type { FastifyRequest } from 'fastify';
import { PgvigilError } from '../../errors.js';
import { peerCertificateOf } from '../agent-listener.js';
import { type AgentAuthenticator, type AgentIdentity, bearer } from './agents.js';

declare module 'fastify' {
  interface FastifyRequest {
    agent?: AgentIdentity;
  }
}

/**
 * onRequest hook for role `agent` routes: authenticates the agent — by its client certificate on the agent
 * port, by its bearer credential, or both (then they must agree) — before any body is read, and on routes
 * under /agents/:id refuses another agent's id before the body is even validated.
 */
export function agentGuard(auth: AgentAuthenticator) {
  return async (req: FastifyRequest): Promise<void> => {
    req.agent = await auth.authenticateRequest(bearer(req.headers.authorization), peerCertificateOf(req));
    const id = (req.params as { id?: unknown } | undefined)?.id;
    if (typeof id === 'string') requireOwnAgent(req, id);
  };
}

/** For routes under /agents/:id: the credential must be that agent's own. */
export function requireOwnAgent(req: FastifyRequest, agentId: string): AgentIdentity {
  const agent = req.agent;
  if (!agent) throw new PgvigilError('CREDENTIAL_MISSING');
  if (agent.agentId !== agentId.toLowerCase()) {
    throw new PgvigilError(
      'AGENT_MISMATCH',
      `this credential belongs to agent ${agent.agentId}, not ${agentId}`,
    );
  }
  return agent;
}

/**
 * The OpenAPI 3.1 document, made by @fastify/swagger from the routes' own JSON schemas as they are
 * registered (so it cannot drift from what the server validates). What it adds from each route's
 * `config.role`: the role as `x-pgvigil-role`, the security the operation accepts (none for public routes,
 * the agent credential for agent routes, a user's bearer token or session cookie for the rest) and a
 * stable operationId.
 */
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { version } from '../version.js';
import type { Role } from './roles.js';

function security(role: Role) {
  if (role === 'public') return [];
  if (role === 'agent') return [{ agentCredential: [] }];
  return [{ bearer: [] }, { sessionCookie: [] }];
}

/** `post` + `/api/v1/agents/:id/config` → `postApiV1AgentsIdConfig`. */
function operationId(method: string, url: string): string {
  const path = url.replace(/:([A-Za-z0-9_]+)/g, '$1');
  return `${method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`;
}

type Operation = {
  parameters?: Array<{ in: string }>;
  responses?: Record<string, { description?: string }>;
};

export const openapiOptions: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'pgvigil API',
      version,
      description:
        'Roles are ordered viewer < user < admin; each operation names the least role it needs in x-pgvigil-role.',
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'an access token from /auth/login, or an API token (pgv_api_…)',
        },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'pgvigil_access' },
        agentCredential: {
          type: 'http',
          scheme: 'bearer',
          description: 'an agent credential (pgv_agent_…)',
        },
      },
    },
  },
  transform: ({ schema, url, route }) => {
    const role = route.config?.role as Role;
    const method = Array.isArray(route.method) ? route.method[0]! : route.method;
    return {
      url,
      schema: {
        ...schema,
        operationId: operationId(method, url),
        'x-pgvigil-role': role,
        security: security(role),
      } as typeof schema,
    };
  },
  // Every operation lists its parameters (an empty list too; path ones first) and says what its
  // responses mean.
  transformObject: (doc) => {
    if (!('openapiObject' in doc)) return doc.swaggerObject;
    const { openapiObject } = doc;
    for (const methods of Object.values(openapiObject.paths ?? {})) {
      for (const op of Object.values(methods as Record<string, Operation>)) {
        op.parameters = (op.parameters ?? []).sort(
          (a, b) => Number(b.in === 'path') - Number(a.in === 'path'),
        );
        for (const [status, r] of Object.entries(op.responses ?? {})) {
          if (r.description === 'Default Response') {
            r.description = status.startsWith('2') ? 'success' : 'error (see docs/errors.md)';
          }
        }
      }
    }
    return openapiObject;
  },
};

/**
 * The OpenAPI 3.1 document, built from the routes' own JSON schemas as they are registered (so it cannot
 * drift from what the server validates). Each operation carries its role as `x-pgvigil-role` and the
 * security it accepts: none for public routes, the agent credential for agent routes, a user's bearer
 * token or session cookie for the rest.
 */
import type { RouteOptions } from 'fastify';
import { version } from '../version.js';
import type { Role } from './roles.js';

declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: readonly string[];
  }
}

interface Collected {
  method: string;
  url: string;
  role: Role;
  schema: Record<string, unknown>;
}

type JsonSchema = { properties?: Record<string, Record<string, unknown>>; required?: readonly string[] };

function parameters(where: 'path' | 'query', schema: unknown) {
  const s = schema as JsonSchema | undefined;
  if (!s?.properties) return [];
  return Object.entries(s.properties).map(([name, p]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    ...(typeof p.description === 'string' ? { description: p.description } : {}),
    schema: p,
  }));
}

function responses(schema: Record<string, unknown> | undefined) {
  const out: Record<string, unknown> = {};
  for (const [status, body] of Object.entries(schema ?? { 200: {} })) {
    const b = body as { type?: string; description?: string };
    const key = /^[1-5]xx$/i.test(status) ? status.toUpperCase() : status;
    out[key] = {
      description: b.description ?? (key.startsWith('2') ? 'success' : 'error (see docs/errors.md)'),
      ...(b.type === 'null' ? {} : { content: { 'application/json': { schema: body } } }),
    };
  }
  return out;
}

function security(role: Role) {
  if (role === 'public') return [];
  if (role === 'agent') return [{ agentCredential: [] }];
  return [{ bearer: [] }, { sessionCookie: [] }];
}

export class OpenApiCollector {
  private routes: Collected[] = [];

  /** For the onRoute hook: remembers every route except fastify's automatic HEAD twins. */
  add(route: RouteOptions): void {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || route.config?.role === undefined) continue;
      this.routes.push({
        method: method.toLowerCase(),
        url: route.url,
        role: route.config.role,
        schema: (route.schema ?? {}) as Record<string, unknown>,
      });
    }
  }

  document(): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const s = r.schema;
      paths[path] ??= {};
      paths[path][r.method] = {
        operationId: `${r.method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
        ...(s.summary ? { summary: s.summary } : {}),
        ...(s.description ? { description: s.description } : {}),
        ...(s.tags ? { tags: s.tags } : {}),
        'x-pgvigil-role': r.role,
        security: security(r.role),
        parameters: [...parameters('path', s.params), ...parameters('query', s.querystring)],
        ...(s.body
          ? { requestBody: { required: true, content: { 'application/json': { schema: s.body } } } }
          : {}),
        responses: responses(s.response as Record<string, unknown> | undefined),
      };
    }
    return {
      openapi: '3.1.0',
      info: {
        title: 'pgvigil API',
        version,
        description:
          'Roles are ordered viewer < user < admin; each operation names the least role it needs in x-pgvigil-role.',
      },
      paths,
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
    };
  }
}

/**
 * Who may call a route. Every route declares one in `config.role`; `app.ts` refuses to register a route
 * without it (deny by default). Roles are ordered: a higher role may do what a lower one may.
 */
export const roles = ['public', 'agent', 'viewer', 'user', 'admin'] as const;
export type Role = (typeof roles)[number];

declare module 'fastify' {
  interface FastifyContextConfig {
    role?: Role;
  }
}

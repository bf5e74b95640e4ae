/**
 * Who may call a route. Every route declares one in `config.role`; `app.ts` refuses to register a route
 * without it (deny by default). Roles are ordered: a higher role may do what a lower one may.
 */
export const roles = ['public', 'agent', 'viewer', 'user', 'admin'] as const;
export type Role = (typeof roles)[number];

/** The roles a user or an API token can hold, lowest first (`public` and `agent` are not people's). */
export const userRoles = ['viewer', 'user', 'admin'] as const satisfies readonly Role[];
export type UserRole = (typeof userRoles)[number];

export function isUserRole(value: unknown): value is UserRole {
  return (userRoles as readonly unknown[]).includes(value);
}

export function roleAtLeast(have: UserRole, need: UserRole): boolean {
  return userRoles.indexOf(have) >= userRoles.indexOf(need);
}

declare module 'fastify' {
  interface FastifyContextConfig {
    role?: Role;
    /**
     * false for the few routes that answer without the store (health, readiness, the API description):
     * they keep answering while it is away, when every other route answers 503 at once.
     */
    needsStore?: boolean;
  }
}

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

/** The roles a person (user or API token) can hold, lowest first. */
export type UserRole = Extract<Role, 'viewer' | 'user' | 'admin'>;
export const userRoles: readonly UserRole[] = ['viewer', 'user', 'admin'];
const rank: Record<UserRole, number> = { viewer: 1, user: 2, admin: 3 };

export function roleAtLeast(have: UserRole, need: UserRole): boolean {
  return rank[have] >= rank[need];
}

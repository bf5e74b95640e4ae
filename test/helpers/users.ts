/**
 * Credentials for tests: a user of each role with an API token, made directly in the store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { createApiToken } from '../../src/server/auth/api-tokens.js';
import { addUser } from '../../src/server/auth/users.js';
import type { UserRole } from '../../src/server/roles.js';

export interface TestUser {
  userId: number;
  name: string;
  password: string;
  token: string;
  headers: { authorization: string };
}

/** A new user with this role and an API token of the same role. */
export async function createTestUser(pool: pg.Pool, role: UserRole, name?: string): Promise<TestUser> {
  const userName = name ?? `${role}-${randomBytes(4).toString('hex')}`;
  const { userId, password } = await addUser(pool, { name: userName, role });
  const { token } = await createApiToken(pool, { userId, name: 'test', role });
  return { userId, name: userName, password, token, headers: { authorization: `Bearer ${token}` } };
}

const cache = new WeakMap<pg.Pool, Map<UserRole, Promise<TestUser>>>();

/** Authorization headers for a user of this role (one user per role and pool, made on first use). */
export async function roleHeaders(pool: pg.Pool, role: UserRole): Promise<{ authorization: string }> {
  let byRole = cache.get(pool);
  if (!byRole) {
    byRole = new Map();
    cache.set(pool, byRole);
  }
  let user = byRole.get(role);
  if (!user) {
    user = createTestUser(pool, role);
    byRole.set(role, user);
  }
  return (await user).headers;
}

/** GET /api/v1`url` in-process as a user of `role`: the status and the JSON body. */
export async function getAsRole(
  app: FastifyInstance,
  pool: pg.Pool,
  url: string,
  role: UserRole = 'viewer',
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await app.inject({
    method: 'GET',
    url: `/api/v1${url}`,
    headers: await roleHeaders(pool, role),
  });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

/** The same, asserting 200; the JSON body. */
export async function getOkAsRole(
  app: FastifyInstance,
  pool: pg.Pool,
  url: string,
  role: UserRole = 'viewer',
): Promise<Record<string, unknown>> {
  const res = await getAsRole(app, pool, url, role);
  assert.equal(res.status, 200, `${url}: ${JSON.stringify(res.body)}`);
  return res.body;
}

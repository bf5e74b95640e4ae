/**
 * The role matrix, walked: every registered route (from the OpenAPI document, which the server builds
 * from the routes themselves) is called without credentials, with a viewer, a user and an admin, and
 * with agent credentials — an agent's own id and another agent's id. Each answer must match the role
 * the route declares (401 without or with the wrong kind of credential, 403 for too low a role or a
 * foreign agent id, something else when allowed), and no call may make the server fail (5xx).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { type App, buildServerApp } from '../src/server/app.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import { createTestStore, type TestStore, testPgLabel } from './helpers/db.js';
import { errorCollectingLogger } from './helpers/error-log.js';
import { createTestUser } from './helpers/users.js';

let ts: TestStore;
let server: App;
let base: string;
const errors: string[] = [];

before(async () => {
  ts = await createTestStore('walk');
  server = await buildServerApp({
    store: ts.store,
    log: errorCollectingLogger(errors),
    latestMigration: ts.latest,
    credentialCacheMs: 0,
    enrollLimit: { perSecond: 1, burst: 50 },
  });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await server.app.close();
  await ts.close();
});

interface Operation {
  method: string;
  path: string;
  role: 'public' | 'agent' | 'viewer' | 'user' | 'admin';
  params: Array<{ name: string; in: string; schema: { type?: string; format?: string } }>;
  hasBody: boolean;
}

const rank = { viewer: 1, user: 2, admin: 3 } as const;

function fill(op: Operation, agentId: string): string {
  let path = op.path;
  for (const p of op.params.filter((x) => x.in === 'path')) {
    const value =
      p.schema.format === 'uuid' ? agentId : p.schema.type === 'integer' ? '987654' : 'no-such-thing';
    path = path.replace(`{${p.name}}`, encodeURIComponent(value));
  }
  return path;
}

async function call(op: Operation, path: string, token?: string): Promise<{ status: number; code?: string }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (op.hasBody || ['post', 'put', 'patch'].includes(op.method)) {
    headers['content-type'] = 'application/json';
    body = '{}';
  }
  const res = await fetch(`${base}${path}`, { method: op.method.toUpperCase(), headers, body });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {}
  return { status: res.status, code };
}

const authCodes = new Set([
  'CREDENTIAL_MISSING',
  'CREDENTIAL_INVALID',
  'CREDENTIAL_REVOKED',
  'FORBIDDEN',
  'AGENT_MISMATCH',
]);

// Before the walk uses them: the schemas compile when first used, or all at once here as a server does once
// listening (src/server/lazy-schemas.ts).
test(`every_route_schema_compiles (${testPgLabel})`, async () => {
  await server.compileSchemas();
});

test(`every_route_answers_each_role_as_its_declared_role_says (${testPgLabel})`, {
  timeout: 120_000,
}, async () => {
  const doc = (await (await fetch(`${base}/api/v1/openapi.json`)).json()) as {
    paths: Record<
      string,
      Record<
        string,
        { 'x-pgvigil-role': Operation['role']; parameters: Operation['params']; requestBody?: unknown }
      >
    >;
  };
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      assert.ok(op['x-pgvigil-role'], `${method} ${path} has a role`);
      ops.push({
        method,
        path,
        role: op['x-pgvigil-role'],
        params: op.parameters,
        hasBody: Boolean(op.requestBody),
      });
    }
  }
  assert.ok(ops.length >= 25, `${ops.length} routes found`);

  const users = {
    viewer: await createTestUser(ts.store.pool, 'viewer'),
    user: await createTestUser(ts.store.pool, 'user'),
    admin: await createTestUser(ts.store.pool, 'admin'),
  };
  const agents = [];
  for (const hostname of ['walk-a', 'walk-b']) {
    const { token } = await createEnrollToken(ts.store.pool, { uses: 1 });
    const res = await fetch(`${base}/api/v1/agents/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, hostname }),
    });
    agents.push((await res.json()) as { agentId: string; credential: string });
  }
  const [a, b] = agents as [{ agentId: string; credential: string }, { agentId: string; credential: string }];

  const mismatches: string[] = [];
  const expect = (what: string, got: { status: number; code?: string }, want: 'allowed' | 401 | 403) => {
    const ok =
      got.status < 500 &&
      (want === 'allowed'
        ? !(got.status === 401 || got.status === 403) || !authCodes.has(got.code ?? '')
        : got.status === want);
    if (!ok) mismatches.push(`${what}: got ${got.status} ${got.code ?? ''}, want ${want}`);
  };

  let calls = 0;
  for (const op of ops) {
    const name = `${op.method.toUpperCase()} ${op.path} [${op.role}]`;
    const path = fill(op, randomUUID());
    const anonymous = await call(op, path);
    calls++;
    if (op.role === 'public') {
      expect(`${name} anonymous`, anonymous, 'allowed');
      continue;
    }
    expect(`${name} anonymous`, anonymous, 401);
    if (op.role === 'agent') {
      for (const role of Object.keys(users) as Array<keyof typeof users>) {
        expect(`${name} as ${role}`, await call(op, path, users[role].token), 401);
      }
      const hasId = op.params.some((p) => p.in === 'path');
      expect(`${name} own agent`, await call(op, fill(op, a.agentId), a.credential), 'allowed');
      if (hasId) expect(`${name} another agent's id`, await call(op, fill(op, b.agentId), a.credential), 403);
      calls += 5;
      continue;
    }
    expect(`${name} with an agent credential`, await call(op, path, a.credential), 401);
    for (const role of Object.keys(users) as Array<keyof typeof users>) {
      const want = rank[role] >= rank[op.role] ? 'allowed' : 403;
      expect(`${name} as ${role}`, await call(op, path, users[role].token), want);
    }
    calls += 4;
  }
  assert.deepEqual(mismatches, [], `${mismatches.length} of ${calls} calls broke the role matrix`);
  assert.deepEqual(errors, [], 'the server logged no errors');
});

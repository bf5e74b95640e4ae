/** The HTTP app in-process (fastify inject) on a real store. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/server/app.js';
import { openStore, type Store } from '../src/storage/db.js';
import { migrate } from '../src/storage/migrate.js';
import { createTestDatabase, quietLog, type TestDatabase } from './helpers/db.js';

let db: TestDatabase;
let store: Store;
let app: FastifyInstance;

before(async () => {
  db = await createTestDatabase('app');
  store = await openStore({ databaseUrl: db.url, log: quietLog });
  const { latest } = await migrate(store.pool, quietLog);
  app = await buildApp({ store, log: quietLog, latestMigration: latest });
});

after(async () => {
  await app.close();
  await store.close();
  await db.drop();
});

test('a_route_without_a_role_cannot_be_registered', async () => {
  assert.throws(
    () => app.get('/api/v1/unguarded', async () => 'open'),
    /route GET \/api\/v1\/unguarded declares no role/,
  );
});

test('health_reports_version_store_and_migration_level', async () => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/health' });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.store.kind, 'external');
  assert.equal(body.store.reachable, true);
  assert.equal(body.migrations.level, body.migrations.latest);
  assert.equal(body.store.postgresVersion, store.serverVersion);
});

test('ready_is_503_while_the_store_is_behind_the_code', async () => {
  const behind = await buildApp({ store, log: quietLog, latestMigration: 9999 });
  try {
    const res = await behind.inject({ method: 'GET', url: '/api/v1/ready' });
    assert.equal(res.statusCode, 503);
    assert.match(res.json().reason, /expected 9999/);
  } finally {
    await behind.close();
  }
});

test('unknown_routes_get_a_json_404', async () => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/nope' });
  assert.equal(res.statusCode, 404);
});

test('the_openapi_document_lists_every_route_with_its_role_and_schemas', async () => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
  assert.equal(res.statusCode, 200);
  const doc = res.json();
  assert.equal(doc.openapi, '3.1.0');
  const login = doc.paths['/api/v1/auth/login'].post;
  assert.equal(login['x-pgvigil-role'], 'public');
  assert.deepEqual(login.security, []);
  assert.deepEqual(login.requestBody.content['application/json'].schema.required, ['name', 'password']);
  const user = doc.paths['/api/v1/users/{id}'].patch;
  assert.equal(user['x-pgvigil-role'], 'admin');
  assert.deepEqual(
    user.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`),
    ['path:id'],
  );
  assert.ok(user.responses['4XX'], 'error responses are documented');
  const config = doc.paths['/api/v1/agents/{id}/config'].get;
  assert.deepEqual(config.security, [{ agentCredential: [] }]);
  // The document is fed by the same onRoute hook that enforces roles, so every route is in it.
  const operations = Object.values(doc.paths).flatMap((m) => Object.keys(m as object));
  assert.ok(operations.length >= 25, `${operations.length} operations`);
  for (const op of Object.values(doc.paths).flatMap((m) =>
    Object.values(m as Record<string, { 'x-pgvigil-role'?: string }>),
  )) {
    assert.ok(op['x-pgvigil-role'], 'every operation states its role');
  }
});

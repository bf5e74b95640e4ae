/**
 * Agentless targets through the API and the lease, in-process against the run's PostgreSQL: what an
 * admin may add and what is refused (with messages that never repeat the password), what a viewer sees,
 * how the URL is kept in the store, and the lease claim that gives each poll slot to one instance.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PgvigilError } from '../src/errors.js';
import { SecretBox } from '../src/secrets.js';
import { openTargetUrl } from '../src/server/agentless/targets.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { claimDueTargets, releaseLeases } from '../src/storage/queries/agentless.sql.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';
import { createTestUser, type TestUser } from './helpers/users.js';

let ts: TestStore;
let server: App;
let admin: TestUser;
let viewer: TestUser;
// biome-ignore lint/suspicious/noExplicitAny: JSON answers of the API, checked by the assertions
type Json = Record<string, any>;

const box = SecretBox.random();
const password = 'Secret0f5ThisTarget';

before(async () => {
  ts = await createTestStore('agentless_api');
  server = await buildServerApp({
    store: ts.store,
    log: quietLog,
    latestMigration: ts.latest,
    secrets: box,
  });
  admin = await createTestUser(ts.store.pool, 'admin');
  viewer = await createTestUser(ts.store.pool, 'viewer');
});

after(async () => {
  await server.app.close();
  await ts.close();
});

async function post(body: unknown, who: TestUser = admin) {
  const res = await server.app.inject({
    method: 'POST',
    url: '/api/v1/agentless-targets',
    headers: who.headers,
    payload: body as Record<string, unknown>,
  });
  return { status: res.statusCode, text: res.body, body: res.json() as Json };
}

test(`bad_target_urls_are_refused_with_400_naming_the_problem_not_the_password (${testPgLabel})`, async () => {
  for (const [url, why] of [
    [`postgres://mon:${password}@db.example.com/app?sslmode=prefer`, /sslmode=prefer/],
    [`postgres://mon:${password}@db.example.com/app?sslrootcert=/x`, /caPem/],
    [
      `postgres://mon:${password}@db.example.com/app?options=-csearch_path%3D${password}`,
      /options is not supported/,
    ],
    [`mysql://mon:${password}@db.example.com/app`, /postgres:\/\//],
    ['not a url', /not a URL/],
  ] as const) {
    const r = await post({ name: 'bad', url });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error.code, 'BAD_ARGUMENT');
    assert.match(r.body.error.message, why);
    assert.ok(!r.text.includes(password));
  }
  const withCa = await post({
    name: 'bad',
    url: `postgres://mon:${password}@db.example.com/app?sslmode=require`,
    caPem: 'x',
  });
  assert.equal(withCa.status, 400);
  assert.equal((await post({ name: 'bad name!', url: 'postgres://a@b/c' })).status, 400);
  assert.equal((await post({ name: 'ok', url: 'postgres://a@b/c', intervalSeconds: 3601 })).status, 400);
  assert.equal((await post({ name: 'v', url: 'postgres://a@b/c' }, viewer)).status, 403);
});

test(`a_target_is_kept_with_its_url_sealed_and_shown_without_secrets (${testPgLabel})`, async () => {
  const r = await post({
    name: 'rds-orders',
    url: `postgres://monitor:${password}@orders.example.com:6432/orders?sslmode=verify-full`,
    intervalSeconds: 15,
  });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.host, 'orders.example.com');
  assert.equal(r.body.port, 6432);
  assert.equal(r.body.database, 'orders');
  assert.equal(r.body.keyId, box.keyId);
  assert.ok(!r.text.includes(password));
  const pool = ts.store.pool;
  const row = await pool.query<{ url_sealed: Buffer; key_id: string; name: string }>(
    'SELECT url_sealed, key_id, name FROM pgvigil.agentless_targets WHERE target_id = $1',
    [r.body.targetId],
  );
  const stored = row.rows[0]!;
  assert.ok(!stored.url_sealed.includes(Buffer.from(password)));
  assert.equal(openTargetUrl(box, stored), `postgres://monitor:${password}@orders.example.com:6432/orders`);
  // Another key: refused, naming both key ids, never garbled.
  assert.throws(
    () => openTargetUrl(SecretBox.random(), stored),
    (e: unknown) =>
      e instanceof PgvigilError && e.code === 'SECRET_UNREADABLE' && e.message.includes(box.keyId),
  );
  // A seal moved to another target's row does not open (the name is authenticated).
  assert.throws(() => openTargetUrl(box, { ...stored, name: 'other' }), /does not open/);

  for (const url of ['/api/v1/agentless-targets', `/api/v1/agentless-targets/${r.body.targetId}`]) {
    const res = await server.app.inject({ method: 'GET', url, headers: viewer.headers });
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(!res.body.includes(password));
    assert.ok(!res.body.includes('url_sealed') && !res.body.includes('urlSealed'));
  }
  const srv = await server.app.inject({
    method: 'GET',
    url: `/api/v1/servers/${r.body.serverId}`,
    headers: viewer.headers,
  });
  assert.equal(srv.json().agentless, true);
  assert.equal(srv.json().hostMetrics, 'agentless: no host metrics');
  assert.equal(srv.json().targets[0].name, 'rds-orders');
  assert.equal((await post({ name: 'rds-orders', url: 'postgres://a@b/c' })).status, 409);

  const del = await server.app.inject({
    method: 'DELETE',
    url: `/api/v1/agentless-targets/${r.body.targetId}`,
    headers: admin.headers,
  });
  assert.equal(del.statusCode, 204);
  const gone = await server.app.inject({
    method: 'GET',
    url: `/api/v1/servers/${r.body.serverId}`,
    headers: viewer.headers,
  });
  assert.equal(gone.statusCode, 404);
});

test(`each_poll_slot_goes_to_one_instance_and_an_expired_lease_to_another (${testPgLabel})`, async () => {
  const r = await post({ name: 'lease-me', url: 'postgres://m:pw@lease.example.com/db', intervalSeconds: 2 });
  assert.equal(r.status, 201);
  const pool = ts.store.pool;
  const mine = <T extends { name: string }>(rows: T[]) => rows.filter((x) => x.name === 'lease-me');
  // Two instances claim at once: one gets the slot.
  const [a, b] = await Promise.all([
    claimDueTargets(pool, 'instance-a', 1.5, 0),
    claimDueTargets(pool, 'instance-b', 1.5, 0),
  ]);
  assert.equal(mine(a).length + mine(b).length, 1);
  const owner = mine(a).length === 1 ? 'instance-a' : 'instance-b';
  const other = owner === 'instance-a' ? 'instance-b' : 'instance-a';
  // Not due again yet, for either; the other may not take a live lease even when due.
  assert.equal(mine(await claimDueTargets(pool, owner, 1.5, 0)).length, 0);
  await pool.query(
    `UPDATE pgvigil.agentless_targets SET last_poll_at = now() - interval '2100 ms' WHERE name = 'lease-me'`,
  );
  assert.equal(mine(await claimDueTargets(pool, other, 1.5, 0)).length, 0);
  const again = mine(await claimDueTargets(pool, owner, 1.5, 0));
  assert.equal(again.length, 1);
  assert.equal(Number(again[0]!.seq), Number((mine(a)[0] ?? mine(b)[0])!.seq) + 1);
  // The owner dies: once its lease has expired the other takes the target.
  await pool.query(
    `UPDATE pgvigil.agentless_targets SET last_poll_at = now() - interval '3100 ms',
            lease_expires_at = now() - interval '100 ms' WHERE name = 'lease-me'`,
  );
  assert.equal(mine(await claimDueTargets(pool, other, 1.5, 0)).length, 1);
  // A clean stop hands the lease over at once.
  assert.equal(await releaseLeases(pool, other), 1);
  await pool.query(
    `UPDATE pgvigil.agentless_targets SET last_poll_at = now() - interval '2100 ms' WHERE name = 'lease-me'`,
  );
  assert.equal(mine(await claimDueTargets(pool, owner, 1.5, 0)).length, 1);
});

test(`a_target_is_changed_with_its_password_sealed_again_and_its_server_kept (${testPgLabel})`, async () => {
  const r = await post({ name: 'rotate-me', url: 'postgres://mon:OldPassword1@rot.example.com/db' });
  assert.equal(r.status, 201, r.text);
  const patch = (body: unknown, id = r.body.targetId) =>
    server.app.inject({
      method: 'PATCH',
      url: `/api/v1/agentless-targets/${id}`,
      headers: admin.headers,
      payload: body as Record<string, unknown>,
    });
  const changed = await patch({
    url: `postgres://mon:${password}@rot2.example.com:6000/db?sslmode=verify-ca`,
    intervalSeconds: 5,
  });
  assert.equal(changed.statusCode, 200, changed.body);
  assert.ok(!changed.body.includes(password));
  const out = changed.json() as Json;
  assert.equal(out.serverId, r.body.serverId);
  assert.equal(out.host, 'rot2.example.com');
  assert.equal(out.sslmode, 'verify-ca');
  assert.equal(out.intervalSeconds, 5);
  const row = await ts.store.pool.query<{ url_sealed: Buffer; key_id: string; name: string }>(
    'SELECT url_sealed, key_id, name FROM pgvigil.agentless_targets WHERE target_id = $1',
    [r.body.targetId],
  );
  assert.equal(openTargetUrl(box, row.rows[0]!), `postgres://mon:${password}@rot2.example.com:6000/db`);
  assert.equal((await patch({})).statusCode, 400);
  assert.equal((await patch({ intervalSeconds: 5 }, 987654)).statusCode, 404);
  assert.equal((await patch({ url: 'postgres://a@b/c?sslmode=require', caPem: 'x' })).statusCode, 400);
  const viewerPatch = await server.app.inject({
    method: 'PATCH',
    url: `/api/v1/agentless-targets/${r.body.targetId}`,
    headers: viewer.headers,
    payload: { intervalSeconds: 3 },
  });
  assert.equal(viewerPatch.statusCode, 403);
});

/**
 * Fuzz against the real server (fastify inject) on a real store, with a fixed seed (PGVIGIL_FUZZ_SEED
 * replays another): thousands of generated and damaged batches through POST /api/v1/ingest with an
 * enrolled agent's credential, and thousands of generated query strings and path parameters against
 * every GET route the OpenAPI document lists. No answer may be a 5xx, every error must carry a code of
 * the registry (no fastify FST_* code), nothing may be logged as an error, and the whole run is bounded
 * in time.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { errorCodes } from '../src/errors.js';
import { batchMediaType } from '../src/protocol/batch.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import { createTestStore, type TestStore, testPgLabel } from './helpers/db.js';
import { errorCollectingLogger } from './helpers/error-log.js';
import { batchText, mutate, validBatch } from './helpers/fuzz-batches.js';
import { fuzzSeed, mulberry32, type Prng } from './helpers/prng.js';
import { createTestUser } from './helpers/users.js';

let ts: TestStore;
let server: App;
const errors: string[] = [];

before(async () => {
  ts = await createTestStore('fuzz');
  server = await buildServerApp({
    store: ts.store,
    log: errorCollectingLogger(errors),
    latestMigration: ts.latest,
    ingestLimits: { agentRatePerSecond: 1_000_000, agentBurst: 1_000_000 },
  });
});

after(async () => {
  await server.app.close();
  await ts.close();
});

interface Answer {
  status: number;
  body: string;
}

function checkAnswer(what: string, res: Answer, bad: string[]): void {
  if (res.status >= 500) bad.push(`${what}: ${res.status} ${res.body.slice(0, 300)}`);
  if (res.status >= 400) {
    let code: unknown;
    try {
      code = (JSON.parse(res.body) as { error?: { code?: unknown } }).error?.code;
    } catch {}
    if (typeof code !== 'string' || !Object.hasOwn(errorCodes, code))
      bad.push(`${what}: ${res.status} with code ${String(code)}: ${res.body.slice(0, 200)}`);
  }
}

test(`generated_and_damaged_batches_never_get_a_5xx_from_ingest (${testPgLabel})`, {
  timeout: 120_000,
}, async () => {
  const seed = fuzzSeed(7_2026);
  const rng = mulberry32(seed);
  const { token } = await createEnrollToken(ts.store.pool, {});
  const enrolled = await server.app.inject({
    method: 'POST',
    url: '/api/v1/agents/enroll',
    payload: { token, hostname: 'fuzz-host' },
  });
  const agent = enrolled.json() as { agentId: string; credential: string };
  const started = Date.now();
  const bad: string[] = [];
  const statuses = new Map<number, number>();
  const n = 2500;
  for (let i = 0; i < n; i++) {
    const b = validBatch(rng, agent.agentId, 1 + rng.int(i + 1), Date.now());
    for (let m = rng.int(3); m > 0; m--) mutate(rng, b);
    const text = batchText(rng, b);
    let payload: Buffer = gzipSync(Buffer.from(text));
    const headers: Record<string, string> = {
      authorization: `Bearer ${agent.credential}`,
      'content-type': batchMediaType,
      'content-encoding': 'gzip',
    };
    const r = rng.int(20);
    if (r === 0) payload = payload.subarray(0, rng.int(payload.length));
    else if (r === 1) headers['content-encoding'] = rng.pick(['identity', 'br', 'gzip, gzip', '']);
    else if (r === 2)
      headers['content-type'] = rng.pick(['application/json', '', 'text/plain', `${batchMediaType}; x=1`]);
    else if (r === 3) payload = Buffer.from(Array.from({ length: rng.int(200) }, () => rng.int(256)));
    if (headers['content-encoding'] === 'identity') payload = Buffer.from(text);
    const res = await server.app.inject({ method: 'POST', url: '/api/v1/ingest', headers, payload });
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    checkAnswer(
      `seed ${seed} case ${i} (${text.slice(0, 200)})`,
      { status: res.statusCode, body: res.body },
      bad,
    );
    if (bad.length > 10) break;
  }
  const seconds = (Date.now() - started) / 1000;
  assert.deepEqual(bad, [], `seed ${seed}`);
  assert.deepEqual(errors, [], 'nothing logged as an error');
  // Both sides were exercised: batches written, and refused.
  assert.ok((statuses.get(200) ?? 0) > n / 10, JSON.stringify([...statuses]));
  assert.ok((statuses.get(400) ?? 0) > n / 10, JSON.stringify([...statuses]));
  assert.ok(seconds < 60, `${n} batches took ${seconds} s`);
  assert.equal((await server.app.inject({ method: 'GET', url: '/api/v1/health' })).statusCode, 200);
});

interface Param {
  name: string;
  in: 'path' | 'query';
  schema: { type?: string | string[]; enum?: unknown[]; minimum?: number; maximum?: number; items?: unknown };
}

const junk = [
  '',
  'a',
  'main',
  'host_cpu',
  'cpu:total',
  '1h',
  'constructor',
  '__proto__',
  'toString',
  '-1',
  '0',
  '1e308',
  '99999999999999999999',
  '9007199254740993',
  'NaN',
  '1.5',
  'true',
  '12/02/2026 10:00',
  'Wed, 02 Dec 2026 10:00:00 GMT',
  '2026-12-02T10:00:00Z',
  '2026-12-02T10:00:00',
  '+275760-09-13T00:00:00Z',
  "'; DROP TABLE pgvigil.users; --",
  '..',
  '😀',
  'x'.repeat(300),
  'a,b,,c',
  'user_pct,system_pct',
];

/** Percent-encoded forms, some of them invalid on purpose. */
const rawJunk = ['%00', 'a%00b', '%', '%zz', '%ED%A0%80', '%C0%AF', '%FF', '%2e%2e%2f', '%E2%80%AE'];

function encodeValue(rng: Prng, p: Param, serverId: number): string {
  if (rng.chance(0.15)) return rng.pick(rawJunk);
  const s = p.schema;
  let v: string;
  if (s.enum && rng.chance(0.6)) v = String(rng.pick(s.enum));
  else if ((s.type === 'integer' || s.type === 'number') && rng.chance(0.6))
    v = String(
      rng.chance(0.5)
        ? serverId
        : Math.floor((s.minimum ?? 0) + rng.next() * Math.min(1e6, (s.maximum ?? 1e6) - (s.minimum ?? 0))),
    );
  else if ((p.name === 'from' || p.name === 'to') && rng.chance(0.5))
    v = rng.chance(0.5)
      ? new Date(Date.now() - rng.int(86_400_000)).toISOString()
      : String(Date.now() - rng.int(86_400_000));
  else v = rng.pick(junk);
  return encodeURIComponent(v);
}

test(`generated_parameters_never_get_a_5xx_from_any_read_route (${testPgLabel})`, {
  timeout: 120_000,
}, async () => {
  const seed = fuzzSeed(11_2026);
  const rng = mulberry32(seed);
  const admin = await createTestUser(ts.store.pool, 'admin');
  const { rows } = await ts.store.pool.query<{ server_id: string }>(
    'SELECT server_id FROM pgvigil.servers LIMIT 1',
  );
  const serverId = Number(rows[0]?.server_id ?? 1);
  const doc = (await server.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as {
    paths: Record<string, Record<string, { parameters?: Param[] }>>;
  };
  const routes: Array<{ path: string; params: Param[] }> = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    if (methods.get) routes.push({ path, params: methods.get.parameters ?? [] });
  }
  assert.ok(routes.length >= 15, `${routes.length} GET routes`);
  const started = Date.now();
  const bad: string[] = [];
  const n = 3000;
  for (let i = 0; i < n; i++) {
    const route = routes[i % routes.length]!;
    let url = route.path;
    for (const p of route.params.filter((x) => x.in === 'path')) {
      url = url.replace(`{${p.name}}`, encodeValue(rng, p, serverId));
    }
    const query: string[] = [];
    for (const p of route.params.filter((x) => x.in === 'query')) {
      if (rng.chance(0.5)) continue;
      for (let k = rng.chance(0.1) ? 2 : 1; k > 0; k--)
        query.push(`${p.name}=${encodeValue(rng, p, serverId)}`);
    }
    if (rng.chance(0.05)) query.push(`${rng.pick(['nope', 'constructor', '__proto__', '%00'])}=1`);
    if (query.length > 0) url += `?${query.join('&')}`;
    const res = await server.app.inject({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${admin.token}` },
    });
    checkAnswer(`seed ${seed} GET ${url.slice(0, 300)}`, { status: res.statusCode, body: res.body }, bad);
    if (bad.length > 10) break;
  }
  const seconds = (Date.now() - started) / 1000;
  assert.deepEqual(bad, [], `seed ${seed}`);
  assert.deepEqual(errors, [], 'nothing logged as an error');
  assert.ok(seconds < 60, `${n} requests took ${seconds} s`);
});

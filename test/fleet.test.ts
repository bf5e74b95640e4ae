/**
 * GET /api/v1/fleet on a real store (fastify inject): servers in every status, findings in every state,
 * and an hour of host and PostgreSQL samples with a 20-minute hole, written straight into the store's
 * tables at known times so statuses, counts and sparkline values can be asserted exactly — and checked
 * against what GET /api/v1/series answers for the same range and step.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { type App, buildServerApp } from '../src/server/app.js';
import { rollBuckets, rollMinutes } from '../src/server/jobs/rollups.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';
import { roleHeaders } from './helpers/users.js';

let ts: TestStore;
let server: App;
type Json = Record<string, unknown>;
type Point = [number, number];

interface FleetTarget {
  targetId: number;
  name: string;
  status: string;
  serverVersion: string | null;
  connections: Point[];
  tps: Point[];
}
interface FleetServer {
  serverId: number;
  name: string;
  status: string;
  lastSeenAt: string | null;
  findings: { critical: number; warning: number; info: number };
  targets: FleetTarget[];
  cpu: Point[];
  memory: Point[];
}
interface Fleet {
  tier: string;
  stepSeconds: number;
  from: number;
  to: number;
  truncated: boolean;
  servers: FleetServer[];
}

const min = 60_000;
const hour = 60 * min;
const now = Date.now();
/** The sparkline range: the last whole hour of minutes. */
const to = Math.floor(now / min) * min;
const from = to - hour;
/** Minutes [gapStart, gapEnd) of the range have no samples at all. */
const gapStart = from + 20 * min;
const gapEnd = from + 40 * min;

async function get(url: string, role: 'viewer' | 'admin' | null = 'viewer') {
  const res = await server.app.inject({
    method: 'GET',
    url: `/api/v1${url}`,
    headers: role ? await roleHeaders(ts.store.pool, role) : {},
  });
  return { status: res.statusCode, body: res.json() as Json };
}

type Line = Array<number | null>;

/**
 * A sparkline of the answer (a value or null per step of its grid) as the points with a value: checks the
 * grid's shape on the way.
 */
function pointsOf(line: Line, grid: { from: number; to: number; stepSeconds: number }): Point[] {
  const steps = Math.round((grid.to - grid.from) / (grid.stepSeconds * 1000));
  assert.ok(
    line.length === 0 || line.length === steps,
    `a line has ${line.length} values for ${steps} steps`,
  );
  assert.ok(line.length === 0 || line.some((v) => v !== null), 'a line without values is empty');
  const out: Point[] = [];
  line.forEach((v, i) => {
    if (v !== null) out.push([grid.from + i * grid.stepSeconds * 1000, v]);
  });
  return out;
}

async function fleet(query = ''): Promise<Fleet> {
  const res = await get(`/fleet${query ? `?${query}` : ''}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const f = res.body as unknown as Fleet;
  const grid = f as unknown as { from: number; to: number; stepSeconds: number };
  for (const s of f.servers) {
    s.cpu = pointsOf(s.cpu as unknown as Line, grid);
    s.memory = pointsOf(s.memory as unknown as Line, grid);
    for (const t of s.targets) {
      t.connections = pointsOf(t.connections as unknown as Line, grid);
      t.tps = pointsOf(t.tps as unknown as Line, grid);
    }
  }
  return f;
}

async function sql(text: string, values: unknown[] = []) {
  return ts.store.pool.query(text, values);
}

async function newServer(name: string, lastSeenMsAgo: number | null, status: Json = {}): Promise<number> {
  const { rows } = await sql('INSERT INTO pgvigil.servers (name) VALUES ($1) RETURNING server_id', [name]);
  const id = Number(rows[0]!.server_id);
  if (lastSeenMsAgo !== null) {
    await sql(
      `INSERT INTO pgvigil.agents (server_id, agent_id, hostname, last_seen_at, status)
       VALUES ($1, $2, $3, $4, $5)`,
      [id, randomUUID(), name, new Date(now - lastSeenMsAgo), JSON.stringify(status)],
    );
  }
  return id;
}

async function newTarget(serverId: number, name: string, up: boolean | null): Promise<number> {
  const { rows } = await sql(
    `INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, 'postgres', $2) RETURNING target_id`,
    [serverId, name],
  );
  const targetId = Number(rows[0]!.target_id);
  if (up !== null) {
    await sql(
      `INSERT INTO pgvigil.pg_instance (server_id, target_id, ts, up, server_version, error)
       VALUES ($1, $2, $3, $4, '18.1', $5)`,
      [serverId, targetId, new Date(now - 15_000), up, up ? null : 'connection refused'],
    );
  }
  return targetId;
}

async function finding(serverId: number, key: string, severity: string, state: string): Promise<void> {
  const t = new Date(now - 10 * min);
  await sql(
    `INSERT INTO pgvigil.findings (key, check_id, server_id, object, kind, severity, title, explanation, evidence,
                                   action, state, first_seen, last_seen, opened_at)
     VALUES ($1, 'test.check', $2, '', 'alert', $3, 't', 'e', '{}', 'a', $4, $5, $5, $5)`,
    [key, serverId, severity, state, t],
  );
}

/**
 * Samples every 10 s from 5 minutes before the range to its end, except in the hole: host_cpu (total and
 * core 0, whose numbers must not leak into the total), host_memory, pg_instance backends and two databases'
 * transaction counters. Values vary per sample so averages are not trivially constant.
 */
async function loadSamples(serverId: number, targetId: number): Promise<void> {
  const times = `generate_series($2::timestamptz, $3::timestamptz, interval '10 seconds') t
                 WHERE NOT (t >= $4::timestamptz AND t < $5::timestamptz)`;
  const k = `(extract(epoch FROM t)::bigint / 10)`;
  const v = [serverId, new Date(from - 5 * min), new Date(to - 10_000), new Date(gapStart), new Date(gapEnd)];
  await sql(
    `INSERT INTO pgvigil.host_cpu (server_id, ts, cpu, user_pct, idle_pct, iowait_pct)
     SELECT $1, t, c, 10, CASE c WHEN 'total' THEN 70 + ${k} % 6 ELSE 0 END, CASE c WHEN 'total' THEN 2 + ${k} % 3 ELSE 50 END
       FROM ${times.replace('WHERE', "CROSS JOIN unnest(ARRAY['total', '0']) c WHERE")}`,
    v,
  );
  await sql(
    `INSERT INTO pgvigil.host_memory (server_id, ts, total_bytes, available_bytes)
     SELECT $1, t, 8000000000, 6000000000 - (${k} % 4) * 100000000 FROM ${times}`,
    v,
  );
  await sql(
    `INSERT INTO pgvigil.pg_instance (server_id, target_id, ts, up, backends, server_version)
     SELECT $1, $6, t, true, 10 + ${k} % 5, '18.1' FROM ${times}`,
    [...v, targetId],
  );
  await sql(
    `INSERT INTO pgvigil.pg_database (server_id, target_id, ts, datname, xact_commit, xact_rollback)
     SELECT $1, $6, t, d, extract(epoch FROM t)::bigint * (CASE d WHEN 'app' THEN 3 ELSE 1 END), ${k} % 7
       FROM ${times.replace('WHERE', "CROSS JOIN unnest(ARRAY['app', 'postgres']) d WHERE")}`,
    [...v, targetId],
  );
}

let alpha: number;
let alphaTarget: number;
let beta: number;
let gamma: number;
let delta: number;
let never: number;

before(async () => {
  ts = await createTestStore('fleet');
  server = await buildServerApp({
    store: ts.store,
    log: quietLog,
    latestMigration: ts.latest,
    credentialCacheMs: 0,
    // Each test changes the data and asks again: no shared answer (FleetCache has its own tests).
    fleetCache: { maxAgeMs: 0 },
  });
  alpha = await newServer('db-alpha', 5_000, { collectors: [{ name: 'cpu', status: 'ok' }] });
  alphaTarget = await newTarget(alpha, 'main', true);
  beta = await newServer('db-beta', 5_000);
  await newTarget(beta, 'pg-beta', false);
  gamma = await newServer('web-gamma', 10 * min);
  await newTarget(gamma, 'orders-db', true);
  delta = await newServer('db-delta', 5_000, {
    collectors: [{ name: 'pressure', status: 'failing', lastError: 'no /proc/pressure' }],
  });
  never = await newServer('db-never', null);

  await finding(beta, 'k1', 'critical', 'open');
  await finding(beta, 'k2', 'critical', 'open');
  await finding(beta, 'k3', 'warning', 'acknowledged');
  await finding(beta, 'k4', 'info', 'silenced');
  await finding(beta, 'k5', 'warning', 'resolved');
  await finding(alpha, 'k6', 'info', 'open');

  await loadSamples(alpha, alphaTarget);
  // The hours before the current one rolled into the minute tier, as the rollup job would; the current one
  // pending (as the writer records it), its minutes rolled up to the job's grace.
  for (let h = Math.floor((from - 5 * min) / hour) * hour; h < Math.floor(now / hour) * hour; h += hour) {
    await rollBuckets(ts.store.pool, { tier: 'hourly', serverIds: [alpha], bucketStart: new Date(h) });
  }
  await sql(`INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket) VALUES ($1, 'hourly', $2)`, [
    alpha,
    new Date(Math.floor(now / hour) * hour),
  ]);
  await rollMinutes(ts.store.pool, { now: new Date(now) });
});

after(async () => {
  await server.app.close();
  await ts.close();
});

const byName = (f: Fleet) => new Map(f.servers.map((s) => [s.name, s]));

/** The /series points of one family's metrics for a server, summed over label series per step. */
async function seriesSums(
  query: Record<string, string>,
  metrics: string[],
): Promise<{ stepSeconds: number; tier: string; steps: Map<number, number[]> }> {
  const qs = new URLSearchParams({ ...query, metrics: metrics.join(',') });
  const res = await get(`/series?${qs}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const body = res.body as {
    stepSeconds: number;
    tier: string;
    series: Array<{ metric: string; points: Array<[number, number]> }>;
  };
  const steps = new Map<number, number[]>();
  for (const s of body.series) {
    const i = metrics.indexOf(s.metric);
    for (const [t, v] of s.points) {
      const row = steps.get(t) ?? metrics.map(() => 0);
      row[i]! += v;
      steps.set(t, row);
    }
  }
  return { stepSeconds: body.stepSeconds, tier: body.tier, steps };
}

function assertSamePoints(what: string, got: Point[], want: Array<[number, number]>): void {
  assert.deepEqual(
    got.map((p) => p[0]),
    want.map((p) => p[0]),
    `${what}: steps`,
  );
  // Sparklines carry four significant digits.
  got.forEach(([t, v], i) => {
    const w = want[i]![1];
    assert.ok(Math.abs(v - w) <= 5e-4 * Math.abs(w) + 1e-9, `${what} at ${t}: ${v} ≠ ${w}`);
    assert.equal(Number(v.toPrecision(4)), v, `${what}: ${v} has at most four significant digits`);
  });
}

/** Every sparkline of alpha against /series with the same range and step. */
async function compareWithSeries(range: { from: number; to: number }): Promise<Fleet> {
  const f = await fleet(`q=alpha&from=${range.from}&to=${range.to}`);
  const a = f.servers[0]!;
  const base = {
    server: String(alpha),
    from: String(range.from),
    to: String(range.to),
    step: `${f.stepSeconds}s`,
    tier: f.tier,
  };
  const cpu = await seriesSums({ ...base, family: 'host_cpu', label: 'cpu:total' }, [
    'idle_pct',
    'iowait_pct',
  ]);
  assert.equal(cpu.stepSeconds, f.stepSeconds);
  assert.equal(cpu.tier, f.tier);
  assertSamePoints(
    'cpu',
    a.cpu,
    [...cpu.steps].map(([t, [idle, iowait]]) => [t, 100 - idle! - iowait!]),
  );
  const mem = await seriesSums({ ...base, family: 'host_memory' }, ['total_bytes', 'available_bytes']);
  assertSamePoints(
    'memory',
    a.memory,
    [...mem.steps].map(([t, [total, avail]]) => [t, (100 * (total! - avail!)) / total!]),
  );
  const tgt = { ...base, target: String(alphaTarget) };
  const conn = await seriesSums({ ...tgt, family: 'pg_instance' }, ['backends']);
  assertSamePoints(
    'connections',
    a.targets[0]!.connections,
    [...conn.steps].map(([t, [b]]) => [t, b!]),
  );
  const tps = await seriesSums({ ...tgt, family: 'pg_database' }, ['xact_commit', 'xact_rollback']);
  assertSamePoints(
    'tps',
    a.targets[0]!.tps,
    [...tps.steps].map(([t, [c, r]]) => [t, (c! + r!) / f.stepSeconds]),
  );
  return f;
}

describe(`GET /api/v1/fleet (${testPgLabel})`, () => {
  test('every_server_gets_its_status_from_deliveries_targets_and_collectors', async () => {
    const f = byName(await fleet());
    assert.deepEqual(
      [...f.keys()],
      ['db-alpha', 'db-beta', 'db-delta', 'db-never', 'web-gamma'],
      'ordered by name',
    );
    assert.equal(f.get('db-alpha')!.status, 'ok');
    assert.equal(f.get('db-beta')!.status, 'down');
    assert.equal(f.get('db-beta')!.targets[0]!.status, 'down');
    assert.equal(f.get('db-delta')!.status, 'degraded');
    assert.equal(f.get('web-gamma')!.status, 'silent', 'nothing for 10 minutes');
    assert.equal(f.get('db-never')!.status, 'silent', 'never delivered');
    assert.equal(f.get('db-never')!.lastSeenAt, null);
    const main = f.get('db-alpha')!.targets[0]!;
    assert.deepEqual(
      [main.targetId, main.name, main.status, main.serverVersion],
      [alphaTarget, 'main', 'up', '18.1'],
    );
    assert.equal(f.get('db-alpha')!.serverId, alpha);
  });

  test('findings_are_counted_by_severity_when_open_or_acknowledged_only', async () => {
    const f = byName(await fleet());
    assert.deepEqual(f.get('db-beta')!.findings, { critical: 2, warning: 1, info: 0 });
    assert.deepEqual(f.get('db-alpha')!.findings, { critical: 0, warning: 0, info: 1 });
    assert.deepEqual(f.get('db-delta')!.findings, { critical: 0, warning: 0, info: 0 });
  });

  test('sparklines_over_the_last_hour_equal_what_series_gives_for_the_same_range_step_and_tier', async () => {
    const f = await compareWithSeries({ from, to });
    assert.equal(f.tier, 'minute', 'minute steps read the minute tier (and raw rows for its unrolled tail)');
    assert.equal(f.stepSeconds, 60);
    assert.equal(f.from, from);
    assert.equal(f.to, to);
    const a = f.servers[0]!;
    // 40 minutes with samples, at most 60 points.
    assert.equal(a.cpu.length, 40);
    // A minute of total: idle averages 72.5 and iowait 3 over its six samples (k mod 6, k mod 3 cycles).
    const mid = a.cpu.find((p) => p[0] === from + 10 * min)!;
    assert.ok(Math.abs(mid[1]! - 24.5) < 1e-9, `cpu busy ${mid[1]}`);
    const tpsMid = a.targets[0]!.tps.find((p) => p[0] === from + 10 * min)!;
    // app commits 3/s, postgres 1/s, rollbacks (k mod 7) grow by 6 per minute except at a wrap.
    assert.ok(tpsMid[1]! >= 4 && tpsMid[1]! <= 4.2 + 1e-9, `tps ${tpsMid[1]}`);
  });

  test('the_answer_is_compressed_as_the_client_accepts_brotli_before_gzip', async () => {
    const plain = await fleet();
    const headers = await roleHeaders(ts.store.pool, 'viewer');
    // The default view (one shared answer, compressed once per coding) and another (the compression plugin).
    for (const [url, accept, coding, decode] of [
      ['/api/v1/fleet', 'gzip', 'gzip', gunzipSync],
      ['/api/v1/fleet', 'gzip, deflate, br, zstd', 'br', brotliDecompressSync],
      ['/api/v1/fleet?limit=1999', 'gzip', 'gzip', gunzipSync],
      ['/api/v1/fleet?limit=1999', 'gzip, deflate, br, zstd', 'br', brotliDecompressSync],
    ] as const) {
      const res = await server.app.inject({
        method: 'GET',
        url,
        headers: { ...headers, 'accept-encoding': accept },
      });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-encoding'], coding);
      const body = decode(res.rawPayload);
      assert.ok(
        res.rawPayload.length < body.length / 3,
        `${coding}: ${res.rawPayload.length} of ${body.length} bytes`,
      );
      assert.deepEqual(JSON.parse(body.toString()).servers.length, plain.servers.length);
    }
  });

  test('steps_without_samples_are_absent_never_zero', async () => {
    const a = (await fleet('q=alpha')).servers[0]!;
    for (const line of [a.cpu, a.memory, a.targets[0]!.connections]) {
      assert.ok(line.length > 0);
      assert.ok(!line.some(([t]) => t >= gapStart && t < gapEnd), 'no point in the hole');
      assert.ok(
        line.every(([, v]) => typeof v === 'number' && v > 0),
        JSON.stringify(line.filter(([, v]) => !(v > 0))),
      );
    }
    // A server without samples has empty sparklines, not zeros.
    const d = (await fleet('q=delta')).servers[0]!;
    assert.deepEqual([d.cpu, d.memory], [[], []]);
  });

  test('a_six_hour_range_reads_the_minute_tier_and_still_equals_series', async () => {
    const f = await compareWithSeries({ from: to - 6 * hour, to });
    assert.equal(f.tier, 'minute');
    assert.ok(f.servers[0]!.cpu.length > 0 && f.servers[0]!.cpu.length <= 61);
  });

  test('q_matches_server_or_target_names_case_insensitively_and_status_filters', async () => {
    assert.deepEqual(
      (await fleet('q=ALPHA')).servers.map((s) => s.name),
      ['db-alpha'],
    );
    assert.deepEqual(
      (await fleet('q=Orders')).servers.map((s) => s.name),
      ['web-gamma'],
    );
    assert.deepEqual((await fleet('q=%25')).servers, [], '% is a plain character');
    assert.deepEqual(
      (await fleet('status=down')).servers.map((s) => s.serverId),
      [beta],
    );
    assert.deepEqual(
      (await fleet('status=silent&status=degraded')).servers.map((s) => s.serverId),
      [delta, never, gamma],
    );
    assert.deepEqual(
      (await fleet('q=db-&status=silent')).servers.map((s) => s.name),
      ['db-never'],
    );
  });

  test('limit_bounds_the_answer_and_says_it_was_truncated', async () => {
    const two = await fleet('limit=2');
    assert.deepEqual(
      two.servers.map((s) => s.name),
      ['db-alpha', 'db-beta'],
    );
    assert.equal(two.truncated, true);
    assert.equal((await fleet('limit=5')).truncated, false);
    assert.equal((await fleet('status=silent&limit=1')).truncated, true);
    for (const bad of [
      'limit=0',
      'limit=5001',
      'limit=x',
      'status=up',
      'from=yesterday',
      `from=${to}&to=${from}`,
    ]) {
      const res = await get(`/fleet?${bad}`);
      assert.equal(res.status, 400, `${bad}: ${JSON.stringify(res.body)}`);
      assert.equal((res.body.error as Json).code, 'BAD_ARGUMENT', bad);
    }
  });

  test('a_viewer_may_read_and_without_credentials_it_is_refused', async () => {
    assert.equal((await get('/fleet', 'viewer')).status, 200);
    const anon = await get('/fleet', null);
    assert.equal(anon.status, 401);
  });
});

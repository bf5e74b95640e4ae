/**
 * The read API (servers, node and container metrics, PostgreSQL views, logs, gaps) in-process
 * (fastify inject) on a real store: data goes in through real ingest or straight into the store's tables
 * with known values and times, and each endpoint must give back exactly what was stored.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { batchMediaType } from '../src/protocol/batch.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import { inBackgroundRead, inReadSnapshot } from '../src/storage/tx.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';
import { getAsRole, getOkAsRole } from './helpers/users.js';
import { until } from './helpers/wait.js';

let ts: TestStore;
let server: App;
type Json = Record<string, unknown>;
type Role = 'viewer' | 'user' | 'admin';

const now = Date.now();
const ago = (ms: number) => new Date(now - ms);
const min = 60_000;

const get = (url: string, role: Role = 'viewer') => getAsRole(server.app, ts.store.pool, url, role);
const ok = (url: string, role: Role = 'viewer') => getOkAsRole(server.app, ts.store.pool, url, role);

/** Inserts rows into a pgvigil table (names are the test's own constants). */
async function insert(table: string, rows: Json[]): Promise<void> {
  for (const row of rows) {
    const cols = Object.keys(row);
    const values = cols.map((c) => {
      const v = row[c];
      return v !== null && typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : v;
    });
    await ts.store.pool.query(
      `INSERT INTO pgvigil.${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
      values,
    );
  }
}

async function newServer(name: string): Promise<number> {
  const { rows } = await ts.store.pool.query<{ server_id: number }>(
    'INSERT INTO pgvigil.servers (name) VALUES ($1) RETURNING server_id',
    [name],
  );
  return Number(rows[0]!.server_id);
}

async function newAgent(serverId: number, fields: Json = {}): Promise<string> {
  const agentId = randomUUID();
  await insert('agents', [{ server_id: serverId, agent_id: agentId, hostname: `h-${serverId}`, ...fields }]);
  return agentId;
}

async function newTarget(serverId: number, name: string): Promise<number> {
  const { rows } = await ts.store.pool.query<{ target_id: number }>(
    `INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, 'postgres', $2) RETURNING target_id`,
    [serverId, name],
  );
  return Number(rows[0]!.target_id);
}

// Server A: a host with a PostgreSQL target, fully loaded. Times are fixed offsets from `now`.
let a: number;
let agentA: string;
let target: number;
const tsC = ago(20_000); // newest PostgreSQL collection
const tsH = ago(15_000); // newest host collection
const bigQueryId = '-8765432109876543210';

before(async () => {
  ts = await createTestStore('readapi');
  server = await buildServerApp({
    store: ts.store,
    log: quietLog,
    latestMigration: ts.latest,
    credentialCacheMs: 0,
  });

  a = await newServer('db-a');
  agentA = await newAgent(a, {
    agent_version: '1.2.3',
    last_seen_at: ago(5_000),
    status: {
      collectors: [
        { name: 'cpu', status: 'ok', lastError: null },
        { name: 'pressure', status: 'failing', lastError: 'no /proc/pressure' },
        { name: 'containers', status: 'not_applicable', lastError: 'no cgroup' },
      ],
    },
  });
  target = await newTarget(a, 'main');
  const tgt = { server_id: a, target_id: target };

  // Host families.
  await insert('host_cpu', [
    { server_id: a, ts: tsH, cpu: 'total', user_pct: 12.5, system_pct: 2.5, idle_pct: 85 },
    { server_id: a, ts: tsH, cpu: '10', user_pct: 1 },
    { server_id: a, ts: tsH, cpu: '2', user_pct: 2 },
    { server_id: a, ts: tsH, cpu: '0', user_pct: 3 },
    { server_id: a, ts: ago(25_000), cpu: 'total', user_pct: 99 },
  ]);
  await insert('host_memory', [
    { server_id: a, ts: tsH, total_bytes: 8_000_000_000, available_bytes: 6_000_000_000, swap_used_bytes: 0 },
  ]);
  await insert('host_load', [{ server_id: a, ts: ago(2 * 3_600_000), load1: 1.5, load5: 1.25, load15: 1 }]);
  await insert('host_disk', [
    { server_id: a, ts: tsH, device: 'sda', reads_per_s: 10, util_pct: 5.5 },
    { server_id: a, ts: ago(25_000), device: 'sdb', reads_per_s: 1 },
  ]);
  await insert('host_filesystem', [
    {
      server_id: a,
      ts: tsH,
      mountpoint: '/',
      fstype: 'ext4',
      size_bytes: 100,
      used_bytes: 40,
      avail_bytes: 55,
    },
  ]);
  await insert('host_network', [{ server_id: a, ts: tsH, interface: 'eth0', rx_bytes_per_s: 1000.5 }]);
  await insert('host_process', [
    { server_id: a, ts: tsH, watch: 'postgres', up: true, processes: 7, state: 'sleeping', cpu_pct: 3.5 },
    { server_id: a, ts: tsH, watch: '/pgbouncer/', up: false, processes: 0, state: 'missing' },
  ]);
  await insert('host_container', [
    {
      server_id: a,
      ts: ago(60_000),
      runtime: 'docker',
      id: 'abc123def',
      cpu_pct: 50,
      memory_current_bytes: 100,
    },
    { server_id: a, ts: ago(60_000), runtime: 'docker', id: 'abd999', cpu_pct: 7, memory_current_bytes: 200 },
    {
      server_id: a,
      ts: ago(20_000),
      runtime: 'docker',
      id: 'abc123def',
      cpu_pct: 25,
      memory_current_bytes: 150,
    },
  ]);

  // The newest PostgreSQL collection and an older one that must not show.
  await insert('pg_instance', [
    { ...tgt, ts: ago(50_000), up: true, server_version: '18.0' },
    { ...tgt, ts: tsC, up: true, server_version: '18.1', in_recovery: false },
  ]);
  const familiesOk = [
    'pg_activity',
    'pg_wait_events',
    'pg_lock_waits',
    'pg_xmin_holders',
    'pg_replication',
    'pg_replication_slots',
  ];
  await insert('pg_collector', [
    ...familiesOk.map((family) => ({ ...tgt, ts: tsC, family, datname: '', ok: true })),
    { ...tgt, ts: tsC, family: 'pg_locks', datname: '', ok: false, error: 'permission denied for pg_locks' },
    {
      ...tgt,
      ts: ago(50_000),
      family: 'pg_tables',
      datname: 'app',
      ok: false,
      error: 'was failing, then fixed',
    },
    { ...tgt, ts: tsC, family: 'pg_tables', datname: 'app', ok: true },
  ]);
  await insert('pg_activity', [
    {
      ...tgt,
      ts: tsC,
      datname: 'app',
      usename: 'alice',
      application_name: 'psql',
      backend_type: 'client backend',
      state: 'active',
      count: 3,
      waiting: 2,
      blocked: 2,
      max_xact_age_s: 12.5,
      max_query_age_s: 5.5,
    },
    {
      ...tgt,
      ts: tsC,
      datname: 'app',
      usename: 'bob',
      application_name: 'web',
      backend_type: 'client backend',
      state: 'idle in transaction',
      count: 1,
      waiting: 0,
      blocked: 0,
      max_xact_age_s: 300,
    },
    // Sessions of another role the agent's role may not see: everything but their count unknown.
    {
      ...tgt,
      ts: tsC,
      datname: 'app',
      usename: 'carol',
      application_name: '',
      backend_type: '',
      state: '',
      count: 2,
      waiting: null,
      blocked: null,
    },
    {
      ...tgt,
      ts: ago(50_000),
      datname: 'app',
      usename: 'old',
      application_name: 'old',
      backend_type: 'client backend',
      state: 'active',
      count: 99,
    },
  ]);
  await insert('pg_wait_events', [
    { ...tgt, ts: tsC, wait_event_type: 'Lock', wait_event: 'transactionid', count: 2 },
    { ...tgt, ts: tsC, wait_event_type: 'IO', wait_event: 'DataFileRead', count: 1 },
  ]);
  await insert('pg_lock_waits', [
    {
      ...tgt,
      ts: tsC,
      pid: 101,
      blocking_pids: '100',
      wait_s: 5.5,
      query: 'UPDATE t SET x = 1 WHERE id = 7',
    },
    { ...tgt, ts: tsC, pid: 102, blocking_pids: '101,100', wait_s: 2, query: 'UPDATE t SET x = 2' },
  ]);
  // The head blocker 100 holds the oldest transaction: pg_xmin_holders has its statement.
  await insert('pg_xmin_holders', [
    {
      ...tgt,
      ts: tsC,
      holder: 'session',
      ident: '100',
      xmin_age: 40,
      age_s: 300,
      datname: 'app',
      usename: 'bob',
      state: 'idle in transaction',
      application_name: 'web',
      query: 'UPDATE t SET x = 0 WHERE id = 7',
    },
    { ...tgt, ts: tsC, holder: 'replication_slot', ident: '100', xmin_age: 50 },
  ]);
  await insert('pg_replication', [
    {
      ...tgt,
      ts: tsC,
      application_name: 'standby1',
      client_addr: '10.0.0.2',
      pid: 555,
      state: 'streaming',
      replay_lag_bytes: 300,
      replay_lag_s: 0.3,
    },
  ]);
  await insert('pg_replication_slots', [
    { ...tgt, ts: tsC, slot_name: 'slot_a', slot_type: 'physical', active: true, retained_bytes: 1_048_576 },
  ]);

  // Statements: two intervals in the last hour and one three hours ago.
  const stmt = (at: Date, queryid: string, calls: number, exec: number, read: number) => ({
    ...tgt,
    ts: at,
    queryid,
    dbid: 5,
    userid: 10,
    datname: 'app',
    usename: 'alice',
    interval_s: 30,
    calls,
    exec_time_ms: exec,
    plan_time_ms: 0.5,
    rows: calls,
    shared_blks_read: read,
    temp_blks_written: 1,
  });
  await insert('pg_statements', [
    stmt(ago(40 * min), bigQueryId, 10, 100.5, 5),
    stmt(ago(10 * min), bigQueryId, 30, 50.25, 7),
    stmt(ago(180 * min), bigQueryId, 1000, 9999, 1),
    stmt(ago(10 * min), '42', 100, 20, 100),
  ]);
  await insert('pg_statement_texts', [
    {
      ...tgt,
      ts: ago(40 * min),
      queryid: bigQueryId,
      dbid: 5,
      userid: 10,
      query: 'SELECT * FROM t WHERE id = $1',
      truncated: false,
    },
  ]);

  // Tables, indexes and settings: older snapshots must give way to the newest.
  const tsT = ago(45_000);
  await insert('pg_tables', [
    {
      ...tgt,
      ts: tsT,
      datname: 'app',
      schemaname: 'public',
      relname: 'big',
      n_live_tup: 900,
      n_dead_tup: 100,
      dead_pct: 10,
      last_autovacuum: ago(3_600_000),
      table_bytes: 1_000_000,
      toast_bytes: 8192,
      indexes_bytes: 16_384,
      total_bytes: 1_024_576,
    },
    {
      ...tgt,
      ts: tsT,
      datname: 'app',
      schemaname: 'public',
      relname: 'empty',
      n_live_tup: 0,
      n_dead_tup: 0,
      table_bytes: 8192,
      total_bytes: 8192,
    },
    { ...tgt, ts: ago(10 * min), datname: 'app', schemaname: 'public', relname: 'dropped', total_bytes: 1 },
  ]);
  const idx = (indexrelname: string, fields: Json) => ({
    ...tgt,
    ts: tsT,
    datname: 'app',
    schemaname: 'public',
    relname: 'big',
    indexrelname,
    ...fields,
  });
  await insert('pg_indexes', [
    idx('big_pkey', { idx_scan: 0, size_bytes: 3000, is_unique: true, is_primary: true, unused: false }),
    idx('big_unused', { idx_scan: 0, size_bytes: 2000, is_unique: false, is_primary: false, unused: true }),
    idx('big_used', { idx_scan: 50, size_bytes: 1000, is_unique: false, is_primary: false, unused: false }),
  ]);
  await insert('pg_settings', [
    {
      ...tgt,
      ts: ago(86_400_000),
      name: 'work_mem',
      setting: '65536',
      unit: 'kB',
      source: 'configuration file',
    },
    {
      ...tgt,
      ts: ago(3_600_000),
      name: 'work_mem',
      setting: '131072',
      unit: 'kB',
      source: 'configuration file',
    },
    {
      ...tgt,
      ts: ago(3_600_000),
      name: 'max_connections',
      setting: '200',
      unit: '',
      source: 'configuration file',
      is_default: false,
    },
    // sent for the checks although at its default: not a changed setting
    {
      ...tgt,
      ts: ago(3_600_000),
      name: 'shared_buffers',
      setting: '16384',
      unit: '8kB',
      source: 'default',
      is_default: true,
    },
  ]);
});

after(async () => {
  await server.app.close();
  await ts.close();
});

describe(`servers (${testPgLabel})`, () => {
  test('a_server_shows_last_seen_agents_targets_and_what_is_degraded', async () => {
    const s = await ok(`/servers/${a}`);
    assert.equal(s.name, 'db-a');
    assert.equal(s.status, 'degraded');
    assert.equal(s.lastSeenAt, ago(5_000).toISOString());
    const agents = s.agents as Json[];
    assert.deepEqual(
      agents.map((x) => [x.agentId, x.version]),
      [[agentA, '1.2.3']],
    );
    assert.equal(((agents[0]!.status as Json).collectors as Json[]).length, 3);
    const targets = s.targets as Json[];
    assert.equal(targets.length, 1);
    assert.equal(targets[0]!.name, 'main');
    assert.equal(targets[0]!.status, 'degraded');
    assert.equal(targets[0]!.serverVersion, '18.1');
    assert.equal(targets[0]!.lastCollectedAt, tsC.toISOString());
    // Failing now: the agent's pressure collector and pg_locks; not the recovered pg_tables nor the
    // not-applicable containers collector.
    assert.deepEqual(
      (s.degraded as Json[]).map((d) => [d.source, d.name, d.error]),
      [
        ['agent', 'pressure', 'no /proc/pressure'],
        ['postgres', 'pg_locks', 'permission denied for pg_locks'],
      ],
    );
    const t = await ok(`/servers/${a}/targets`);
    const withoutAge = (list: Json[]) => list.map(({ ageSeconds: _age, ...rest }) => rest);
    assert.deepEqual(withoutAge(t.targets as Json[]), withoutAge(targets));
  });

  test('servers_page_by_name_without_repeats_or_holes', async () => {
    const names = ['page-1', 'page-2', 'page-3', 'page-4', 'page-5'];
    for (const n of names) await newServer(n);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const body: Json = await ok(`/servers?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      const list = body.servers as Json[];
      assert.ok(list.length <= 2);
      seen.push(...list.map((x) => x.name as string));
      cursor = body.nextCursor as string | null;
      pages++;
    } while (cursor && pages < 50);
    const all = seen.filter((n) => n.startsWith('page-'));
    assert.deepEqual(all, names);
    assert.equal(new Set(seen).size, seen.length);
    const never = ((await ok('/servers?limit=500')).servers as Json[]).find((x) => x.name === 'page-1')!;
    assert.equal(never.status, 'never-seen');
    assert.equal(never.lastSeenAt, null);
  });

  test('unknown_ids_are_404_and_malformed_ones_400', async () => {
    for (const url of [
      '/servers/987654',
      '/servers/987654/targets',
      '/servers/987654/node',
      '/servers/987654/containers',
      `/servers/${a}/targets/no-such-target/activity`,
      `/servers/${a}/targets/987654/tables`,
      `/servers/${a}/containers/zzz`,
      '/gaps?server=987654',
    ]) {
      const res = await get(url);
      assert.equal(res.status, 404, url);
      assert.equal((res.body.error as Json).code, 'NOT_FOUND');
      assert.match((res.body.error as Json).message as string, /987654|no-such-target|zzz/);
    }
    for (const url of [
      '/servers/abc',
      '/servers?limit=0',
      '/servers?limit=100000',
      '/servers?cursor=bm90IGpzb24',
      `/servers/${a}/node?window=1`,
      `/servers/${a}/targets/main/statements?order=bogus`,
      `/servers/${a}/targets/main/statements?from=yesterday`,
      `/servers/${a}/targets/main/statements?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z`,
      '/logs?level=loud',
      '/logs?fingerprint=xyz',
      '/logs?before=garbage',
      '/logs/counts?step=1&from=2026-01-01T00:00:00Z&to=2026-01-08T00:00:00Z',
      '/gaps',
    ]) {
      const res = await get(url);
      assert.equal(res.status, 400, `${url}: ${JSON.stringify(res.body)}`);
      assert.ok((res.body.error as Json).message, url);
    }
  });

  test('a_read_past_the_timeout_is_cancelled_as_QUERY_TIMEOUT_and_its_connection_reused', async () => {
    await assert.rejects(
      inReadSnapshot(ts.store.pool, 50, (c) => c.query('SELECT pg_sleep(5)')),
      (err: Error & { code?: string; status?: number }) =>
        err.code === 'QUERY_TIMEOUT' && err.status === 503 && /narrow the time range/.test(err.message),
    );
    // A job's read says so in its own words, without parallel workers.
    await assert.rejects(
      inBackgroundRead(ts.store.pool, 50, { from: new Date(), to: new Date() }, (c) =>
        c.query('SELECT pg_sleep(5)'),
      ),
      (err: Error & { code?: string }) =>
        err.code === 'QUERY_TIMEOUT' &&
        err.message === 'a background read took longer than its 50 ms statement timeout',
    );
    assert.equal(
      await inBackgroundRead(ts.store.pool, 1000, { from: new Date(), to: new Date() }, async (c) =>
        Number(
          (await c.query('SHOW max_parallel_workers_per_gather')).rows[0].max_parallel_workers_per_gather,
        ),
      ),
      0,
    );
    const n = await inReadSnapshot(
      ts.store.pool,
      1000,
      async (c) => (await c.query('SELECT 1 AS n')).rows[0].n,
    );
    assert.equal(n, 1);
    await assert.rejects(
      inReadSnapshot(ts.store.pool, 1000, (c) => c.query('CREATE TABLE pgvigil.nope (x int)')),
      /read-only transaction/,
    );
  });

  test('a_read_snapshot_runs_its_first_statement_with_BEGIN_in_the_snapshot_and_answers_before_its_COMMIT', async () => {
    const pool = new pg.Pool({ connectionString: ts.db.url, max: 1 });
    try {
      const snapshot =
        'SELECT pg_current_snapshot()::text AS s, current_setting($$transaction_read_only$$) AS ro';
      const { first, later } = await inReadSnapshot(
        pool,
        1000,
        async (c, first) => ({ first, later: (await c.query(snapshot)).rows[0] }),
        undefined,
        { first: snapshot },
      );
      assert.deepEqual(first, [later]);
      assert.equal(later.ro, 'on');
      // The answer came while its COMMIT is still on the way: the one connection is not yet back in the pool.
      assert.equal(pool.idleCount, 0);
      await until(() => pool.idleCount === 1, 5_000);
      // Without `first`, no rows; one connection serves read after read.
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(await inReadSnapshot(pool, 1000, async (_c, rows) => rows), []);
      }
    } finally {
      await pool.end();
    }
  });

  test('a_batch_pushed_by_an_enrolled_agent_shows_in_its_server_and_node', async () => {
    const { token } = await createEnrollToken(ts.store.pool, {});
    const enroll = await server.app.inject({
      method: 'POST',
      url: '/api/v1/agents/enroll',
      payload: { token, hostname: 'ingested-host', agentVersion: 'test-9' },
    });
    assert.equal(enroll.statusCode, 201, enroll.body);
    const agent = enroll.json() as { agentId: string; serverId: number; credential: string };
    const at = Date.now() - 2000;
    const batch = {
      v: 1,
      agentId: agent.agentId,
      seq: 1,
      sealedAt: at,
      families: {
        host_cpu: {
          columns: ['ts', 'cpu', 'user_pct', 'system_pct', 'idle_pct'],
          rows: [
            [at, 'total', 10.5, 3.25, 86.25],
            [at, '0', 10.5, 3.25, 86.25],
          ],
        },
        host_load: { columns: ['ts', 'load1', 'load5', 'load15'], rows: [[at, 0.5, 0.25, 0.125]] },
      },
      status: { collectors: [{ name: 'disk', status: 'failing', lastError: 'diskstats unreadable' }] },
    };
    const push = await server.app.inject({
      method: 'POST',
      url: '/api/v1/ingest',
      headers: {
        authorization: `Bearer ${agent.credential}`,
        'content-type': batchMediaType,
        'content-encoding': 'gzip',
      },
      payload: gzipSync(Buffer.from(JSON.stringify(batch))),
    });
    assert.equal(push.statusCode, 200, push.body);
    // The self-report is saved after the answer (best effort), so wait for it.
    await until(async () => ((await ok(`/servers/${agent.serverId}`)).degraded as Json[]).length > 0, 10_000);
    const s = await ok(`/servers/${agent.serverId}`);
    assert.equal(s.status, 'degraded');
    assert.ok(s.lastSeenAt !== null && (s.ageSeconds as number) < 60, `last seen ${s.lastSeenAt}`);
    assert.deepEqual(
      (s.agents as Json[]).map((x) => [x.agentId, x.version]),
      [[agent.agentId, 'test-9']],
    );
    assert.deepEqual((s.degraded as Json[])[0], {
      source: 'agent',
      name: 'disk',
      agentId: agent.agentId,
      targetId: null,
      target: null,
      datname: null,
      error: 'diskstats unreadable',
      ts: null,
    });
    const node = await ok(`/servers/${agent.serverId}/node`);
    const cpu = node.cpu as Json;
    assert.equal(cpu.ts, new Date(at).toISOString());
    assert.deepEqual(
      [(cpu.total as Json).user_pct, (cpu.total as Json).system_pct, (cpu.total as Json).idle_pct],
      [10.5, 3.25, 86.25],
    );
    assert.deepEqual(node.load, {
      ts: new Date(at).toISOString(),
      ageSeconds: (node.load as Json).ageSeconds,
      load1: 0.5,
      load5: 0.25,
      load15: 0.125,
    });
    assert.equal(node.memory, null);
  });
});

describe(`node and containers (${testPgLabel})`, () => {
  test('node_gives_the_newest_collection_per_family_and_null_without_recent_data', async () => {
    const n = await ok(`/servers/${a}/node`);
    assert.equal(n.window, 600);
    const cpu = n.cpu as Json;
    assert.equal(cpu.ts, tsH.toISOString());
    assert.ok((cpu.ageSeconds as number) >= 15);
    assert.equal((cpu.total as Json).user_pct, 12.5);
    assert.equal((cpu.total as Json).nice_pct, null, 'a column never sent stays null');
    assert.deepEqual(
      (cpu.cores as Json[]).map((c) => [c.cpu, c.user_pct]),
      [
        ['0', 3],
        ['2', 2],
        ['10', 1],
      ],
    );
    const mem = n.memory as Json;
    assert.deepEqual(
      [mem.total_bytes, mem.available_bytes, mem.swap_used_bytes, mem.used_bytes],
      [8_000_000_000, 6_000_000_000, 0, null],
    );
    assert.equal(n.load, null, 'load is two hours old: outside the window');
    assert.equal(n.pressure, null, 'pressure was never collected');
    assert.deepEqual(
      ((n.disks as Json).devices as Json[]).map((d) => [d.device, d.reads_per_s, d.util_pct]),
      [['sda', 10, 5.5]],
    );
    assert.deepEqual(
      ((n.filesystems as Json).mounts as Json[]).map((m) => [m.mountpoint, m.fstype, m.used_bytes]),
      [['/', 'ext4', 40]],
    );
    assert.equal((((n.network as Json).interfaces as Json[])[0] as Json).rx_bytes_per_s, 1000.5);
    assert.deepEqual(
      ((n.processes as Json).watches as Json[]).map((w) => [w.watch, w.up, w.processes, w.state, w.cpu_pct]),
      [
        ['/pgbouncer/', false, 0, 'missing', null],
        ['postgres', true, 7, 'sleeping', 3.5],
      ],
    );
    const wide = await ok(`/servers/${a}/node?window=86400`);
    assert.deepEqual([(wide.load as Json).load1, (wide.load as Json).load5], [1.5, 1.25]);
  });

  test('containers_show_their_newest_row_and_whether_they_are_still_there', async () => {
    const list = (await ok(`/servers/${a}/containers`)).containers as Json[];
    assert.deepEqual(
      list.map((c) => [c.runtime, c.id, c.cpu_pct, c.memory_current_bytes, c.ts, c.present]),
      [
        ['docker', 'abc123def', 25, 150, ago(20_000).toISOString(), true],
        ['docker', 'abd999', 7, 200, ago(60_000).toISOString(), false],
      ],
    );
    const one = await ok(`/servers/${a}/containers/abc123def`);
    assert.equal(one.cpu_pct, 25);
    assert.equal((await ok(`/servers/${a}/containers/abc1`)).id, 'abc123def', 'a unique prefix finds it');
    const ambiguous = await get(`/servers/${a}/containers/ab`);
    assert.equal(ambiguous.status, 400);
    assert.match((ambiguous.body.error as Json).message as string, /matches 2 containers/);
    // Only % and _ as typed: a LIKE wildcard in the name matches nothing.
    assert.equal((await get(`/servers/${a}/containers/a%25`)).status, 404);
  });
});

describe(`postgres views (${testPgLabel})`, () => {
  test('activity_is_the_newest_collection_with_lock_waits_and_their_blockers', async () => {
    const body = await ok(`/servers/${a}/targets/main/activity`);
    assert.equal((body.instance as Json).ts, tsC.toISOString());
    assert.deepEqual(
      (body.sessions as Json[]).map((s) => [s.usename, s.state, s.count]),
      [
        ['alice', 'active', 3],
        ['carol', '', 2],
        ['bob', 'idle in transaction', 1],
      ],
    );
    assert.deepEqual(body.summary, {
      processes: 6,
      byState: { active: 3, 'idle in transaction': 1, '(hidden)': 2 },
      waiting: 2,
      blocked: 2,
      hidden: 2,
      idleInTransaction: 1,
      longestTransactionS: 300,
      longestQueryS: 5.5,
    });
    assert.deepEqual(
      (body.waitEvents as Json[]).map((w) => [w.wait_event_type, w.wait_event, w.count]),
      [
        ['Lock', 'transactionid', 2],
        ['IO', 'DataFileRead', 1],
      ],
    );
    const waits = body.lockWaits as Json[];
    assert.deepEqual(
      waits.map((w) => [w.pid, w.blocking_pids, w.wait_s, w.query, w.queryRedacted]),
      [
        [101, [100], 5.5, null, true],
        [102, [101, 100], 2, null, true],
      ],
    );
    const bob = {
      datname: 'app',
      usename: 'bob',
      application_name: 'web',
      state: 'idle in transaction',
      xact_age_s: 300,
    };
    assert.deepEqual(
      body.blockers,
      [
        { pid: 100, blocks: 2, waiting: false, session: { ...bob, query: null, queryRedacted: true } },
        { pid: 101, blocks: 1, waiting: true, session: null },
      ],
      "the head blocker's session comes from pg_xmin_holders (a slot with the same ident is not it)",
    );
    assert.deepEqual(body.notCollected, {});
    const asUser = await ok(`/servers/${a}/targets/${target}/activity`, 'user');
    assert.deepEqual(
      (asUser.lockWaits as Json[]).map((w) => [w.query, w.queryRedacted]),
      [
        ['UPDATE t SET x = 1 WHERE id = 7', false],
        ['UPDATE t SET x = 2', false],
      ],
    );
    assert.deepEqual(
      (asUser.blockers as Json[]).map((b) => (b.session as Json | null)?.query ?? null),
      ['UPDATE t SET x = 0 WHERE id = 7', null],
    );
  });

  test('statements_sum_the_interval_deltas_in_the_range_and_join_the_text', async () => {
    const body = await ok(`/servers/${a}/targets/main/statements`, 'user');
    const list = body.statements as Json[];
    assert.deepEqual(
      list.map((s) => s.queryid),
      [bigQueryId, '42'],
      'by total time; the interval three hours ago is outside the default hour',
    );
    const big = list[0]!;
    assert.deepEqual(
      [big.intervals, big.calls, big.exec_time_ms, big.plan_time_ms, big.total_time_ms, big.rows],
      [2, 40, 150.75, 1, 151.75, 40],
    );
    assert.equal(big.mean_exec_time_ms, 150.75 / 40);
    assert.deepEqual([big.shared_blks_read, big.temp_blks_written, big.io_blocks], [12, 2, 14]);
    assert.deepEqual([big.first_ts, big.last_ts], [ago(40 * min).toISOString(), ago(10 * min).toISOString()]);
    assert.deepEqual(
      [big.query, big.queryRedacted, big.queryTruncated],
      ['SELECT * FROM t WHERE id = $1', false, false],
    );
    assert.deepEqual(
      [list[1]!.query, list[1]!.queryRedacted],
      [null, false],
      'no text stored: nothing hidden',
    );

    const byCalls = (await ok(`/servers/${a}/targets/main/statements?order=calls`)).statements as Json[];
    assert.deepEqual(
      byCalls.map((s) => [s.queryid, s.calls]),
      [
        ['42', 100],
        [bigQueryId, 40],
      ],
    );
    const byIo = (await ok(`/servers/${a}/targets/main/statements?order=io&limit=1`)).statements as Json[];
    assert.deepEqual(
      byIo.map((s) => [s.queryid, s.io_blocks]),
      [['42', 101]],
    );

    // A range holding only the older interval, and one holding all three.
    const older = (
      await ok(
        `/servers/${a}/targets/main/statements?from=${ago(45 * min).toISOString()}&to=${ago(30 * min).toISOString()}`,
      )
    ).statements as Json[];
    assert.deepEqual(
      older.map((s) => [s.queryid, s.calls, s.exec_time_ms]),
      [[bigQueryId, 10, 100.5]],
    );
    const all = (await ok(`/servers/${a}/targets/main/statements?from=${now - 4 * 3_600_000}`))
      .statements as Json[];
    assert.deepEqual([all[0]!.queryid, all[0]!.calls, all[0]!.intervals], [bigQueryId, 1040, 3]);
  });

  test('statement_text_is_hidden_from_a_viewer_and_shown_to_a_user_and_an_admin', async () => {
    const url = `/servers/${a}/targets/main/statements?limit=1`;
    const viewer = ((await ok(url, 'viewer')).statements as Json[])[0]!;
    assert.deepEqual([viewer.query, viewer.queryRedacted], [null, true]);
    assert.equal(viewer.calls, 40, 'the numbers are the same for every role');
    for (const role of ['user', 'admin'] as const) {
      const s = ((await ok(url, role)).statements as Json[])[0]!;
      assert.deepEqual([s.query, s.queryRedacted], ['SELECT * FROM t WHERE id = $1', false], role);
    }
  });

  test('tables_give_sizes_dead_tuples_vacuum_times_and_a_bloat_estimate', async () => {
    const body = await ok(`/servers/${a}/targets/main/tables`);
    assert.equal(body.ts, ago(45_000).toISOString());
    const tables = body.tables as Json[];
    assert.deepEqual(
      tables.map((t) => t.relname),
      ['big', 'empty'],
      'the older snapshot (with "dropped") is not mixed in',
    );
    const big = tables[0]!;
    assert.deepEqual(
      [big.total_bytes, big.toast_bytes, big.indexes_bytes, big.n_live_tup, big.n_dead_tup, big.dead_pct],
      [1_024_576, 8192, 16_384, 900, 100, 10],
    );
    assert.equal(big.last_autovacuum, ago(3_600_000).toISOString());
    assert.equal(big.last_vacuum, null);
    assert.equal(big.bloat_bytes_estimate, 100_000, '1,000,000 heap bytes × 100 dead / 1000 tuples');
    assert.equal(tables[1]!.bloat_bytes_estimate, null, 'no tuples counted: no estimate');
    const byBloat = (await ok(`/servers/${a}/targets/main/tables?order=bloat&limit=1`)).tables as Json[];
    assert.deepEqual(
      byBloat.map((t) => t.relname),
      ['big'],
    );
  });

  test('indexes_filter_unused_ones_leaving_out_unique_and_primary', async () => {
    const all = (await ok(`/servers/${a}/targets/main/indexes`)).indexes as Json[];
    assert.deepEqual(
      all.map((i) => [i.indexrelname, i.idx_scan, i.size_bytes]),
      [
        ['big_pkey', 0, 3000],
        ['big_unused', 0, 2000],
        ['big_used', 50, 1000],
      ],
    );
    const unused = (await ok(`/servers/${a}/targets/main/indexes?unused=true`)).indexes as Json[];
    assert.deepEqual(
      unused.map((i) => i.indexrelname),
      ['big_unused'],
    );
    const used = (await ok(`/servers/${a}/targets/main/indexes?unused=false`)).indexes as Json[];
    assert.deepEqual(
      used.map((i) => i.indexrelname),
      ['big_pkey', 'big_used'],
    );
  });

  test('replication_shows_standbys_slots_and_no_standby_side_on_a_primary', async () => {
    const body = await ok(`/servers/${a}/targets/main/replication`);
    assert.deepEqual(
      (body.standbys as Json[]).map((s) => [
        s.application_name,
        s.client_addr,
        s.pid,
        s.state,
        s.replay_lag_bytes,
        s.replay_lag_s,
      ]),
      [['standby1', '10.0.0.2', 555, 'streaming', 300, 0.3]],
    );
    assert.deepEqual(
      (body.slots as Json[]).map((s) => [s.slot_name, s.active, s.retained_bytes]),
      [['slot_a', true, 1_048_576]],
    );
    assert.equal(body.standby, null);
    // pg_standby and pg_subscriptions have no pg_collector row in that collection: not collected, with the
    // reason (null, not an empty list).
    assert.equal(body.subscriptions, null);
    assert.deepEqual(Object.keys(body.notCollected as Json), ['pg_standby', 'pg_subscriptions']);
  });

  test('settings_need_the_user_role_and_show_the_newest_snapshot_of_changed_settings', async () => {
    const denied = await get(`/servers/${a}/targets/main/settings`, 'viewer');
    assert.equal(denied.status, 403);
    const body = await ok(`/servers/${a}/targets/main/settings`, 'user');
    assert.equal(body.ts, ago(3_600_000).toISOString());
    assert.deepEqual(
      (body.settings as Json[]).map((s) => [s.name, s.setting, s.unit]),
      [
        ['max_connections', '200', ''],
        ['work_mem', '131072', 'kB'],
      ],
    );
  });

  test('a_target_without_a_recent_collection_has_null_views_not_empty_ones', async () => {
    const quiet = await newTarget(a, 'quiet');
    const body = await ok(`/servers/${a}/targets/${quiet}/activity`);
    assert.deepEqual([body.instance, body.sessions, body.lockWaits, body.blockers], [null, null, null, null]);
    assert.match((body.notCollected as Json).pg_activity as string, /no collection in the last 600 s/);
    const s = await ok(`/servers/${a}/targets`);
    assert.equal((s.targets as Json[]).find((t) => t.name === 'quiet')!.status, 'unknown');
  });
});

describe(`logs (${testPgLabel})`, () => {
  const hour = 3_600_000;
  const H = Math.floor((now - 3 * hour) / hour) * hour;
  const at = (m: number, s = 0) => new Date(H + m * min + s * 1000);
  const f1 = '1111111111111111';
  const f2 = '2222222222222222';
  const f3 = '3333333333333333';
  const fd = 'dddddddddddddddd';
  let b: number;
  let n = 0;
  const entry = (
    server: number,
    ts: Date,
    level: string,
    source: string,
    message: string,
    fp: string,
    ctx: Json = {},
  ) => ({
    server_id: server,
    ts,
    source,
    level,
    message,
    fingerprint: fp,
    context: { n: n++, ...ctx },
  });

  before(async () => {
    b = await newServer('db-b');
    await insert('log_entries', [
      ...[1, 2, 3, 61, 62].map((m) =>
        entry(a, at(m), 'error', 'postgresql', `connection to 10.0.0.${m} refused`, f1),
      ),
      ...[5, 65, 66].map((m) => entry(a, at(m), 'warning', 'syslog', `disk ${m}% full`, f2)),
      ...[10, 10, 11, 70, 71, 72, 72].map((m) =>
        entry(a, at(m), 'info', 'postgresql', 'checkpoint complete', f3, { event: 'checkpoint_complete' }),
      ),
      entry(a, at(20), 'debug', 'app', 'step 100_percent done', fd),
      entry(b, at(30), 'error', 'postgresql', 'connection to 10.0.0.8 refused', f1),
      entry(b, at(90), 'error', 'postgresql', 'connection to 10.0.0.9 refused', f1),
    ]);
  });

  const search = async (q: string) => (await ok(`/logs?${q}`)).entries as Json[];

  test('search_filters_by_level_text_fingerprint_source_and_event_newest_first', async () => {
    const errors = await search(`server=${a}&level=error`);
    assert.deepEqual(
      errors.map((e) => [e.ts, e.message]),
      [62, 61, 3, 2, 1].map((m) => [
        at(m).toISOString().replace('Z', '000Z'),
        `connection to 10.0.0.${m} refused`,
      ]),
    );
    assert.equal(errors[0]!.server, 'db-a');
    assert.equal((await search(`server=${a}&minLevel=warning`)).length, 8);
    assert.equal((await search(`server=${a}&level=info,debug`)).length, 8);
    assert.equal(
      (await search(`server=${a}&minLevel=warning&level=error,info`)).length,
      5,
      'both: intersection',
    );
    assert.deepEqual(
      (await search(`server=${a}&q=${encodeURIComponent('%')}`)).map((e) => e.message),
      ['disk 66% full', 'disk 65% full', 'disk 5% full'],
      '% matches itself, not everything',
    );
    assert.deepEqual(
      (await search(`q=${encodeURIComponent('0_P')}`)).map((e) => e.message),
      ['step 100_percent done'],
      '_ matches itself; case-insensitive',
    );
    const byFp = await search(`fingerprint=${f1}`);
    assert.equal(byFp.length, 7, 'all servers without a server filter');
    assert.deepEqual(
      byFp.slice(0, 2).map((e) => [e.server, e.message]),
      [
        ['db-b', 'connection to 10.0.0.9 refused'],
        ['db-a', 'connection to 10.0.0.62 refused'],
      ],
    );
    assert.equal((await search(`event=checkpoint_complete`)).length, 7);
    assert.equal((await search(`source=syslog,app`)).length, 4);
    assert.equal((await search(`server=${b}`)).length, 2);
    assert.equal((await search(`server=${a}&to=${at(0).toISOString()}`)).length, 0);
  });

  test('pages_follow_each_other_without_repeats_or_holes_across_equal_timestamps', async () => {
    const everything = (await search(`server=${a}&limit=1000`)).map((e) => (e.context as Json).n);
    assert.equal(everything.length, 16);
    for (const limit of [1, 3, 4]) {
      const got: unknown[] = [];
      let before: string | null = null;
      let pages = 0;
      do {
        const body: Json = await ok(
          `/logs?server=${a}&limit=${limit}${before ? `&before=${encodeURIComponent(before)}` : ''}`,
        );
        got.push(...(body.entries as Json[]).map((e) => (e.context as Json).n));
        before = body.nextBefore as string | null;
        pages++;
      } while (before && pages < 100);
      assert.deepEqual(got, everything, `limit ${limit}`);
    }
  });

  test('counts_by_level_per_bucket_leave_out_buckets_without_entries', async () => {
    const body = await ok(
      `/logs/counts?server=${a}&from=${new Date(H).toISOString()}&to=${new Date(H + 3 * hour).toISOString()}&step=3600`,
    );
    assert.equal(body.step, 3600);
    assert.deepEqual(body.buckets, [
      {
        ts: new Date(H).toISOString(),
        total: 8,
        counts: { debug: 1, info: 3, notice: 0, warning: 1, error: 3, fatal: 0, panic: 0 },
      },
      {
        ts: new Date(H + hour).toISOString(),
        total: 8,
        counts: { debug: 0, info: 4, notice: 0, warning: 2, error: 2, fatal: 0, panic: 0 },
      },
    ]);
    const errorsOnly = await ok(
      `/logs/counts?level=error&from=${new Date(H).toISOString()}&to=${new Date(H + 2 * hour).toISOString()}&step=3600`,
    );
    assert.deepEqual(
      (errorsOnly.buckets as Json[]).map((x) => [x.total, (x.counts as Json).error]),
      [
        [4, 4],
        [3, 3],
      ],
    );
  });

  test('patterns_are_ordered_by_count_with_first_and_last_seen_and_a_sample', async () => {
    const mine = (await ok(`/logs/patterns?server=${a}`)).patterns as Json[];
    assert.deepEqual(
      mine.map((p) => [p.fingerprint, p.count, p.level, p.source]),
      [
        [f3, 7, 'info', 'postgresql'],
        [f1, 5, 'error', 'postgresql'],
        [f2, 3, 'warning', 'syslog'],
        [fd, 1, 'debug', 'app'],
      ],
    );
    assert.deepEqual([mine[1]!.firstSeen, mine[1]!.lastSeen], [at(1).toISOString(), at(62).toISOString()]);
    assert.equal(mine[1]!.sample, 'connection to 10.0.0.62 refused');
    const fleet = (await ok('/logs/patterns?limit=2')).patterns as Json[];
    assert.deepEqual(
      fleet.map((p) => [p.fingerprint, p.count, p.servers, p.sample]),
      [
        [f1, 7, 2, 'connection to 10.0.0.9 refused'],
        [f3, 7, 1, 'checkpoint complete'],
      ],
    );
  });
});

describe(`gaps (${testPgLabel})`, () => {
  test('a_silent_agent_and_a_recorded_drop_show_as_gaps_newest_first', async () => {
    const c = await newServer('gappy');
    const agent = await newAgent(c, { enrolled_at: ago(120 * min), last_seen_at: ago(5 * min) });
    // A batch a minute from 100 to 60 minutes ago, none until 30 minutes ago, then every minute to 5
    // minutes ago, and nothing since.
    const times = [
      ...Array.from({ length: 41 }, (_, i) => ago((100 - i) * min)),
      ...Array.from({ length: 26 }, (_, i) => ago((30 - i) * min)),
    ];
    await insert(
      'ingest_ledger',
      times.map((t, i) => ({ server_id: c, agent_id: agent, seq: i + 1, received_at: t, row_count: 1 })),
    );
    await insert('gaps', [
      {
        server_id: c,
        agent_id: agent,
        reason: 'spool-full',
        from_seq: 70,
        to_seq: 72,
        count: 3,
        recorded_at: ago(20 * min),
      },
    ]);
    // Data from inside the first silence arrived later (spooled).
    await insert('host_load', [{ server_id: c, ts: ago(50 * min), load1: 1 }]);

    const body = await ok(`/gaps?server=${c}&from=${ago(90.5 * min).toISOString()}`);
    const gaps = body.gaps as Json[];
    assert.deepEqual(
      gaps.map((g) => [g.kind, g.reason, g.start, g.ongoing, g.backfilled, g.count]),
      [
        ['silent', 'agent-silent', ago(5 * min).toISOString(), true, false, null],
        ['recorded', 'spool-full', null, false, null, 3],
        ['silent', 'agent-silent', ago(60 * min).toISOString(), false, true, null],
      ],
    );
    assert.equal(gaps[2]!.end, ago(30 * min).toISOString());
    assert.deepEqual(
      [gaps[1]!.fromSeq, gaps[1]!.toSeq, gaps[1]!.recordedAt],
      [70, 72, ago(20 * min).toISOString()],
    );
    assert.ok(Date.parse(gaps[0]!.end as string) >= now, 'an ongoing silence lasts until now');

    // Longer threshold: the silences no longer count; the recorded drop stays.
    const lenient = (await ok(`/gaps?server=${c}&from=${ago(90.5 * min).toISOString()}&silentAfter=3600`))
      .gaps as Json[];
    assert.deepEqual(
      lenient.map((g) => g.reason),
      ['spool-full'],
    );
    const s = await ok(`/servers/${c}`);
    assert.equal(s.status, 'silent');
  });
});

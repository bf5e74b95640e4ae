/**
 * PostgreSQL object and statement findings end to end: real situations staged on the run's PostgreSQL,
 * collected by the real agent collector, pushed through a real server; each finding appears with its
 * target, evidence and action, and resolves once the situation is fixed.
 *
 * The statement job checks judge the last hour. To see one resolve without waiting an hour, the
 * collections of that test carry timestamps in the past (the collector's clock is the context's `now`)
 * and the job runs "as of" a chosen time: first the window holding the scans, then a window an hour
 * later holding only the collections after the index was created.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { createMemoryCollector } from '../src/agent/collectors/host/memory.js';
import {
  createPostgresCollector,
  type PostgresCollector,
} from '../src/agent/collectors/postgres/collector.js';
import type { PassRun } from '../src/intelligence/checks/fleet-pass.js';
import {
  pgMissingIndex,
  pgSlowStatement,
  statementStaleMs,
} from '../src/intelligence/checks/postgres-statements.js';
import type { Slice } from '../src/intelligence/checks/types.js';
import type { FindingRow } from '../src/storage/queries/findings.sql.js';
import { rollFamilyBucket } from '../src/storage/queries/rollups.sql.js';
import { sequentiallyScannedTables, statementPast } from '../src/storage/queries/statement-findings.sql.js';
import { createTestDatabase, type TestDatabase, testPgLabel } from './helpers/db.js';
import { type FindingsServer, startFindingsServer, type TestAgent } from './helpers/findings.js';
import { collectContext } from './helpers/pg-cluster.js';

const minute = 60_000;
let fs: FindingsServer;
let db: TestDatabase;
let version = 0;

before(async () => {
  fs = await startFindingsServer('fpgobj');
  db = await createTestDatabase('pgobj');
  await db.pool.query('CREATE EXTENSION pg_stat_statements');
  const { rows } = await db.pool.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  version = Number(rows[0]?.v);
});
after(async () => {
  await db.drop();
  await fs.close();
});

/** A collector of the test database only, visiting it on every collection. */
function collectorOf(statements: boolean): PostgresCollector {
  return createPostgresCollector(db.url, {
    includeDatabases: [db.name],
    databaseIntervalMs: 0,
    statementsTopN: 100_000,
    families: [
      'pg_database',
      'pg_tables',
      'pg_indexes',
      // With the statements the settings too: the job's missing-index command names the server's port.
      ...(statements ? ['pg_statements', 'pg_statement_texts', 'pg_settings'] : []),
    ],
  });
}

/** Collects once (at `at`, ms, when given) and pushes the rows as the agent would. */
async function collectAndPush(collector: PostgresCollector, agent: TestAgent, at?: number): Promise<void> {
  const ctx = collectContext();
  const rows = await collector.collect(at === undefined ? ctx : { ...ctx, now: () => at });
  await fs.push(agent, rows, { target: 'local' });
  await fs.settle();
}

/** Makes this session's pending table statistics visible to others now (15+: they are flushed lazily). */
async function flushStats(client: pg.PoolClient): Promise<void> {
  if (version >= 150000) await client.query('SELECT pg_stat_force_next_flush()');
}

const ev = (f: FindingRow) => f.evidence as Record<string, unknown>;

/** Overrides a check's thresholds for one server through the API, as an admin would. */
async function setThresholds(
  check: string,
  serverId: number,
  thresholds: Record<string, number>,
): Promise<void> {
  const res = await fetch(`${fs.base}/api/v1/checks/${check}/settings`, {
    method: 'PUT',
    headers: { ...fs.admin, 'content-type': 'application/json' },
    body: JSON.stringify({ serverId, thresholds }),
  });
  assert.equal(res.status, 204, await res.text());
}

describe(`PostgreSQL object findings (${testPgLabel})`, () => {
  test('a_bloated_table_gets_a_vacuum_finding_that_resolves_after_the_vacuum', async () => {
    const agent = await fs.enroll('host-bloat');
    const collector = collectorOf(false);
    const c = await db.pool.connect();
    try {
      await c.query('CREATE TABLE bloated (id int, payload text) WITH (autovacuum_enabled = off)');
      await c.query("INSERT INTO bloated SELECT g, repeat('x', 40) FROM generate_series(1, 20000) g");
      await c.query('DELETE FROM bloated WHERE id % 5 < 3');
      await flushStats(c);
      await collectAndPush(collector, agent);
      const f = await fs.waitFor(
        `server=${agent.serverId}`,
        (x) => x.check === 'pg.dead_tuples' && x.object === `${db.name}/public.bloated`,
      );
      assert.equal(f.severity, 'critical', '60 % dead rows');
      assert.equal(f.targetName, 'local');
      assert.equal(ev(f).n_dead_tup, 12_000);
      assert.equal(ev(f).n_live_tup, 8000);
      assert.equal(ev(f).datname, db.name);
      assert.equal(ev(f).autovacuum_behind, true);
      assert.ok(
        f.action.startsWith(`psql -d ${db.name} -c "VACUUM (VERBOSE, ANALYZE) public.bloated;"`),
        f.action,
      );
      assert.match(f.action, /ALTER TABLE public\.bloated SET \(autovacuum_vacuum_scale_factor = 0\.05\);/);

      await c.query('VACUUM (ANALYZE) bloated');
      await flushStats(c);
      await collectAndPush(collector, agent);
      await collectAndPush(collector, agent);
      const resolved = await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
      assert.match(String(resolved.resolvedReason), /cleared/);
    } finally {
      c.release();
      await collector.close();
    }
  });

  test('a_large_index_never_used_is_a_drop_recommendation_that_resolves_when_dropped', async () => {
    const agent = await fs.enroll('host-unused');
    const collector = collectorOf(false);
    try {
      // The primary key stays after the drop: the database still reports indexes, so the check is
      // evaluated there again (a database with no index at all sends no pg_indexes rows to clear it).
      await db.pool.query('CREATE TABLE wide (id int PRIMARY KEY, note int)');
      await db.pool.query('INSERT INTO wide SELECT g, g FROM generate_series(1, 700000) g');
      // Distinct values: btree deduplication (13+) would shrink an index of repeated keys.
      await db.pool.query('CREATE INDEX wide_note_idx ON wide (note)');
      const { rows } = await db.pool.query<{ size: string }>(
        "SELECT pg_relation_size('wide_note_idx') AS size",
      );
      assert.ok(Number(rows[0]?.size) > 10 * 1024 * 1024, `index of ${rows[0]?.size} bytes`);
      await collectAndPush(collector, agent);
      const f = await fs.waitFor(
        `server=${agent.serverId}`,
        (x) => x.check === 'pg.unused_index' && x.object === `${db.name}/public.wide_note_idx`,
      );
      assert.equal(f.severity, 'info');
      assert.equal(f.kind, 'recommendation');
      assert.equal(f.action, `psql -d ${db.name} -c "DROP INDEX CONCURRENTLY public.wide_note_idx;"`);
      assert.equal(ev(f).idx_scan, 0);
      assert.equal(ev(f).relname, 'wide');

      await db.pool.query('DROP INDEX CONCURRENTLY wide_note_idx');
      await collectAndPush(collector, agent);
      await collectAndPush(collector, agent);
      await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
    } finally {
      await collector.close();
    }
  });

  test('repeated_sequential_scans_name_the_table_the_statement_and_its_where_column_until_indexed', async () => {
    const agent = await fs.enroll('host-seqscan');
    const collector = collectorOf(true);
    const c = await db.pool.connect();
    const t0 = Date.now();
    try {
      await c.query('CREATE TABLE scanned (id int, customer_id int, amount int)');
      await c.query('INSERT INTO scanned SELECT g, g % 2000, g FROM generate_series(1, 20000) g');
      await c.query('ANALYZE scanned');
      await collectAndPush(collector, agent, t0 - 100 * minute);
      for (let i = 0; i < 30; i++)
        await c.query('SELECT count(*), sum(amount) FROM scanned WHERE customer_id = $1', [i]);
      await flushStats(c);
      await collectAndPush(collector, agent, t0 - 95 * minute);

      await fs.runJob(new Date(t0 - 90 * minute));
      const f = await fs.waitFor(
        `server=${agent.serverId}`,
        (x) => x.check === 'pg.missing_index' && x.object === `${db.name}/public.scanned`,
      );
      assert.equal(
        f.action,
        `psql -p ${new URL(db.url).port} -d ${db.name} -c "CREATE INDEX CONCURRENTLY ON public.scanned (customer_id);"`,
      );
      assert.deepEqual(ev(f).where_columns, ['customer_id']);
      assert.ok(Number(ev(f).seq_scans) >= 30, `seq_scans ${ev(f).seq_scans}`);
      const statements = ev(f).statements as Array<{ query: string; calls: number; queryid: string }>;
      const probe = statements.find((s) => /FROM scanned WHERE customer_id = \$1/.test(s.query));
      assert.ok(probe, JSON.stringify(statements));
      assert.equal(probe.calls, 30);
      assert.match(f.title, /public\.scanned/);

      // Indexed: the same statement no longer scans the table; an hour on, the window holds only that.
      await c.query('CREATE INDEX ON scanned (customer_id)');
      await collectAndPush(collector, agent, t0 - 30 * minute);
      for (let i = 0; i < 30; i++)
        await c.query('SELECT count(*), sum(amount) FROM scanned WHERE customer_id = $1', [i]);
      await flushStats(c);
      await collectAndPush(collector, agent, t0 - 25 * minute);
      await fs.runJob(new Date(t0 - 20 * minute));
      await fs.runJob(new Date(t0 - 19 * minute));
      const resolved = await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
      assert.match(String(resolved.resolvedReason), /cleared/);
    } finally {
      c.release();
      await collector.close();
    }
  });

  test('a_slow_statement_is_reported_with_its_text_under_a_per_server_threshold', async () => {
    const agent = await fs.enroll('host-slow');
    await setThresholds('pg.slow_statement', agent.serverId, { info: 30 });
    const collector = collectorOf(true);
    try {
      await collectAndPush(collector, agent);
      for (let i = 0; i < 5; i++) await db.pool.query('SELECT pg_sleep(0.06) AS slow_probe');
      await collectAndPush(collector, agent);
      await fs.runJob();
      const f = await fs.waitFor(
        `server=${agent.serverId}`,
        (x) => x.check === 'pg.slow_statement' && /slow_probe/.test(String(ev(x).query)),
      );
      assert.equal(f.severity, 'info');
      assert.equal(ev(f).datname, db.name);
      assert.equal(ev(f).calls, 5);
      assert.ok(Number(ev(f).mean_exec_time_ms) >= 55, `mean ${ev(f).mean_exec_time_ms}`);
      assert.match(String(ev(f).query), /SELECT pg_sleep\(\$1\) AS slow_probe/);
      assert.match(f.action, /EXPLAIN \(ANALYZE, BUFFERS\) SELECT pg_sleep\(\$1\) AS slow_probe;/);
      assert.match(f.action, /replace each \$n/);
      // Other servers keep the default (500 ms): nothing there for a 60 ms statement.
      assert.equal(
        (await fs.findings('check=pg.slow_statement')).filter((x) => x.serverId !== agent.serverId).length,
        0,
      );
    } finally {
      await collector.close();
    }
  });

  test('a_statement_much_slower_than_in_its_past_hours_is_a_regression_warning', async () => {
    const agent = await fs.enroll('host-regress');
    const collector = collectorOf(true);
    const hour = 60 * minute;
    const t0 = Date.now();
    // Its own function: pg_stat_statements ignores aliases, so `SELECT pg_sleep($1) AS x` would be the
    // slow statement of the test above under another name.
    await db.pool.query(
      'CREATE FUNCTION regress_probe(s float8) RETURNS void LANGUAGE sql AS $$ SELECT pg_sleep(s) $$',
    );
    try {
      // Its past: fast calls three hours ago, rolled into the hourly tier as the rollup job does.
      await collectAndPush(collector, agent, t0 - 180 * minute);
      for (let i = 0; i < 25; i++) await db.pool.query('SELECT regress_probe(0.001)');
      await collectAndPush(collector, agent, t0 - 170 * minute);
      const bucket = Math.floor((t0 - 170 * minute) / hour) * hour;
      const rolled = await rollFamilyBucket(
        fs.ts.store.pool,
        'pg_statements',
        'hourly',
        [agent.serverId],
        new Date(bucket),
        new Date(bucket + hour),
      );
      assert.ok(rolled.produced > 0);
      // Now: the same statement, slow.
      for (let i = 0; i < 5; i++) await db.pool.query('SELECT regress_probe(0.15)');
      await collectAndPush(collector, agent, t0);
      await fs.runJob(new Date(t0 + 1000));
      const f = await fs.waitFor(
        `server=${agent.serverId}`,
        (x) => x.check === 'pg.statement_regression' && /regress_probe/.test(String(ev(x).query)),
      );
      assert.equal(f.severity, 'warning');
      assert.equal(ev(f).past_calls, 25);
      assert.equal(ev(f).calls, 5);
      assert.ok(Number(ev(f).past_mean_exec_time_ms) < 20, `past ${ev(f).past_mean_exec_time_ms}`);
      assert.ok(Number(ev(f).mean_exec_time_ms) >= 140, `now ${ev(f).mean_exec_time_ms}`);
      assert.ok(Number(ev(f).ratio) > 3);
      assert.match(f.action, /EXPLAIN \(ANALYZE, BUFFERS\) SELECT regress_probe\(\$1\);/);
    } finally {
      await collector.close();
    }
  });

  test('a_statements_past_week_is_read_from_whole_rolled_days_and_the_hours_around_them', async () => {
    const agent = await fs.enroll('statement-past');
    const pool = fs.ts.store.pool;
    const hour = 60 * minute;
    const day = 24 * hour;
    // A week ending at 06:00 two days from the last midnight: 18 hours of the first day, 5 whole days,
    // then 6 hours (the day after those isn't whole).
    const to = Math.floor(Date.now() / day) * day - 2 * day + 6 * hour;
    const from = to - 7 * day;
    const key = { serverId: agent.serverId, targetId: 77, queryid: '4242', dbid: '5' };
    // Every hour: 1 call of 2 ms. Every day: 100 calls of 3 ms — not the sum of its hours, so the sums
    // below tell which tier each part came from.
    await pool.query(
      `INSERT INTO pgvigil.pg_statements_hourly (server_id, target_id, queryid, dbid, userid, ts, samples, calls_avg, exec_time_ms_avg)
       SELECT $1, 77, 4242, 5, 10, t, 1, 1, 2
         FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 hour', interval '1 hour') t`,
      [agent.serverId, new Date(from - day), new Date(to + day)],
    );
    await pool.query(
      `INSERT INTO pgvigil.pg_statements_daily (server_id, target_id, queryid, dbid, userid, ts, samples, calls_avg, exec_time_ms_avg)
       SELECT $1, 77, 4242, 5, 10, t, 1, 100, 300
         FROM generate_series($2::timestamptz, $3::timestamptz, interval '1 day') t`,
      [agent.serverId, new Date(Math.floor(from / day) * day - day), new Date(to + day)],
    );
    const past = async () => (await statementPast(pool, [key], new Date(from), new Date(to)))[0]!;
    // 18 + 6 hours, and the 6 whole days in between.
    assert.deepEqual(
      { calls: (await past()).calls, execTimeMs: (await past()).execTimeMs },
      { calls: 24 + 6 * 100, execTimeMs: 24 * 2 + 6 * 300 },
    );
    // The last whole day not rolled yet for that server (its daily bucket pending): its hours instead.
    const lastDay = Math.floor(to / day) * day - day;
    await pool.query(
      "INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket) VALUES ($1, 'daily', $2) ON CONFLICT DO NOTHING",
      [agent.serverId, new Date(lastDay)],
    );
    const p = await past();
    assert.deepEqual(
      { calls: p.calls, execTimeMs: p.execTimeMs },
      { calls: 48 + 5 * 100, execTimeMs: 48 * 2 + 5 * 300 },
    );
  });

  test('the_scanned_tables_read_is_capped_per_target_so_no_target_loses_its_tables_to_another', async () => {
    const agent = await fs.enroll('tables-per-target');
    const pool = fs.ts.store.pool;
    const now = Date.now();
    // Target 1: 60 large tables scanned hard; target 2: one, scanned less. Two samples 10 min apart.
    await pool.query(
      `INSERT INTO pgvigil.pg_tables (server_id, target_id, ts, datname, schemaname, relname, n_live_tup, table_bytes, seq_scan, seq_tup_read)
       SELECT $1, t, to_timestamp(($2::float8 - s * 600000) / 1000), 'app', 'public', 'tb' || r, 100000, 50000000,
              (1 - s) * 100, (1 - s) * CASE WHEN t = 1 THEN 10000000 + r ELSE 100000 END
         FROM generate_series(1, 2) t, generate_series(1, 60) r, generate_series(0, 1) s
        WHERE t = 1 OR r = 1`,
      [agent.serverId, now - minute],
    );
    const tables = await sequentiallyScannedTables(pool, {
      from: new Date(now - 60 * minute),
      to: new Date(now),
      targets: [
        { serverId: agent.serverId, targetId: 1 },
        { serverId: agent.serverId, targetId: 2 },
      ],
      minRows: 1000,
      minBytes: 1024 * 1024,
      minScans: 5,
      perTarget: 50,
    });
    const first = tables.filter((x) => x.targetId === 1);
    assert.equal(first.length, 50);
    assert.deepEqual(
      first.slice(0, 2).map((x) => x.relname),
      ['tb60', 'tb59'],
      'most rows read first',
    );
    assert.deepEqual(
      tables.filter((x) => x.targetId === 2).map((x) => [x.relname, x.seqScans, x.seqTupRead]),
      [['tb1', 100, 100000]],
    );
    await pool.query('DELETE FROM pgvigil.pg_tables WHERE server_id = $1', [agent.serverId]);
  });

  test('a_fleet_past_one_slice_is_read_slice_by_slice_each_target_whole_and_one_run_judges_it_all', async () => {
    const agent = await fs.enroll('statement-slices');
    const pool = fs.ts.store.pool;
    const now = Date.now();
    const n = 2001;
    // 2,001 targets (a slice is 1,000) of 5 statements each (one sample); statement 1 takes 600 ms a call.
    await pool.query(
      `INSERT INTO pgvigil.targets (server_id, target_id, kind, name)
       SELECT $1, t, 'postgres', 'db' || t FROM generate_series(1, $2::int) t`,
      [agent.serverId, n],
    );
    await pool.query(
      `INSERT INTO pgvigil.pg_instance (server_id, target_id, ts, up)
       SELECT $1, t, to_timestamp($2::float8 / 1000), true FROM generate_series(1, $3::int) t`,
      [agent.serverId, now - minute, n],
    );
    await pool.query(
      `INSERT INTO pgvigil.pg_statements (server_id, target_id, ts, queryid, dbid, userid, datname, calls, exec_time_ms)
       SELECT $1, t, to_timestamp($2::float8 / 1000), q, 5, 10, 'app', 5, CASE WHEN q = 1 THEN 3000 ELSE 5 END
         FROM generate_series(1, $3::int) t, generate_series(1, 5) q`,
      [agent.serverId, now - minute, n],
    );
    // Each target's statement 1 names its one large table, read by 100 sequential scans in 10 minutes.
    await pool.query(
      `INSERT INTO pgvigil.pg_statement_texts (server_id, target_id, ts, queryid, dbid, userid, query)
       SELECT $1, t, now(), 1, 5, 10, 'SELECT * FROM tb WHERE id = $1' FROM generate_series(1, $2::int) t`,
      [agent.serverId, n],
    );
    await pool.query(
      `INSERT INTO pgvigil.pg_tables (server_id, target_id, ts, datname, schemaname, relname, n_live_tup, table_bytes, seq_scan, seq_tup_read)
       SELECT $1, t, to_timestamp(($2::float8 - s * 600000) / 1000), 'app', 'public', 'tb', 100000, 50000000,
              (1 - s) * 100, (1 - s) * 10000000
         FROM generate_series(1, $3::int) t, generate_series(0, 1) s`,
      [agent.serverId, now - minute, n],
    );
    const at = new Date(now);
    // Each read below is a run's first slice, which takes its targets from the pass in the store: the pass
    // is cleared where a read must begin one.
    const newPass = () =>
      pool.query(
        "DELETE FROM pgvigil.check_pass WHERE pass = 'statements'; DELETE FROM pgvigil.check_pass_state",
      );
    await newPass();
    // A slice read in three parts side by side (three connections) is the slice read in one.
    const inOne = await pgMissingIndex.load(pool, at, {});
    assert.ok(inOne.statements.filter((x) => x.serverId === agent.serverId).length > 900);
    for (const x of inOne.statements) {
      assert.deepEqual(
        [x.serverId, x.targetId],
        [inOne.tables[x.table]!.serverId, inOne.tables[x.table]!.targetId],
      );
    }
    await newPass();
    assert.deepEqual(await pgMissingIndex.load(pool, at, { readers: 3 }), inOne);
    await newPass();
    const read = async (slice: Slice, when = at) => {
      const input = await pgSlowStatement.load(pool, when, slice);
      const mine = input.targets.filter((x) => x.serverId === agent.serverId).map((x) => x.targetId);
      const rows = new Map<number, number>();
      for (const s of input.statements) {
        if (s.serverId === agent.serverId) rows.set(s.targetId, (rows.get(s.targetId) ?? 0) + 1);
      }
      // Every target of the slice has its whole read (its 5 statements), and no other target any.
      for (const t of mine) assert.equal(rows.get(t), 5, `target ${t}`);
      assert.equal(rows.size, mine.length);
      return mine;
    };
    const first: Slice = {};
    const a = await read(first);
    assert.ok(first.next !== undefined, 'a second slice follows');
    // The run has used up its time: the second slice is read, and the next run goes on with the pass.
    (first.next as PassRun).started -= 10 * minute;
    const second: Slice = { after: first.next };
    const b = await read(second);
    assert.equal(second.next, undefined);
    // A pass under way since `at`: its findings wait twice its time so far and a run, at most 6 hours.
    assert.equal(statementStaleMs(at.getTime() + 60 * minute), 125 * minute);
    assert.equal(statementStaleMs(at.getTime() + 600 * minute), 360 * minute);
    const nextRun: Slice = {};
    const c = await read(nextRun);
    assert.ok(c.length > 0 && c[0]! > b[b.length - 1]!, `the next run starts after ${b[b.length - 1]}`);
    assert.equal(nextRun.next, undefined, 'and ends at the last target');
    // The pass is over (it took no time on this clock): twice its length and a run.
    assert.ok(statementStaleMs(at.getTime() + 60 * minute) < 6 * minute);
    assert.deepEqual(
      [...a, ...b, ...c].sort((x, y) => x - y),
      Array.from({ length: n }, (_, i) => i + 1),
      'every target judged once over the two runs: one pass',
    );
    // Within the checks' interval no new pass begins (another instance's run, say); past it one does, from
    // the first target.
    assert.deepEqual(await read({}), []);
    assert.equal((await read({}, new Date(now + 5 * minute))).includes(1), true);

    // Two instances' runs at once share one pass: each takes its own slice, no target in both.
    await newPass();
    const [x, y] = await Promise.all([read({}), read({})]);
    assert.ok(x.length > 0 && y.length > 0, `${x.length} and ${y.length} targets`);
    assert.equal(new Set([...x, ...y]).size, x.length + y.length);

    // One run of the findings job reads every slice: each target's slow statement is found.
    await newPass();
    await fs.runJob(at);
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(DISTINCT target_id)::int AS n FROM pgvigil.findings
        WHERE server_id = $1 AND check_id = 'pg.slow_statement' AND state = 'open'`,
      [agent.serverId],
    );
    assert.equal(rows[0]!.n, n);
    for (const table of ['pg_statements', 'pg_instance', 'pg_tables', 'pg_statement_texts']) {
      await pool.query(`DELETE FROM pgvigil.${table} WHERE server_id = $1`, [agent.serverId]);
    }
  });

  test('memory_settings_left_small_for_the_host_are_recommended_with_the_size_to_set', async (t) => {
    const memory = await createMemoryCollector().collect(collectContext());
    const total = Number(memory[0]?.rows[0]?.total_bytes);
    if (!(total >= 4 * 1024 ** 3)) {
      t.skip(`this host has ${total} bytes of memory: the check judges hosts from 4 GiB`);
      return;
    }
    const agent = await fs.enroll('host-settings');
    const collector = createPostgresCollector(db.url, { families: ['pg_settings'] });
    try {
      // The target's rows come before the host's in the batch: the host facts still reach the check.
      const pgRows = await collector.collect(collectContext());
      assert.ok(pgRows.some((r) => r.family === 'pg_settings'));
      await fs.push(agent, [...pgRows, ...memory], { target: 'local' });
      const f = await fs.waitFor(
        `server=${agent.serverId}`,
        (x) => x.check === 'pg.memory_settings' && x.object === 'shared_buffers',
      );
      assert.equal(f.severity, 'info');
      assert.equal(f.kind, 'recommendation');
      assert.equal(ev(f).memory_total_bytes, total);
      assert.equal(ev(f).value_bytes, 128 * 1024 * 1024, 'the test server runs with the 128MB default');
      assert.equal(ev(f).restart_needed, true);
      assert.match(
        f.action,
        // The test server listens on a port of its own: the command names it, so it reaches this server.
        new RegExp(
          `^psql -p ${new URL(db.url).port} -c "ALTER SYSTEM SET shared_buffers = '\\d+(GB|MB)';" && sudo systemctl restart postgresql  `,
        ),
      );
      // Judged no more on this server (as if the host were small): it clears.
      await setThresholds('pg.memory_settings', agent.serverId, { min_memory_bytes: total * 2 });
      await collectAndPush(collector, agent);
      await collectAndPush(collector, agent);
      await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
    } finally {
      await collector.close();
    }
  });

  test('a_duplicate_index_is_a_drop_recommendation_naming_the_index_it_duplicates', async () => {
    const agent = await fs.enroll('host-dup');
    const collector = collectorOf(false);
    try {
      await db.pool.query('CREATE TABLE dup (id int PRIMARY KEY, email text)');
      await db.pool.query(
        "INSERT INTO dup SELECT g, 'u' || g || '@example.org' FROM generate_series(1, 1000) g",
      );
      await db.pool.query('CREATE INDEX dup_email_a ON dup (email)');
      await db.pool.query('CREATE INDEX dup_email_b ON dup (email)');
      await collectAndPush(collector, agent);
      const f = await fs.waitFor(
        `server=${agent.serverId}`,
        (x) => x.check === 'pg.duplicate_index' && x.object === `${db.name}/public.dup_email_b`,
      );
      assert.equal(f.targetName, 'local');
      assert.equal(ev(f).duplicate_of, 'dup_email_a');
      assert.match(
        String(ev(f).duplicate_of_definition),
        /CREATE INDEX dup_email_a ON public\.dup USING btree \(email\)/,
      );
      assert.equal(f.action, `psql -d ${db.name} -c "DROP INDEX CONCURRENTLY public.dup_email_b;"`);
      // The keeper is not reported as a duplicate of the other.
      assert.equal((await fs.findings(`server=${agent.serverId}&check=pg.duplicate_index`)).length, 1);
      await db.pool.query('DROP INDEX dup_email_b');
      await collectAndPush(collector, agent);
      await collectAndPush(collector, agent);
      await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
    } finally {
      await collector.close();
    }
  });

  test('a_sequence_near_the_end_of_its_range_is_an_alert_that_resolves_when_widened', async () => {
    const agent = await fs.enroll('host-seq');
    const collector = createPostgresCollector(db.url, {
      includeDatabases: [db.name],
      databaseIntervalMs: 0,
      families: ['pg_database', 'pg_sequences'],
    });
    try {
      await db.pool.query('CREATE SEQUENCE order_no AS integer');
      // 92 % of the int4 range drawn.
      await db.pool.query(`SELECT setval('order_no', ${Math.round(2 ** 31 * 0.92)})`);
      await collectAndPush(collector, agent);
      const f = await fs.waitFor(
        `server=${agent.serverId}`,
        (x) => x.check === 'pg.sequence_exhaustion' && x.object === `${db.name}/public.order_no`,
      );
      assert.equal(f.severity, 'critical');
      assert.equal(ev(f).data_type, 'integer');
      assert.ok(Number(ev(f).used_pct) > 91 && Number(ev(f).used_pct) < 93, String(ev(f).used_pct));
      assert.match(f.action, /ALTER SEQUENCE public\.order_no AS bigint/);
      await db.pool.query('ALTER SEQUENCE order_no AS bigint');
      await collectAndPush(collector, agent);
      await collectAndPush(collector, agent);
      await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
    } finally {
      await collector.close();
    }
  });
});

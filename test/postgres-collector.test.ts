/**
 * The PostgreSQL collector against the run's real PostgreSQL (embedded 18, and Debian's 15 when
 * PGVIGIL_TEST_PG15=1): values agree with direct queries of the views under pgbench load; deadlocks,
 * blocked queries and dead tuples show up; a failing family degrades alone; a pg_monitor-only role sees
 * everything; without pg_stat_statements it warns once and carries on; the password never leaks.
 *
 * The collector is instance-wide but other test files share this server, so every collector here is
 * limited to this file's database (includeDatabases), which also exercises the include list.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import {
  createPostgresCollector,
  type PostgresCollectorOptions,
} from '../src/agent/collectors/postgres/collector.js';
import { postgresPrometheusMetrics } from '../src/agent/collectors/postgres/prometheus.js';
import { closeSession, PostgresTarget } from '../src/agent/collectors/postgres/session.js';
import type { ExposedMetric, FamilyRows, Row } from '../src/agent/collectors/types.js';
import { renderExposition } from '../src/agent/exporter.js';
import { silentLogger } from '../src/log.js';
import { startCli } from './helpers/cli.js';
import { adminUrl, createTestDatabase, databaseUrl, type TestDatabase, testPgLabel } from './helpers/db.js';
import {
  capturingLogger,
  collectContext,
  debianToolSkip,
  pgbenchPath,
  rowsOf,
  sleep,
} from './helpers/pg-cluster.js';
import { parsePromText } from './helpers/prometheus.js';
import { until, waitFor } from './helpers/wait.js';

const execFileAsync = promisify(execFile);

// node-postgres warns once a process when a statement is asked of a connection that is running another
// (its own queue, which pg 9 drops). Every collection below shares its main session between the
// instance-wide families and the visit of its own database: they must take turns before node-postgres.
const queuedInNodePostgres: string[] = [];
process.on('warning', (w) => {
  if (/already executing a query/.test(w.message)) queuedInNodePostgres.push(w.stack ?? w.message);
});

function collectorFor(url: string, db: TestDatabase, opts: PostgresCollectorOptions = {}) {
  return createPostgresCollector(url, { includeDatabases: [db.name], databaseIntervalMs: 0, ...opts });
}

function statusOf(result: FamilyRows[], family: string, datname = ''): Row | undefined {
  return rowsOf(result, 'pg_collector').find((r) => r.family === family && r.datname === datname);
}

function failedFamilies(result: FamilyRows[]): string[] {
  return rowsOf(result, 'pg_collector')
    .filter((r) => r.ok !== true)
    .map((r) => `${r.family}@${r.datname}: ${r.error}`);
}

function urlAs(user: string, password: string, database: string): string {
  const u = new URL(databaseUrl(database));
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

describe(`PostgreSQL collector on ${testPgLabel}`, () => {
  let db: TestDatabase;
  const pgbenchSkip = debianToolSkip(pgbenchPath);

  before(async () => {
    db = await createTestDatabase('pgcol');
    await db.pool.query('CREATE EXTENSION pg_stat_statements');
    if (!pgbenchSkip) {
      await execFileAsync(pgbenchPath, ['-i', '-s', '1', '-q', db.url]);
      // Autovacuum may truncate a table's empty tail pages mid-test, shrinking the sizes compared below.
      for (const t of ['accounts', 'branches', 'tellers', 'history'])
        await db.pool.query(`ALTER TABLE pgbench_${t} SET (autovacuum_enabled = off)`);
    }
  });
  after(() => db.drop());

  test('values_agree_with_direct_queries_of_the_views_under_pgbench_load', {
    skip: pgbenchSkip,
  }, async () => {
    const load: ChildProcess = spawn(pgbenchPath, ['-c', '2', '-T', '30', '-n', db.url], { stdio: 'ignore' });
    const collector = collectorFor(db.url, db);
    try {
      await waitFor('pgbench clients', async () => {
        const { rows } = await db.pool.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = $1",
          [db.name],
        );
        return rows[0].n === 2 ? true : undefined;
      });
      await sleep(1500); // let pgbench's statistics reach the shared stats
      const direct = async () => {
        const database = await db.pool.query(
          `SELECT xact_commit::float8, blks_hit::float8, blks_read::float8, tup_updated::float8,
                  tup_inserted::float8, pg_database_size(datname)::float8 AS size_bytes
             FROM pg_stat_database WHERE datname = $1`,
          [db.name],
        );
        const table = await db.pool.query(
          `SELECT n_tup_upd::float8, n_tup_hot_upd::float8, seq_scan::float8, idx_scan::float8
             FROM pg_stat_user_tables WHERE relname = 'pgbench_accounts'`,
        );
        const size = await db.pool.query(
          "SELECT pg_total_relation_size('pgbench_accounts')::float8 AS total_bytes",
        );
        const statio = await db.pool.query(
          "SELECT heap_blks_hit::float8 FROM pg_statio_user_tables WHERE relname = 'pgbench_accounts'",
        );
        return { ...database.rows[0], ...table.rows[0], ...statio.rows[0], ...size.rows[0] } as Record<
          string,
          number
        >;
      };
      await collector.collect(collectContext()); // statements baseline
      await sleep(1200);
      const a = await direct();
      const result = await collector.collect(collectContext());
      const b = await direct();

      assert.deepEqual(failedFamilies(result), []);
      const database = rowsOf(result, 'pg_database').find((r) => r.datname === db.name);
      assert.ok(database, 'a pg_database row for the test database');
      for (const col of [
        'xact_commit',
        'blks_hit',
        'blks_read',
        'tup_updated',
        'tup_inserted',
        'size_bytes',
      ]) {
        const v = Number(database[col]);
        // The database's size counts its relation-cache init file (pg_internal.init, 160,944 bytes on
        // 18), which PostgreSQL deletes when a catalog it caches changes and a new session writes again:
        // the size may step down by it between two reads (seen: +8,192 then -119,984, which is a new
        // 5-page growth less the deleted file). Only the size is given that slack.
        const slack = col === 'size_bytes' ? 256 * 1024 : 0;
        assert.ok(
          a[col]! - slack <= v && v <= b[col]! + slack,
          `pg_database.${col}: ${a[col]} <= ${v} <= ${b[col]} (slack ${slack})`,
        );
      }
      assert.ok(Number(database.xact_commit) > 100, 'pgbench commits are counted');
      const accounts = rowsOf(result, 'pg_tables').find((r) => r.relname === 'pgbench_accounts');
      assert.ok(accounts);
      assert.equal(accounts.datname, db.name);
      for (const col of ['n_tup_upd', 'n_tup_hot_upd', 'seq_scan', 'idx_scan', 'total_bytes']) {
        const v = Number(accounts[col]);
        assert.ok(a[col]! <= v && v <= b[col]!, `pg_tables.${col}: ${a[col]} <= ${v} <= ${b[col]}`);
      }
      assert.equal(
        Number(accounts.table_bytes) + Number(accounts.toast_bytes) + Number(accounts.indexes_bytes),
        accounts.total_bytes,
      );
      const statio = rowsOf(result, 'pg_statio').find((r) => r.relname === 'pgbench_accounts');
      assert.ok(statio && a.heap_blks_hit! <= Number(statio.heap_blks_hit));
      assert.ok(Number(statio.heap_blks_hit) <= b.heap_blks_hit!);
      const pkey = rowsOf(result, 'pg_indexes').find((r) => r.indexrelname === 'pgbench_accounts_pkey');
      assert.ok(pkey && pkey.is_primary === true && pkey.unused === false && Number(pkey.idx_scan) > 0);

      const pgbenchBackends = rowsOf(result, 'pg_activity')
        .filter((r) => r.application_name === 'pgbench' && r.datname === db.name)
        .reduce((n, r) => n + Number(r.count), 0);
      assert.equal(pgbenchBackends, 2, 'both pgbench clients, whatever their state');
      assert.ok(rowsOf(result, 'pg_locks').length >= 0);
      const wal = rowsOf(result, 'pg_wal')[0];
      assert.ok(wal && Number(wal.lsn_bytes) > 0);
      const bg = rowsOf(result, 'pg_bgwriter')[0];
      assert.ok(bg && typeof bg.buffers_alloc === 'number');
      const version = Number(rowsOf(result, 'pg_instance')[0]?.server_version_num);
      if (version >= 160000) assert.ok(rowsOf(result, 'pg_io').length > 0, 'pg_stat_io on 16+');
      else assert.equal(statusOf(result, 'pg_io'), undefined, 'no pg_io before 16, and not degraded');
      if (version >= 140000) assert.ok(Number(wal.bytes) > 0 && Number(wal.records) > 0);
      const wrap = rowsOf(result, 'pg_wraparound').find((r) => r.datname === 'template0');
      assert.ok(wrap && Number(wrap.xid_age) > 0, 'template0 is watched for wraparound too');

      // pgbench's UPDATE is among the statements, with a per-interval delta and its text once.
      const statements = rowsOf(result, 'pg_statements');
      assert.ok(statements.length > 0);
      assert.ok(statements.every((r) => Number(r.calls) >= 0 && Number(r.exec_time_ms) >= 0));
      const texts = rowsOf(result, 'pg_statement_texts');
      const update = texts.find((t) => /UPDATE pgbench_accounts SET abalance/.test(String(t.query)));
      assert.ok(update, 'the pgbench UPDATE text is sent');
      const updateRow = statements.find((r) => r.queryid === update.queryid);
      assert.ok(updateRow && Number(updateRow.calls) > 0 && updateRow.datname === db.name);

      // The whole collection as /metrics text: promtool parses it (lint: only postgres_exporter's _count names)
      if (existsSync('/usr/bin/promtool')) {
        const text = renderExposition(postgresPrometheusMetrics(result, { target: 'test' }));
        const run = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
        const complaints = `${run.stdout}${run.stderr}`
          .split('\n')
          .filter((l) => l.trim() !== '' && !/^pg_(stat_activity|locks)_count non-histogram/.test(l));
        assert.deepEqual(complaints, []);
      } else if (process.env.CI === 'true') {
        assert.fail('/usr/bin/promtool is missing in CI (apt-get install prometheus)');
      }
    } finally {
      load.kill('SIGTERM');
      await collector.close();
    }
  });

  test('a_provoked_deadlock_is_counted', async () => {
    await db.pool.query('CREATE TABLE dl (id int PRIMARY KEY, v int); INSERT INTO dl VALUES (1, 0), (2, 0)');
    const collector = collectorFor(db.url, db, { families: ['pg_database'] });
    const before = Number(
      rowsOf(await collector.collect(collectContext()), 'pg_database').find((r) => r.datname === db.name)
        ?.deadlocks,
    );
    const s1 = await db.pool.connect();
    const s2 = await db.pool.connect();
    try {
      await s1.query("SET deadlock_timeout = '100ms'");
      await s2.query("SET deadlock_timeout = '100ms'");
      await s1.query('BEGIN; UPDATE dl SET v = 1 WHERE id = 1');
      await s2.query('BEGIN; UPDATE dl SET v = 2 WHERE id = 2');
      const outcomes = await Promise.allSettled([
        s1.query('UPDATE dl SET v = 1 WHERE id = 2'),
        s2.query('UPDATE dl SET v = 2 WHERE id = 1'),
      ]);
      const failed = outcomes.filter((o) => o.status === 'rejected');
      assert.equal(failed.length, 1);
      assert.match(String((failed[0] as PromiseRejectedResult).reason), /deadlock detected/);
      await s1.query('ROLLBACK');
      await s2.query('ROLLBACK');
      // Backends flush their statistics at transaction end at most once a second (else after 10 s idle).
      await sleep(1100);
      await s1.query('SELECT 1');
      await s2.query('SELECT 1');
    } finally {
      await s1.query('ROLLBACK').catch(() => {});
      await s2.query('ROLLBACK').catch(() => {});
      s1.release();
      s2.release();
    }
    const seen = await waitFor('the deadlock in pg_database', async () => {
      const row = rowsOf(await collector.collect(collectContext()), 'pg_database').find(
        (r) => r.datname === db.name,
      );
      return Number(row?.deadlocks) > before ? Number(row?.deadlocks) : undefined;
    });
    const { rows } = await db.pool.query(
      'SELECT deadlocks::int AS d FROM pg_stat_database WHERE datname = $1',
      [db.name],
    );
    assert.equal(seen, before + 1);
    assert.equal(rows[0].d, seen);
    await collector.close();
  });

  test('a_query_blocked_by_a_lock_held_in_another_session_is_reported_with_its_blocker', async () => {
    await db.pool.query('CREATE TABLE blk (id int PRIMARY KEY, v int); INSERT INTO blk VALUES (1, 0)');
    const holder = await db.pool.connect();
    const waiter = await db.pool.connect();
    const collector = collectorFor(db.url, db);
    try {
      const holderPid = (await holder.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
      const waiterPid = (await waiter.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
      await holder.query('BEGIN; UPDATE blk SET v = 1 WHERE id = 1');
      const blocked = waiter.query('UPDATE blk SET v = 2 WHERE id = 1');
      await waitFor('the waiter to wait on the lock', async () => {
        const { rows } = await db.pool.query('SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1', [
          waiterPid,
        ]);
        return rows[0]?.wait_event_type === 'Lock' ? true : undefined;
      });
      const result = await collector.collect(collectContext());
      const wait = rowsOf(result, 'pg_lock_waits').find((r) => r.pid === waiterPid);
      assert.ok(wait, 'the blocked process is listed');
      assert.deepEqual(String(wait.blocking_pids).split(',').map(Number), [holderPid]);
      assert.equal(wait.datname, db.name);
      assert.match(String(wait.query), /UPDATE blk SET v = 2/);
      const activity = rowsOf(result, 'pg_activity').filter((r) => r.datname === db.name);
      assert.ok(activity.reduce((n, r) => n + Number(r.blocked), 0) >= 1);
      assert.ok(activity.reduce((n, r) => n + Number(r.waiting), 0) >= 1);
      const idleInTx = activity.find((r) => r.state === 'idle in transaction');
      assert.ok(idleInTx && Number(idleInTx.max_xact_age_s) >= 0, 'the holder is idle in transaction');
      // A row lock waits on the holder's transaction id: a lock outside any database (datname '').
      assert.ok(
        rowsOf(result, 'pg_locks').some((r) => r.locktype === 'transactionid' && Number(r.waiting) >= 1),
        'a waiting lock request',
      );
      assert.ok(
        rowsOf(result, 'pg_wait_events').some((r) => r.wait_event_type === 'Lock' && Number(r.count) >= 1),
      );
      const prom = renderExposition(postgresPrometheusMetrics(result));
      assert.match(
        prom,
        /^pg_locks_count\{datname="",locktype="transactionid",mode="ShareLock",granted="false"\} [1-9]/m,
      );
      await holder.query('ROLLBACK');
      await blocked;
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      holder.release();
      waiter.release();
      await collector.close();
    }
  });

  test('dead_tuples_from_updates_with_autovacuum_off_are_reported', async () => {
    await db.pool.query(
      'CREATE TABLE dead (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = false); INSERT INTO dead SELECT g, 0 FROM generate_series(1, 1000) g',
    );
    await db.pool.query('UPDATE dead SET v = v + 1');
    const direct = await waitFor('dead tuples in the statistics', async () => {
      const { rows } = await db.pool.query(
        "SELECT n_dead_tup::int AS d, n_live_tup::int AS l FROM pg_stat_user_tables WHERE relname = 'dead'",
      );
      return rows[0]?.d >= 1000 ? rows[0] : undefined;
    });
    const collector = collectorFor(db.url, db, { families: ['pg_tables'] });
    const row = rowsOf(await collector.collect(collectContext()), 'pg_tables').find(
      (r) => r.relname === 'dead',
    );
    assert.ok(row);
    assert.equal(row.n_dead_tup, direct.d);
    assert.equal(row.n_live_tup, direct.l);
    assert.ok(Math.abs(Number(row.dead_pct) - (100 * direct.d) / (direct.d + direct.l)) < 0.01);
    assert.equal(row.last_autovacuum, null);
    await collector.close();
  });

  test('a_table_locked_exclusively_degrades_only_the_tables_family_and_it_is_retried_next_interval', async () => {
    await db.pool.query('CREATE TABLE locked_t (id int)');
    const holder = await db.pool.connect();
    const collector = collectorFor(db.url, db, { lockTimeoutMs: 200 });
    try {
      await holder.query('BEGIN; LOCK TABLE locked_t IN ACCESS EXCLUSIVE MODE');
      const result = await collector.collect(collectContext());
      const tables = statusOf(result, 'pg_tables', db.name);
      assert.equal(tables?.ok, false);
      assert.match(String(tables?.error), /lock timeout/);
      assert.equal(rowsOf(result, 'pg_instance')[0]?.up, true);
      assert.equal(statusOf(result, 'pg_indexes', db.name)?.ok, true);
      assert.ok(rowsOf(result, 'pg_database').length > 0, 'the other families still arrive');
      await holder.query('ROLLBACK');
      const again = await collector.collect(collectContext());
      assert.equal(statusOf(again, 'pg_tables', db.name)?.ok, true);
      assert.ok(rowsOf(again, 'pg_tables').some((r) => r.relname === 'locked_t'));
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      holder.release();
      await collector.close();
    }
  });

  test('a_role_with_only_pg_monitor_collects_every_family', async () => {
    const role = `mon_${randomBytes(4).toString('hex')}`;
    const password = `Mon-${randomBytes(6).toString('hex')}`;
    await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'; GRANT pg_monitor TO ${role}`);
    // a statement of another role, so there is something pg_read_all_stats must reveal
    await db.pool.query("SELECT count(*) FROM pg_class WHERE relname = 'pg_monitor_probe'");
    const collector = collectorFor(urlAs(role, password, db.name), db);
    try {
      await collector.collect(collectContext());
      await db.pool.query("SELECT count(*) FROM pg_class WHERE relname = 'pg_monitor_probe'");
      const result = await collector.collect(collectContext());
      assert.deepEqual(failedFamilies(result), []);
      assert.ok(rowsOf(result, 'pg_database').some((r) => r.datname === db.name && Number(r.size_bytes) > 0));
      // pg_read_all_stats (part of pg_monitor) shows other roles' statements and their texts
      const others = rowsOf(result, 'pg_statements').filter((r) => r.usename !== role);
      assert.ok(others.length > 0, "other roles' statements are visible");
      assert.ok(
        rowsOf(result, 'pg_statement_texts').every(
          (t) => !String(t.query).includes('insufficient privilege'),
        ),
      );
      const mine = rowsOf(result, 'pg_activity').filter((r) => r.usename !== role && r.usename !== '');
      assert.ok(mine.length > 0);
    } finally {
      await collector.close();
      await db.pool.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`).catch(() => {});
    }
  });

  test('a_role_without_pg_monitor_reports_other_roles_sessions_counted_and_their_waits_unknown', async () => {
    const role = `nomon_${randomBytes(4).toString('hex')}`;
    const password = `NoMon-${randomBytes(6).toString('hex')}`;
    await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    const collector = collectorFor(urlAs(role, password, db.name), db, { families: ['pg_activity'] });
    try {
      const result = await collector.collect(collectContext());
      const rows = rowsOf(result, 'pg_activity');
      // The test's own connections (another role) and PostgreSQL's background processes are hidden from it:
      // counted, but whether they wait on a lock is not known, so not 0.
      // (PostgreSQL still shows their database and role, so they may fall into several groups.)
      const hidden = rows.filter((r) => r.backend_type === '');
      assert.ok(hidden.length >= 1, JSON.stringify(rows));
      assert.ok(
        hidden.reduce((n, r) => n + Number(r.count), 0) >= 2,
        'the test pool and the checkpointer at least',
      );
      assert.ok(
        hidden.every((r) => r.waiting === null && r.blocked === null),
        JSON.stringify(hidden),
      );
      // What it can see is measured as before.
      assert.ok(rows.every((r) => r.backend_type === '' || (r.waiting !== null && r.blocked !== null)));
    } finally {
      await collector.close();
      await db.pool.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`).catch(() => {});
    }
  });

  test('database_sizes_are_read_when_the_databases_are_visited_and_are_null_in_between_while_metrics_keep_the_last', async () => {
    const collector = collectorFor(db.url, db, { databaseIntervalMs: 3_600_000 });
    let exposed: ExposedMetric[] = [];
    const ctx = { ...collectContext(), expose: (m: ExposedMetric[]) => (exposed = m) };
    const sizeExposed = () =>
      exposed
        .find((m) => m.name === 'pg_database_size_bytes')
        ?.samples.find((x) => x.labels?.datname === db.name)?.value;
    try {
      const visiting = await collector.collect(ctx);
      assert.equal(statusOf(visiting, 'pg_tables', db.name)?.ok, true, 'the databases were visited');
      const read = rowsOf(visiting, 'pg_database').find((r) => r.datname === db.name);
      assert.ok(Number(read?.size_bytes) > 0);
      assert.equal(sizeExposed(), Number(read?.size_bytes));

      const between = await collector.collect(ctx);
      assert.equal(statusOf(between, 'pg_tables', db.name), undefined, 'not visited this time');
      const row = rowsOf(between, 'pg_database').find((r) => r.datname === db.name);
      assert.ok(row, 'the database still has its row');
      assert.equal(row.size_bytes, null, 'not read: absent, never 0 nor a copy');
      assert.ok(Number(row.xact_commit) > 0, 'the counters are read every time');
      assert.equal(sizeExposed(), Number(read?.size_bytes), '/metrics keeps the last size read');
    } finally {
      await collector.close();
    }
  });

  test('without_pg_stat_statements_it_warns_once_with_the_sql_to_enable_it_and_carries_on', async () => {
    const bare = await createTestDatabase('pgcol_bare');
    const { log, lines } = capturingLogger();
    const collector = collectorFor(bare.url, bare);
    try {
      const first = await collector.collect(collectContext(log));
      const second = await collector.collect(collectContext(log));
      for (const result of [first, second]) {
        const st = statusOf(result, 'pg_statements');
        assert.equal(st?.ok, false);
        assert.match(String(st?.error), /CREATE EXTENSION pg_stat_statements/);
        assert.equal(rowsOf(result, 'pg_instance')[0]?.up, true);
        assert.deepEqual(
          failedFamilies(result).filter((f) => !f.startsWith('pg_statements@')),
          [],
          'every other family is collected',
        );
        assert.ok(rowsOf(result, 'pg_database').length > 0);
      }
      const warnings = lines.filter((l) => l.includes('CREATE EXTENSION pg_stat_statements'));
      assert.equal(warnings.length, 1, 'said once, not every interval');
      assert.equal(JSON.parse(warnings[0]!).level, 40);
    } finally {
      await collector.close();
      await bare.drop();
    }
  });

  test('a_canary_password_appears_in_no_row_log_line_error_or_metrics_output', async () => {
    const canary = `Canary${randomBytes(8).toString('hex')}Pw`;
    const role = `can_${randomBytes(4).toString('hex')}`;
    await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${canary}'; GRANT pg_monitor TO ${role}`);
    const { log, lines } = capturingLogger();
    const outputs: string[] = [];
    const check = async (url: string, times: number) => {
      const collector = collectorFor(url, db, { connectTimeoutMs: 2000 });
      try {
        for (let i = 0; i < times; i++) {
          const result = await collector.collect(collectContext(log));
          outputs.push(JSON.stringify(result), renderExposition(postgresPrometheusMetrics(result)));
        }
      } catch (err) {
        outputs.push(String(err), (err as Error).stack ?? '');
      } finally {
        await collector.close();
      }
    };
    try {
      await check(urlAs(role, canary, db.name), 2); // works
      const wrong = `${canary}-wrong`;
      await check(urlAs(role, wrong, db.name), 1); // authentication fails
      await check(urlAs(role, canary, 'no_such_database_here'), 1); // database missing
      const u = new URL(urlAs(role, canary, db.name));
      u.port = '1'; // nothing listens
      await check(u.toString(), 2);
      await sleep(50);
      const down = outputs.filter((o) => o.includes('"up":false'));
      assert.ok(down.length >= 3, 'the failures were reported as rows');
      assert.ok(outputs.some((o) => /rejected user|password authentication failed/.test(o)));
      assert.ok(outputs.some((o) => /connection refused/.test(o)));
      assert.ok(lines.length > 0, 'something was logged');
      for (const text of [...outputs, ...lines]) {
        assert.ok(!text.includes(canary), `the password leaked: ${text.slice(0, 300)}`);
      }
    } finally {
      await db.pool.query(`DROP ROLE ${role}`).catch(() => {});
    }
  });

  test('an_unreachable_instance_gives_up_false_and_backs_off_without_throwing', async () => {
    const u = new URL(adminUrl());
    u.port = '1';
    const collector = createPostgresCollector(u.toString(), { connectTimeoutMs: 1000 });
    const first = await collector.collect(collectContext());
    const inst = rowsOf(first, 'pg_instance')[0];
    assert.equal(inst?.up, false);
    assert.match(String(inst?.error), /connection refused/);
    const second = await collector.collect(collectContext());
    assert.match(String(rowsOf(second, 'pg_instance')[0]?.error), /next connection attempt in \d+ s/);
    assert.match(renderExposition(postgresPrometheusMetrics(second)), /^pg_up 0$/m);
    await collector.close();
  });

  test('the_settings_snapshot_is_sent_first_and_then_only_when_it_changes', async () => {
    const collector = collectorFor(db.url, db, { families: ['pg_settings'] });
    try {
      const first = rowsOf(await collector.collect(collectContext()), 'pg_settings');
      assert.ok(first.some((r) => r.name === 'shared_preload_libraries' && r.source !== 'default'));
      assert.equal(
        rowsOf(await collector.collect(collectContext()), 'pg_settings').length,
        0,
        'unchanged: not resent',
      );
    } finally {
      await collector.close();
    }
  });

  test('excluded_databases_are_neither_visited_nor_reported', async () => {
    const collector = createPostgresCollector(db.url, {
      includeDatabases: [`${db.name.slice(0, 6)}*`],
      excludeDatabases: [db.name],
      databaseIntervalMs: 0,
      families: ['pg_database', 'pg_tables'],
    });
    const result = await collector.collect(collectContext());
    assert.ok(!rowsOf(result, 'pg_database').some((r) => r.datname === db.name));
    assert.ok(!rowsOf(result, 'pg_tables').some((r) => r.datname === db.name));
    await collector.close();
  });
});

describe(`PostgreSQL collector connections on ${testPgLabel}`, () => {
  let a: TestDatabase;
  let b: TestDatabase;
  // The collectors here log in as a role of their own (a superuser, as the test cluster's): other test
  // files' collectors, running beside these against the same cluster, visit every database in sessions
  // named pgvigil too, and are told apart by their role.
  const own = { role: `conn_${randomBytes(4).toString('hex')}`, url: '' };
  before(async () => {
    a = await createTestDatabase('pgsess_a');
    b = await createTestDatabase('pgsess_b');
    const password = `Conn-${randomBytes(6).toString('hex')}`;
    await a.pool.query(`CREATE ROLE ${own.role} SUPERUSER LOGIN PASSWORD '${password}'`);
    own.url = urlAs(own.role, password, a.name);
  });
  after(async () => {
    await a.pool.query(`DROP ROLE IF EXISTS ${own.role}`);
    await a.drop();
    await b.drop();
  });

  test('with_keep_connections_0_one_connection_named_pgvigil_stays_open_and_visits_are_closed_after', async () => {
    const collector = createPostgresCollector(own.url, {
      includeDatabases: [a.name, b.name],
      databaseIntervalMs: 0,
      keepDatabaseConnections: 0,
    });
    const result = await collector.collect(collectContext());
    assert.deepEqual(
      [
        ...new Set(
          rowsOf(result, 'pg_collector')
            .filter((r) => r.family === 'pg_tables')
            .map((r) => r.datname),
        ),
      ].sort(),
      [a.name, b.name].sort(),
      'both databases visited',
    );
    const probe = new pg.Client({ connectionString: a.url });
    await probe.connect();
    try {
      const { rows } = await probe.query(
        `SELECT datname FROM pg_stat_activity WHERE application_name = 'pgvigil' AND usename = '${own.role}' AND datname = ANY($1)`,
        [[a.name, b.name]],
      );
      assert.deepEqual(
        rows.map((r) => r.datname),
        [a.name],
        'only the main connection remains between collections',
      );
    } finally {
      await probe.end();
      await collector.close();
    }
  });

  test('a_databases_families_are_read_in_one_message_of_statements_prepared_once_per_connection', async () => {
    const collector = createPostgresCollector(own.url, {
      includeDatabases: [a.name, b.name],
      databaseIntervalMs: 0,
      keepDatabaseConnections: 1,
    });
    const probe = new pg.Client({ connectionString: a.url });
    await probe.connect();
    // The last message the kept connection to b sent: what the visit ran, in one round trip.
    const lastMessage = async () =>
      String(
        (
          await probe.query(
            `SELECT query FROM pg_stat_activity WHERE application_name = 'pgvigil' AND usename = '${own.role}' AND datname = $1`,
            [b.name],
          )
        ).rows[0]?.query,
      );
    try {
      await b.pool.query('CREATE TABLE IF NOT EXISTS one_message_t (id serial PRIMARY KEY)');
      await b.pool.query('INSERT INTO one_message_t DEFAULT VALUES');
      const first = await collector.collect(collectContext());
      const firstMessage = await lastMessage();
      // pg_stat_activity keeps the first 1 kB of a message (track_activity_query_size): its start shows.
      assert.match(
        firstMessage,
        /^PREPARE pgvigil_b_clock AS SELECT[^;]*;\s*PREPARE pgvigil_b_pg_tables_\d+ AS SELECT/,
      );
      const second = await collector.collect(collectContext());
      const secondMessage = await lastMessage();
      assert.doesNotMatch(secondMessage, /PREPARE/, 'planned once per connection');
      assert.match(
        secondMessage,
        /EXECUTE pgvigil_b_pg_tables_\d+\(\d+\)[\s\S]*EXECUTE pgvigil_b_pg_sequences_/,
      );
      for (const result of [first, second]) {
        assert.ok(
          rowsOf(result, 'pg_tables').some((r) => r.datname === b.name && r.relname === 'one_message_t'),
        );
        assert.ok(rowsOf(result, 'pg_sequences').some((r) => r.datname === b.name && r.last_value === 1));
        for (const family of ['pg_tables', 'pg_indexes', 'pg_statio', 'pg_sequences']) {
          const status = statusOf(result, family, b.name);
          assert.equal(status?.ok, true, family);
          const ms = Number(status?.duration_ms);
          assert.ok(Number.isFinite(ms) && ms >= 0 && ms < 5_000, `${family}: server time ${ms} ms`);
        }
      }
    } finally {
      await probe.end();
      await collector.close();
    }
  });

  // Each database of `names` gets a table held in ACCESS EXCLUSIVE mode by a transaction of the test, so a
  // visit to it waits (its lock_timeout made long) until the test lets go: which visits wait at the same
  // time is then seen in pg_stat_activity, whatever the machine's speed.
  async function lockedDatabases(names: string[]) {
    const dbs = await Promise.all(names.map((n) => createTestDatabase(n)));
    const holders = new Map<string, pg.PoolClient>();
    for (const d of dbs) {
      await d.pool.query('CREATE TABLE visit_lock_t (id int)');
      const holder = await d.pool.connect();
      await holder.query('BEGIN; LOCK TABLE visit_lock_t IN ACCESS EXCLUSIVE MODE');
      holders.set(d.name, holder);
    }
    const release = async (name: string) => {
      const holder = holders.get(name);
      if (!holder) return;
      holders.delete(name);
      await holder.query('ROLLBACK').catch(() => {});
      holder.release();
    };
    return {
      names: dbs.map((d) => d.name),
      release,
      async cleanup() {
        for (const name of [...holders.keys()]) await release(name);
        for (const d of dbs) await d.drop();
      },
    };
  }

  /** The collector's sessions in `names`: database → whether it waits on a lock. */
  async function visiting(probe: pg.Client, names: string[]): Promise<Map<string, boolean>> {
    const { rows } = await probe.query<{ datname: string; waiting: boolean }>(
      `SELECT datname, wait_event_type = 'Lock' AS waiting FROM pg_stat_activity
        WHERE application_name = 'pgvigil' AND usename = '${own.role}' AND datname = ANY($1)`,
      [names],
    );
    return new Map(rows.map((r) => [r.datname, r.waiting === true]));
  }

  /**
   * A collector visiting the locked databases `names` up to `concurrency` at a time (kept connections
   * as by default: as many as the concurrency), with a probe connection to watch its sessions.
   */
  async function visitCollector(names: string[], concurrency: number) {
    const locked = await lockedDatabases(names);
    const collector = createPostgresCollector(own.url, {
      includeDatabases: locked.names,
      databaseIntervalMs: 0,
      databaseVisitConcurrency: concurrency,
      lockTimeoutMs: 30_000,
      statementTimeoutMs: 30_000,
    });
    const probe = new pg.Client({ connectionString: a.url });
    await probe.connect();
    return {
      locked,
      collector,
      probe,
      async cleanup() {
        await locked.cleanup();
        await probe.end();
        await collector.close();
      },
    };
  }

  test('databases_are_visited_side_by_side_up_to_the_visit_concurrency', async () => {
    const { locked, collector, probe, cleanup } = await visitCollector(['pgvis_b', 'pgvis_c', 'pgvis_d'], 2);
    try {
      const collecting = collector.collect(collectContext());
      // Two visits wait on their locks at once; the third database is not entered while they do.
      const first = await waitFor('two visits waiting at once', async () => {
        const now = await visiting(probe, locked.names);
        return [...now.values()].filter(Boolean).length === 2 ? now : undefined;
      });
      assert.equal(first.size, 2, 'no third connection while two visits are under way');
      const [done, still] = [...first.keys()];
      const third = locked.names.find((n) => !first.has(n));
      // One visit let go of: the third database is visited beside the one still waiting.
      await locked.release(String(done));
      const second = await waitFor('the third visit beside the one still waiting', async () => {
        const now = await visiting(probe, locked.names);
        return now.get(String(third)) === true && now.get(String(still)) === true ? now : undefined;
      });
      assert.equal(
        second.has(String(done)),
        false,
        'the finished visit let go of its connection: no more than 2 connections to other databases at once',
      );
      for (const name of locked.names) await locked.release(name);
      const result = await collecting;
      for (const name of locked.names) assert.equal(statusOf(result, 'pg_tables', name)?.ok, true, name);
      // Rows join in the order of the list, whatever order the visits ended in.
      const order = rowsOf(result, 'pg_tables')
        .map((r) => String(r.datname))
        .filter((d, i, all) => all[i - 1] !== d);
      assert.deepEqual(order, [...locked.names].sort());
      for (const name of locked.names)
        assert.ok(
          rowsOf(result, 'pg_tables').some((r) => r.datname === name && r.relname === 'visit_lock_t'),
        );
    } finally {
      await cleanup();
    }
  });

  test('with_a_visit_concurrency_of_1_the_databases_are_visited_one_after_another', async () => {
    const { locked, collector, probe, cleanup } = await visitCollector(['pgvis1_b', 'pgvis1_c'], 1);
    try {
      const collecting = collector.collect(collectContext());
      const [firstName, secondName] = [...locked.names].sort();
      const first = await waitFor('the first visit waiting', async () => {
        const now = await visiting(probe, locked.names);
        return now.get(String(firstName)) === true ? now : undefined;
      });
      assert.equal(first.has(String(secondName)), false, 'the second database waits its turn');
      await locked.release(String(firstName));
      const second = await waitFor('the second visit waiting', async () => {
        const now = await visiting(probe, locked.names);
        return now.get(String(secondName)) === true ? now : undefined;
      });
      assert.equal(
        second.has(String(firstName)),
        false,
        'the first visit ended (and its connection was let go of) before the second began',
      );
      await locked.release(String(secondName));
      const result = await collecting;
      for (const name of locked.names) assert.equal(statusOf(result, 'pg_tables', name)?.ok, true, name);
    } finally {
      await cleanup();
    }
  });

  test('visits_refused_by_the_roles_connection_limit_wait_their_turn_instead_of_degrading', async () => {
    const dbs = await Promise.all(
      ['pgvislim_b', 'pgvislim_c', 'pgvislim_d'].map((n) => createTestDatabase(n)),
    );
    const role = `lim_${randomBytes(4).toString('hex')}`;
    const password = `Lim-${randomBytes(6).toString('hex')}`;
    // The main connection and one visit: the other visits started beside it are refused (SQLSTATE 53300).
    await a.pool.query(
      `CREATE ROLE ${role} LOGIN PASSWORD '${password}' CONNECTION LIMIT 2; GRANT pg_monitor TO ${role}`,
    );
    const names = dbs.map((d) => d.name);
    const log = capturingLogger();
    const collector = createPostgresCollector(urlAs(role, password, a.name), {
      includeDatabases: names,
      databaseIntervalMs: 0,
      databaseVisitConcurrency: 4,
    });
    try {
      for (let round = 0; round < 3; round++) {
        const result = await collector.collect(collectContext(log.log));
        for (const name of names)
          for (const family of ['pg_tables', 'pg_indexes', 'pg_statio'])
            assert.equal(
              statusOf(result, family, name)?.ok,
              true,
              `${family}@${name}: ${statusOf(result, family, name)?.error}`,
            );
      }
      assert.ok(
        log.lines.some((l) => /no connection slot for this visit now/.test(l)),
        'visits were refused and given back',
      );
      // Kept connections (by default) hold the one slot between visits: a visit refused lets go of one.
      assert.ok(
        log.lines.some((l) => /a kept connection let go of for this visit/.test(l)),
        'a kept connection made room for a refused visit',
      );
    } finally {
      await collector.close();
      for (const d of dbs) await d.drop();
      await a.pool.query(`DROP ROLE ${role}`).catch(() => {});
    }
  });

  /**
   * The collector's sessions in `names`: database → backend pid. At most one a database; a second one is
   * given up to 2 s to leave (a backend that is ending stays in pg_stat_activity for a moment).
   */
  async function sessionPids(probe: pg.Client, names: string[]): Promise<Map<string, number>> {
    const read = async () =>
      (
        await probe.query<{ datname: string; pid: number }>(
          `SELECT datname, pid FROM pg_stat_activity
            WHERE application_name = 'pgvigil' AND usename = '${own.role}' AND backend_type = 'client backend' AND datname = ANY($1)`,
          [names],
        )
      ).rows;
    let rows = await read();
    for (let tries = 0; tries < 20 && new Set(rows.map((r) => r.datname)).size < rows.length; tries++) {
      await sleep(100);
      rows = await read();
    }
    assert.equal(new Set(rows.map((r) => r.datname)).size, rows.length, 'one session a database at most');
    return new Map(rows.map((r) => [r.datname, r.pid]));
  }

  function assertAllVisited(result: FamilyRows[], names: string[]): void {
    for (const name of names)
      for (const family of ['pg_tables', 'pg_indexes', 'pg_statio', 'pg_sequences'])
        assert.equal(
          statusOf(result, family, name)?.ok,
          true,
          `${family}@${name}: ${statusOf(result, family, name)?.error}`,
        );
  }

  test('by_default_visit_connections_are_kept_and_let_go_of_when_their_database_closes_is_dropped_or_ends', async () => {
    const dbs = await Promise.all(['pgkeep_b', 'pgkeep_c', 'pgkeep_d'].map((n) => createTestDatabase(n)));
    const names = dbs.map((d) => d.name);
    const [b, c, d] = names as [string, string, string];
    // The test's own pools would block a plain DROP DATABASE as much as the collector's connections.
    for (const x of dbs) await x.pool.end();
    const collector = createPostgresCollector(own.url, { includeDatabases: names, databaseIntervalMs: 0 });
    const probe = new pg.Client({ connectionString: a.url });
    await probe.connect();
    try {
      assertAllVisited(await collector.collect(collectContext()), names);
      const first = await sessionPids(probe, names);
      assert.deepEqual([...first.keys()].sort(), [...names].sort(), 'a connection kept in every database');
      assertAllVisited(await collector.collect(collectContext()), names);
      assert.deepEqual(await sessionPids(probe, names), first, 'the same backends visited again');

      // Ended by the server: the next visit opens a new connection, and nothing degrades.
      await probe.query('SELECT pg_terminate_backend($1)', [first.get(b)]);
      await waitFor('the terminated backend gone', async () =>
        (await sessionPids(probe, names)).get(b) === first.get(b) ? undefined : true,
      );
      await sleep(100); // the collector's socket hears of the end
      assertAllVisited(await collector.collect(collectContext()), names);
      const third = await sessionPids(probe, names);
      assert.ok(third.has(b) && third.get(b) !== first.get(b), 'a new connection to the database');

      // Closed to new connections: let go of at the next visit, after which a plain DROP DATABASE works.
      await probe.query(`ALTER DATABASE ${probe.escapeIdentifier(c)} WITH ALLOW_CONNECTIONS false`);
      await assert.rejects(
        probe.query(`DROP DATABASE ${probe.escapeIdentifier(c)}`),
        /being accessed by other users/,
        'a kept connection makes a plain DROP DATABASE fail',
      );
      const closed = await collector.collect(collectContext());
      assertAllVisited(closed, [b, d]);
      assert.equal(
        statusOf(closed, 'pg_tables', c),
        undefined,
        'a database closed to connections is not visited',
      );
      assert.equal((await sessionPids(probe, names)).has(c), false, 'its kept connection let go of');
      // Other test files' collectors may still hold one of their own there until their next visit.
      await probe.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename <> $2',
        [c, own.role],
      );
      await waitFor('only our sessions were in the closed database', async () =>
        (await probe.query('SELECT 1 FROM pg_stat_activity WHERE datname = $1', [c])).rowCount === 0
          ? true
          : undefined,
      );
      await probe.query(`DROP DATABASE ${probe.escapeIdentifier(c)}`);

      // Dropped WITH (FORCE) under a kept connection: the next collection goes on without it.
      await probe.query(`DROP DATABASE ${probe.escapeIdentifier(d)} WITH (FORCE)`);
      await sleep(100);
      const afterDrop = await collector.collect(collectContext());
      assert.ok(
        !rowsOf(afterDrop, 'pg_collector').some((r) => r.datname === d || (r.ok !== true && r.datname === b)),
      );
      assertAllVisited(afterDrop, [b]);
      assert.deepEqual([...(await sessionPids(probe, names)).keys()], [b]);

      await collector.close();
      await waitFor('no connection of the collector left', async () =>
        (await sessionPids(probe, names)).size === 0 ? true : undefined,
      );
    } finally {
      await collector.close();
      for (const x of names)
        await probe.query(`DROP DATABASE IF EXISTS ${probe.escapeIdentifier(x)} WITH (FORCE)`);
      await probe.end();
    }
  });

  test('a_visit_under_way_when_the_collector_closes_closes_its_connection_instead_of_keeping_it', async () => {
    const { locked, collector, probe, cleanup } = await visitCollector(['pgvisclose_b'], 1);
    try {
      const collecting = collector.collect(collectContext());
      await waitFor('the visit waiting', async () =>
        [...(await visiting(probe, locked.names)).values()].some(Boolean) ? true : undefined,
      );
      await collector.close();
      for (const name of locked.names) await locked.release(name);
      await collecting;
      await waitFor('no connection of the collector left in the database', async () =>
        (await visiting(probe, locked.names)).size === 0 ? true : undefined,
      );
    } finally {
      await cleanup();
    }
  });

  test('with_more_databases_than_kept_connections_those_kept_are_visited_first_and_no_more_are_held', async () => {
    const dbs = await Promise.all(['pgkeep2_b', 'pgkeep2_c', 'pgkeep2_d'].map((n) => createTestDatabase(n)));
    const names = dbs.map((d) => d.name);
    const collector = createPostgresCollector(own.url, {
      includeDatabases: names,
      databaseIntervalMs: 0,
      databaseVisitConcurrency: 2,
    });
    const probe = new pg.Client({ connectionString: a.url });
    await probe.connect();
    try {
      let previous: Map<string, number> | undefined;
      for (let round = 0; round < 3; round++) {
        const result = await collector.collect(collectContext());
        assertAllVisited(result, names);
        // Rows join in the order of the list, whichever databases were visited first.
        const order = rowsOf(result, 'pg_collector')
          .filter((r) => r.family === 'pg_tables' && names.includes(String(r.datname)))
          .map((r) => String(r.datname));
        assert.deepEqual(order, [...names].sort());
        const now = await sessionPids(probe, names);
        assert.equal(now.size, 2, 'as many kept as the visit concurrency, by default');
        if (previous) {
          // The two kept were visited first over their connections; the third took the slot of one.
          const reused = [...now].filter(([db, pid]) => previous?.get(db) === pid);
          assert.equal(reused.length, 1, `one kept connection survives a round: ${JSON.stringify([...now])}`);
        }
        previous = now;
      }
    } finally {
      await probe.end();
      await collector.close();
      for (const x of dbs) await x.drop();
    }
  });

  test('overlapping_collections_are_refused_rather_than_stacked', async () => {
    const collector = createPostgresCollector(own.url, { includeDatabases: [a.name] });
    const [one, two] = await Promise.all([
      collector.collect(collectContext()),
      collector.collect(collectContext()),
    ]);
    assert.equal(rowsOf(one, 'pg_instance')[0]?.up, true);
    assert.deepEqual(two, []);
    await collector.close();
  });
});

test(`two_targets_carry_a_target_label_on_the_agent_metrics_and_no_password_shows_in_ps (${testPgLabel})`, async () => {
  const a = await createTestDatabase('two_a');
  const b = await createTestDatabase('two_b');
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-targets-'));
  // Target a: a URL without a password in PGVIGIL_POSTGRES, the password in PGPASSWORD (libpq's way).
  // Target b: a file of targets, one a line.
  const noPassword = new URL(a.url);
  const password = decodeURIComponent(noPassword.password);
  noPassword.password = '';
  const targetsFile = join(dir, 'targets');
  writeFileSync(targetsFile, `# the second instance\nb=${b.url}\n`, { mode: 0o600 });
  const agent = startCli(
    ['agent', '--listen', '127.0.0.1:0', '--interval', '1s', '--postgres-file', targetsFile],
    { PGVIGIL_POSTGRES: `a=${noPassword}`, PGPASSWORD: password, PGVIGIL_LOG_LEVEL: 'info' },
  );
  try {
    const url = (await agent.waitFor(/serving (http:\/\/127\.0\.0\.1:\d+\/metrics)/))[1]!;
    const cmdline = readFileSync(`/proc/${agent.child.pid}/cmdline`, 'utf8');
    assert.ok(!cmdline.includes(password), 'the password is not on the command line');
    let up: Array<{ labels: Record<string, string>; value: number }> = [];
    let body = '';
    await until(
      async () => {
        body = await (await fetch(url)).text();
        up = parsePromText(body).get('pg_up')?.samples ?? [];
        return up.length === 2 && up.every((s) => s.value === 1);
      },
      30_000,
      `pg_up 1 for both targets; last /metrics had ${JSON.stringify(up)}`,
    );
    assert.deepEqual(up.map((s) => s.labels.target).sort(), ['a', 'b'], 'one pg_up per target, labelled');
    for (const [name, m] of parsePromText(body)) {
      if (!name.startsWith('pg_')) continue;
      for (const s of m.samples)
        assert.ok(s.labels.target === 'a' || s.labels.target === 'b', `${name} has a target`);
    }
    assert.doesNotMatch(agent.output().stderr, /on the command line/, 'nothing secret was typed');
  } finally {
    assert.equal(await agent.stop('SIGTERM'), 0, agent.output().stderr);
    rmSync(dir, { recursive: true, force: true });
    await a.drop();
    await b.drop();
  }
});

test(`statements_asked_of_a_session_at_once_take_turns_in_the_order_asked (${testPgLabel})`, async () => {
  const db = await createTestDatabase('pgsess_turns');
  const target = new PostgresTarget(db.url, {
    statementTimeoutMs: 5000,
    lockTimeoutMs: 1000,
    connectTimeoutMs: 5000,
  });
  const session = await target.open(db.name, silentLogger());
  try {
    const ended: string[] = [];
    const slow = session.query('SELECT pg_sleep(0.2)').then(() => ended.push('slow'));
    const failing = session.query('SELECT 1/0').catch(() => ended.push('failed'));
    const quick = session.query<{ one: number }>('SELECT 1 AS one').then((r) => {
      ended.push('quick');
      return r.rows[0]?.one;
    });
    assert.equal(await quick, 1);
    await Promise.all([slow, failing]);
    assert.deepEqual(ended, ['slow', 'failed', 'quick'], 'a failed statement does not stop the next');
  } finally {
    await closeSession(session);
    await db.drop();
  }
});

test('no_statement_of_a_collection_waited_in_node_postgres_own_queue', () => {
  assert.deepEqual(queuedInNodePostgres, []);
});

/** The store on a real PostgreSQL: migrations, partition maintenance, families against tables, job locks. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import type { PgvigilError } from '../src/errors.js';
import { families } from '../src/protocol/families/index.js';
import { buildApp } from '../src/server/app.js';
import { ledgerPruneJob } from '../src/server/jobs/ledger-prune.js';
import { runJobOnce, startJobs } from '../src/server/jobs/runner.js';
import { openStore } from '../src/storage/db.js';
import { pgTypeNames } from '../src/storage/ddl.js';
import { currentLevel, loadMigrations, type Migration, migrate } from '../src/storage/migrate.js';
import { defaultRetention, maintainPartitions } from '../src/storage/partitions.js';
import { createTestDatabase, quietLog, type TestDatabase, testPgLabel } from './helpers/db.js';
import { type PrivateCluster, removeDir, startPrivateCluster } from './helpers/pg-cluster.js';
import { roleHeaders } from './helpers/users.js';
import { until } from './helpers/wait.js';

async function partitionsOf(pool: pg.Pool, parent: string): Promise<string[]> {
  const { rows } = await pool.query<{ relname: string }>(
    `SELECT ch.relname FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhparent AND c.relname = $1
       JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'pgvigil'
       JOIN pg_class ch ON ch.oid = i.inhrelid ORDER BY 1`,
    [parent],
  );
  return rows.map((r) => r.relname);
}

describe(`migrations on ${testPgLabel}`, () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('migr');
  });
  after(() => db.drop());

  test('a_database_pgvigil_never_migrated_is_at_level_0', async () => {
    const fresh = await createTestDatabase('migr_fresh');
    try {
      assert.equal(await currentLevel(fresh.pool), 0);
      await fresh.pool.query('CREATE SCHEMA pgvigil');
      assert.equal(await currentLevel(fresh.pool), 0);
    } finally {
      await fresh.drop();
    }
  });

  test('a_second_run_applies_nothing', async () => {
    const first = await migrate(db.pool, quietLog);
    assert.ok(first.applied.length >= 1);
    assert.equal(first.level, first.latest);
    const second = await migrate(db.pool, quietLog);
    assert.equal(second.applied.length, 0);
    assert.equal(second.level, first.level);
  });

  test('concurrent_runs_on_one_database_all_succeed_and_apply_each_migration_once', async () => {
    const other = await createTestDatabase('migr_conc');
    try {
      const results = await Promise.all([1, 2, 3].map(() => migrate(other.pool, quietLog)));
      const applied = results.reduce((n, r) => n + r.applied.length, 0);
      assert.equal(applied, (await loadMigrations()).length);
      const { rows } = await other.pool.query('SELECT count(*)::int AS n FROM pgvigil.schema_migrations');
      assert.equal(rows[0].n, applied);
    } finally {
      await other.drop();
    }
  });

  test('every_family_matches_its_table_column_for_column', async () => {
    for (const fam of Object.values(families)) {
      const { rows } = await db.pool.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns
          WHERE table_schema = 'pgvigil' AND table_name = $1 ORDER BY ordinal_position`,
        [fam.name],
      );
      assert.ok(rows.length > 0, `table pgvigil.${fam.name} is missing`);
      const keys = fam.scope === 'target' ? ['server_id', 'target_id', 'ts'] : ['server_id', 'ts'];
      const expected = [
        ...keys.map((k) => `${k}:${k === 'ts' ? 'timestamp with time zone' : 'bigint'}`),
        ...fam.columns.map((c) => `${c.name}:${pgTypeNames[c.type]}`),
      ];
      assert.deepEqual(
        rows.map((r) => `${r.column_name}:${r.data_type}`),
        expected,
        `family ${fam.name} differs from its table`,
      );
    }
  });

  test('a_failing_migration_leaves_the_previous_level_and_names_file_and_line', async () => {
    const other = await createTestDatabase('migr_fail');
    try {
      const real = await loadMigrations();
      const bad: Migration = {
        version: 9001,
        name: 'broken',
        file: '9001_broken.sql',
        checksum: 'x',
        sql: 'CREATE TABLE pgvigil.good_one (x int);\n\n-- the next one fails\nCREATE TABLE pgvigil.bad (x no_such_type);\n',
      };
      await assert.rejects(migrate(other.pool, quietLog, [...real, bad]), (err: Error) => {
        assert.match(err.message, /9001_broken\.sql failed at line 4 \(CREATE TABLE pgvigil\.bad/);
        assert.match(err.message, /no_such_type/);
        return true;
      });
      assert.equal(await currentLevel(other.pool), real.at(-1)!.version);
      const { rows } = await other.pool.query("SELECT to_regclass('pgvigil.good_one') AS t");
      assert.equal(rows[0].t, null, 'statements before the failure must be rolled back too');
      // The first run took every migration in one transaction (a new store); a store with a level takes
      // each in its own, and fails the same way.
      await assert.rejects(migrate(other.pool, quietLog, [...real, bad]), (err: Error) => {
        assert.match(err.message, /9001_broken\.sql failed at line 4 \(CREATE TABLE pgvigil\.bad/);
        return true;
      });
      assert.equal(await currentLevel(other.pool), real.at(-1)!.version);
      const again = await other.pool.query("SELECT to_regclass('pgvigil.good_one') AS t");
      assert.equal(again.rows[0].t, null);
    } finally {
      await other.drop();
    }
  });

  test('a_schema_newer_than_the_code_is_refused', async () => {
    const other = await createTestDatabase('migr_new');
    try {
      await migrate(other.pool, quietLog);
      await other.pool.query(
        "INSERT INTO pgvigil.schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')",
      );
      await assert.rejects(migrate(other.pool, quietLog), /migration 9999, newer than this pgvigil/);
    } finally {
      await other.drop();
    }
  });
});

describe(`partition maintenance on ${testPgLabel}`, () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('parts');
    await migrate(db.pool, quietLog);
  });
  after(() => db.drop());

  test('moving_time_forward_creates_partitions_ahead_and_drops_expired_ones', async () => {
    const t0 = new Date('2026-03-10T12:00:00Z');
    const first = await maintainPartitions(db.pool, { now: t0, log: quietLog });
    assert.ok(first.created.includes('host_cpu_p20260313'), 'three days ahead');
    assert.ok(first.created.includes('host_cpu_p20260303'), 'start of the 7-day window');
    assert.equal(first.dropped.length, 0);

    // A row for "now" lands in its partition.
    await db.pool.query(
      "INSERT INTO pgvigil.host_cpu (server_id, ts, cpu, user_pct) VALUES (1, $1, 'total', 12.5)",
      [t0],
    );
    const { rows } = await db.pool.query('SELECT tableoid::regclass::text AS part FROM pgvigil.host_cpu');
    assert.equal(rows[0].part, 'pgvigil.host_cpu_p20260310');

    const again = await maintainPartitions(db.pool, { now: t0, log: quietLog });
    assert.deepEqual(again, { created: [], dropped: [] }, 'idempotent at the same moment');

    const t1 = new Date('2026-03-20T12:00:00Z');
    const later = await maintainPartitions(db.pool, { now: t1, log: quietLog });
    assert.ok(later.created.includes('host_cpu_p20260323'));
    assert.ok(later.dropped.includes('host_cpu_p20260310'), 'the partition holding the old row expired');
    const parts = await partitionsOf(db.pool, 'host_cpu');
    assert.equal(parts[0], 'host_cpu_p20260313', 'oldest kept partition still overlaps the window');
    assert.equal(parts.at(-1), 'host_cpu_p20260323');
    const { rows: left } = await db.pool.query('SELECT count(*)::int AS n FROM pgvigil.host_cpu');
    assert.equal(left[0].n, 0, 'the expired row went with its partition');
  });

  test('retention_is_configurable', async () => {
    const now = new Date('2026-05-01T00:00:00Z');
    await maintainPartitions(db.pool, { now, log: quietLog });
    const short = await maintainPartitions(db.pool, {
      now,
      retention: { ...defaultRetention, rawDays: 2 },
      log: quietLog,
    });
    assert.ok(short.dropped.includes('host_memory_p20260424'));
    const parts = await partitionsOf(db.pool, 'host_memory');
    assert.equal(parts[0], 'host_memory_p20260429');
  });

  test('a_parent_that_fails_ends_the_pass_with_the_parents_before_it_kept_and_no_connection_left_aborted', async () => {
    const now = new Date('2026-08-01T12:00:00Z');
    const quick = { now, log: quietLog, tiers: ['raw'] as const, backfillDays: 0, aheadDays: 0 };
    // A partition of our own making for host_cpu's day, under another name: creating the day's partition
    // overlaps it. The parents are done in name order, each in its own transaction.
    await db.pool.query(
      "CREATE TABLE pgvigil.host_cpu_blocker PARTITION OF pgvigil.host_cpu FOR VALUES FROM ('2026-08-01') TO ('2026-08-02')",
    );
    await assert.rejects(maintainPartitions(db.pool, quick), /overlap/);
    const { rows } = await db.pool.query<{ relname: string }>(
      `SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'pgvigil'
        WHERE c.relname < 'host_cpu' AND c.relname NOT LIKE '%\\_minute' AND c.relname NOT LIKE '%\\_hourly'
          AND c.relname NOT LIKE '%\\_daily' ORDER BY 1 LIMIT 1`,
    );
    const before = rows[0]!.relname;
    assert.ok((await partitionsOf(db.pool, before)).includes(`${before}_p20260801`), `${before} kept`);
    assert.ok(!(await partitionsOf(db.pool, 'host_memory')).includes('host_memory_p20260801'));
    // Every connection of the pool answers: none was handed back inside the failed transaction.
    const clients = await Promise.all([db.pool.connect(), db.pool.connect(), db.pool.connect()]);
    for (const c of clients) assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    for (const c of clients) c.release();

    await db.pool.query('DROP TABLE pgvigil.host_cpu_blocker');
    const again = await maintainPartitions(db.pool, quick);
    assert.ok(
      again.created.includes('host_cpu_p20260801') && again.created.includes('host_memory_p20260801'),
    );
  });
});

describe(`periodic jobs on ${testPgLabel}`, () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('jobs');
    await migrate(db.pool, quietLog);
  });
  after(() => db.drop());

  test('the_ingest_ledger_forgets_batches_older_than_raw_retention', async () => {
    const agent = '6f1c2a4e-8b9d-4c1e-9f2a-3b4c5d6e7f80';
    await db.pool.query(
      `INSERT INTO pgvigil.ingest_ledger (server_id, agent_id, seq, row_count, received_at)
       VALUES (1, $1, 1, 10, now() - interval '9 days'), (1, $1, 2, 10, now() - interval '1 day')`,
      [agent],
    );
    assert.equal(await runJobOnce(db.pool, ledgerPruneJob(defaultRetention), quietLog), 'ran');
    const { rows } = await db.pool.query('SELECT seq::int FROM pgvigil.ingest_ledger WHERE agent_id = $1', [
      agent,
    ]);
    assert.deepEqual(
      rows.map((r) => r.seq),
      [2],
    );
  });

  test('a_job_runs_on_one_server_at_a_time_and_records_its_run', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slow = { name: 'test-slow', intervalMs: 1000, run: () => gate };
    const first = runJobOnce(db.pool, slow, quietLog);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await runJobOnce(db.pool, slow, quietLog), 'skipped');
    release();
    assert.equal(await first, 'ran');
    const failing = {
      name: 'test-fail',
      intervalMs: 1000,
      run: async () => Promise.reject(new Error('boom')),
    };
    assert.equal(await runJobOnce(db.pool, failing, quietLog), 'failed');
    const { rows } = await db.pool.query(
      "SELECT job, runs, failures, last_error FROM pgvigil.job_runs WHERE job LIKE 'test-%' ORDER BY job",
    );
    assert.deepEqual(
      rows.map((r) => [r.job, Number(r.runs), Number(r.failures), r.last_error]),
      [
        ['test-fail', 1, 1, 'boom'],
        ['test-slow', 1, 0, null],
      ],
    );
  });

  test('a_job_that_failed_runs_again_soon_rather_than_after_its_whole_interval', async () => {
    let runs = 0;
    const flaky = {
      name: 'test-flaky-hourly',
      intervalMs: 3_600_000,
      run: async () => {
        runs++;
        if (runs === 1) throw new Error('the store was too busy');
      },
    };
    const jobs = startJobs(db.pool, [flaky], quietLog, { retryAfterFailureMs: 200 });
    try {
      await until(() => runs === 2, 10_000, 'the retry after the failure');
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(runs, 2, 'after a good run, the next waits the whole interval');
    } finally {
      await jobs.stop();
    }
  });

  test('jobs_starting_together_take_turns_so_their_locks_never_hold_the_whole_pool', async () => {
    let running = 0;
    let most = 0;
    let done = 0;
    const job = (i: number) => ({
      name: `test-turns-${i}`,
      intervalMs: 3_600_000,
      run: async () => {
        running++;
        most = Math.max(most, running);
        // Work that needs a connection of its own besides the one holding the lock.
        await db.pool.query('SELECT pg_sleep(0.1)');
        running--;
        done++;
      },
    });
    const jobs = startJobs(db.pool, [0, 1, 2, 3, 4, 5, 6, 7].map(job), quietLog, { concurrency: 2 });
    try {
      await until(() => done === 8, 20_000, 'every job ran');
      assert.equal(most, 2);
    } finally {
      await jobs.stop();
    }
  });

  test('job_runs_are_visible_in_the_api_and_the_server_metrics', async () => {
    const store = await openStore({ databaseUrl: db.url, log: quietLog });
    const app = await buildApp({ store, log: quietLog, latestMigration: 0 });
    try {
      const headers = await roleHeaders(store.pool, 'viewer');
      const res = await app.inject({ method: 'GET', url: '/api/v1/jobs', headers });
      assert.equal(res.statusCode, 200);
      const fail = res.json().jobs.find((j: { job: string }) => j.job === 'test-fail');
      assert.equal(fail.lastError, 'boom');
      assert.equal(fail.failures, 1);
      assert.equal(fail.running, false);
      assert.equal(typeof fail.lastDurationMs, 'number');
      const metrics = await app.inject({ method: 'GET', url: '/metrics', headers });
      assert.match(metrics.body, /pgvigil_job_last_run_failed\{job="test-fail"\} 1/);
      assert.match(metrics.body, /pgvigil_job_runs_total\{job="test-slow"\} 1/);
      assert.match(metrics.body, /pgvigil_db_pool_busy_connections \d/);
    } finally {
      await app.close();
      await store.close();
    }
  });
});

describe(`closing the store on ${testPgLabel}`, () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('close');
  });
  after(() => db.drop());

  // An embedded store is stopped right after: a session still open then is ended by the server, and the
  // pool reports each as a lost connection (a warning on every Ctrl-C of `pgvigil up`).
  test('close_returns_once_every_pool_connection_is_closed', async () => {
    for (let round = 0; round < 5; round++) {
      const applicationName = `pgvigil-close-${round}`;
      const store = await openStore({ databaseUrl: db.url, log: quietLog, applicationName });
      const clients = await Promise.all([1, 2, 3, 4].map(() => store.pool.connect()));
      await Promise.all(clients.map((c) => c.query('SELECT 1')));
      for (const c of clients) c.release();
      await store.close();
      const { rows } = await db.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      );
      assert.equal(rows[0]!.n, 0, `round ${round}: sessions of the closed pool still open`);
    }
  });
});

// The store's host as a socket directory, as a PostgreSQL on the same machine is often reached (peer or
// password authentication over /var/run/postgresql): the URL forms libpq reads.
describe(`a store over a Unix socket on ${testPgLabel}`, () => {
  let server: PrivateCluster;
  let sockets: string;
  before(async () => {
    sockets = mkdtempSync(join(tmpdir(), 'pgvigil-sock-'));
    // The cluster runs as its own user, which creates the socket file here.
    chmodSync(sockets, 0o777);
    server = await startPrivateCluster({ unix_socket_directories: sockets });
  });
  after(async () => {
    await server?.stop();
    if (server) await removeDir(server.dir);
    rmSync(sockets, { recursive: true, force: true });
  });

  test('opens_migrates_and_answers_over_the_socket_and_names_a_missing_socket_file', async () => {
    const port = server.cluster.port;
    const user = encodeURIComponent(server.superuser);
    const password = encodeURIComponent(server.password);
    const urls = [
      `postgres://${user}:${password}@${encodeURIComponent(sockets)}:${port}/postgres`,
      `postgresql:///postgres?host=${encodeURIComponent(sockets)}&port=${port}&user=${user}&password=${password}`,
    ];
    for (const url of urls) {
      const store = await openStore({ databaseUrl: url, log: quietLog, applicationName: 'pgvigil-socket' });
      try {
        const { latest } = await migrate(store.pool, quietLog);
        assert.equal(await currentLevel(store.pool), latest);
        const { rows } = await store.pool.query<{ addr: string | null }>('SELECT inet_client_addr() AS addr');
        // No client address: the session came over the socket, not TCP.
        assert.equal(rows[0]!.addr, null, url.replace(password, '***'));
      } finally {
        await store.close();
      }
    }
    const missing = `postgres://${user}:${password}@${encodeURIComponent(join(sockets, 'none'))}:${port}/postgres`;
    await assert.rejects(
      openStore({ databaseUrl: missing, log: quietLog }),
      (e: PgvigilError) =>
        e.code === 'STORE_UNREACHABLE' &&
        e.message.startsWith('no PostgreSQL listens at /') &&
        e.message.includes(`${join(sockets, 'none')}/.s.PGSQL.${port}`) &&
        !e.message.includes(server.password),
    );
  });
});

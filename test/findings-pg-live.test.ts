/**
 * The live-state checks end to end on the run's real PostgreSQL (embedded 18, and Debian's 15 with
 * PGVIGIL_TEST_PG15=1): each situation is staged for real, the real agent collector reads it, its rows go
 * through a real server's ingest, and the finding appears with its target, evidence and action — then the
 * situation is ended and the finding resolves after its clear evaluations (two collections).
 *
 * Thresholds are lowered per server through the API (each test has its own enrolled server), so the
 * situations last seconds, not minutes. The collector's instance-wide families also see other test
 * files' sessions on this server: findings are picked by their object, which names this file's database,
 * application names, pids and slot.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createFilesystemCollector } from '../src/agent/collectors/host/filesystem.js';
import {
  createPostgresCollector,
  type PostgresCollector,
} from '../src/agent/collectors/postgres/collector.js';
import type { FamilyRows } from '../src/agent/collectors/types.js';
import { families } from '../src/protocol/families/index.js';
import type { FindingRow } from '../src/storage/queries/findings.sql.js';
import { adminUrl, createTestDatabase, type TestDatabase, testPgLabel } from './helpers/db.js';
import { type FindingsServer, startFindingsServer, type TestAgent } from './helpers/findings.js';
import { collectContext, removeDir, rowsOf, sleep, startPrivateCluster } from './helpers/pg-cluster.js';
import { waitFor } from './helpers/wait.js';

let fs: FindingsServer;
let db: TestDatabase;
let user: string;
const hasXminHolders = Object.hasOwn(families, 'pg_xmin_holders');

before(async () => {
  fs = await startFindingsServer('pglive_store');
  db = await createTestDatabase('pglive');
  await db.pool.query('CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0), (2, 0)');
  user = (await db.pool.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
});
after(async () => {
  await db?.drop();
  await fs?.close();
});

async function setThresholds(agent: TestAgent, check: string, thresholds: Record<string, number>) {
  const res = await fetch(`${fs.base}/api/v1/checks/${check}/settings`, {
    method: 'PUT',
    headers: { ...fs.admin, 'content-type': 'application/json' },
    body: JSON.stringify({ serverId: agent.serverId, thresholds }),
  });
  assert.equal(res.status, 204, await res.text());
}

/** A session of its own with an application_name, so its pg_activity group is this test's alone. */
async function session(application_name: string): Promise<{ client: pg.Client; pid: number }> {
  const client = new pg.Client({ connectionString: db.url, application_name });
  client.on('error', () => {});
  await client.connect();
  const pid = (await client.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
  return { client, pid };
}

function collectorFor(families: string[]): PostgresCollector {
  return createPostgresCollector(db.url, { includeDatabases: [db.name], databaseIntervalMs: 0, families });
}

/** One collection pushed as one batch, its evaluation waited for. */
async function cycle(agent: TestAgent, collector: PostgresCollector, extra: FamilyRows[] = []) {
  const rows = await collector.collect(collectContext());
  await fs.push(agent, [...rows, ...extra]);
  await fs.settle();
  return rows;
}

async function resolvesAfterTwoCollections(agent: TestAgent, collector: PostgresCollector, f: FindingRow) {
  await cycle(agent, collector);
  const still = (await fs.findings(`server=${agent.serverId}&check=${f.check}`)).find((x) => x.id === f.id);
  assert.notEqual(still?.state, 'resolved', 'one clear evaluation is not yet recovery');
  await cycle(agent, collector);
  const resolved = await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
  assert.match(String(resolved.resolvedReason), /cleared/);
}

/** The open finding of `check` on `object` for this agent's server, once the engine has it. */
function findingOf(agent: TestAgent, check: string, object: string): Promise<FindingRow> {
  return fs.waitFor(
    `server=${agent.serverId}&check=${check}`,
    (x) => x.object === object && x.state === 'open',
  );
}

const ev = (f: FindingRow) => f.evidence as Record<string, unknown>;

async function waitForState(pid: number, pick: (r: Record<string, unknown>) => boolean, what: string) {
  await waitFor(what, async () => {
    const { rows } = await db.pool.query(
      'SELECT state, wait_event_type, backend_xmin::text AS xmin FROM pg_stat_activity WHERE pid = $1',
      [pid],
    );
    return rows[0] && pick(rows[0]) ? true : undefined;
  });
}

async function databaseCounter(column: 'deadlocks' | 'temp_bytes'): Promise<number> {
  const { rows } = await db.pool.query(
    `SELECT ${column}::float8 AS n FROM pg_stat_database WHERE datname = $1`,
    [db.name],
  );
  return Number(rows[0]?.n);
}

/** Waits until the test database's counter in pg_stat_database is past `before`. */
async function counterGrows(column: 'deadlocks' | 'temp_bytes', before: number): Promise<void> {
  await waitFor(`${column} in pg_stat_database to grow`, async () =>
    (await databaseCounter(column)) > before ? true : undefined,
  );
}

describe(`live-state findings on ${testPgLabel}`, () => {
  test('an_idle_database_at_default_thresholds_gets_nothing_above_info', async () => {
    const agent = await fs.enroll('pglive-idle');
    const collector = createPostgresCollector(db.url, { includeDatabases: [db.name], databaseIntervalMs: 0 });
    try {
      for (let i = 0; i < 3; i++) {
        await cycle(agent, collector);
        await sleep(300);
      }
      const loud = (await fs.findings(`server=${agent.serverId}`)).filter((f) => f.severity !== 'info');
      assert.deepEqual(
        loud.map((f) => [f.check, f.object, f.severity, f.title]),
        [],
      );
    } finally {
      await collector.close();
    }
  });

  test('a_session_blocked_behind_an_idle_transaction_shows_both_findings_until_the_commit', async () => {
    const agent = await fs.enroll('pglive-block');
    await setThresholds(agent, 'pg.blocking', { warning: 1 });
    await setThresholds(agent, 'pg.idle_in_transaction', { warning: 1 });
    const holder = await session('pglive-holder');
    const waiter = await session('pglive-waiter');
    const collector = collectorFor(['pg_activity', 'pg_lock_waits', 'pg_xmin_holders']);
    try {
      await holder.client.query('BEGIN');
      await holder.client.query('UPDATE t SET v = 1 WHERE id = 1');
      const blocked = waiter.client.query('UPDATE t SET v = 2 WHERE id = 1');
      await waitForState(waiter.pid, (r) => r.wait_event_type === 'Lock', 'the waiter to wait on the lock');
      await sleep(1500);
      await cycle(agent, collector);

      const block = await findingOf(agent, 'pg.blocking', `pid:${holder.pid}`);
      assert.equal(block.targetName, 'local');
      assert.equal(block.severity, 'warning');
      const entry = (ev(block).blocked as Array<Record<string, unknown>>).find((b) => b.pid === waiter.pid);
      assert.ok(entry, 'the blocked session is listed');
      assert.match(String(entry.query), /UPDATE t SET v = 2 WHERE id = 1/);
      assert.equal(entry.datname, db.name);
      assert.ok(Number(entry.wait_s) >= 1);
      assert.equal(ev(block).blocking_pid, holder.pid);
      assert.ok(
        (ev(block).blocker_candidates as Array<Record<string, unknown>>).some(
          (c) => c.application_name === 'pglive-holder' && c.state === 'idle in transaction',
        ),
        'the idle-in-transaction group of the blocker is named',
      );
      assert.match(block.action, new RegExp(`SELECT pg_terminate_backend\\(${holder.pid}\\);`));
      if (hasXminHolders) {
        // The blocker holds a transaction id, so pg_xmin_holders lists it with its last statement.
        const blocker = ev(block).blocker as Record<string, unknown>;
        assert.match(String(blocker.query), /UPDATE t SET v = 1 WHERE id = 1/);
        assert.equal(blocker.state, 'idle in transaction');
      }
      assert.match(block.action, new RegExp(`FROM pg_stat_activity WHERE pid = ${holder.pid};`));

      const idle = await findingOf(agent, 'pg.idle_in_transaction', `${db.name}/${user}/pglive-holder`);
      assert.equal(idle.targetName, 'local');
      assert.equal(ev(idle).state, 'idle in transaction');
      assert.ok(Number(ev(idle).max_state_age_s) >= 1);
      assert.match(
        idle.action,
        /SELECT pg_terminate_backend\(pid\) FROM pg_stat_activity WHERE state = 'idle in transaction' AND datname = /,
      );
      assert.match(idle.action, /application_name = 'pglive-holder'/);
      assert.match(idle.action, /ALTER SYSTEM SET idle_in_transaction_session_timeout = '5min';/);

      await holder.client.query('COMMIT');
      await blocked;
      await resolvesAfterTwoCollections(agent, collector, block);
      const idleNow = (await fs.findings(`server=${agent.serverId}&check=pg.idle_in_transaction`)).find(
        (x) => x.id === idle.id,
      );
      assert.equal(idleNow?.state, 'resolved');
    } finally {
      await holder.client.end().catch(() => {});
      await waiter.client.end().catch(() => {});
      await collector.close();
    }
  });

  test('a_long_running_statement_is_reported_for_its_group_and_clears_when_cancelled', async () => {
    const agent = await fs.enroll('pglive-long');
    await setThresholds(agent, 'pg.long_query', { warning: 1 });
    const sleeper = await session('pglive-sleeper');
    const collector = collectorFor(['pg_activity']);
    try {
      const running = sleeper.client.query('SELECT pg_sleep(60)').catch((err: Error) => err);
      await waitForState(sleeper.pid, (r) => r.state === 'active', 'the sleeper to run');
      await sleep(1500);
      await cycle(agent, collector);
      const f = await findingOf(agent, 'pg.long_query', `${db.name}/${user}/pglive-sleeper`);
      assert.equal(f.targetName, 'local');
      assert.equal(f.severity, 'warning');
      assert.ok(Number(ev(f).max_query_age_s) >= 1);
      assert.equal(ev(f).application_name, 'pglive-sleeper');
      assert.match(
        f.action,
        /state = 'active' AND datname = '[^']+' AND usename = '[^']+' AND application_name = 'pglive-sleeper'/,
      );
      assert.match(f.action, /pg_cancel_backend/);

      await db.pool.query('SELECT pg_cancel_backend($1)', [sleeper.pid]);
      assert.match(String(await running), /canceling statement/);
      // The error may reach the client before the backend reports itself idle: a collection in between
      // would still see the statement running.
      await waitForState(sleeper.pid, (r) => r.state === 'idle', 'the sleeper to be idle');
      await resolvesAfterTwoCollections(agent, collector, f);
    } finally {
      await sleeper.client.end().catch(() => {});
      await collector.close();
    }
  });

  test('a_deadlock_between_two_sessions_is_a_warning_for_its_database_that_clears_after_quiet_intervals', async () => {
    const agent = await fs.enroll('pglive-deadlock');
    const collector = collectorFor(['pg_database']);
    try {
      await cycle(agent, collector); // the previous sample the interval is measured from
      const before = await databaseCounter('deadlocks');
      const a = await session('pglive-dl-a');
      const b = await session('pglive-dl-b');
      await a.client.query("SET deadlock_timeout = '100ms'");
      await b.client.query("SET deadlock_timeout = '100ms'");
      await a.client.query('BEGIN; UPDATE t SET v = 10 WHERE id = 1');
      await b.client.query('BEGIN; UPDATE t SET v = 20 WHERE id = 2');
      const outcomes = await Promise.allSettled([
        a.client.query('UPDATE t SET v = 10 WHERE id = 2'),
        b.client.query('UPDATE t SET v = 20 WHERE id = 1'),
      ]);
      assert.equal(outcomes.filter((o) => o.status === 'rejected').length, 1, 'one of them was the victim');
      await a.client.query('ROLLBACK');
      await b.client.query('ROLLBACK');
      // A backend's statistics reach pg_stat_database when it exits (else within a second or ten).
      await a.client.end();
      await b.client.end();
      await counterGrows('deadlocks', before);

      await cycle(agent, collector);
      const f = await findingOf(agent, 'pg.deadlocks', `db:${db.name}`);
      assert.equal(f.targetName, 'local');
      assert.equal(f.severity, 'warning');
      assert.equal(ev(f).deadlocks, 1);
      assert.equal(ev(f).datname, db.name);
      assert.match(f.action, /deadlock detected/);
      assert.match(f.action, /ALTER SYSTEM SET log_lock_waits = on; SELECT pg_reload_conf\(\);/);
      await resolvesAfterTwoCollections(agent, collector, f);
    } finally {
      await collector.close();
    }
  });

  test('a_sort_larger_than_work_mem_writes_temp_files_and_gets_work_mem_advice', async () => {
    const agent = await fs.enroll('pglive-temp');
    await setThresholds(agent, 'pg.temp_files', { info_bytes: 1 });
    const collector = collectorFor(['pg_database', 'pg_settings']);
    try {
      await cycle(agent, collector);
      const before = await databaseCounter('temp_bytes');
      const sorter = await session('pglive-sorter');
      await sorter.client.query("SET work_mem = '64kB'");
      await sorter.client.query(
        'SELECT sum(x) FROM (SELECT g AS x FROM generate_series(1, 200000) g ORDER BY g DESC) s',
      );
      await sorter.client.end();
      await counterGrows('temp_bytes', before);
      const workMemKb = Number(
        (await db.pool.query("SELECT setting FROM pg_settings WHERE name = 'work_mem'")).rows[0]?.setting,
      );

      await cycle(agent, collector);
      const f = await findingOf(agent, 'pg.temp_files', `db:${db.name}`);
      assert.equal(f.targetName, 'local');
      assert.equal(f.kind, 'recommendation');
      assert.ok(Number(ev(f).temp_bytes) > 0);
      assert.ok(Number(ev(f).temp_files) >= 1);
      assert.equal(ev(f).work_mem_kb, workMemKb, "the server's work_mem, not the session's 64kB");
      const doubled = (workMemKb * 2) % 1024 === 0 ? `${(workMemKb * 2) / 1024}MB` : `${workMemKb * 2}kB`;
      assert.match(
        f.action,
        new RegExp(`^ALTER SYSTEM SET work_mem = '${doubled}'; SELECT pg_reload_conf\\(\\);`),
      );
      await resolvesAfterTwoCollections(agent, collector, f);
    } finally {
      await collector.close();
    }
  });

  test('requested_checkpoints_recommend_a_larger_max_wal_size', async () => {
    const agent = await fs.enroll('pglive-ckpt');
    const collector = collectorFor(['pg_bgwriter', 'pg_wal', 'pg_settings']);
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    const view =
      Number((await admin.query("SELECT current_setting('server_version_num') AS v")).rows[0].v) >= 170000
        ? 'SELECT num_requested::float8 AS n FROM pg_stat_checkpointer'
        : 'SELECT checkpoints_req::float8 AS n FROM pg_stat_bgwriter';
    try {
      await cycle(agent, collector);
      const before = Number((await admin.query(view)).rows[0].n);
      // A CHECKPOINT command is a requested checkpoint on 15 (pg_stat_bgwriter.checkpoints_req) and on
      // 17+ (pg_stat_checkpointer.num_requested) alike; the WAL written in between keeps 18 from skipping.
      for (let i = 0; i < 2; i++) {
        await db.pool.query('UPDATE t SET v = v + 1');
        await admin.query('CHECKPOINT');
      }
      await waitFor('two requested checkpoints counted', async () =>
        Number((await admin.query(view)).rows[0].n) >= before + 2 ? true : undefined,
      );
      const maxWalMb = Number(
        (await admin.query("SELECT setting FROM pg_settings WHERE name = 'max_wal_size'")).rows[0].setting,
      );

      const rows = await cycle(agent, collector);
      assert.ok(rowsOf(rows, 'pg_bgwriter').length === 1);
      const f = await findingOf(agent, 'pg.checkpoints', '');
      assert.equal(f.targetName, 'local');
      assert.equal(f.kind, 'recommendation');
      assert.ok(Number(ev(f).checkpoints_req) >= 2);
      assert.equal(ev(f).max_wal_size_mb, maxWalMb);
      const doubled = (maxWalMb * 2) % 1024 === 0 ? `${(maxWalMb * 2) / 1024}GB` : `${maxWalMb * 2}MB`;
      assert.equal(f.action, `ALTER SYSTEM SET max_wal_size = '${doubled}'; SELECT pg_reload_conf();`);
      await resolvesAfterTwoCollections(agent, collector, f);
    } finally {
      await admin.end();
      await collector.close();
    }
  });

  test('an_inactive_slot_retaining_wal_is_reported_against_the_host_disk_and_clears_when_dropped', async () => {
    const agent = await fs.enroll('pglive-slot');
    await setThresholds(agent, 'pg.replication_slot', { inactive_bytes: 1 });
    const slot = `pglive_${randomBytes(4).toString('hex')}`;
    const collector = collectorFor(['pg_replication_slots', 'pg_settings']);
    const disks = createFilesystemCollector();
    const hostRows = async () => {
      const r = await disks.collect(collectContext());
      return r.filter((x) => x.family === 'host_filesystem');
    };
    try {
      await db.pool.query('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
      await db.pool.query('INSERT INTO t SELECT g, g FROM generate_series(3, 2000) g');
      await db.pool.query('SELECT pg_switch_wal()');

      const host = await hostRows();
      await cycle(agent, collector, host);
      const f = await findingOf(agent, 'pg.replication_slot', `slot:${slot}`);
      assert.equal(f.targetName, 'local');
      assert.equal(f.severity, 'warning');
      assert.equal(ev(f).active, false);
      assert.equal(ev(f).slot_type, 'physical');
      assert.ok(Number(ev(f).retained_bytes) > 0);
      assert.match(f.action, new RegExp(`SELECT pg_drop_replication_slot\\('${slot}'\\);`));
      assert.match(f.action, /primary_slot_name/);
      const filesystem = ev(f).filesystem as Record<string, unknown> | null;
      if (rowsOf(host, 'host_filesystem').length > 0) {
        assert.ok(
          filesystem && typeof filesystem.mountpoint === 'string',
          'the largest host filesystem is named',
        );
        // Any retained WAL against that disk's free space is critical when the share is set to 0 %.
        await setThresholds(agent, 'pg.replication_slot', { inactive_bytes: 1, disk_pct: 0 });
        await cycle(agent, collector);
        await fs.waitFor(`server=${agent.serverId}`, (x) => x.id === f.id && x.severity === 'critical');
      }

      await db.pool.query('SELECT pg_drop_replication_slot($1)', [slot]);
      await resolvesAfterTwoCollections(agent, collector, f);
    } finally {
      await db.pool.query(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      await collector.close();
    }
  });

  const xminSkip = hasXminHolders
    ? false
    : 'SKIPPED: the pg_xmin_holders family is not in this build (the collector adds it)';
  if (xminSkip) process.stdout.write(`# ${xminSkip}\n`);

  test('a_session_holding_the_xmin_horizon_is_named_and_clears_when_it_commits', {
    skip: xminSkip,
  }, async () => {
    const agent = await fs.enroll('pglive-xmin');
    await setThresholds(agent, 'pg.xmin_horizon', { warning_age: 1 });
    const holder = await session('pglive-xmin');
    const collector = collectorFor(['pg_xmin_holders']);
    try {
      await holder.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await holder.client.query('SELECT count(*) FROM t');
      await waitForState(holder.pid, (r) => r.xmin !== null, 'the snapshot to hold an xmin');
      await sleep(1500);
      await cycle(agent, collector);
      const f = await findingOf(agent, 'pg.xmin_horizon', `session:${holder.pid}`);
      assert.equal(f.targetName, 'local');
      assert.equal(ev(f).holder, 'session');
      assert.equal(ev(f).application_name, 'pglive-xmin');
      assert.ok(Number(ev(f).age_s) >= 1);
      assert.match(f.action, new RegExp(`SELECT pg_terminate_backend\\(${holder.pid}\\);`));
      await holder.client.query('COMMIT');
      await resolvesAfterTwoCollections(agent, collector, f);
    } finally {
      await holder.client.end().catch(() => {});
      await collector.close();
    }
  });

  test('connections_near_max_connections_on_a_server_of_its_own_are_critical_until_closed', async () => {
    // A server of its own: the shared one's connection count moves with the other test files.
    const server = await startPrivateCluster({ max_connections: '20', superuser_reserved_connections: '3' });
    const agent = await fs.enroll('pglive-conn');
    const collector = createPostgresCollector(server.url(), { families: ['pg_activity'] });
    const clients: pg.Client[] = [];
    try {
      // 20 − 3 reserved = 17 usable, all 17 taken (the collector's own session is not counted).
      for (let i = 0; i < 17; i++) {
        const c = new pg.Client({ connectionString: server.url(), application_name: 'pglive-conn' });
        c.on('error', () => {});
        await c.connect();
        clients.push(c);
      }
      await cycle(agent, collector);
      const f = await findingOf(agent, 'pg.connections', '');
      assert.equal(f.targetName, 'local');
      assert.equal(ev(f).max_connections, 20);
      assert.equal(ev(f).usable, 17);
      assert.equal(ev(f).clients, 17);
      assert.equal(ev(f).used_pct, 100);
      assert.equal(f.severity, 'critical');
      const groups = ev(f).largest_groups as Array<{ application: string; count: number }>;
      assert.equal(groups[0]?.application, 'pglive-conn');
      assert.equal(groups[0]?.count, 17);
      assert.match(f.action, /pg_stat_activity/);
      for (const c of clients.splice(0)) await c.end();
      await resolvesAfterTwoCollections(agent, collector, f);
    } finally {
      for (const c of clients) await c.end().catch(() => {});
      await collector.close();
      await server.stop();
      await removeDir(server.dir);
    }
  });
});

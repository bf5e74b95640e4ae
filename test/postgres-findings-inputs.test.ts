/**
 * The facts the PostgreSQL checks read, staged for real on a private server of the run's version (embedded
 * 18, Debian's 15 with PGVIGIL_TEST_PG15=1) started with wal_level = logical and prepared transactions
 * enabled, so instance-wide families see only what this file stages:
 * - the xmin horizon's holders: a session holding an old snapshot, a logical slot's catalog_xmin, prepared
 *   transactions (and the cap of 5 per kind);
 * - sequences near exhaustion, ascending, descending and beyond 2^53;
 * - duplicate indexes, with the keeper chosen the same way whatever the names;
 * - settings sent at their default for the checks, with the server's values of the timeouts our own
 *   session sets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  createPostgresCollector,
  type PostgresCollectorOptions,
} from '../src/agent/collectors/postgres/collector.js';
import { alwaysSentSettings } from '../src/agent/collectors/postgres/queries/instance.js';
import { closeSession, PostgresTarget } from '../src/agent/collectors/postgres/session.js';
import type { Row } from '../src/agent/collectors/types.js';
import { silentLogger } from '../src/log.js';
import { testPgLabel } from './helpers/db.js';
import {
  collectContext,
  type PrivateCluster,
  removeDir,
  rowsOf,
  startPrivateCluster,
} from './helpers/pg-cluster.js';

describe(`checks' inputs collected on ${testPgLabel}`, () => {
  let server: PrivateCluster;
  let admin: pg.Client;
  let version = 0;

  const collectorFor = (families: string[], opts: PostgresCollectorOptions = {}) =>
    createPostgresCollector(server.url(), {
      includeDatabases: ['postgres'],
      databaseIntervalMs: 0,
      families,
      ...opts,
    });
  const collectFamily = async (family: string): Promise<Row[]> => {
    const collector = collectorFor([family]);
    try {
      const result = await collector.collect(collectContext());
      const status = rowsOf(result, 'pg_collector').filter((r) => r.family === family);
      assert.ok(status.length > 0 && status.every((s) => s.ok === true), JSON.stringify(status));
      return rowsOf(result, family);
    } finally {
      await collector.close();
    }
  };
  const connect = async () => {
    const c = new pg.Client({ connectionString: server.url() });
    await c.connect();
    return c;
  };
  /** Transaction ids used up one by one, so holders get measurably old. */
  const burnXids = async (n: number) => {
    for (let i = 0; i < n; i++) await admin.query('SELECT txid_current()');
  };

  before(async () => {
    server = await startPrivateCluster({
      wal_level: 'logical',
      max_prepared_transactions: '10',
      max_wal_senders: '4',
    });
    admin = await connect();
    version = Number((await admin.query("SELECT current_setting('server_version_num') AS v")).rows[0].v);
  });
  after(async () => {
    await admin?.end().catch(() => {});
    await server?.stop().catch(() => {});
    if (server) await removeDir(server.dir);
  });

  test('a_snapshot_a_logical_slot_and_prepared_transactions_are_named_as_xmin_holders_with_their_age', async () => {
    await admin.query('CREATE TABLE held (id int)');
    // The slot first: creating a logical slot waits for every transaction with an xid to end.
    await admin.query("SELECT pg_create_logical_replication_slot('held_slot', 'pgoutput')");
    // A physical slot that reserves WAL holds no xmin (only hot_standby_feedback gives it one): not listed.
    await admin.query("SELECT pg_create_physical_replication_slot('wal_only_slot', true)");
    const session = await connect();
    const preparer = await connect();
    try {
      await burnXids(3);
      const pid = (await session.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
      await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await session.query('SELECT count(*) FROM held /* holding its snapshot */');
      await burnXids(3);
      // Seven prepared transactions, one after another: the oldest five are reported.
      const gids = Array.from({ length: 7 }, (_, i) => `pgvigil_gid_${i}`);
      for (const gid of gids) {
        await preparer.query('BEGIN');
        await preparer.query('INSERT INTO held VALUES (1)');
        await preparer.query(`PREPARE TRANSACTION '${gid}'`);
      }
      await burnXids(10);

      const direct = async () => {
        const { rows } = await admin.query(
          `SELECT (SELECT age(backend_xmin) FROM pg_stat_activity WHERE pid = $1) AS session,
                  (SELECT greatest(age(xmin), age(catalog_xmin)) FROM pg_replication_slots
                    WHERE slot_name = 'held_slot') AS slot,
                  (SELECT age(transaction) FROM pg_prepared_xacts WHERE gid = 'pgvigil_gid_0') AS prepared`,
          [pid],
        );
        return rows[0] as { session: number; slot: number; prepared: number };
      };
      const a = await direct();
      const rows = await collectFamily('pg_xmin_holders');
      const b = await direct();
      const of = (holder: string) => rows.filter((r) => r.holder === holder);
      const within = (col: string, v: unknown, lo: number, hi: number) =>
        assert.ok(lo <= Number(v) && Number(v) <= hi, `${col}: ${lo} <= ${v} <= ${hi}`);

      const s = of('session').find((r) => r.ident === String(pid));
      assert.ok(s, `the session holding a snapshot is listed: ${JSON.stringify(of('session'))}`);
      assert.equal(s.state, 'idle in transaction');
      assert.equal(s.datname, 'postgres');
      assert.equal(s.usename, server.superuser);
      assert.match(String(s.query), /holding its snapshot/);
      within('session xmin_age', s.xmin_age, a.session, b.session);
      assert.ok(Number(s.xmin_age) >= 13, 'older than the transactions burnt since');
      assert.ok(typeof s.age_s === 'number' && s.age_s >= 0);

      const slots = of('replication_slot');
      assert.deepEqual(
        slots.map((r) => r.ident),
        ['held_slot'],
        'the logical slot holds catalog_xmin; the WAL-only physical slot holds no xmin',
      );
      assert.equal(slots[0]!.state, 'inactive');
      assert.equal(slots[0]!.datname, 'postgres');
      assert.equal(slots[0]!.age_s, null, 'PostgreSQL does not say since when');
      within('slot xmin_age', slots[0]!.xmin_age, a.slot, b.slot);
      assert.ok(Number(slots[0]!.xmin_age) > Number(s.xmin_age), 'the slot is older than the session');

      const prepared = of('prepared_xact');
      assert.deepEqual(
        prepared.map((r) => r.ident),
        gids.slice(0, 5),
        'capped at 5 per kind, the oldest first',
      );
      assert.equal(prepared[0]!.usename, server.superuser);
      assert.equal(prepared[0]!.datname, 'postgres');
      within('prepared xmin_age', prepared[0]!.xmin_age, a.prepared, b.prepared);
      assert.ok(typeof prepared[0]!.age_s === 'number' && prepared[0]!.age_s >= 0);
      assert.equal(of('standby').length, 0, 'no standby connected');
      assert.ok(
        !rows.some((r) => r.application_name === 'pgvigil'),
        "the collector's own session is not a holder",
      );

      // Once released, none of them holds anything.
      await session.query('COMMIT');
      for (const gid of gids) await admin.query(`ROLLBACK PREPARED '${gid}'`);
      await admin.query("SELECT pg_drop_replication_slot('held_slot')");
      const after = await collectFamily('pg_xmin_holders');
      assert.deepEqual(
        after.filter((r) => r.ident === String(pid) || r.holder !== 'session'),
        [],
        'nothing left holding the horizon',
      );
    } finally {
      await session.end().catch(() => {});
      await preparer.end().catch(() => {});
      const { rows } = await admin.query('SELECT gid FROM pg_prepared_xacts');
      for (const r of rows) await admin.query(`ROLLBACK PREPARED '${r.gid}'`);
      await admin.query(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('held_slot', 'wal_only_slot')",
      );
    }
  });

  test('sequences_near_exhaustion_are_reported_with_the_share_of_their_range_used', async () => {
    await admin.query(`
      CREATE SEQUENCE seq_90 AS integer MINVALUE 0 MAXVALUE 100 START 0;
      SELECT setval('seq_90', 90);
      CREATE SEQUENCE seq_down AS smallint INCREMENT -1 MINVALUE -100 MAXVALUE 0 START 0;
      SELECT setval('seq_down', -25);
      CREATE SEQUENCE seq_big;
      SELECT setval('seq_big', 9223372036854770000);
      CREATE SEQUENCE seq_never_used;
      CREATE TABLE with_serial (id serial PRIMARY KEY);
      INSERT INTO with_serial DEFAULT VALUES;`);
    // More used sequences than the cap: the least used are left out.
    for (let i = 0; i < 22; i++)
      await admin.query(`CREATE SEQUENCE seq_filler_${i}; SELECT nextval('seq_filler_${i}')`);

    const rows = await collectFamily('pg_sequences');
    assert.equal(rows.length, 20, 'capped at 20 per database');
    const byName = new Map(rows.map((r) => [r.sequencename, r]));
    assert.ok(!byName.has('seq_never_used'), 'a sequence never used is not reported');

    const big = byName.get('seq_big');
    assert.ok(big, 'the bigint sequence near its end');
    assert.equal(rows[0], big, 'the most used first');
    assert.equal(big.data_type, 'bigint');
    assert.equal(big.last_value, '9223372036854770000', 'int8 beyond 2^53 keeps every digit');
    assert.equal(big.max_value, '9223372036854775807');
    assert.ok(Number(big.used_pct) > 99.99);

    const s90 = byName.get('seq_90');
    assert.ok(s90);
    assert.deepEqual(
      [s90.datname, s90.schemaname, s90.data_type, s90.last_value, s90.min_value, s90.max_value],
      ['postgres', 'public', 'integer', 90, 0, 100],
    );
    assert.equal(s90.increment_by, 1);
    assert.equal(s90.cycle, false);
    assert.equal(s90.used_pct, 90);
    assert.equal(rows[1], s90);

    const down = byName.get('seq_down');
    assert.ok(down, 'a descending sequence');
    assert.equal(down.data_type, 'smallint');
    assert.equal(down.increment_by, -1);
    assert.equal(down.used_pct, 25, 'used from its max downwards');

    // Reading is capped before any sequence is read: the ones with the fewest steps in their range first
    // (seq_90, seq_down: 100; the serial's integer: 2^31), bigint ones after.
    const capped = collectorFor(['pg_sequences'], { maxTablesPerDatabase: 3 });
    try {
      const few = rowsOf(await capped.collect(collectContext()), 'pg_sequences');
      assert.deepEqual(few.map((r) => r.sequencename).sort(), ['seq_90', 'seq_down', 'with_serial_id_seq']);
    } finally {
      await capped.close();
    }
  });

  test('a_pg_monitor_role_sees_sequences_only_once_it_may_read_them', async () => {
    // 90 % used: within the top 20 of this database
    await admin.query(`CREATE ROLE seq_mon LOGIN PASSWORD 'seq-mon-pw'; GRANT pg_monitor TO seq_mon;
      CREATE SEQUENCE seq_watched MAXVALUE 10; SELECT setval('seq_watched', 9)`);
    const u = new URL(server.url());
    u.username = 'seq_mon';
    u.password = 'seq-mon-pw';
    const seen = async () => {
      const collector = createPostgresCollector(u.toString(), {
        includeDatabases: ['postgres'],
        databaseIntervalMs: 0,
        families: ['pg_sequences'],
      });
      try {
        const result = await collector.collect(collectContext());
        const status = rowsOf(result, 'pg_collector').find((r) => r.family === 'pg_sequences');
        assert.equal(status?.ok, true, 'not a failure either way');
        return rowsOf(result, 'pg_sequences').some((r) => r.sequencename === 'seq_watched');
      } finally {
        await collector.close();
      }
    };
    try {
      assert.equal(await seen(), false, 'pg_monitor alone may not read last_value');
      await admin.query('GRANT pg_read_all_data TO seq_mon');
      assert.equal(await seen(), true, 'pg_read_all_data (docs/postgres-setup.md) reveals it');
    } finally {
      await admin.query('DROP SEQUENCE seq_watched; DROP OWNED BY seq_mon; DROP ROLE seq_mon');
    }
  });

  test('duplicate_indexes_name_the_one_to_keep_and_every_index_carries_its_definition', async () => {
    await admin.query(`
      CREATE TABLE dup (a int, b int, c text);
      CREATE INDEX dup_a_1 ON dup (a);
      CREATE INDEX dup_a_2 ON dup (a);
      CREATE INDEX dup_a_3 ON dup USING btree (a);
      CREATE INDEX dup_a_desc ON dup (a DESC);
      CREATE INDEX dup_a_partial ON dup (a) WHERE b > 0;
      CREATE INDEX dup_a_hash ON dup USING hash (a);
      CREATE INDEX dup_a_incl ON dup (a) INCLUDE (b);
      CREATE INDEX dup_b ON dup (b);
      CREATE UNIQUE INDEX dup_b_unique ON dup (b);
      CREATE INDEX dup_lower_1 ON dup (lower(c));
      CREATE INDEX dup_lower_2 ON dup (lower(c));
      CREATE INDEX dup_upper ON dup (upper(c));
      CREATE INDEX dup_c_collate ON dup (c COLLATE "C");
      CREATE INDEX dup_c ON dup (c);`);
    const rows = await collectFamily('pg_indexes');
    const dupOf = Object.fromEntries(
      rows.filter((r) => r.relname === 'dup').map((r) => [r.indexrelname, r.duplicate_of]),
    );
    assert.deepEqual(dupOf, {
      dup_a_1: null,
      dup_a_2: 'dup_a_1',
      dup_a_3: 'dup_a_1',
      dup_a_desc: null,
      dup_a_partial: null,
      dup_a_hash: null,
      dup_a_incl: null,
      dup_b: 'dup_b_unique', // the unique one is kept though its name sorts after
      dup_b_unique: null,
      dup_lower_1: null,
      dup_lower_2: 'dup_lower_1',
      dup_upper: null,
      dup_c_collate: null,
      dup_c: null,
    });
    const a2 = rows.find((r) => r.indexrelname === 'dup_a_2');
    assert.equal(a2?.definition, 'CREATE INDEX dup_a_2 ON public.dup USING btree (a)');
    const partial = rows.find((r) => r.indexrelname === 'dup_a_partial');
    assert.match(String(partial?.definition), /WHERE \(b > 0\)$/);
  });

  test('a_collector_session_runs_with_its_own_timeouts_and_read_only_yet_sees_the_server_values', async () => {
    const target = new PostgresTarget(server.url(), {
      statementTimeoutMs: 1234,
      lockTimeoutMs: 567,
      connectTimeoutMs: 5000,
    });
    const session = await target.open('postgres', silentLogger());
    try {
      const { rows } = await session.query(
        `SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt,
                current_setting('idle_in_transaction_session_timeout') AS iit,
                current_setting('transaction_read_only') AS ro,
                (SELECT reset_val FROM pg_settings WHERE name = 'statement_timeout') AS server_st`,
      );
      assert.deepEqual(rows[0], { st: '1234ms', lt: '567ms', iit: '1min', ro: 'on', server_st: '0' });
      await assert.rejects(session.query('SELECT pg_sleep(2)'), /statement timeout/);
    } finally {
      await closeSession(session);
    }
  });

  test('the_listed_settings_are_sent_at_their_default_with_the_server_values_of_our_own_timeouts', async () => {
    const collector = collectorFor(['pg_settings']);
    try {
      const rows = rowsOf(await collector.collect(collectContext()), 'pg_settings');
      const byName = new Map(rows.map((r) => [r.name, r]));
      for (const name of alwaysSentSettings) {
        if (name === 'reserved_connections' && version < 160000) {
          assert.ok(!byName.has(name), 'reserved_connections does not exist before 16');
          continue;
        }
        assert.ok(byName.has(name), `${name} is sent`);
      }
      // Defaults, flagged as such.
      assert.deepEqual(
        [byName.get('work_mem')?.setting, byName.get('work_mem')?.unit, byName.get('work_mem')?.is_default],
        ['4096', 'kB', true],
      );
      assert.equal(byName.get('work_mem')?.source, 'default');
      // Set by the server's start: not defaults.
      assert.equal(byName.get('shared_buffers')?.is_default, false);
      assert.equal(byName.get('shared_buffers')?.setting, '4096', '32MB in 8kB pages');
      assert.equal(byName.get('max_prepared_transactions')?.is_default, false);
      assert.equal(byName.get('wal_level')?.setting, 'logical');
      assert.equal(byName.get('shared_preload_libraries')?.is_default, false, 'changed ones still come');
      // The collector's session sets these itself; what is sent is what the server gives a session.
      assert.deepEqual(
        [byName.get('statement_timeout')?.setting, byName.get('statement_timeout')?.is_default],
        ['0', true],
      );
      assert.deepEqual(
        [
          byName.get('idle_in_transaction_session_timeout')?.setting,
          byName.get('idle_in_transaction_session_timeout')?.is_default,
        ],
        ['0', true],
      );
      assert.ok(
        !byName.has('application_name') && !byName.has('lock_timeout'),
        'our session is not the server',
      );

      // A server-side change is seen in the next snapshot, and the snapshot is not resent unchanged.
      assert.equal(rowsOf(await collector.collect(collectContext()), 'pg_settings').length, 0);
      await admin.query("ALTER SYSTEM SET statement_timeout = '90s'");
      await admin.query('SELECT pg_reload_conf()');
      // A reload reaches an existing session at its next command; the collector's first query is one.
      let changed: Row | undefined;
      for (let i = 0; i < 20 && !changed; i++) {
        const again = rowsOf(await collector.collect(collectContext()), 'pg_settings');
        changed = again.find((r) => r.name === 'statement_timeout' && r.setting === '90000');
        if (!changed) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(changed, 'the server value 90s is sent, not the 5 s our session runs with');
      assert.equal(changed.is_default, false);
    } finally {
      await admin.query('ALTER SYSTEM RESET statement_timeout');
      await admin.query('SELECT pg_reload_conf()');
      await collector.close();
    }
  });
});

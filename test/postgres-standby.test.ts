/**
 * Replication seen from both sides: a primary and a streaming standby started here on loopback, of the
 * run's PostgreSQL version. The standby is made with the low-level base backup API (pg_backup_start, a
 * file copy, pg_backup_stop) rather than pg_basebackup, because the embedded PostgreSQL 18 package ships
 * no pg_basebackup and Debian's 15 cannot back up an 18 server; the same code covers both versions.
 *
 * Also: a standby with hot_standby_feedback holds the primary's xmin horizon — through its slot, then,
 * once it streams without one, as a standby — and the primary's collector names it; a server that stops
 * gives up = false without an exception, and the collector reconnects by itself once it is back (after its
 * backoff).
 */
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createPostgresCollector } from '../src/agent/collectors/postgres/collector.js';
import { postgresPrometheusMetrics } from '../src/agent/collectors/postgres/prometheus.js';
import { renderExposition } from '../src/agent/exporter.js';
import { testPgLabel } from './helpers/db.js';
import {
  collectContext,
  type PrivateCluster,
  removeDir,
  rowsOf,
  sleep,
  startPrivateCluster,
} from './helpers/pg-cluster.js';
import { query, standbyDataDir } from './helpers/standby.js';
import { waitFor } from './helpers/wait.js';

describe(`replication on ${testPgLabel}: a primary and a streaming standby on loopback`, () => {
  let primary: PrivateCluster;
  let standby: PrivateCluster | undefined;

  before(async () => {
    primary = await startPrivateCluster({ wal_level: 'replica', max_wal_senders: '4' });
    await query(primary.url(), 'CREATE EXTENSION pg_stat_statements'); // replicated to the standby
    // The slot keeps every WAL segment from before the backup until the standby has streamed it.
    await query(primary.url(), "SELECT pg_create_physical_replication_slot('standby1', true)");
    const standbyData = await standbyDataDir(primary);
    standby = await startPrivateCluster({}, { dir: primary.dir, pgdata: standbyData });
    await waitFor('the standby to stream', async () => {
      const rows = await query<{ state: string }>(primary.url(), 'SELECT state FROM pg_stat_replication');
      return rows[0]?.state === 'streaming' ? true : undefined;
    });
  });

  after(async () => {
    await standby?.stop().catch(() => {});
    await primary?.stop().catch(() => {});
    if (primary) await removeDir(primary.dir);
  });

  test('replication_lag_is_visible_on_the_primary_and_on_the_standby', async () => {
    assert.ok(standby);
    // A replayed transaction first, so the standby has a last-replay time to measure from.
    await query(primary.url(), 'CREATE TABLE lagging (id int, pad text)');
    await waitFor('the table on the standby', async () => {
      const rows = await query<{ t: string | null }>(
        standby!.url(),
        "SELECT to_regclass('lagging')::text AS t",
      );
      return rows[0]?.t ? true : undefined;
    });
    await sleep(1100);
    await query(standby.url(), 'SELECT pg_wal_replay_pause()');
    await query(
      primary.url(),
      "INSERT INTO lagging SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g",
    );
    await waitFor('received but unreplayed WAL on the standby', async () => {
      const rows = await query<{ lag: string }>(
        standby!.url(),
        'SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) AS lag',
      );
      return Number(rows[0]?.lag) > 1_000_000 ? true : undefined;
    });

    // Hold still before comparing: everything sent is flushed on the standby and replay has really paused
    // (a pause is a request, honoured at the next record), so the lags stop moving.
    await waitFor('a still standby', async () => {
      const [p] = await query<{ still: boolean }>(
        primary.url(),
        "SELECT pg_current_wal_lsn() = flush_lsn AS still FROM pg_stat_replication WHERE application_name = 'standby1'",
      );
      const [s] = await query<{ state: string }>(
        standby!.url(),
        'SELECT pg_get_wal_replay_pause_state() AS state',
      );
      return p?.still && s?.state === 'paused' ? true : undefined;
    });
    const onPrimary = createPostgresCollector(primary.url(), { includeDatabases: ['postgres'] });
    const onStandby = createPostgresCollector(standby.url(), { includeDatabases: ['postgres'] });
    try {
      const p = await onPrimary.collect(collectContext());
      const s = await onStandby.collect(collectContext());
      const direct = await query<{ replay_lag: string }>(
        primary.url(),
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS replay_lag FROM pg_stat_replication WHERE application_name = 'standby1'",
      );

      assert.equal(rowsOf(p, 'pg_instance')[0]?.in_recovery, false);
      const sender = rowsOf(p, 'pg_replication').find((r) => r.application_name === 'standby1');
      assert.ok(sender, 'the primary lists the standby');
      assert.equal(sender.state, 'streaming');
      assert.equal(sender.client_addr, '127.0.0.1');
      assert.ok(
        Number(sender.replay_lag_bytes) > 1_000_000,
        `primary-side replay lag ${sender.replay_lag_bytes}`,
      );
      // Background WAL (checkpoints, running-xacts records) may still move the position a little.
      const near = (a: number, b: number) => Math.abs(a - b) <= 256 * 1024;
      assert.ok(near(Number(sender.replay_lag_bytes), Number(direct[0]?.replay_lag)), 'agrees with the view');
      assert.ok(Number(sender.flush_lag_bytes) <= Number(sender.replay_lag_bytes));
      const slot = rowsOf(p, 'pg_replication_slots').find((r) => r.slot_name === 'standby1');
      assert.ok(slot && slot.active === true && slot.slot_type === 'physical');
      const direct2 = await query<{ retained: string }>(
        primary.url(),
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) AS retained FROM pg_replication_slots WHERE slot_name = 'standby1'",
      );
      // restart_lsn follows what the standby flushed (paused replay does not hold it back)
      assert.ok(typeof slot.retained_bytes === 'number' && slot.retained_bytes >= 0);
      assert.ok(near(slot.retained_bytes, Number(direct2[0]?.retained)), 'agrees with the view');
      assert.equal(rowsOf(p, 'pg_standby').length, 0, 'a primary has no receiving side');

      assert.equal(rowsOf(s, 'pg_instance')[0]?.in_recovery, true);
      const receiver = rowsOf(s, 'pg_standby')[0];
      assert.ok(receiver, 'the standby reports its receiving side');
      assert.equal(receiver.receiver_status, 'streaming');
      assert.equal(receiver.sender, `127.0.0.1:${primary.cluster.port}`);
      assert.equal(receiver.replay_paused, true);
      assert.ok(Number(receiver.receive_replay_lag_bytes) > 1_000_000);
      assert.ok(Number(receiver.replay_lag_s) >= 1, `standby replay lag ${receiver.replay_lag_s} s`);
      assert.deepEqual(
        rowsOf(s, 'pg_collector').filter((r) => r.ok !== true),
        [],
        'every family works on a standby',
      );
      const prom = renderExposition(postgresPrometheusMetrics(s));
      assert.match(prom, /^pg_replication_lag_seconds\{receiver_status="streaming"\} [1-9]/m);
      assert.match(prom, /^pg_is_in_recovery 1$/m);
    } finally {
      await query(standby.url(), 'SELECT pg_wal_replay_resume()');
      await onPrimary.close();
      await onStandby.close();
    }
  });

  test('a_standby_snapshot_fed_back_holds_the_primary_xmin_through_its_slot_and_then_as_a_standby', async () => {
    assert.ok(standby);
    const onStandby = standby;
    // Set by file, as an operator would: settings of a standby are not changed through SQL.
    const setOnStandby = async (lines: string) => {
      await appendFile(join(onStandby.pgdata, 'postgresql.auto.conf'), `\n${lines}\n`);
      await query(onStandby.url(), 'SELECT pg_reload_conf()');
    };
    const collector = createPostgresCollector(primary.url(), {
      includeDatabases: ['postgres'],
      families: ['pg_xmin_holders'],
    });
    const reader = new pg.Client({ connectionString: onStandby.url() });
    await reader.connect();
    const holders = async () => rowsOf(await collector.collect(collectContext()), 'pg_xmin_holders');
    try {
      await setOnStandby('hot_standby_feedback = on\nwal_receiver_status_interval = 1');
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await reader.query('SELECT count(*) FROM pg_class');
      for (let i = 0; i < 5; i++) await query(primary.url(), 'SELECT txid_current()');

      // With a slot, the standby's feedback becomes the slot's xmin.
      const slot = await waitFor('the slot to hold the xmin fed back', async () => {
        const r = (await holders()).find((h) => h.holder === 'replication_slot' && h.ident === 'standby1');
        return r && Number(r.xmin_age) >= 5 ? r : undefined;
      });
      assert.equal(slot.state, 'active');
      assert.equal(slot.application_name, 'standby1');
      assert.equal(slot.client_addr, '127.0.0.1');

      // Without one, the walsender itself holds it: the standby kind.
      await setOnStandby("primary_slot_name = ''");
      const fed = await waitFor('the walsender to hold the xmin fed back', async () => {
        const rows = await holders();
        const s = rows.find((h) => h.holder === 'standby');
        return s && Number(s.xmin_age) >= 5 ? { s, rows } : undefined;
      });
      const [sender] = await query<{ pid: number }>(
        primary.url(),
        "SELECT pid FROM pg_stat_replication WHERE application_name = 'standby1'",
      );
      const pid = sender?.pid;
      assert.equal(fed.s.ident, `standby1/${pid}`);
      assert.equal(fed.s.application_name, 'standby1');
      assert.equal(fed.s.client_addr, '127.0.0.1');
      assert.equal(fed.s.state, 'streaming');
      assert.equal(fed.s.age_s, null, 'PostgreSQL does not say since when');
      assert.ok(
        !fed.rows.some((h) => h.holder === 'session' && h.ident === String(pid)),
        'the walsender is not listed again as a session',
      );
      const left = fed.rows.find((h) => h.holder === 'replication_slot' && h.ident === 'standby1');
      assert.equal(left?.state, 'inactive', 'the abandoned slot still holds what it was last fed');
    } finally {
      await reader.end().catch(() => {});
      await collector.close();
    }
  });

  test('a_stopped_server_gives_up_false_and_the_collector_reconnects_after_its_backoff', async () => {
    assert.ok(standby);
    const collector = createPostgresCollector(standby.url(), {
      includeDatabases: ['postgres'],
      connectTimeoutMs: 1000,
    });
    try {
      assert.equal(rowsOf(await collector.collect(collectContext()), 'pg_instance')[0]?.up, true);
      await standby.stop();
      const down = await collector.collect(collectContext());
      assert.equal(rowsOf(down, 'pg_instance')[0]?.up, false);
      assert.match(renderExposition(postgresPrometheusMetrics(down)), /^pg_up 0$/m);
      const port = standby.cluster.port;
      standby = await startPrivateCluster({}, { dir: primary.dir, pgdata: standby.pgdata, port });
      assert.equal(standby.cluster.port, port, 'restarted on the same port');
      const started = Date.now();
      const up = await waitFor('the collector to reconnect', async () => {
        const r = await collector.collect(collectContext());
        return rowsOf(r, 'pg_instance')[0]?.up === true ? r : undefined;
      });
      assert.ok(Date.now() - started < 10_000, 'reconnected within the backoff');
      assert.equal(rowsOf(up, 'pg_instance')[0]?.in_recovery, true);
    } finally {
      await collector.close();
    }
  });
});

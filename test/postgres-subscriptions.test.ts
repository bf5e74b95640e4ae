/**
 * pg_subscriptions (logical replication, subscriber side) on two private clusters of the run's version (the
 * embedded PostgreSQL 18, or Debian's 15 with PGVIGIL_TEST_PG15=1): a publisher with wal_level = logical
 * and a subscriber with a real subscription to it, collected by a pg_monitor-only role. Shows: the
 * collected row equals a direct read of pg_stat_subscription (and pg_stat_subscription_stats on 15+, and
 * pg_subscription.subenabled); a disabled subscription shows as enabled = false without a worker; a
 * conflicting row makes apply errors grow, seen by the collector and raised by check pg.subscription with
 * the diagnostic; a publisher that is gone leaves an enabled subscription without a worker, raised too;
 * with subenabled not readable the family is degraded with the reason and still sends what it can read;
 * /metrics names; and the rows written through ingest into the store.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createPostgresCollector } from '../src/agent/collectors/postgres/collector.js';
import { toFamilyRow } from '../src/agent/collectors/postgres/families.js';
import { postgresPrometheusMetrics } from '../src/agent/collectors/postgres/prometheus.js';
import { subscriptionsQuery } from '../src/agent/collectors/postgres/queries/instance.js';
import type { FamilyRows, Row } from '../src/agent/collectors/types.js';
import { renderExposition } from '../src/agent/exporter.js';
import { pgSubscription } from '../src/intelligence/checks/postgres-subscriptions.js';
import { startFindingsServer } from './helpers/findings.js';
import {
  collectContext,
  type PrivateCluster,
  removeDir,
  rowsOf,
  runServerVersion,
  startPrivateCluster,
} from './helpers/pg-cluster.js';
import { promtoolPath } from './helpers/prometheus.js';
import { fixtureScope } from './helpers/scope-fixture.js';
import { waitFor } from './helpers/wait.js';

const monitorPassword = 'Mon-subscriber-pw';

interface ViewRow {
  subname: string;
  pid: number | null;
  received_lsn: string | null;
  latest_end_lsn: string | null;
  last_msg_send_time: Date | null;
  last_msg_receipt_time: Date | null;
  latest_end_time: Date | null;
  subenabled: boolean;
  datname: string;
  apply_error_count: string | null;
  sync_error_count: string | null;
}

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

describe('pg_subscriptions on a real publication and subscription', () => {
  let publisher: PrivateCluster;
  let subscriber: PrivateCluster;
  let pub: pg.Client;
  let sub: pg.Client;
  let version = 0;
  let collector: ReturnType<typeof createPostgresCollector>;
  /** The two collections around the apply errors (15+), for the store test. */
  let erring: FamilyRows[][] = [];

  async function readView(): Promise<ViewRow> {
    const stats =
      version >= 150000
        ? 'st.apply_error_count::text AS apply_error_count, st.sync_error_count::text AS sync_error_count'
        : 'NULL AS apply_error_count, NULL AS sync_error_count';
    const apply = version >= 170000 ? "w.worker_type = 'apply'" : 'w.relid IS NULL';
    const { rows } = await sub.query<ViewRow>(
      `SELECT s.subname, w.pid, w.received_lsn::text AS received_lsn, w.latest_end_lsn::text AS latest_end_lsn,
              w.last_msg_send_time, w.last_msg_receipt_time, w.latest_end_time, s.subenabled,
              d.datname, ${stats}
         FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid
         LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.pid IS NOT NULL AND ${apply}
         ${version >= 150000 ? 'LEFT JOIN pg_stat_subscription_stats st ON st.subid = s.oid' : ''}
        WHERE s.subname = 'orders_sub'`,
    );
    return rows[0]!;
  }

  async function collect(): Promise<FamilyRows[]> {
    return collector.collect(collectContext());
  }

  /** Our row, read between two identical reads of the view (messages move the times: retried until still). */
  async function collectStill(): Promise<{ row: Row; view: ViewRow; result: FamilyRows[] }> {
    for (let i = 0; i < 20; i++) {
      const before = await readView();
      const result = await collect();
      const after = await readView();
      if (JSON.stringify(before) === JSON.stringify(after)) {
        const row = rowsOf(result, 'pg_subscriptions').find((r) => r.subname === 'orders_sub');
        assert.ok(row, 'the subscription is collected');
        return { row, view: after, result };
      }
    }
    throw new Error('pg_stat_subscription kept moving');
  }

  function assertEqualsView(row: Row, v: ViewRow) {
    assert.equal(row.datname, v.datname);
    assert.equal(row.enabled, v.subenabled);
    assert.equal(row.worker_pid, v.pid === null ? null : String(v.pid));
    assert.equal(row.received_lsn, v.received_lsn);
    assert.equal(row.latest_end_lsn, v.latest_end_lsn);
    assert.equal(row.last_msg_send_time, iso(v.last_msg_send_time));
    assert.equal(row.last_msg_receipt_time, iso(v.last_msg_receipt_time));
    assert.equal(row.latest_end_time, iso(v.latest_end_time));
    if (v.last_msg_send_time && v.last_msg_receipt_time) {
      const lag = (v.last_msg_receipt_time.getTime() - v.last_msg_send_time.getTime()) / 1000;
      assert.ok(Math.abs(Number(row.msg_lag_s) - lag) < 0.002, `msg_lag_s ${row.msg_lag_s} vs ${lag}`);
    } else assert.equal(row.msg_lag_s, null);
    assert.equal(row.apply_error_count, v.apply_error_count === null ? null : Number(v.apply_error_count));
    assert.equal(row.sync_error_count, v.sync_error_count === null ? null : Number(v.sync_error_count));
  }

  before(async () => {
    version = await runServerVersion();
    publisher = await startPrivateCluster({ wal_level: 'logical' });
    subscriber = await startPrivateCluster({ wal_retrieve_retry_interval: '200ms' });
    pub = new pg.Client({ connectionString: publisher.url() });
    sub = new pg.Client({ connectionString: subscriber.url() });
    // The last test stops the publisher under this connection.
    pub.on('error', () => {});
    await pub.connect();
    await sub.connect();
    await pub.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
    await pub.query("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 100) g");
    await pub.query('CREATE PUBLICATION orders_pub FOR TABLE items');
    await sub.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
    await sub.query(`CREATE SUBSCRIPTION orders_sub CONNECTION '${publisher.url()}' PUBLICATION orders_pub`);
    await sub.query(`CREATE ROLE monitor LOGIN PASSWORD '${monitorPassword}' IN ROLE pg_monitor`);
    const u = new URL(subscriber.url());
    u.username = 'monitor';
    u.password = monitorPassword;
    collector = createPostgresCollector(u.toString(), { families: ['pg_subscriptions'] });
    // The initial copy done and the apply worker streaming.
    await waitFor('the initial table copy', async () => {
      const { rows } = await sub.query<{ n: string }>('SELECT count(*) AS n FROM items');
      return Number(rows[0]?.n) === 100 ? true : undefined;
    });
    await waitFor('the apply worker to have received something', async () => {
      const v = await readView();
      return v.pid !== null && v.received_lsn !== null && v.latest_end_time !== null ? true : undefined;
    });
  });

  after(async () => {
    await collector?.close();
    await sub?.query('DROP SUBSCRIPTION IF EXISTS orders_sub').catch(() => {});
    await pub?.end().catch(() => {});
    await sub?.end().catch(() => {});
    for (const c of [subscriber, publisher]) {
      if (!c) continue;
      await c.stop().catch(() => {});
      await removeDir(c.dir);
    }
  });

  test('the_collected_row_equals_pg_stat_subscription_read_directly', async () => {
    const { row, view, result } = await collectStill();
    const status = rowsOf(result, 'pg_collector').find((r) => r.family === 'pg_subscriptions');
    assert.equal(status?.ok, true, `degraded: ${status?.error}`);
    assert.equal(row.enabled, true);
    assert.notEqual(row.worker_pid, null);
    assert.equal(row.sync_workers, 0, 'the initial copy is over');
    assert.equal(row.parallel_workers, version >= 160000 ? 0 : null);
    assertEqualsView(row, view);
    if (version >= 150000) assert.equal(row.apply_error_count, 0);
    else assert.equal(row.apply_error_count, null);
    if (version >= 180000) assert.equal(row.confl_insert_exists, 0);
    else assert.equal(row.confl_insert_exists, null, 'conflict counters are 18+');
    assert.ok(Number(row.last_msg_age_s) >= 0 && Number(row.latest_end_age_s) >= 0);

    const metrics = new Map(
      postgresPrometheusMetrics([{ family: 'pg_subscriptions', ts: Date.now(), rows: [row] }]).map((m) => [
        m.name,
        m,
      ]),
    );
    const enabled = metrics.get('pg_stat_subscription_enabled');
    assert.deepEqual(enabled?.samples[0]?.labels, { subname: 'orders_sub', datname: view.datname });
    assert.equal(enabled?.samples[0]?.value, 1);
    assert.ok(metrics.has('pg_stat_subscription_msg_lag_seconds'));
    if (version >= 150000)
      assert.equal(metrics.get('pg_stat_subscription_apply_error_count_total')?.type, 'counter');
    // The rows pass promtool's lint as our /metrics text (where promtool is installed).
    const run = spawnSync(promtoolPath, ['check', 'metrics'], {
      input: renderExposition([...metrics.values()]),
      encoding: 'utf8',
    });
    if (run.error === undefined) assert.equal(`${run.stdout}${run.stderr}`.trim(), '');
  });

  test('every_version_of_the_query_up_to_the_servers_runs_and_finds_the_subscription', async () => {
    const all = { ...subscriptionsQuery.versions };
    const refused = subscriptionsQuery.whenRefused!.versions;
    let ran = 0;
    for (const [min, text] of [...Object.entries(all), ...Object.entries(refused)]) {
      if (Number(min) > version) continue;
      const { rows } = await sub.query(text);
      const row = toFamilyRow('pg_subscriptions', rows[0]);
      assert.equal(row.subname, 'orders_sub', `the ${min} query`);
      assert.notEqual(row.worker_pid, null, `the ${min} query finds the apply worker`);
      ran++;
    }
    assert.ok(ran >= 4);
  });

  test('a_disabled_subscription_shows_as_disabled_without_a_worker', async () => {
    await sub.query('ALTER SUBSCRIPTION orders_sub DISABLE');
    try {
      await waitFor('the apply worker to exit', async () =>
        (await readView()).pid === null ? true : undefined,
      );
      const { row, view } = await collectStill();
      assert.equal(row.enabled, false);
      assert.equal(row.worker_pid, null);
      assert.equal(row.received_lsn, null);
      assertEqualsView(row, view);
      // Disabled on purpose, without errors: not a finding.
      const scope = fixtureScope([
        { ts: 0, families: { pg_subscriptions: [row] } },
        { ts: 30_000, families: { pg_subscriptions: [row] } },
      ]);
      assert.deepEqual(pgSubscription.evaluate(scope, { worker_down_s: 0, errors: 0 }), []);
    } finally {
      await sub.query('ALTER SUBSCRIPTION orders_sub ENABLE');
    }
    await waitFor('the apply worker to run again', async () =>
      (await readView()).pid !== null ? true : undefined,
    );
  });

  test('a_conflicting_row_makes_apply_errors_grow_and_the_check_raise_them', async (t) => {
    if (version < 150000) {
      t.skip('pg_stat_subscription_stats is 15+');
      return;
    }
    const first = await collectStill();
    // A row the subscriber has and the publisher then inserts too: every apply attempt fails on the key.
    await sub.query("INSERT INTO items VALUES (1000, 'subscriber only')");
    await pub.query("INSERT INTO items VALUES (1000, 'from the publisher')");
    await waitFor('apply errors', async () =>
      Number((await readView()).apply_error_count) >= 2 ? true : undefined,
    );
    const second = await collectStill();
    erring = [first.result, second.result];
    assertEqualsView(second.row, second.view);
    assert.ok(Number(second.row.apply_error_count) > Number(first.row.apply_error_count));
    const scope = fixtureScope([
      { ts: 0, families: { pg_subscriptions: [first.row] } },
      { ts: 30_000, families: { pg_subscriptions: [second.row] } },
    ]);
    const [f] = pgSubscription.evaluate(scope, { worker_down_s: 60, errors: 0 });
    assert.ok(f, 'growing apply errors are a finding');
    assert.equal(f.object, `sub:${second.view.datname}/orders_sub`);
    assert.equal(
      f.evidence.apply_errors_in_interval,
      Number(second.row.apply_error_count) - Number(first.row.apply_error_count),
    );
    assert.match(f.action, /SELECT \* FROM pg_stat_subscription_stats WHERE subname = 'orders_sub';/);
    // Fixed by removing the subscriber's row: the worker applies the transaction and streams again.
    await sub.query('DELETE FROM items WHERE id = 1000');
    await waitFor('the conflicting row applied', async () => {
      const { rows } = await sub.query<{ v: string }>('SELECT v FROM items WHERE id = 1000');
      return rows[0]?.v === 'from the publisher' ? true : undefined;
    });
  });

  test('through_ingest_the_rows_are_stored_the_errors_chart_as_an_increase_and_the_finding_opens', async (t) => {
    if (erring.length < 2) {
      t.skip('needs the apply errors of 15+');
      return;
    }
    const fs = await startFindingsServer('subs');
    try {
      const agent = await fs.enroll('subscriber-host');
      for (const result of erring) await fs.push(agent, result, { target: 'main' });
      const [a, b] = erring.map((r) => rowsOf(r, 'pg_subscriptions')[0]!);
      const grew = Number(b!.apply_error_count) - Number(a!.apply_error_count);
      const f = await fs.waitFor('check=pg.subscription', (x) => x.object === `sub:${a!.datname}/orders_sub`);
      assert.equal(f.severity, 'warning');
      const { rows } = await fs.ts.store.pool.query<{ n: string }>(
        'SELECT count(*) AS n FROM pgvigil.pg_subscriptions WHERE server_id = $1',
        [agent.serverId],
      );
      assert.equal(Number(rows[0]!.n), 2);
      const qs = new URLSearchParams({
        family: 'pg_subscriptions',
        metrics: 'apply_error_count',
        server: String(agent.serverId),
        from: String(erring[0]![0]!.ts - 60_000),
        to: String(Date.now() + 60_000),
        tier: 'raw',
      });
      const res = await fetch(`${fs.base}/api/v1/series?${qs}`, { headers: fs.admin });
      assert.equal(res.status, 200, await res.clone().text());
      const body = (await res.json()) as {
        series: Array<{ labels: Record<string, string>; points: number[][] }>;
      };
      assert.equal(body.series.length, 1);
      assert.equal(body.series[0]!.labels.subname, 'orders_sub');
      assert.equal(
        body.series[0]!.points.reduce((n, p) => n + p[1]!, 0),
        grew,
        'the increase over the two collections',
      );
      // The replication view of the PostgreSQL page: the newest collection's subscription.
      const view = await fetch(`${fs.base}/api/v1/servers/${agent.serverId}/targets/main/replication`, {
        headers: fs.admin,
      });
      assert.equal(view.status, 200, await view.clone().text());
      const now = (await view.json()) as { subscriptions: Row[] | null };
      assert.equal(now.subscriptions?.length, 1);
      const shown = now.subscriptions![0]!;
      for (const k of ['subname', 'datname', 'enabled', 'worker_pid', 'received_lsn', 'apply_error_count'])
        assert.equal(shown[k], b![k], k);
    } finally {
      await fs.close();
    }
  });

  test('without_read_access_to_subenabled_the_family_is_degraded_with_the_reason_and_still_sent', async () => {
    // A collector of its own: the refusal pauses the full query (collectors of the other tests are not).
    const u = new URL(subscriber.url());
    u.username = 'monitor';
    u.password = monitorPassword;
    const own = createPostgresCollector(u.toString(), {
      families: ['pg_subscriptions'],
      refusalPause: { firstMs: 2_000, maxMs: 2_000 },
    });
    const serverLog = join(subscriber.dir, `${subscriber.pgdata.split('/').pop()}.log`);
    const refusalsLogged = () =>
      readFileSync(serverLog, 'utf8').split('permission denied for table pg_subscription').length - 1;
    await sub.query('REVOKE SELECT (subenabled) ON pg_subscription FROM public');
    try {
      const logged = refusalsLogged();
      for (let i = 0; i < 3; i++) {
        const result = await own.collect(collectContext());
        const status = rowsOf(result, 'pg_collector').find((r) => r.family === 'pg_subscriptions');
        assert.equal(status?.ok, false);
        assert.match(String(status?.error), /permission denied for table pg_subscription/);
        assert.match(String(status?.error), /enabled unknown \(null\)/);
        if (i > 0)
          assert.match(String(status?.error), /not asked again before \d{4}-/, 'paused after the refusal');
        assert.equal(status?.rows, 1);
        const [row] = rowsOf(result, 'pg_subscriptions');
        assert.equal(row?.subname, 'orders_sub');
        assert.equal(row?.enabled, null, 'unknown, not false');
        assert.equal(row?.datname, '');
        assert.notEqual(row?.worker_pid, null, 'the worker is still seen through pg_stat_subscription');
      }
      // Three collections, one refused query in the monitored server's log (it used to be one per collection).
      await waitFor(
        'the refusal in the server log',
        async () => (refusalsLogged() > logged ? true : undefined),
        5_000,
      );
      assert.equal(refusalsLogged() - logged, 1, 'the refused query was asked once');
    } finally {
      await sub.query('GRANT SELECT (subenabled) ON pg_subscription TO public');
    }
    // Once the pause is over the full query is asked again, and with the grant back it answers.
    await sleep(2_100);
    const status = rowsOf(await own.collect(collectContext()), 'pg_collector').find(
      (r) => r.family === 'pg_subscriptions',
    );
    assert.equal(status?.ok, true, `still degraded: ${status?.error}`);
    await own.close();
  });

  test('a_publisher_that_is_gone_leaves_the_enabled_subscription_without_worker_and_it_is_raised', async () => {
    await publisher.stop();
    const rows: Row[] = [];
    await waitFor(
      'two collections without a worker',
      async () => {
        const row = rowsOf(await collect(), 'pg_subscriptions')[0];
        if (row && row.enabled === true && row.worker_pid === null) rows.push(row);
        return rows.length >= 2 ? true : undefined;
      },
      30_000,
    );
    const scope = fixtureScope(
      rows.map((row, i) => ({ ts: i * 30_000, families: { pg_subscriptions: [row] } })),
    );
    const [f] = pgSubscription.evaluate(scope, { worker_down_s: 30, errors: 1000 });
    assert.ok(f, 'an enabled subscription without its worker is a finding');
    assert.match(f.title, /orders_sub .* is enabled but no apply worker has run for 30 s/);
    assert.equal(f.evidence.enabled, true);
    assert.equal(f.evidence.worker_pid, null);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtureScope } from '../../../test/helpers/scope-fixture.js';
import { pgSubscription } from './postgres-subscriptions.js';
import type { Row } from './types.js';

const t = Object.fromEntries(Object.entries(pgSubscription.thresholds).map(([k, v]) => [k, v.default]));

const sub = (extra: Row): Row => ({
  subname: 'orders_sub',
  datname: 'shop',
  enabled: true,
  worker_pid: '4242',
  sync_workers: 0,
  received_lsn: '0/3000148',
  latest_end_lsn: '0/3000148',
  last_msg_receipt_time: '2026-12-03T08:00:00.000Z',
  last_msg_age_s: 2,
  msg_lag_s: 0.01,
  latest_end_age_s: 2,
  apply_error_count: 0,
  sync_error_count: 0,
  stats_reset: null,
  ...extra,
});

/** Collections 30 s apart, one subscription row each. */
function collections(...rows: Row[]) {
  return fixtureScope(rows.map((r, i) => ({ ts: i * 30_000, families: { pg_subscriptions: [sub(r)] } })));
}

test('a_running_subscription_without_errors_gives_nothing', () => {
  assert.deepEqual(pgSubscription.evaluate(collections({}, {}, {}), t), []);
});

test('an_enabled_subscription_without_worker_is_a_warning_once_absent_long_enough', () => {
  const down = { worker_pid: null, received_lsn: null, last_msg_age_s: null };
  // Absent for 30 s: below the 60 s default, a worker restarting is not a finding.
  assert.deepEqual(pgSubscription.evaluate(collections({}, down, down), t), []);
  const [f, ...rest] = pgSubscription.evaluate(collections({}, down, down, down), t);
  assert.equal(rest.length, 0);
  assert.ok(f);
  assert.equal(f.severity, 'warning');
  assert.equal(f.object, 'sub:shop/orders_sub');
  assert.match(f.title, /orders_sub \(database shop\) is enabled but no apply worker has run for 60 s/);
  assert.equal(f.evidence.worker_pid, null);
  assert.equal(f.evidence.worker_absent_s, 60);
  assert.match(f.action, /SELECT \* FROM pg_stat_subscription WHERE subname = 'orders_sub';/);
  assert.match(f.action, /max_logical_replication_workers/);
  assert.doesNotMatch(f.action, /ENABLE;/, 'it is enabled: enabling it again changes nothing');
});

test('a_disabled_subscription_without_new_errors_is_left_alone', () => {
  const off = { enabled: false, worker_pid: null };
  assert.deepEqual(pgSubscription.evaluate(collections(off, off, off, off), t), []);
});

test('apply_errors_that_grow_are_a_warning_with_the_counts_and_the_commands', () => {
  const [f] = pgSubscription.evaluate(collections({ apply_error_count: 2 }, { apply_error_count: 5 }), t);
  assert.ok(f);
  assert.equal(f.severity, 'warning');
  assert.match(f.title, /3 apply and 0 table synchronization errors in the last 30 s/);
  assert.equal(f.evidence.apply_errors_in_interval, 3);
  assert.equal(f.evidence.interval_s, 30);
  assert.match(f.action, /SKIP \(lsn = '<finish LSN>'\)/);
  assert.match(f.action, /pg_stat_subscription_stats WHERE subname = 'orders_sub'/);
});

test('errors_that_disabled_the_subscription_give_the_enable_command_with_a_quoted_name', () => {
  const [f] = pgSubscription.evaluate(
    collections(
      { subname: 'Orders Sub', apply_error_count: 0 },
      { subname: 'Orders Sub', apply_error_count: 1, enabled: false, worker_pid: null },
    ),
    t,
  );
  assert.ok(f);
  assert.match(f.title, /and it is disabled now/);
  assert.match(f.action, /ALTER SUBSCRIPTION "Orders Sub" ENABLE;/);
});

test('a_statistics_reset_or_a_single_sample_gives_no_error_count', () => {
  assert.deepEqual(pgSubscription.evaluate(collections({ apply_error_count: 9 }), t), []);
  assert.deepEqual(
    pgSubscription.evaluate(
      collections(
        { apply_error_count: 9, stats_reset: null },
        { apply_error_count: 12, stats_reset: '2026-12-03T08:00:10.000Z' },
      ),
      t,
    ),
    [],
  );
});

test('same_name_in_two_databases_are_two_subscriptions', () => {
  const scope = fixtureScope(
    [0, 30_000].map((ts, i) => ({
      ts,
      families: {
        pg_subscriptions: [
          sub({ datname: 'a', apply_error_count: i }),
          sub({ datname: 'b', apply_error_count: 0 }),
        ],
      },
    })),
  );
  const found = pgSubscription.evaluate(scope, t);
  assert.deepEqual(
    found.map((f) => f.object),
    ['sub:a/orders_sub'],
  );
});

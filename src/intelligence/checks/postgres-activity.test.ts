import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtureScope, oneCollection } from '../../../test/helpers/scope-fixture.js';
import { pgBlocking, pgIdleInTransaction, pgLongQuery } from './postgres-activity.js';
import type { IngestCheck, Row } from './types.js';

const defaults = (c: IngestCheck) =>
  Object.fromEntries(Object.entries(c.thresholds).map(([k, v]) => [k, v.default]));

const wait = (
  pid: number,
  blockers: string,
  wait_s: number,
  query = 'UPDATE t SET v = 2 WHERE id = 1',
): Row => ({
  pid,
  blocking_pids: blockers,
  datname: 'shop',
  usename: 'app',
  application_name: 'api',
  wait_s,
  query,
});

const group = (state: string, extra: Row = {}): Row => ({
  datname: 'shop',
  usename: 'app',
  application_name: 'api',
  backend_type: 'client backend',
  state,
  count: 1,
  waiting: 0,
  blocked: 0,
  max_xact_age_s: 10,
  max_query_age_s: null,
  max_state_age_s: 10,
  ...extra,
});

test('a_blocked_chain_is_reported_once_under_its_head_with_the_longest_wait', () => {
  // 300 waits for 200, which waits for 100: 100 is the head of both.
  const input = fixtureScope([
    {
      ts: 1000,
      families: {
        pg_lock_waits: [wait(200, '100', 95), wait(300, '200', 40, 'DELETE FROM t')],
        pg_activity: [group('idle in transaction', { max_xact_age_s: 400, max_state_age_s: 390 })],
        pg_xmin_holders: [
          {
            holder: 'session',
            ident: '100',
            xmin_age: 5,
            age_s: 400,
            usename: 'app',
            state: 'idle in transaction',
            application_name: 'api',
            client_addr: '10.1.1.1',
            query: 'UPDATE t SET v = 1 WHERE id = 1',
          },
          { holder: 'session', ident: '555', age_s: 9, query: 'SELECT 2' },
        ],
      },
    },
  ]);
  const out = pgBlocking.evaluate(input, defaults(pgBlocking));
  assert.equal(out.length, 1);
  const f = out[0]!;
  assert.equal(f.object, 'pid:100');
  assert.equal(f.severity, 'warning');
  assert.equal(f.evidence.blocked_count, 2);
  assert.equal(f.evidence.longest_wait_s, 95);
  assert.deepEqual(
    (f.evidence.blocked as Array<{ pid: number }>).map((b) => b.pid),
    [200, 300],
  );
  assert.match(f.action, /SELECT pg_terminate_backend\(100\);/);
  assert.match(f.action, /FROM pg_stat_activity WHERE pid = 100;/);
  assert.equal((f.evidence.blocker_candidates as Row[])[0]?.state, 'idle in transaction');
  const blocker = f.evidence.blocker as Row;
  assert.equal(blocker.query, 'UPDATE t SET v = 1 WHERE id = 1', "the blocker's own last statement");
  assert.equal(blocker.xact_age_s, 400);
  assert.match(f.explanation, /idle in transaction, its transaction 7 min old/);
});

test('blocking_grades_by_the_longest_wait_and_short_waits_say_nothing', () => {
  const t = defaults(pgBlocking);
  const at = (s: number) =>
    pgBlocking.evaluate(fixtureScope([{ ts: 1, families: { pg_lock_waits: [wait(2, '1', s)] } }]), t);
  assert.deepEqual(at(29), []);
  assert.equal(at(31)[0]?.severity, 'warning');
  assert.equal(at(301)[0]?.severity, 'critical');
});

test('a_wait_behind_a_session_idle_in_a_transaction_warns_at_its_first_sample', () => {
  const t = defaults(pgBlocking);
  const holder = (state: string): Row => ({
    holder: 'session',
    ident: '1',
    xmin_age: 3,
    age_s: 40,
    usename: 'billing',
    state,
    application_name: 'worker',
    query: 'UPDATE orders SET status = 2 WHERE id = 7',
  });
  const at = (state: string) =>
    pgBlocking.evaluate(
      fixtureScope([
        { ts: 1, families: { pg_lock_waits: [wait(2, '1', 5)], pg_xmin_holders: [holder(state)] } },
      ]),
      t,
    );
  const out = at('idle in transaction');
  assert.equal(out[0]?.severity, 'warning', 'its locks stay until its client acts');
  assert.match(out[0]!.explanation, /idle in transaction/);
  // Behind a session running a statement, 5 s is an ordinary wait.
  assert.deepEqual(at('active'), []);
  // Without pg_xmin_holders the blocker's state is a guess: judged by the wait's length.
  assert.deepEqual(
    pgBlocking.evaluate(
      fixtureScope([
        {
          ts: 1,
          families: {
            pg_lock_waits: [wait(2, '1', 5)],
            pg_activity: [group('idle in transaction', { max_xact_age_s: 40 })],
          },
        },
      ]),
      t,
    ),
    [],
  );
});

test('a_lock_cycle_has_no_head_and_is_reported_under_its_lowest_pid', () => {
  const input = fixtureScope([{ ts: 1, families: { pg_lock_waits: [wait(7, '9', 50), wait(9, '7', 45)] } }]);
  const out = pgBlocking.evaluate(input, defaults(pgBlocking));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.object, 'pid:7');
  assert.ok(out[0]!.evidence.blocker_waits_too, 'the blocker is itself waiting');
});

test('only_the_newest_collection_counts_so_a_wait_that_ended_clears', () => {
  const input = fixtureScope([
    { ts: 1000, families: { pg_lock_waits: [wait(2, '1', 500)] } },
    { ts: 2000, families: {} },
  ]);
  assert.deepEqual(pgBlocking.evaluate(input, defaults(pgBlocking)), []);
});

test('odd_lock_wait_rows_are_skipped_and_texts_are_bounded', () => {
  const input = oneCollection({
    pg_lock_waits: [
      { pid: 'x', blocking_pids: '1', wait_s: 100 },
      { pid: 5, blocking_pids: 'a,,-3,  ', wait_s: 'nope' },
      wait(6, '4', 100, 'x'.repeat(10_000)),
    ],
  });
  const out = pgBlocking.evaluate(input, defaults(pgBlocking));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.object, 'pid:4');
  const q = String((out[0]!.evidence.blocked as Row[])[0]?.query);
  assert.ok(q.length <= 501, 'query cut to about 500 characters');
  assert.ok(JSON.stringify(out[0]).length < 10_000);
});

test('a_down_instance_or_no_snapshot_says_nothing', () => {
  const input = fixtureScope([
    { ts: 1, families: { pg_instance: [{ up: false }], pg_lock_waits: [wait(2, '1', 999)] } },
  ]);
  assert.deepEqual(pgBlocking.evaluate(input, defaults(pgBlocking)), []);
});

test('a_long_active_statement_is_graded_per_group_of_client_sessions', () => {
  const input = oneCollection({
    pg_activity: [
      group('active', { max_query_age_s: 2000, count: 3 }),
      group('active', { application_name: 'report', max_query_age_s: 301 }),
      group('active', { application_name: 'quick', max_query_age_s: 5 }),
      group('active', {
        backend_type: 'autovacuum worker',
        application_name: '',
        max_query_age_s: 99_999,
      }),
      group('idle', { application_name: 'idle', max_query_age_s: null, max_state_age_s: 99_999 }),
    ],
  });
  const out = pgLongQuery.evaluate(input, defaults(pgLongQuery));
  assert.deepEqual(
    out.map((d) => [d.object, d.severity]),
    [
      ['shop/app/api', 'critical'],
      ['shop/app/report', 'warning'],
    ],
  );
  assert.match(out[0]!.action, /datname = 'shop' AND usename = 'app' AND application_name = 'api'/);
  assert.match(out[0]!.action, /pg_cancel_backend/);
  assert.match(out[0]!.action, /ALTER ROLE app IN DATABASE shop SET statement_timeout = '5min'/);
  assert.equal(out[0]!.evidence.active, 3);
});

test('names_in_actions_are_quoted_as_sql_literals', () => {
  const input = oneCollection({
    pg_activity: [group('active', { usename: "o'brien", datname: 'My DB', max_query_age_s: 400 })],
  });
  const [f] = pgLongQuery.evaluate(input, defaults(pgLongQuery));
  assert.match(f!.action, /usename = 'o''brien'/);
  assert.match(f!.action, /ALTER ROLE "o'brien" IN DATABASE "My DB"/);
});

test('idle_in_transaction_groups_get_terminate_and_timeout_actions', () => {
  const input = fixtureScope(
    [
      {
        ts: 1,
        families: {
          pg_activity: [
            group('idle in transaction', { max_state_age_s: 700, count: 2 }),
            group('idle in transaction (aborted)', { application_name: 'etl', max_state_age_s: 61 }),
            group('idle in transaction', { application_name: 'brief', max_state_age_s: 59 }),
          ],
        },
      },
    ],
    { settings: { idle_in_transaction_session_timeout: '0' } },
  );
  const out = pgIdleInTransaction.evaluate(input, defaults(pgIdleInTransaction));
  assert.deepEqual(
    out.map((d) => [d.object, d.severity]),
    [
      ['shop/app/api', 'critical'],
      ['shop/app/etl', 'warning'],
    ],
  );
  const f = out[0]!;
  assert.match(
    f.action,
    /SELECT pg_terminate_backend\(pid\) FROM pg_stat_activity WHERE state = 'idle in transaction' AND datname = 'shop'/,
  );
  assert.match(f.action, /ALTER SYSTEM SET idle_in_transaction_session_timeout = '5min';/);
  assert.equal(f.evidence.sessions, 2);
  assert.equal(f.evidence.idle_in_transaction_session_timeout, '0');
  assert.match(out[1]!.action, /state = 'idle in transaction \(aborted\)'/);
});

test('activity_with_strings_for_numbers_or_missing_columns_does_not_throw', () => {
  const input = oneCollection({
    pg_activity: [
      { state: 'active', backend_type: 'client backend', max_query_age_s: '400' },
      { state: 'active', backend_type: 'client backend', max_query_age_s: 'abc' },
      { state: null, backend_type: null },
    ],
  });
  const out = pgLongQuery.evaluate(input, defaults(pgLongQuery));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.object, '//');
  assert.deepEqual(pgIdleInTransaction.evaluate(input, defaults(pgIdleInTransaction)), []);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtureScope, oneCollection } from '../../../test/helpers/scope-fixture.js';
import { pgWraparound, pgXminHorizon } from './postgres-horizon.js';
import type { IngestCheck, Row } from './types.js';

const defaults = (c: IngestCheck) =>
  Object.fromEntries(Object.entries(c.thresholds).map(([k, v]) => [k, v.default]));

/**
 * pg_xmin_holders as the collector will send it (its family definition lands with the collector): labels
 * holder, ident; values xmin_age, age_s, datname, usename, state, application_name, client_addr, query.
 */
const xminHoldersColumns = [
  'holder',
  'ident',
  'xmin_age',
  'age_s',
  'datname',
  'usename',
  'state',
  'application_name',
  'client_addr',
  'query',
] as const;

function holder(values: Partial<Record<(typeof xminHoldersColumns)[number], unknown>>): Row {
  const r: Record<string, unknown> = {};
  for (const c of xminHoldersColumns) r[c] = values[c] ?? (c === 'xmin_age' || c === 'age_s' ? null : '');
  return r;
}

test('each_of_the_four_holders_is_named_with_its_own_action', () => {
  const input = oneCollection({
    pg_xmin_holders: [
      holder({
        holder: 'session',
        ident: '4242',
        xmin_age: 12_000_000,
        age_s: 120,
        datname: 'shop',
        usename: 'app',
        state: 'idle in transaction',
        query: 'SELECT 1',
      }),
      holder({ holder: 'replication_slot', ident: 'old_sub', xmin_age: 150_000_000, state: 'inactive' }),
      holder({
        holder: 'standby',
        ident: 'replica1/777',
        application_name: 'replica1',
        xmin_age: 20_000_000,
        state: 'streaming',
      }),
      holder({ holder: 'prepared_xact', ident: "tx'1", xmin_age: 5, age_s: 90_000, datname: 'shop' }),
    ],
  });
  const out = pgXminHorizon.evaluate(input, defaults(pgXminHorizon));
  const by = new Map(out.map((d) => [d.object, d]));
  assert.deepEqual([...by.keys()].sort(), [
    "prepared:tx'1",
    'session:4242',
    'slot:old_sub',
    'standby:replica1',
  ]);
  assert.equal(by.get('slot:old_sub')!.severity, 'critical');
  assert.match(by.get('slot:old_sub')!.action, /SELECT pg_drop_replication_slot\('old_sub'\);/);
  assert.equal(by.get('session:4242')!.severity, 'warning');
  assert.match(by.get('session:4242')!.action, /SELECT pg_terminate_backend\(4242\);/);
  assert.equal(by.get('session:4242')!.evidence.query, 'SELECT 1');
  assert.match(by.get('standby:replica1')!.action, /hot_standby_feedback = off/);
  // A prepared transaction a day old is critical by age even with few transactions since.
  assert.equal(by.get("prepared:tx'1")!.severity, 'critical');
  assert.match(by.get("prepared:tx'1")!.action, /ROLLBACK PREPARED 'tx''1';/);
  assert.equal(out[0]!.severity, 'critical', 'worst first');
});

test('young_holders_say_nothing_and_unknown_holder_kinds_are_ignored', () => {
  const input = oneCollection({
    pg_xmin_holders: [
      holder({ holder: 'session', ident: '1', xmin_age: 3, age_s: 2 }),
      holder({ holder: 'replication_slot', ident: 's', xmin_age: 9_999_999 }),
      holder({ holder: 'ghost', ident: 'x', xmin_age: 999_999_999 }),
      holder({ holder: '__proto__', ident: 'x', xmin_age: 999_999_999 }),
    ],
  });
  assert.deepEqual(pgXminHorizon.evaluate(input, defaults(pgXminHorizon)), []);
});

test('a_session_holder_with_a_non_numeric_pid_gets_no_terminate_statement', () => {
  const input = fixtureScope([
    { ts: 1, families: { pg_xmin_holders: [holder({ holder: 'session', ident: '1; DROP', age_s: 4000 })] } },
  ]);
  const [f] = pgXminHorizon.evaluate(input, defaults(pgXminHorizon));
  assert.ok(f);
  assert.doesNotMatch(f.action, /pg_terminate_backend\(/);
});

test('holders_gone_from_the_newest_collection_clear', () => {
  const input = fixtureScope([
    { ts: 1, families: { pg_xmin_holders: [holder({ holder: 'session', ident: '1', age_s: 99_999 })] } },
    { ts: 2, families: {} },
  ]);
  assert.deepEqual(pgXminHorizon.evaluate(input, defaults(pgXminHorizon)), []);
});

test('wraparound_grades_the_older_of_xid_and_multixact_age_against_2_to_the_31', () => {
  const input = oneCollection({
    pg_wraparound: [
      {
        datname: 'shop',
        xid_age: 1_200_000_000,
        mxid_age: 10,
        xid_wraparound_pct: 55.9,
        mxid_wraparound_pct: 0,
      },
      {
        datname: 'logs',
        xid_age: 100,
        mxid_age: 1_800_000_000,
        xid_wraparound_pct: 0,
        mxid_wraparound_pct: 83.8,
      },
      { datname: 'fresh', xid_age: 200_000_000, xid_wraparound_pct: 9.3, xid_freeze_max_pct: 100 },
      { datname: 'template0', xid_wraparound_pct: 60 },
    ],
  });
  const out = pgWraparound.evaluate(input, defaults(pgWraparound));
  const by = new Map(out.map((d) => [d.object, d]));
  assert.deepEqual([...by.keys()].sort(), ['db:logs', 'db:shop', 'db:template0']);
  assert.equal(by.get('db:shop')!.severity, 'warning');
  assert.match(by.get('db:shop')!.action, /VACUUM \(FREEZE, VERBOSE\)/);
  assert.match(by.get('db:shop')!.action, /vacuumdb --freeze --jobs 4 -d shop/);
  assert.equal(by.get('db:logs')!.severity, 'critical');
  assert.match(by.get('db:logs')!.title, /multixact/);
  assert.match(by.get('db:logs')!.action, /mxid_age\(c\.relminmxid\) DESC/);
  assert.doesNotMatch(by.get('db:template0')!.action, /vacuumdb/);
});

test('wraparound_with_odd_values_says_nothing', () => {
  const input = fixtureScope([
    { ts: 1, families: { pg_wraparound: [{ datname: 'x', xid_wraparound_pct: 'NaN' }, { datname: null }] } },
  ]);
  assert.deepEqual(pgWraparound.evaluate(input, defaults(pgWraparound)), []);
});

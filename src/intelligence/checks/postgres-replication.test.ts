import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtureScope, oneCollection } from '../../../test/helpers/scope-fixture.js';
import { pgReplicationLag, pgReplicationSlot } from './postgres-replication.js';
import type { IngestCheck, Row } from './types.js';

const defaults = (c: IngestCheck) =>
  Object.fromEntries(Object.entries(c.thresholds).map(([k, v]) => [k, v.default]));
const GiB = 1024 ** 3;

const slot = (name: string, extra: Row): Row => ({
  slot_name: name,
  slot_type: 'physical',
  datname: '',
  active: false,
  retained_bytes: 0,
  confirmed_flush_lag_bytes: null,
  wal_status: 'reserved',
  safe_wal_size_bytes: null,
  ...extra,
});

test('an_inactive_slot_retaining_more_than_a_gib_is_a_warning_with_the_drop_statement', () => {
  const input = oneCollection({
    pg_replication_slots: [
      slot('old_standby', { retained_bytes: 2 * GiB }),
      slot('small', { retained_bytes: 100 }),
      slot('busy', { active: true, retained_bytes: 2 * GiB }),
    ],
  });
  const out = pgReplicationSlot.evaluate(input, defaults(pgReplicationSlot));
  assert.equal(out.length, 1, 'an active slot 2 GiB behind is not yet lagging by default');
  const f = out[0]!;
  assert.equal(f.object, 'slot:old_standby');
  assert.equal(f.severity, 'warning');
  assert.match(f.action, /SELECT pg_drop_replication_slot\('old_standby'\);/);
  assert.match(f.action, /primary_slot_name = 'old_standby'/, 'says which consumer breaks');
  assert.equal(f.evidence.retained_bytes, 2 * GiB);
  assert.equal(f.evidence.filesystem, null);
});

test('retained_wal_over_half_the_free_space_of_the_largest_filesystem_is_critical', () => {
  const input = fixtureScope(
    [
      {
        ts: 1,
        families: {
          pg_replication_slots: [
            slot('cdc', { slot_type: 'logical', datname: 'shop', active: true, retained_bytes: 30 * GiB }),
          ],
        },
      },
    ],
    {
      filesystems: [
        { mountpoint: '/', size_bytes: 20 * GiB, avail_bytes: 10 * GiB },
        { mountpoint: '/var/lib/postgresql', size_bytes: 500 * GiB, avail_bytes: 40 * GiB },
      ],
    },
  );
  const [f] = pgReplicationSlot.evaluate(input, defaults(pgReplicationSlot));
  assert.ok(f);
  assert.equal(f.severity, 'critical');
  assert.equal((f.evidence.filesystem as Row).mountpoint, '/var/lib/postgresql');
  assert.equal(f.evidence.retained_of_free_pct, 75);
  assert.match(f.action, /pg_terminate_backend\(active_pid\)/, 'an active slot is disconnected first');
  assert.match(f.action, /subscription or CDC tool reading it in database shop/);
  assert.match(f.action, /ALTER SYSTEM SET max_slot_wal_keep_size = '10GB'/);
});

test('lost_and_unreserved_slots_are_critical_whatever_they_retain', () => {
  const input = oneCollection({
    pg_replication_slots: [
      slot('gone', { wal_status: 'lost', retained_bytes: null }),
      slot('edge', { wal_status: 'unreserved', active: true, retained_bytes: 10 }),
      slot('fine', { wal_status: 'extended', active: true, retained_bytes: 10 }),
    ],
  });
  const out = pgReplicationSlot.evaluate(input, defaults(pgReplicationSlot));
  assert.deepEqual(out.map((d) => [d.object, d.severity]).sort(), [
    ['slot:edge', 'critical'],
    ['slot:gone', 'critical'],
  ]);
});

test('a_dropped_slot_clears_because_the_newest_collection_has_no_row_for_it', () => {
  const input = fixtureScope([
    { ts: 1, families: { pg_replication_slots: [slot('x', { retained_bytes: 5 * GiB })] } },
    { ts: 2, families: {} },
  ]);
  assert.deepEqual(pgReplicationSlot.evaluate(input, defaults(pgReplicationSlot)), []);
});

const standby = (extra: Row): Row => ({
  application_name: 'replica1',
  client_addr: '10.0.0.2',
  pid: 500,
  state: 'streaming',
  sync_state: 'async',
  sent_lag_bytes: 0,
  write_lag_bytes: 0,
  flush_lag_bytes: 0,
  replay_lag_bytes: 0,
  write_lag_s: null,
  flush_lag_s: null,
  replay_lag_s: null,
  ...extra,
});

test('standby_lag_is_graded_in_seconds_and_bytes_per_standby', () => {
  const t = defaults(pgReplicationLag);
  const at = (extra: Row) =>
    pgReplicationLag.evaluate(fixtureScope([{ ts: 1, families: { pg_replication: [standby(extra)] } }]), t);
  assert.deepEqual(at({ replay_lag_s: 9, replay_lag_bytes: 1000 }), []);
  assert.equal(at({ replay_lag_s: 11 })[0]?.severity, 'warning');
  const crit = at({ replay_lag_s: 31, replay_lag_bytes: 5000 })[0]!;
  assert.equal(crit.severity, 'critical');
  assert.equal(crit.object, 'standby:replica1@10.0.0.2');
  assert.match(crit.action, /pg_stat_replication WHERE application_name = 'replica1'/);
  assert.equal(at({ replay_lag_s: null, replay_lag_bytes: 2 * GiB })[0]?.severity, 'warning');
});

test('on_a_standby_its_own_replay_lag_is_graded_and_a_paused_replay_gets_resume', () => {
  const input = oneCollection({
    pg_standby: [
      {
        receiver_status: 'streaming',
        sender: 'p:5432',
        receive_replay_lag_bytes: 100,
        replay_lag_s: 45,
        replay_paused: true,
      },
    ],
  });
  const [f] = pgReplicationLag.evaluate(input, defaults(pgReplicationLag));
  assert.ok(f);
  assert.equal(f.object, 'replay');
  assert.equal(f.severity, 'critical');
  assert.equal(f.action, 'SELECT pg_wal_replay_resume();');
});

test('replication_rows_with_odd_values_do_not_throw', () => {
  const input = oneCollection({
    pg_replication: [{ replay_lag_s: 'x' }, { application_name: null, replay_lag_s: 100 }],
    pg_replication_slots: [{ slot_name: null, retained_bytes: 'many', active: 'yes' }],
  });
  const lag = pgReplicationLag.evaluate(input, defaults(pgReplicationLag));
  assert.equal(lag.length, 1);
  assert.equal(lag[0]!.object, 'standby:local');
  assert.deepEqual(pgReplicationSlot.evaluate(input, defaults(pgReplicationSlot)), []);
});

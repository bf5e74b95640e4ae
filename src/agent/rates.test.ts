import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CounterTracker, ratioOfDeltas } from './rates.js';

test('first_sample_of_a_counter_yields_no_rate', () => {
  const t = new CounterTracker();
  assert.equal(t.rate('eth0:rx', 1000, 0), null);
  assert.equal(t.rate('eth0:rx', 3000, 2000), 1000);
});

test('counter_that_went_backwards_yields_no_rate_for_that_interval_then_resumes', () => {
  const t = new CounterTracker();
  t.rate('k', 5000, 0);
  assert.equal(t.rate('k', 100, 1000), null, 'reset: no rate, not a negative one');
  assert.equal(t.rate('k', 600, 2000), 500, 'the value after the reset is the new base');
});

test('unchanged_counter_yields_a_true_zero_rate', () => {
  const t = new CounterTracker();
  t.rate('k', 42, 0);
  assert.equal(t.rate('k', 42, 10_000), 0);
});

test('no_elapsed_time_yields_no_rate', () => {
  const t = new CounterTracker();
  t.rate('k', 1, 5000);
  assert.equal(t.rate('k', 2, 5000), null);
  assert.equal(t.rate('k', 3, 4000), null, 'a clock that went back is no elapsed time either');
});

test('missing_value_is_not_recorded_and_yields_no_rate', () => {
  const t = new CounterTracker();
  t.rate('k', 10, 0);
  assert.equal(t.rate('k', null, 1000), null);
  assert.equal(t.rate('k', Number.NaN, 1000), null);
  assert.equal(t.rate('k', 30, 2000), 10, 'the last recorded value stays the base');
});

test('keys_are_independent', () => {
  const t = new CounterTracker();
  t.rate('a', 0, 0);
  t.rate('b', 100, 0);
  assert.equal(t.rate('a', 10, 1000), 10);
  assert.equal(t.rate('b', 300, 1000), 200);
});

test('sweep_forgets_keys_not_seen_since_the_previous_sweep', () => {
  const t = new CounterTracker();
  t.rate('gone', 1, 0);
  t.rate('stays', 1, 0);
  t.sweep();
  t.rate('stays', 2, 1000);
  t.sweep();
  assert.equal(t.size, 1);
  assert.equal(t.rate('gone', 5, 2000), null, 'a series that comes back starts over');
});

test('ratio_of_deltas_is_null_without_operations', () => {
  assert.equal(ratioOfDeltas({ delta: 50, seconds: 10 }, { delta: 0, seconds: 10 }), null);
  assert.equal(ratioOfDeltas({ delta: 50, seconds: 10 }, { delta: 100, seconds: 10 }), 0.5);
  assert.equal(ratioOfDeltas(null, { delta: 1, seconds: 1 }), null);
});

test('counters_of_one_source_reset_together', () => {
  const t = new CounterTracker();
  t.deltas('eth0', { bytes: 5000, errors: 0 }, 0);
  const afterReset = t.deltas('eth0', { bytes: 100, errors: 0 }, 1000);
  assert.deepEqual(
    afterReset,
    { bytes: null, errors: null },
    'errors did not go back, but the interface was reset',
  );
  assert.deepEqual(t.deltas('eth0', { bytes: 300, errors: 1 }, 2000), {
    bytes: { delta: 200, seconds: 1 },
    errors: { delta: 1, seconds: 1 },
  });
});

test('a_missing_counter_of_a_source_is_null_on_its_own', () => {
  const t = new CounterTracker();
  t.deltas('sda', { reads: 1, discards: null }, 0);
  const d = t.deltas('sda', { reads: 3, discards: null }, 1000);
  assert.deepEqual(d.reads, { delta: 2, seconds: 1 });
  assert.equal(d.discards, null);
});

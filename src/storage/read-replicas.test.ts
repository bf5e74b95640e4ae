import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freshUntil, parseLsn, probeIntervalFor, standbyMayServe } from './read-replicas.js';

test('wal_positions_compare_as_numbers_across_the_slash', () => {
  assert.equal(parseLsn('0/0'), 0n);
  assert.equal(parseLsn('1/0'), 1n << 32n);
  assert.ok(parseLsn('16/B374D848') > parseLsn('16/B374D847'));
  assert.ok(parseLsn('17/0') > parseLsn('16/FFFFFFFF'));
});

test('a_standby_is_fresh_until_the_latest_primary_position_it_has_replayed', () => {
  const samples = [
    { t: 1000, lsn: 100n },
    { t: 2000, lsn: 200n },
    { t: 3000, lsn: 200n },
    { t: 4000, lsn: 300n },
  ];
  assert.equal(freshUntil(samples, 300n), 4000);
  assert.equal(freshUntil(samples, 250n), 3000, 'nothing was written between 2 s and 3 s');
  assert.equal(freshUntil(samples, 100n), 1000);
  assert.equal(freshUntil(samples, 99n), undefined, 'further behind than the samples reach');
  assert.equal(freshUntil([], 1n), undefined);
});

test('a_standby_serves_a_range_it_holds_up_to_the_lag_bound_and_never_the_newest_seconds', () => {
  const now = 100_000;
  const range = (from: number, to: number) => ({ from: new Date(from), to: new Date(to) });
  // Holds everything up to 5 s ago, the bound: the newest 5 s may be missing.
  assert.ok(standbyMayServe(95_000, range(0, now), now, 5000));
  assert.ok(!standbyMayServe(94_999, range(0, now), now, 5000));
  // An old range needs only what it covers, whatever the lag.
  assert.ok(standbyMayServe(50_000, range(0, 50_000), now, 5000));
  assert.ok(!standbyMayServe(49_999, range(0, 50_000), now, 5000));
  // A range wholly within the bound would be all missing: the primary reads it.
  assert.ok(!standbyMayServe(now, range(96_000, now), now, 5000));
  assert.ok(!standbyMayServe(undefined, range(0, 1000), now, 5000));
});

test('positions_are_compared_four_times_per_lag_bound_between_100_ms_and_a_second', () => {
  assert.equal(probeIntervalFor(5000), 1000, 'the default bound: every second');
  assert.equal(probeIntervalFor(60_000), 1000);
  assert.equal(probeIntervalFor(2000), 500);
  assert.equal(probeIntervalFor(800), 200);
  assert.equal(probeIntervalFor(100), 100);
  assert.equal(probeIntervalFor(0), 100);
});

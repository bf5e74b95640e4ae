import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BaselineStates, spreadsOfMinutes } from './baseline-refresh.js';
import { hourSpread } from './baselines.js';

const hour = Date.parse('2026-03-02T10:00:00Z');

test('spreads_of_minutes_give_one_sd_per_series_and_whole_hour_with_enough_minutes', () => {
  const a = Array.from({ length: 60 }, (_, i) => [hour + i * 60_000, i % 2 ? 10 : 20] as [number, number]);
  // The next hour has 5 minutes only: too few to say.
  const b = Array.from({ length: 5 }, (_, i) => [hour + 3_600_000 + i * 60_000, 1] as [number, number]);
  const rows = spreadsOfMinutes([
    { metric: 'host.cpu_busy_pct', targetId: null, object: '', points: [...a, ...b] },
    { metric: 'pg.tps', targetId: 3, object: '', points: a },
  ]);
  assert.equal(rows.length, 2);
  assert.deepEqual(
    rows.map((r) => [r.metric, r.targetId, r.hour.toISOString()]),
    [
      ['host.cpu_busy_pct', null, '2026-03-02T10:00:00.000Z'],
      ['pg.tps', 3, '2026-03-02T10:00:00.000Z'],
    ],
  );
  assert.equal(rows[0]!.sd, hourSpread(a.map((p) => p[1])));
});

test('baseline_states_are_bounded_and_dropped_when_idle', () => {
  const states = new BaselineStates(2, 60_000);
  const a = states.take('a', 0);
  assert.ok(a);
  assert.equal(states.take('a', 10), a, 'the same series keeps its state');
  assert.ok(states.take('b', 10));
  assert.equal(states.take('c', 20), null, 'full: computed without a state');
  // 'a' was used at 10, 'b' at 10: both idle by 80 000, so a new series finds room.
  assert.ok(states.take('c', 80_000));
  assert.equal(states.size, 1);
});

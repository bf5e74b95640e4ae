import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AnomalyInput,
  type AnomalyMetric,
  badDirection,
  describeAnomaly,
  detectAnomaly,
  robustZ,
  scaleOf,
  slotText,
} from './anomalies.js';
import type { SlotBaseline } from './baselines.js';

const now = Date.parse('2026-03-02T14:20:30Z'); // a Monday
const minute = 60_000;
const cpu: AnomalyMetric = {
  id: 'host.cpu_busy_pct',
  title: 'CPU busy',
  unit: '%',
  better: 'both',
  floor: { abs: 3, rel: 0 },
};
const deadlocks: AnomalyMetric = {
  id: 'pg.deadlocks_per_s',
  title: 'Deadlocks per second',
  unit: '1/s',
  better: 'lower',
  floor: { abs: 0.005, rel: 0.2 },
};
const cacheHit: AnomalyMetric = {
  id: 'pg.cache_hit_pct',
  title: 'Cache hit ratio',
  unit: '%',
  better: 'higher',
  floor: { abs: 0.5, rel: 0 },
};

// Median 30, MAD 2 → robust σ ≈ 2.97 (above the floor of 3? no: the floor of 3 wins).
const slot: SlotBaseline = {
  count: 8,
  mean: 31,
  stddev: 4,
  median: 30,
  mad: 2,
  level: 'hour_of_week',
  slot: 14,
};

/** The last `values.length` complete minutes before now, oldest first. */
function minutes(values: number[]): Array<[number, number]> {
  const last = Math.floor(now / minute) * minute - minute;
  return values.map((v, i) => [last - (values.length - 1 - i) * minute, v]);
}

function input(metric: AnomalyMetric, values: number[], extra: Partial<AnomalyInput> = {}): AnomalyInput {
  return {
    metric,
    object: '',
    points: minutes(values),
    baselineAt: () => slot,
    now,
    settings: { warnZ: 2, critZ: 3, minutes: 5 },
    ...extra,
  };
}

test('five_minutes_far_above_the_slot_open_a_critical_spike_with_its_numbers', () => {
  const r = detectAnomaly(input(cpu, [30, 31, 29, 70, 72, 75, 71, 74]));
  assert.equal(r.judged, true);
  const a = r.anomaly!;
  assert.equal(a.severity, 'critical');
  assert.equal(a.direction, 'spike');
  assert.equal(a.value, 74);
  assert.equal(a.run.length, 5);
  assert.equal(a.scale, 3, 'the floor (3 points of CPU) is above 1.4826 × MAD');
  assert.ok(Math.abs(a.z - (74 - 30) / 3) < 1e-9);
  assert.ok(Math.abs(a.driftPct! - ((74 - 31) / 31) * 100) < 1e-9, 'drift from the slot mean');
  const d = describeAnomaly(cpu, '', a);
  assert.match(d.title, /CPU busy unusually high: 74 %, normal 30 % for Mondays 14:00–15:00 UTC/);
  assert.equal(d.evidence.level, 'hour_of_week');
  assert.equal(d.evidence.slot, 14);
  assert.equal(d.evidence.samples, 8);
  assert.equal(d.evidence.baseline_median, 30);
  assert.equal(d.evidence.baseline_mean, 31);
  assert.equal((d.evidence.window as { minutes: number }).minutes, 5);
});

test('warning_when_some_minutes_of_the_run_are_only_beyond_two_sigma', () => {
  // z of 37 = 2.33, of 45 = 5.
  const a = detectAnomaly(input(cpu, [30, 37, 45, 45, 45, 45])).anomaly!;
  assert.equal(a.severity, 'warning');
  assert.ok(Math.abs(a.minAbsZ - 7 / 3) < 1e-9);
});

test('one_noisy_minute_or_a_short_burst_is_not_an_anomaly', () => {
  assert.equal(detectAnomaly(input(cpu, [30, 31, 30, 30, 95])).anomaly, undefined);
  assert.equal(detectAnomaly(input(cpu, [30, 95, 95, 95, 95])).anomaly, undefined, 'four minutes of five');
  assert.equal(detectAnomaly(input(cpu, [95, 95, 95, 95, 95, 30])).anomaly, undefined, 'back to normal now');
});

test('one_minute_without_a_point_is_jitter_but_a_longer_gap_breaks_the_run', () => {
  const one = minutes([95, 95, 95, 95, 95, 95]);
  one.splice(3, 1);
  assert.equal(
    detectAnomaly(input(cpu, [], { points: one })).anomaly?.run.length,
    4,
    'five minutes, four points',
  );
  const two = minutes([30, 95, 95, 95, 95, 95]);
  two.splice(2, 2);
  assert.equal(detectAnomaly(input(cpu, [], { points: two })).anomaly, undefined);
});

test('a_run_must_keep_one_direction', () => {
  assert.equal(detectAnomaly(input(cpu, [0, 0, 95, 95, 95])).anomaly, undefined);
  assert.equal(detectAnomaly(input(cpu, [0, 0, 0, 0, 0])).anomaly?.direction, 'drop', 'both: a drop counts');
});

test('a_drop_of_a_lower_is_better_metric_is_suppressed_and_its_rise_is_not', () => {
  const flat: SlotBaseline = { ...slot, median: 0.1, mean: 0.1, mad: 0.01 };
  const drop = detectAnomaly(input(deadlocks, [0, 0, 0, 0, 0, 0], { baselineAt: () => flat }));
  assert.equal(drop.judged, true);
  assert.equal(drop.anomaly, undefined);
  const rise = detectAnomaly(input(deadlocks, [0.5, 0.5, 0.5, 0.5, 0.5], { baselineAt: () => flat }));
  assert.equal(rise.anomaly?.direction, 'spike');
  assert.equal(badDirection('lower', 'drop'), false);
  assert.equal(badDirection('higher', 'spike'), false);
  assert.equal(badDirection('both', 'drop'), true);
});

test('a_higher_is_better_metric_alerts_on_drops_only', () => {
  const high: SlotBaseline = { ...slot, median: 99, mean: 99, mad: 0.1 };
  assert.equal(
    detectAnomaly(input(cacheHit, [90, 90, 90, 90, 90], { baselineAt: () => high })).anomaly?.direction,
    'drop',
  );
  const low: SlotBaseline = { ...slot, median: 80, mean: 80, mad: 1 };
  assert.equal(
    detectAnomaly(input(cacheHit, [99, 99, 99, 99, 99], { baselineAt: () => low })).anomaly,
    undefined,
  );
});

test('the_floor_keeps_a_flat_metric_from_alerting_on_a_small_change', () => {
  const zero: SlotBaseline = { ...slot, median: 0, mean: 0, mad: 0, stddev: 0 };
  // 0.004 deadlocks/s is below the absolute floor of 0.005: z < 1.
  assert.equal(
    detectAnomaly(input(deadlocks, [0.004, 0.004, 0.004, 0.004, 0.004], { baselineAt: () => zero })).anomaly,
    undefined,
  );
  const a = detectAnomaly(input(deadlocks, [0.05, 0.05, 0.05, 0.05, 0.05], { baselineAt: () => zero }))
    .anomaly!;
  assert.equal(a.severity, 'critical');
  assert.equal(a.driftPct, null, 'no drift % from a zero mean');
});

test('each_minute_is_judged_against_the_slot_of_its_own_hour', () => {
  // The run straddles 14:00: minutes before it belong to the 13:00 slot (a nightly-batch-like high level).
  const t0 = Date.parse('2026-03-02T14:03:00Z');
  const pts: Array<[number, number]> = [];
  for (let i = 7; i >= 0; i--) pts.push([t0 - i * minute, 90]);
  const busy: SlotBaseline = { ...slot, median: 90, mean: 90, mad: 2, slot: 13 };
  const quiet: SlotBaseline = { ...slot, median: 30, mean: 30, mad: 2, slot: 14 };
  const at = (t: number) => (new Date(t).getUTCHours() === 13 ? busy : quiet);
  const r = detectAnomaly(input(cpu, [], { points: pts, baselineAt: at, now: t0 + 90_000 }));
  assert.equal(r.anomaly, undefined, 'only 4 minutes (14:00–14:03) are unusual for their slot');
});

test('stale_points_or_no_baseline_mean_not_judged', () => {
  assert.equal(detectAnomaly(input(cpu, [95, 95, 95, 95, 95], { now: now + 10 * minute })).judged, false);
  assert.equal(detectAnomaly(input(cpu, [95, 95, 95, 95, 95], { baselineAt: () => null })).judged, false);
  assert.equal(detectAnomaly(input(cpu, [])).judged, false);
});

test('slots_read_as_words', () => {
  assert.equal(slotText({ level: 'hour_of_week', slot: 24 + 23 }), 'Tuesdays 23:00–00:00 UTC');
  assert.equal(slotText({ level: 'hour_of_day', slot: 2 }), '02:00–03:00 UTC every day');
  assert.equal(slotText({ level: 'window', slot: null }), 'the last 30 days');
});

test('the_scale_adds_the_within_hour_spread_to_the_spread_of_hourly_values_in_quadrature', () => {
  const floor = { abs: 0.1, rel: 0 };
  const base = { median: 40, mad: 3 / 1.4826 };
  assert.ok(Math.abs(scaleOf(base, floor) - 3) < 1e-9);
  assert.ok(Math.abs(scaleOf({ ...base, within: 4 }, floor) - 5) < 1e-9);
  // A slot's own MAD is never trusted below the pooled one…
  assert.ok(Math.abs(scaleOf({ ...base, residualMad: 6 / 1.4826 }, floor) - 6) < 1e-9);
  // …and the floor still holds.
  assert.equal(scaleOf({ median: 40, mad: 0, within: 0 }, { abs: 3, rel: 0.1 }), 4);
  // A batch ending at :45 (minutes at 12 after 40 for 45 minutes, hour sd ≈ 12): 12 is an ordinary minute
  // of that hour, not 9 σ below its median.
  const batchHour: SlotBaseline = {
    count: 8,
    mean: 33,
    stddev: 2,
    median: 33,
    mad: 1,
    level: 'hour_of_week',
    slot: 2,
  };
  assert.ok(robustZ(12, batchHour, { abs: 3, rel: 0 }) < -6);
  assert.ok(robustZ(12, { ...batchHour, within: 12 }, { abs: 3, rel: 0 }) > -2);
});

test('an_accumulating_metric_rising_every_minute_to_an_unusual_level_is_judged_after_two_rises', () => {
  const lag: AnomalyMetric = {
    id: 'pg.replication_lag_s',
    title: 'Replication lag',
    unit: 's',
    better: 'lower',
    floor: { abs: 1, rel: 0.2 },
    accumulates: true,
  };
  const lagSlot: SlotBaseline = { ...slot, median: 0.6, mean: 0.6, mad: 0.02, within: 0.12 };
  const settings = { warnZ: 3, critZ: 5, minutes: 5, fastZ: 6, fastMinutes: 2 };
  const judge = (metric: AnomalyMetric, values: number[]) =>
    detectAnomaly({ ...input(metric, values), baselineAt: () => lagSlot, settings });
  // The standby falls behind 2–3 s a minute: two rises, the level 4–5 σ above its slot.
  const r = judge(lag, [0.6, 0.7, 0.6, 2.9, 5.2]);
  assert.ok(r.anomaly, 'a steady rise to an unusual level');
  assert.equal(r.anomaly.direction, 'spike');
  assert.equal(r.anomaly.run.length, 2);
  assert.equal(r.anomaly.severity, 'warning');
  // The same level reached in one jump and holding is judged by the usual run (5 minutes, or 2 beyond 6 σ).
  assert.equal(judge(lag, [0.6, 0.7, 0.6, 5.2, 5.1]).anomaly, undefined);
  // Rising, but to a level still ordinary enough: nothing.
  assert.equal(judge(lag, [0.6, 0.7, 1.2, 2.0, 2.8]).anomaly, undefined);
  // Small rises that add up to less than the scale a minute: nothing.
  assert.equal(judge(lag, [0.6, 3.5, 3.9, 4.2, 4.4]).anomaly, undefined);
  // A metric that does not accumulate is not judged on its slope.
  assert.equal(judge({ ...lag, accumulates: false }, [0.6, 0.7, 0.6, 2.9, 5.2]).anomaly, undefined);
});

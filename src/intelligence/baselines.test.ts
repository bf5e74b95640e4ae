import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BaselineState,
  type BaselineStats,
  computeBaseline,
  dayMs,
  describe,
  hourMs,
  hourOfDay,
  hourOfWeek,
  hourSpread,
  minSamples,
  packSlot,
  slotOfBaseline,
  unpackSlot,
  unpackWindow,
} from './baselines.js';

// A Monday, 00:00 UTC.
const monday = Date.parse('2026-03-02T00:00:00Z');

/** Hourly points over `days` before `through`, value from the hour's start. */
function hourly(through: number, days: number, value: (t: number) => number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let t = through - days * dayMs; t < through; t += hourMs) out.push([t, value(t)]);
  return out;
}

/** A small deterministic wobble so spreads are not zero. */
const wobble = (t: number) => ((t / hourMs) % 5) - 2;

test('slots_are_utc_hours_of_the_week_from_monday', () => {
  assert.equal(hourOfWeek(monday), 0);
  assert.equal(hourOfWeek(monday + 9 * hourMs + 30 * 60_000), 9);
  assert.equal(hourOfWeek(monday - hourMs), 167); // Sunday 23:00
  assert.equal(hourOfDay(monday + 26 * hourMs), 2);
});

test('robust_statistics_ignore_outliers_that_drag_mean_and_stddev', () => {
  const s = describe([9, 10, 11, 10, 9, 11, 10, 500])!;
  assert.equal(s.count, 8);
  assert.equal(s.median, 10);
  assert.equal(s.mad, 1);
  assert.equal(s.min, 9);
  assert.equal(s.max, 500);
  assert.ok(s.mean > 70, `the outlier drags the mean: ${s.mean}`);
  assert.ok(s.stddev > 100, `and inflates the stddev: ${s.stddev}`);
  assert.equal(describe([]), null);
  assert.equal(describe([Number.NaN]), null);
  assert.equal(describe([4])!.stddev, 0);
});

test('a_weekly_peak_is_learnt_in_its_hour_of_the_week_slot', () => {
  const through = monday + 8 * 7 * dayMs;
  // Mondays 09:00–10:00 run at 100; every other hour at 20.
  const pts = hourly(through, 56, (t) => (hourOfWeek(t) === 9 ? 100 : 20) + wobble(t));
  const b = computeBaseline(pts, through);
  const mondayPeak = slotOfBaseline(b, through + 9 * hourMs + 20 * 60_000);
  assert.equal(mondayPeak?.level, 'hour_of_week');
  assert.equal(mondayPeak?.slot, 9);
  assert.equal(mondayPeak?.count, 8);
  assert.ok(Math.abs(mondayPeak!.median - 100) <= 2);
  const tuesday = slotOfBaseline(b, through + dayMs + 9 * hourMs);
  assert.equal(tuesday?.level, 'hour_of_week');
  assert.ok(Math.abs(tuesday!.median - 20) <= 2, 'Tuesday 09:00 is not the Monday peak');
  // The hour-of-day slot mixes Monday's peak with six ordinary days: it is not what Monday is judged by.
  assert.equal(b.hourOfDay[9]!.count, 30);
  assert.ok(b.hourOfDay[9]!.median < 30);
});

test('a_nightly_batch_is_learnt_in_its_hour_of_the_day_when_weeks_are_few', () => {
  const through = monday + 10 * dayMs;
  const pts = hourly(through, 10, (t) => (hourOfDay(t) === 2 ? 90 : 10) + wobble(t));
  const b = computeBaseline(pts, through);
  const night = slotOfBaseline(b, through + 2 * hourMs + 5 * 60_000);
  assert.equal(night?.level, 'hour_of_day', 'a slot of the week has 1–2 points: too few');
  assert.equal(night?.slot, 2);
  assert.equal(night?.count, 10);
  assert.ok(Math.abs(night!.median - 90) <= 2);
  const noon = slotOfBaseline(b, through + 12 * hourMs);
  assert.ok(Math.abs(noon!.median - 10) <= 2);
  assert.equal(b.stats7d!.count, 7 * 24);
  assert.equal(b.stats30d!.count, 10 * 24);
});

test('too_few_samples_give_no_baseline_and_a_young_series_falls_back_to_the_window', () => {
  const through = monday + dayMs;
  const few = computeBaseline(
    hourly(through, 5 / 24, () => 5),
    through,
  );
  assert.equal(few.stats30d!.count, 5);
  assert.ok(5 < minSamples);
  assert.equal(slotOfBaseline(few, through), null);
  // One day: every hour-of-day slot has 1 point, the window 24: judged against the window.
  const day = computeBaseline(
    hourly(through, 1, (t) => 5 + wobble(t)),
    through,
  );
  const s = slotOfBaseline(day, through + 3 * hourMs);
  assert.equal(s?.level, 'window');
  assert.equal(s?.slot, null);
  assert.equal(s?.count, 24);
});

test('points_at_or_after_through_and_older_than_the_windows_are_left_out', () => {
  const through = monday + 60 * dayMs;
  const pts: Array<[number, number]> = [
    [through, 1000], // not yet included
    [through - hourMs, 1],
    [through - 8 * dayMs, 2], // in 30 d, not in 7 d
    [through - 40 * dayMs, 3], // only in the 8-week profile
    [through - 57 * dayMs, 4], // in nothing
  ];
  const b = computeBaseline(pts, through);
  assert.equal(b.stats7d!.count, 1);
  assert.equal(b.stats30d!.count, 2);
  assert.equal(
    b.hourOfWeek.filter((x) => x).reduce((n, x) => n + x!.count, 0),
    3,
  );
  assert.equal(b.through, through);
});

test('slots_pack_compactly_and_unpack_only_well_formed_values', () => {
  const s = { count: 7, mean: 1.5, stddev: 0.5, median: 1, mad: 0.25 };
  assert.deepEqual(unpackSlot(packSlot(s)), s);
  assert.equal(packSlot(null), null);
  assert.equal(unpackSlot([1, 2, 3]), null);
  assert.equal(unpackSlot(['7', 1, 1, 1, 1]), null);
  assert.equal(unpackSlot(null), null);
  assert.deepEqual(
    unpackWindow({ count: 6, mean: 1, stddev: 0, median: 1, mad: 0, min: 1, max: 1 })?.count,
    6,
  );
  assert.equal(unpackWindow({ count: 6 }), null);
  assert.equal(unpackWindow([]), null);
});

test('hour_of_week_by_arithmetic_agrees_with_the_calendar', () => {
  const byDate = (t: number) => {
    const d = new Date(t);
    return ((d.getUTCDay() + 6) % 7) * 24 + d.getUTCHours();
  };
  for (
    let t = Date.parse('1969-12-20T00:00:00Z');
    t < Date.parse('2026-12-31T00:00:00Z');
    t += 7_777_777_777
  ) {
    assert.equal(hourOfWeek(t), byDate(t), new Date(t).toISOString());
    assert.equal(hourOfDay(t), new Date(t).getUTCHours());
  }
});

test('hour_spread_is_the_sd_of_the_minutes_and_unknown_with_too_few', () => {
  assert.ok(Number.isNaN(hourSpread([1, 2, 3])));
  const xs = Array.from({ length: 60 }, (_, i) => (i < 45 ? 90 : 10)); // a batch ending at :45
  const mean = (45 * 90 + 15 * 10) / 60;
  const sd = Math.sqrt((45 * (90 - mean) ** 2 + 15 * (10 - mean) ** 2) / 59);
  assert.ok(Math.abs(hourSpread(xs) - sd) < 1e-9);
  assert.ok(Math.abs(hourSpread([...xs, Number.NaN]) - sd) < 1e-9, 'gaps are left out');
});

test('slots_keep_the_within_hour_spread_of_their_hours_and_fall_back_to_coarser_levels', () => {
  const through = monday + 8 * 7 * dayMs;
  // Hour 02 of every day: a batch whose minutes spread by 30; other hours by 2; Mondays 09:00 by 10.
  const pts = hourly(through, 56, (t) => 20 + wobble(t)).map(
    ([t, v]) => [t, v, hourOfDay(t) === 2 ? 30 : hourOfWeek(t) === 9 ? 10 : 2] as [number, number, number],
  );
  const b = computeBaseline(pts, through);
  // Hour of the day 02: the root mean square of 30 over its hours.
  assert.ok(Math.abs(b.hourOfDay[2]!.within! - 30) < 1e-9);
  assert.ok(Math.abs(slotOfBaseline(b, through + 2 * hourMs)!.within! - 30) < 1e-9);
  // Monday 09:00 has its own 10; Tuesday 09:00 would have 2 but its hour of the day (1 Monday in 7 at
  // 10) is larger: √((4×10² + 26×2²)/30).
  assert.ok(Math.abs(b.hourOfWeek[9]!.within! - 10) < 1e-9);
  const day9 = Math.sqrt((4 * 100 + 26 * 4) / 30);
  assert.ok(Math.abs(b.hourOfDay[9]!.within! - day9) < 1e-9, String(b.hourOfDay[9]!.within));
  assert.ok(Math.abs(b.hourOfWeek[24 + 9]!.within! - day9) < 1e-9);
  // Points without a spread: the slot has none (the detector falls back to the metric's floor).
  const bare = computeBaseline(
    hourly(through, 56, (t) => 20 + wobble(t)),
    through,
  );
  assert.equal(bare.hourOfWeek[9]!.within, undefined);
  assert.equal(bare.stats30d!.within, undefined);
});

test('the_pooled_residual_mad_measures_hours_against_their_own_slot', () => {
  const through = monday + 8 * 7 * dayMs;
  // A strong daily rhythm, no noise: every hour equals its slot's median.
  const rhythm = computeBaseline(
    hourly(through, 56, (t) => 100 * hourOfDay(t)),
    through,
  );
  assert.equal(rhythm.stats30d!.residualMad, 0);
  assert.ok(rhythm.stats30d!.mad > 100, 'while the window as a whole spreads widely');
  // A wobble of ±2 around a flat level: the residuals are the wobble.
  const flat = computeBaseline(
    hourly(through, 56, (t) => 20 + wobble(t)),
    through,
  );
  assert.ok(flat.stats30d!.residualMad! >= 1 && flat.stats30d!.residualMad! <= 2);
  // Carried into every slot the detector is given.
  assert.equal(slotOfBaseline(flat, through + hourMs)!.residualMad, flat.stats30d!.residualMad);
});

test('slots_with_a_within_hour_spread_pack_as_six_numbers_and_old_five_number_slots_still_read', () => {
  const s = { count: 7, mean: 1.5, stddev: 0.5, median: 1, mad: 0.25, within: 3 };
  assert.deepEqual(packSlot(s), [7, 1.5, 0.5, 1, 0.25, 3]);
  assert.deepEqual(unpackSlot(packSlot(s)), s);
  assert.deepEqual(unpackSlot([7, 1.5, 0.5, 1, 0.25]), {
    count: 7,
    mean: 1.5,
    stddev: 0.5,
    median: 1,
    mad: 0.25,
  });
  assert.equal(unpackSlot([7, 1.5, 0.5, 1, 0.25, 3, 4]), null);
  const w = unpackWindow({
    count: 6,
    mean: 1,
    stddev: 0,
    median: 1,
    mad: 0,
    min: 1,
    max: 1,
    within: 2,
    residualMad: 0.5,
  });
  assert.equal(w?.within, 2);
  assert.equal(w?.residualMad, 0.5);
  assert.equal(
    unpackWindow({ count: 6, mean: 1, stddev: 0, median: 1, mad: 0, min: 1, max: 1, within: 'x' })?.within,
    undefined,
  );
});

// ---- the incremental refresh equals the full computation ----

/** A deterministic pseudo-random sequence (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Hourly points with a daily and weekly rhythm, noise, a nightly batch, outliers, repeated values (ties in
 * the medians), hours without a spread and hours missing altogether.
 */
function seasonalSeries(from: number, hours: number, seed: number): Array<[number, number, number]> {
  const r = rng(seed);
  const out: Array<[number, number, number]> = [];
  for (let h = 0; h < hours; h++) {
    const t = from + h * hourMs;
    if (r() < 0.03) continue; // a gap
    const hd = hourOfDay(t);
    const weekday = hourOfWeek(t) < 120;
    let v = 40 + 20 * Math.sin((hd / 24) * 2 * Math.PI) + (weekday ? 10 : 0) + (hd === 2 ? 35 : 0);
    v += (r() - 0.5) * 6;
    if (r() < 0.02) v *= 4; // an incident
    if (r() < 0.1) v = Math.round(v); // ties
    const sd = r() < 0.15 ? Number.NaN : 1 + r() * 3;
    out.push([t, v, sd]);
  }
  return out;
}

function assertSameBaseline(got: BaselineStats, want: BaselineStats, at: string): void {
  assert.deepStrictEqual(got, want, `differs from the full computation through ${at}`);
}

test('incremental_refresh_hour_by_hour_equals_the_full_computation', () => {
  const start = monday - 60 * dayMs;
  const points = seasonalSeries(start, 70 * 24, 7);
  const state = new BaselineState();
  // From a young series (a few days: hour-of-day slots, the window's spread as fallback) to a full profile.
  for (let through = start + 3 * dayMs; through <= start + 70 * dayMs; through += hourMs) {
    const upTo = points.filter((p) => p[0] < through);
    assertSameBaseline(
      state.update(upTo, through),
      computeBaseline(upTo, through),
      new Date(through).toISOString(),
    );
  }
});

test('incremental_refresh_follows_revised_hours_gaps_and_jumps', () => {
  const start = monday - 60 * dayMs;
  const points = seasonalSeries(start, 66 * 24, 11);
  const state = new BaselineState();
  let through = start + 58 * dayMs;
  state.update(points, through);
  // Late data revises an hour's value and another's spread; an hour goes missing.
  const revised = points.map((p) => [...p] as [number, number, number]);
  const k = revised.findIndex((p) => p[0] >= through - 3 * hourMs);
  revised[k]![1] += 17;
  revised[k - 30]![2] = 9;
  revised.splice(k - 100, 1);
  assertSameBaseline(state.update(revised, through), computeBaseline(revised, through), 'revised');
  // The job missed a few hours, then a day.
  through += 5 * hourMs;
  assertSameBaseline(state.update(revised, through), computeBaseline(revised, through), '+5 h');
  through += dayMs + 3 * hourMs;
  assertSameBaseline(state.update(revised, through), computeBaseline(revised, through), '+27 h');
  // Backwards (a re-run for an earlier hour), then past all the data.
  through -= 2 * dayMs;
  assertSameBaseline(state.update(revised, through), computeBaseline(revised, through), '-2 d');
  through += 70 * dayMs;
  assertSameBaseline(state.update(revised, through), computeBaseline(revised, through), '+70 d');
});

test('incremental_refresh_falls_back_to_the_full_computation_off_the_hour', () => {
  const start = monday - 40 * dayMs;
  const points: Array<[number, number]> = seasonalSeries(start, 40 * 24, 3).map(([t, v]) => [t, v]);
  const state = new BaselineState();
  const through = start + 40 * dayMs;
  state.update(points, through);
  const odd = [...points, [through - 90 * 60_000, 55] as [number, number]];
  assertSameBaseline(state.update(odd, through), computeBaseline(odd, through), 'off the hour');
  const twice = [...points, points[points.length - 1]!];
  assertSameBaseline(state.update(twice, through), computeBaseline(twice, through), 'an hour twice');
  assertSameBaseline(state.update(points, through), computeBaseline(points, through), 'after a fallback');
});

test('incremental_refresh_starts_over_when_its_bookkeeping_is_broken', () => {
  const start = monday - 40 * dayMs;
  const points = seasonalSeries(start, 40 * 24, 5);
  const state = new BaselineState();
  const through = start + 38 * dayMs;
  state.update(points, through);
  // Lose the 30-day window's values: the next hour cannot remove the one that leaves it.
  (state as unknown as { w30: { n: number } }).w30.n = 0;
  const next = through + hourMs;
  assertSameBaseline(state.update(points, next), computeBaseline(points, next), 'after a broken window');
  assertSameBaseline(state.update(points, next + hourMs), computeBaseline(points, next + hourMs), 'and on');
});

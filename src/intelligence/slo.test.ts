import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  burnAlert,
  burnSeries,
  classifyMinutes,
  countByHour,
  evaluateSlo,
  type FlaggedMinute,
  hourMs,
  type MinuteRow,
  minuteMs,
  type SloDefinition,
} from './slo.js';

const now = Date.parse('2026-03-01T18:00:00Z');

const def: SloDefinition = {
  id: 1,
  serverId: 7,
  targetId: 3,
  name: 'latency',
  description: '',
  family: 'pg_statements',
  metric: 'exec_time_ms',
  per: ['calls'],
  scale: 1,
  minPer: 10,
  labels: [],
  agg: 'avg',
  missing: 'skip',
  comparison: '<=',
  threshold: 200,
  objective: 99.9,
  windowDays: 30,
  source: 'api',
  createdBy: 'admin',
  createdAt: '2026-01-01T00:00:00.000Z',
};

/** Flags for the minutes in [now − minutes, now), bad where `bad(i)` (i = minutes before now, 1-based). */
function minutes(count: number, bad: (ago: number) => boolean): FlaggedMinute[] {
  const out: FlaggedMinute[] = [];
  for (let ago = count; ago >= 1; ago--)
    out.push({ t: now - ago * minuteMs, flag: bad(ago) ? 'bad' : 'good' });
  return out;
}

const minutesFrom = now - 6 * hourMs;

test('a_fast_burn_over_the_last_hour_is_critical_on_the_1h_and_5m_windows', () => {
  // Every minute of the last hour bad at 99.9 %: burn 1000× on 1 h and 5 min.
  const s = evaluateSlo(
    { definition: def, hours: [], minutes: minutes(360, (ago) => ago <= 60), minutesFrom },
    now,
  );
  assert.equal(s.burn['5m'].rate, 1000);
  assert.equal(s.burn['1h'].rate, 1000);
  assert.equal(s.burn['6h'].bad, 60);
  assert.equal(s.burn['6h'].counted, 360);
  assert.deepEqual(burnAlert(s), { severity: 'critical', windows: ['1h', '5m'], factor: 14.4 });
});

test('a_slow_burn_is_a_warning_on_the_6h_and_30m_windows_but_not_critical', () => {
  // 5 bad minutes in 6 h at 99.9 %: 13.9× over 6 h; one of them 20 minutes ago: 33× over 30 min and 1 h,
  // but the last 5 minutes are clean, so the fast pair does not hold.
  const bad = new Set([20, 50, 150, 250, 350]);
  const s = evaluateSlo(
    { definition: def, hours: [], minutes: minutes(360, (ago) => bad.has(ago)), minutesFrom },
    now,
  );
  assert.equal(s.burn['6h'].rate, 13.8889);
  assert.equal(s.burn['30m'].rate, 33.3333);
  assert.equal(s.burn['1h'].rate, 33.3333);
  assert.equal(s.burn['5m'].rate, 0);
  assert.deepEqual(burnAlert(s), { severity: 'warning', windows: ['6h', '30m'], factor: 6 });
  // Factors are thresholds: above 33× nothing fires.
  assert.equal(burnAlert(s, { fast: 50, slow: 50 }), null);
});

test('the_alert_ends_when_the_short_window_recovers_though_the_long_one_still_burns', () => {
  // Bad from 60 to 8 minutes ago, good since: the 1 h rate stays high, the 5 min one is 0.
  const s = evaluateSlo(
    { definition: def, hours: [], minutes: minutes(360, (ago) => ago > 8 && ago <= 60), minutesFrom },
    now,
  );
  assert.ok(s.burn['1h'].rate! > 14.4);
  assert.equal(s.burn['5m'].rate, 0);
  assert.equal(burnAlert(s)?.severity === 'critical', false);
});

test('no_data_gives_no_rates_no_budget_and_no_alert', () => {
  const s = evaluateSlo({ definition: def, hours: [], minutes: [], minutesFrom }, now);
  assert.equal(s.sli, null);
  assert.equal(s.counted, 0);
  for (const w of ['5m', '30m', '1h', '6h'] as const) assert.equal(s.burn[w].rate, null);
  assert.equal(s.budget.remainingFraction, null);
  assert.equal(s.budget.exhausted, false);
  assert.equal(burnAlert(s), null);
});

test('gaps_count_neither_good_nor_bad', () => {
  // Only 10 minutes of data in the last 6 h, 1 bad: the SLI is over those 10.
  const rows: MinuteRow[] = [];
  for (let i = 0; i < 10; i++)
    rows.push({ t: now - (100 + i * 7) * minuteMs, samples: 6, value: i === 0 ? 500 : 50, per: 100 });
  const flags = classifyMinutes(rows, def, []);
  assert.equal(flags.length, 10);
  const s = evaluateSlo({ definition: def, hours: [], minutes: flags, minutesFrom }, now);
  assert.equal(s.counted, 10);
  assert.equal(s.sli, 90);
});

test('minutes_after_an_agent_restart_are_excluded_for_ten_minutes', () => {
  const start = now - 30 * minuteMs + 20_000; // 29 min 40 s ago
  const rows: MinuteRow[] = [];
  for (let ago = 40; ago >= 1; ago--) rows.push({ t: now - ago * minuteMs, samples: 6, value: 900, per: 50 });
  const flags = classifyMinutes(rows, def, [start]);
  const excluded = flags.filter((f) => f.flag === 'excluded').map((f) => (now - f.t) / minuteMs);
  // The minute the agent started in (30 min ago) and the nine after it overlap the 10 minutes.
  assert.deepEqual(excluded, [30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20]);
  const s = evaluateSlo({ definition: def, hours: [], minutes: flags, minutesFrom }, now);
  assert.equal(s.excluded, 11);
  assert.equal(s.bad, 29);
});

test('missing_values_are_bad_only_when_the_slo_says_so_and_small_denominators_are_not_counted', () => {
  const rows: MinuteRow[] = [
    { t: now - 3 * minuteMs, samples: 6, value: null, per: null },
    { t: now - 2 * minuteMs, samples: 6, value: 100, per: 5 },
    { t: now - 1 * minuteMs, samples: 6, value: 100, per: 50 },
  ];
  assert.deepEqual(
    classifyMinutes(rows, def, []).map((f) => f.flag),
    ['good'],
  );
  const availability = {
    ...def,
    per: [],
    minPer: null,
    missing: 'bad' as const,
    comparison: '>=' as const,
    threshold: 1,
  };
  assert.deepEqual(
    classifyMinutes(rows, availability, []).map((f) => f.flag),
    ['bad', 'good', 'good'],
  );
});

test('an_exhausted_budget_is_reported_with_a_negative_remainder', () => {
  // 30 days of hours: 720 × 60 minutes counted, 0.1 % allowed = 43.2 minutes; 100 bad minutes spent.
  const hours = [];
  for (let h = 1; h <= 720; h++) {
    hours.push({
      hour: minutesFrom - h * hourMs,
      good: h <= 100 ? 59 : 60,
      bad: h <= 100 ? 1 : 0,
      excluded: 0,
    });
  }
  const s = evaluateSlo({ definition: def, hours, minutes: minutes(360, () => false), minutesFrom }, now);
  assert.equal(s.bad, 100);
  assert.ok(s.budget.exhausted);
  assert.ok(s.budget.remainingFraction! < 0);
  assert.ok(s.budget.remainingMinutes! < 0);
  // Hours older than the window are left out: the window starts on the hour 30 days back.
  assert.equal(s.windowFrom, new Date(now - 30 * 86_400_000).toISOString());
  assert.ok(s.counted < 720 * 60 + 360);
});

test('a_healthy_slo_keeps_its_whole_budget', () => {
  const s = evaluateSlo(
    {
      definition: def,
      hours: [{ hour: minutesFrom - hourMs, good: 60, bad: 0, excluded: 0 }],
      minutes: minutes(360, () => false),
      minutesFrom,
    },
    now,
  );
  assert.equal(s.sli, 100);
  assert.equal(s.budget.remainingFraction, 1);
  assert.equal(s.burn['1h'].rate, 0);
  assert.equal(burnAlert(s), null);
});

test('hours_at_or_after_minutesFrom_are_not_counted_twice', () => {
  const s = evaluateSlo(
    {
      definition: def,
      hours: [{ hour: minutesFrom, good: 0, bad: 60, excluded: 0 }],
      minutes: minutes(360, () => false),
      minutesFrom,
    },
    now,
  );
  assert.equal(s.bad, 0);
  assert.equal(s.counted, 360);
});

test('count_by_hour_and_the_burn_series_agree_with_the_evaluation', () => {
  const flags = minutes(180, (ago) => ago <= 30);
  const hours = countByHour(flags);
  assert.deepEqual(
    hours.map((h) => [h.good, h.bad]),
    [
      [60, 0],
      [60, 0],
      [30, 30],
    ],
  );
  const points = burnSeries(hours, { objective: 99, windowDays: 1 }, now - 3 * hourMs, now);
  assert.equal(points.length, 3);
  assert.equal(points[0]!.burn1h, 0);
  assert.equal(points[2]!.burn1h, 50);
  // 30 bad of 180 counted at 1 %: 1.8 minutes allowed, spent 16.7 times over.
  assert.equal(points[2]!.budgetRemaining, Math.round((1 - 30 / 1.8) * 10_000) / 10_000);
  assert.equal(burnSeries([], { objective: 99, windowDays: 1 }, now - hourMs, now)[0]!.budgetRemaining, null);
});

test('burn_windows_take_whole_counted_hours_from_their_counts_and_the_hours_they_start_in_from_minutes', () => {
  // now at 18:20. Minutes from 17:00 (the 1 h window starts at 17:20) and the edge hour 12:00 (the 6 h
  // window starts at 12:20); 13:00–16:59 from hour counts, one bad minute in each.
  const at = now + 20 * minuteMs;
  const flags: FlaggedMinute[] = [];
  for (let t = now - hourMs; t < at; t += minuteMs) flags.push({ t, flag: 'good' });
  // The edge hour: bad minutes at 12:10 (before the window) and 12:30 (inside).
  for (let t = now - 6 * hourMs; t < now - 5 * hourMs; t += minuteMs) {
    const m = (t - (now - 6 * hourMs)) / minuteMs;
    flags.push({ t, flag: m === 10 || m === 30 ? 'bad' : 'good' });
  }
  const hours = [13, 14, 15, 16].map((h) => ({
    hour: now - (18 - h) * hourMs,
    good: 59,
    bad: 1,
    excluded: 0,
  }));
  // A stored count for the edge hour must not count twice.
  hours.push({ hour: now - 6 * hourMs, good: 0, bad: 60, excluded: 0 });
  const s = evaluateSlo(
    { definition: def, hours, minutes: flags, minutesFrom: now - hourMs, edgeHour: now - 6 * hourMs },
    at,
  );
  // 6 h window from 12:20: 40 edge minutes (1 bad) + 4 counted hours (4 bad) + 80 minutes.
  assert.equal(s.burn['6h'].counted, 40 + 240 + 80);
  assert.equal(s.burn['6h'].bad, 5);
  assert.equal(s.burn['1h'].counted, 60);
  assert.equal(s.burn['1h'].bad, 0);
  // The budget counts the whole edge hour (2 bad) and the hours: 6 bad.
  assert.equal(s.bad, 6);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgvigilError } from '../errors.js';
import { defaultRetention } from './partitions.js';
import {
  derivedMetrics,
  derivedSeries,
  lookbackFrom,
  planSeries,
  type SeriesOut,
  type SeriesRequest,
  seriesSql,
  tailsFrom,
} from './series.js';

const now = new Date('2026-11-22T15:20:00Z');
const h = 3_600_000;
const d = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

function plan(over: Partial<SeriesRequest>) {
  return planSeries({ family: 'host_cpu', server: 1, ...over }, now, defaultRetention);
}

function refused(over: Partial<SeriesRequest>, pattern: RegExp) {
  assert.throws(
    () => plan(over),
    (err: unknown) => err instanceof PgvigilError && err.code === 'BAD_ARGUMENT' && pattern.test(err.message),
  );
}

test('the_tier_follows_the_range_raw_to_4_hours_minute_to_36_hours_hourly_to_14_days_daily_beyond', () => {
  const to = iso(now.getTime());
  assert.equal(plan({ from: iso(now.getTime() - 4 * h), to }).tier, 'raw');
  assert.equal(plan({ from: iso(now.getTime() - 4 * h - 60_000), to }).tier, 'minute');
  assert.equal(plan({ from: iso(now.getTime() - 24 * h), to }).tier, 'minute');
  assert.equal(plan({ from: iso(now.getTime() - 36 * h), to }).tier, 'minute');
  assert.equal(plan({ from: iso(now.getTime() - 37 * h), to }).tier, 'hourly');
  assert.equal(plan({ from: iso(now.getTime() - 14 * d), to }).tier, 'hourly');
  assert.equal(plan({ from: iso(now.getTime() - 30 * d), to }).tier, 'daily');
});

test('auto_never_picks_a_tier_whose_retention_no_longer_reaches_from', () => {
  // one hour, but ten days ago: raw is kept 7 days
  const from = now.getTime() - 10 * d;
  assert.equal(plan({ from: iso(from), to: iso(from + h) }).tier, 'hourly');
  // two days, 100 days ago: hourly is kept 90 days
  const old = now.getTime() - 100 * d;
  assert.equal(plan({ from: iso(old), to: iso(old + 2 * d) }).tier, 'daily');
  // an explicit tier is taken as asked
  assert.equal(plan({ from: iso(from), to: iso(from + h), tier: 'raw' }).tier, 'raw');
  // a day, ten days ago: the minute tier is kept as long as raw rows
  assert.equal(plan({ from: iso(from), to: iso(from + d) }).tier, 'hourly');
  const minute = plan({ from: iso(now.getTime() - 2 * h), tier: 'minute', step: '10s' });
  assert.deepEqual([minute.tier, minute.stepSeconds], ['minute', 60], 'never finer than a minute');
});

test('the_step_keeps_every_series_within_about_1500_points_and_is_round', () => {
  const day = plan({ from: iso(now.getTime() - 24 * h), to: iso(now.getTime()) });
  assert.equal(day.stepSeconds, 60);
  assert.ok((day.to.getTime() - day.from.getTime()) / 60_000 <= 1501);
  assert.equal(plan({ from: iso(now.getTime() - h), step: '10s' }).stepSeconds, 10);
  assert.equal(plan({ from: iso(now.getTime() - h), step: '45' }).stepSeconds, 60, 'rounded up');
  assert.equal(plan({ from: iso(now.getTime() - h), step: '7m' }).stepSeconds, 600);
  const week = plan({ from: iso(now.getTime() - 7 * d) });
  assert.deepEqual([week.tier, week.stepSeconds], ['hourly', 3600], 'never finer than the tier');
  const twoYears = plan({ from: iso(now.getTime() - 730 * d) });
  assert.deepEqual([twoYears.tier, twoYears.stepSeconds], ['daily', 86_400]);
  assert.equal(plan({ from: iso(now.getTime() - 30 * d), step: '2d' }).stepSeconds, 172_800);
});

test('from_and_to_are_widened_to_whole_steps', () => {
  const p = plan({ from: '2026-11-22T10:00:30Z', to: '2026-11-22T11:00:10Z', step: '60s' });
  assert.equal(p.from.toISOString(), '2026-11-22T10:00:00.000Z');
  assert.equal(p.to.toISOString(), '2026-11-22T11:01:00.000Z');
});

test('bad_requests_name_what_is_wrong', () => {
  refused({ family: 'no_such' }, /unknown family "no_such"/);
  refused({ metrics: 'user_pct,bogus' }, /unknown metric "bogus" for host_cpu; known: user_pct/);
  refused({ metrics: 'cpu' }, /unknown metric "cpu"/);
  refused({ label: ['device:sda'] }, /unknown label "device" for host_cpu; labels: cpu/);
  refused({ label: ['cpu'] }, /expected name:value/);
  refused({ from: '2026-11-22T12:00:00Z', to: '2026-11-22T12:00:00Z' }, /must be before to/);
  refused({ from: '2023-01-01T00:00:00Z' }, /longer than 731 days/);
  refused({ from: 'yesterday' }, /from: expected an ISO 8601 time/);
  refused({ step: 'fast' }, /step: expected a duration/);
  refused({ family: 'pg_database', metrics: 'numbackends', agg: 'p95' }, /p95 exists for float gauges/);
  refused({ family: 'pg_tables' }, /name up to 20/);
  refused({ family: 'pg_replication', label: ['pid:abc'] }, /label pid: expected an integer/);
  refused({ family: 'host_cpu', target: 3 }, /host family/);
  refused({ family: 'pg_settings' }, /no numeric columns/);
});

test('tails_start_at_the_oldest_pending_bucket_or_the_current_one', () => {
  // Nothing pending: no raw rows after the rolled hours, the minute tier is complete up to now.
  assert.deepEqual(tailsFrom(now, {}), {
    hourly: Date.parse('2026-11-22T15:00:00Z'),
    daily: Date.parse('2026-11-22T00:00:00Z'),
    minute: now.getTime(),
  });
  assert.deepEqual(tailsFrom(now, { hourly: Date.parse('2026-11-20T03:00:00Z') }), {
    hourly: Date.parse('2026-11-20T03:00:00Z'),
    daily: Date.parse('2026-11-20T00:00:00Z'),
    minute: Date.parse('2026-11-20T03:00:00Z'),
  });
  assert.deepEqual(
    tailsFrom(now, { daily: Date.parse('2026-11-21T00:00:00Z') }).daily,
    Date.parse('2026-11-21T00:00:00Z'),
  );
});

test('the_minute_tail_follows_the_mark_only_when_its_span_covers_the_first_pending_hour', () => {
  const hour = Date.parse('2026-11-22T15:00:00Z');
  const mark = { since: Date.parse('2026-11-22T14:00:00Z'), rolledTo: Date.parse('2026-11-22T15:20:00Z') };
  // The running hour is pending; the mark's span starts before it: minute rows up to the mark.
  assert.equal(tailsFrom(now, { hourly: hour }, mark).minute, mark.rolledTo);
  // A late row made an older hour pending: its minute rows are stale until it rolls again.
  const older = Date.parse('2026-11-22T12:00:00Z');
  assert.equal(tailsFrom(now, { hourly: older }, mark).minute, older);
  // A mark that does not reach past the first pending hour says nothing.
  assert.equal(tailsFrom(now, { hourly: hour }, { since: hour, rolledTo: hour }).minute, hour);
  // Never beyond now.
  const ahead = { since: hour, rolledTo: now.getTime() + 600_000 };
  assert.equal(tailsFrom(now, { hourly: hour }, ahead).minute, now.getTime());
});

test('counters_look_back_two_minutes_when_the_minute_tier_reaches_the_range_else_to_where_it_ends', () => {
  const start = Date.parse('2026-11-22T15:00:00Z');
  assert.equal(lookbackFrom(start, start), start - 120_000);
  assert.equal(lookbackFrom(start, start - 30 * 60_000), start - 30 * 60_000);
  assert.equal(lookbackFrom(start, start - 5 * 3_600_000), start - 3_600_000);
});

test('request_values_are_bind_parameters_never_sql_text', () => {
  const p = planSeries(
    { family: 'host_disk', server: 7, label: ["device:sda'; DROP TABLE x; --"], metrics: 'util_pct' },
    now,
    defaultRetention,
  );
  const sql = seriesSql(p, tailsFrom(now, {}), 1000);
  assert.ok(!sql.text.includes('DROP TABLE'));
  assert.ok(sql.values.some((v) => Array.isArray(v) && v[0] === "sda'; DROP TABLE x; --"));
});

test('a_derived_metric_reads_its_counters_and_returns_only_what_was_asked', () => {
  const p = plan({ family: 'pg_database', metrics: 'cache_hit_interval_pct,blks_read' });
  assert.deepEqual(
    p.metrics.map((m) => m.name),
    ['blks_read', 'blks_hit'],
  );
  assert.deepEqual(p.hidden, ['blks_hit']);
  assert.deepEqual(
    p.derived?.map((x) => x.name),
    ['cache_hit_interval_pct'],
  );
  refused(
    { family: 'host_cpu', metrics: 'cache_hit_interval_pct' },
    /unknown metric "cache_hit_interval_pct"/,
  );
});

test('derived_ratio_per_step_needs_an_increase_and_adds_series_across_a_label', () => {
  const [perDb, instance] = derivedMetrics.pg_database!;
  const metrics = plan({ family: 'pg_database', metrics: 'blks_hit,blks_read' }).metrics;
  const out = (metric: string, datname: string, points: Array<[number, number]>): SeriesOut => ({
    metric,
    kind: 'counter',
    agg: 'increase',
    labels: { target: '1', datname },
    points,
  });
  const groups = [
    // a: step 0 has only a hit increase (its read is missing: not counted), step 1 90 %, step 2 no access
    [
      out('blks_hit', 'a', [
        [0, 5],
        [1000, 90],
        [2000, 0],
      ]),
      out('blks_read', 'a', [
        [1000, 10],
        [2000, 0],
      ]),
    ],
    // b: step 1 all reads
    [out('blks_hit', 'b', [[1000, 0]]), out('blks_read', 'b', [[1000, 100]])],
  ];
  const byDb = derivedSeries(perDb!, metrics, groups);
  assert.deepEqual(
    byDb.map((s) => [s.labels.datname, s.points]),
    [
      ['a', [[1000, 90]]],
      ['b', [[1000, 0]]],
    ],
  );
  const all = derivedSeries(instance!, metrics, groups);
  assert.equal(all.length, 1);
  assert.deepEqual(all[0]!.labels, { target: '1' });
  assert.deepEqual(all[0]!.points, [[1000, 45]]);
  assert.equal(all[0]!.agg, 'ratio');
});

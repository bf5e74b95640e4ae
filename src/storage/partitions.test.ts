import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultRetention, parsePartitionName, partitionName, planPartitions, tierOf } from './partitions.js';

const now = new Date('2026-11-22T15:00:00Z');

test('tier_follows_the_table_name', () => {
  assert.equal(tierOf('host_cpu'), 'raw');
  assert.equal(tierOf('host_cpu_hourly'), 'hourly');
  assert.equal(tierOf('host_cpu_daily'), 'daily');
  assert.equal(tierOf('host_cpu_minute'), 'minute');
});

test('minute_rollup_tables_get_a_partition_per_day_kept_as_long_as_raw', () => {
  const raw = planPartitions('host_cpu', [], now, defaultRetention, 3).create;
  const minute = planPartitions('host_cpu_minute', ['host_cpu_minute_p20261114'], now, defaultRetention, 3);
  assert.deepEqual(
    minute.create.map((p) => [p.name, p.from.getTime(), p.to.getTime()]),
    raw.map((p) => [p.name.replace('host_cpu_', 'host_cpu_minute_'), p.from.getTime(), p.to.getTime()]),
  );
  assert.deepEqual(minute.drop, ['host_cpu_minute_p20261114']);
});

test('raw_tables_get_a_partition_per_day_for_the_retention_window_and_three_days_ahead', () => {
  const plan = planPartitions('host_cpu', [], now, defaultRetention, 3);
  const names = plan.create.map((p) => p.name);
  assert.equal(names[0], 'host_cpu_p20261115');
  assert.equal(names.at(-1), 'host_cpu_p20261125');
  assert.equal(names.length, 11);
  assert.equal(plan.create[0]!.from.toISOString(), '2026-11-15T00:00:00.000Z');
  assert.equal(plan.create[0]!.to.toISOString(), '2026-11-16T00:00:00.000Z');
  assert.deepEqual(plan.drop, []);
});

test('existing_partitions_are_not_created_again_and_expired_ones_are_dropped', () => {
  const existing = ['host_cpu_p20261113', 'host_cpu_p20261114', 'host_cpu_p20261115', 'host_cpu_p20261122'];
  const plan = planPartitions('host_cpu', existing, now, defaultRetention, 1);
  // horizon = 2026-11-15T15:00Z: the 13th and 14th end before it, the 15th still holds rows within retention
  assert.deepEqual(plan.drop, ['host_cpu_p20261113', 'host_cpu_p20261114']);
  assert.ok(!plan.create.some((p) => p.name === 'host_cpu_p20261122'));
});

test('rollup_tiers_use_monthly_and_yearly_partitions', () => {
  const hourly = planPartitions('host_cpu_hourly', [], now, defaultRetention, 3).create.map((p) => p.name);
  assert.deepEqual(hourly, [
    'host_cpu_hourly_p202608',
    'host_cpu_hourly_p202609',
    'host_cpu_hourly_p202610',
    'host_cpu_hourly_p202611',
  ]);
  const daily = planPartitions('host_cpu_daily', [], now, defaultRetention, 3).create.map((p) => p.name);
  assert.deepEqual(daily, ['host_cpu_daily_p2024', 'host_cpu_daily_p2025', 'host_cpu_daily_p2026']);
});

test('a_partition_crossing_the_year_end_is_planned_ahead', () => {
  const plan = planPartitions('host_cpu_hourly', [], new Date('2026-12-30T00:00:00Z'), defaultRetention, 3);
  assert.equal(plan.create.at(-1)!.name, 'host_cpu_hourly_p202701');
});

test('names_not_of_our_making_are_left_alone', () => {
  assert.equal(parsePartitionName('host_cpu', 'host_cpu_manual'), undefined);
  const plan = planPartitions('host_cpu', ['host_cpu_manual'], now, defaultRetention, 0);
  assert.deepEqual(plan.drop, []);
  assert.equal(partitionName('host_cpu', 'raw', new Date('2026-01-05T00:00:00Z')), 'host_cpu_p20260105');
});

test('a_quick_pass_creates_only_yesterday_to_tomorrow', () => {
  const names = planPartitions('host_cpu', [], now, defaultRetention, 1, 1).create.map((p) => p.name);
  assert.deepEqual(names, ['host_cpu_p20261121', 'host_cpu_p20261122', 'host_cpu_p20261123']);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SeriesOut } from '../storage/series.js';
import { pointsFromSeries } from './metric-points.js';
import { type MetricDef, metricById, metrics } from './metrics.js';

const m = (id: string): MetricDef => metricById(id)!;
const t0 = Date.parse('2026-03-02T10:00:00Z');
const gauge = (
  metric: string,
  labels: Record<string, string>,
  points: Array<[number, number]>,
): SeriesOut => ({
  metric,
  kind: 'gauge',
  agg: 'avg',
  labels,
  points,
});
const counter = (
  metric: string,
  labels: Record<string, string>,
  points: Array<[number, number]>,
): SeriesOut => ({
  ...gauge(metric, labels, points),
  kind: 'counter',
  agg: 'increase',
});
const value = (out: ReturnType<typeof pointsFromSeries>, metric: string, object = '') =>
  out.find((s) => s.metric === metric && s.object === object)?.points;

test('the_catalogue_ids_are_unique_and_name_their_family_columns', () => {
  assert.equal(new Set(metrics.map((x) => x.id)).size, metrics.length);
  assert.equal(metrics.length, 26);
  for (const x of metrics) {
    assert.match(x.id, /^(host|pg|app)\.[a-z_0-9]+$/);
    assert.ok(x.columns.length > 0 && x.columns.length <= 20);
  }
  assert.equal(metricById('constructor'), undefined);
});

test('cpu_busy_is_100_minus_idle_and_iowait_and_memory_a_share_of_total', () => {
  const out = pointsFromSeries(
    {
      stepSeconds: 60,
      series: [
        gauge('idle_pct', { cpu: 'total' }, [[t0, 60]]),
        gauge('iowait_pct', { cpu: 'total' }, [[t0, 5]]),
      ],
    },
    [m('host.cpu_busy_pct'), m('host.iowait_pct')],
    () => ({}),
  );
  assert.deepEqual(value(out, 'host.cpu_busy_pct'), [[t0, 35]]);
  assert.deepEqual(value(out, 'host.iowait_pct'), [[t0, 5]]);
  const mem = pointsFromSeries(
    {
      stepSeconds: 60,
      series: [gauge('total_bytes', {}, [[t0, 1000]]), gauge('available_bytes', {}, [[t0, 250]])],
    },
    [m('host.memory_used_pct')],
    () => ({}),
  );
  assert.deepEqual(value(mem, 'host.memory_used_pct'), [[t0, 75]]);
});

test('disk_await_is_weighted_by_reads_and_writes_and_absent_without_io', () => {
  const dev = (device: string) => ({ device });
  const out = pointsFromSeries(
    {
      stepSeconds: 3600,
      series: [
        gauge('reads_per_s', dev('sda'), [[t0, 10]]),
        gauge('writes_per_s', dev('sda'), [[t0, 30]]),
        gauge('read_await_ms', dev('sda'), [[t0, 2]]),
        gauge('write_await_ms', dev('sda'), [[t0, 6]]),
        gauge('reads_per_s', dev('sdb'), [[t0, 0]]),
        gauge('writes_per_s', dev('sdb'), [[t0, 0]]),
        gauge('read_await_ms', dev('sdb'), [[t0, 0]]),
        gauge('write_await_ms', dev('sdb'), [[t0, 0]]),
      ],
    },
    [m('host.disk_await_ms')],
    () => ({}),
  );
  assert.deepEqual(value(out, 'host.disk_await_ms', 'sda'), [[t0, 5]]);
  assert.equal(value(out, 'host.disk_await_ms', 'sdb'), undefined, 'no I/O: no await, not 0 ms');
});

test('postgres_rates_sum_counter_increases_over_databases_per_target_and_step', () => {
  const db = (datname: string) => ({ target: '4', datname });
  const out = pointsFromSeries(
    {
      stepSeconds: 60,
      series: [
        counter('xact_commit', db('a'), [
          [t0, 600],
          [t0 + 60_000, 1200],
        ]),
        counter('xact_commit', db('b'), [[t0, 60]]),
        counter('xact_rollback', db('a'), [[t0, 0]]),
        counter('blks_hit', db('a'), [[t0, 990]]),
        counter('blks_read', db('a'), [[t0, 10]]),
        gauge('numbackends', db('a'), [[t0, 7]]),
        gauge('numbackends', db('b'), [[t0, 3]]),
      ],
    },
    [m('pg.tps'), m('pg.cache_hit_pct'), m('pg.connections'), m('pg.deadlocks_per_s')],
    () => ({}),
  );
  const tps = out.find((s) => s.metric === 'pg.tps')!;
  assert.equal(tps.targetId, 4);
  assert.deepEqual(tps.points, [
    [t0, 11],
    [t0 + 60_000, 20],
  ]);
  assert.deepEqual(value(out, 'pg.cache_hit_pct'), [[t0, 99]]);
  assert.deepEqual(value(out, 'pg.connections'), [[t0, 10]]);
  assert.equal(value(out, 'pg.deadlocks_per_s'), undefined, 'no deadlock counter: no value, not 0');
});

test('bounded_metrics_keep_only_the_objects_they_follow', () => {
  const tbl = (relname: string) => ({ target: '4', datname: 'shop', schemaname: 'public', relname });
  const out = pointsFromSeries(
    {
      stepSeconds: 3600,
      series: [
        counter('seq_scan', tbl('orders'), [[t0, 7200]]),
        counter('seq_scan', tbl('tiny'), [[t0, 36]]),
        gauge('dead_pct', tbl('orders'), [[t0, 4]]),
      ],
    },
    [m('pg.seq_scans_per_s'), m('pg.table_dead_ratio')],
    () => ({ objects: new Set(['shop/public.orders']) }),
  );
  assert.deepEqual(value(out, 'pg.seq_scans_per_s', 'shop/public.orders'), [[t0, 2]]);
  assert.equal(value(out, 'pg.seq_scans_per_s', 'shop/public.tiny'), undefined);
  assert.deepEqual(value(out, 'pg.table_dead_ratio', 'shop/public.orders'), [[t0, 4]]);
});

test('statements_are_kept_per_queryid_over_databases_and_roles', () => {
  const q = (dbid: string) => ({ target: '4', queryid: '42', dbid, userid: '10' });
  const out = pointsFromSeries(
    {
      stepSeconds: 60,
      series: [
        gauge('exec_time_ms', q('1'), [[t0, 300]]),
        gauge('calls', q('1'), [[t0, 10]]),
        gauge('interval_s', q('1'), [[t0, 10]]),
        gauge('exec_time_ms', q('2'), [[t0, 100]]),
        gauge('calls', q('2'), [[t0, 10]]),
        gauge('interval_s', q('2'), [[t0, 10]]),
      ],
    },
    [m('pg.statement_mean_ms'), m('pg.statement_total_ms_per_s')],
    () => ({ objects: new Set(['query:42']) }),
  );
  assert.deepEqual(value(out, 'pg.statement_mean_ms', 'query:42'), [[t0, 20]]);
  assert.deepEqual(value(out, 'pg.statement_total_ms_per_s', 'query:42'), [[t0, 40]]);
});

test('load_per_core_needs_the_core_count', () => {
  const series = [gauge('load1', {}, [[t0, 6]])];
  assert.deepEqual(
    value(
      pointsFromSeries({ stepSeconds: 60, series }, [m('host.load_per_core')], () => ({ cores: 4 })),
      'host.load_per_core',
    ),
    [[t0, 1.5]],
  );
  assert.equal(
    pointsFromSeries({ stepSeconds: 60, series }, [m('host.load_per_core')], () => ({})).length,
    0,
  );
});

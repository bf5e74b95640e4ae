import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BookEntry, profileEntry } from '../baseline-book.js';
import { hourOfDay, hourOfWeek } from '../baselines.js';
import { metricById, metrics } from '../metrics.js';
import { type AnomalyLoad, anomalyChecks, evaluateAnomalies } from './anomalies.js';

const now = Date.parse('2026-03-03T10:20:30Z');
const minute = 60_000;
const thresholds = () => ({ warn_z: 2, crit_z: 3, minutes: 5 });

/** A baseline known by hand, as a replay would build one: only the hour-of-day slot of 10:00 is known. */
function entry(
  metric: string,
  median: number,
  mad: number,
  targetId: number | null = 3,
  object = '',
): BookEntry {
  return profileEntry({
    serverId: 7,
    targetId,
    metric,
    object,
    through: now - 20 * minute,
    window: null,
    week: new Map([[hourOfWeek(now), null]]),
    day: new Map([[hourOfDay(now), { count: 20, mean: median, stddev: mad * 1.5, median, mad }]]),
  });
}

function load(metric: string, values: number[], e: BookEntry): AnomalyLoad {
  const last = Math.floor(now / minute) * minute - 2 * minute;
  return {
    series: [
      {
        serverId: 7,
        points: {
          metric,
          targetId: e.targetId,
          object: e.object,
          points: values.map((v, i) => [last - (values.length - 1 - i) * minute, v]),
        },
        baseline: e,
      },
    ],
  };
}

test('one_check_per_metric_named_anomaly_dot_metric_id', () => {
  assert.equal(anomalyChecks.length, metrics.length);
  assert.ok(
    anomalyChecks.every((c) => c.id.startsWith('anomaly.') && c.kind === 'anomaly' && c.group === 'anomaly'),
  );
  assert.ok(anomalyChecks.some((c) => c.id === 'anomaly.pg.replication_lag_s'));
});

test('a_lasting_drop_of_transactions_is_observed_on_its_target_with_the_metric_action', () => {
  const m = metricById('pg.tps')!;
  const r = evaluateAnomalies(
    m,
    load('pg.tps', [400, 20, 18, 22, 19, 21], entry('pg.tps', 400, 20)),
    thresholds,
    now,
  );
  assert.deepEqual(r.scopes, [{ serverId: 7, targetId: 3 }]);
  assert.equal(r.observations.length, 1);
  const o = r.observations[0]!;
  assert.equal(o.targetId, 3);
  assert.equal(o.object, '');
  assert.equal(o.severity, 'critical');
  assert.equal(o.value, 21);
  assert.match(
    o.title,
    /Transactions per second unusually low: 21 1\/s, normal 400 1\/s for 10:00–11:00 UTC every day/,
  );
  assert.match(o.action, /pg_stat_database/);
  assert.equal(o.evidence.level, 'hour_of_day');
});

test('a_drop_of_dead_rows_after_vacuum_is_evaluated_but_not_observed', () => {
  const m = metricById('pg.table_dead_ratio')!;
  const e = entry('pg.table_dead_ratio', 30, 2, 3, 'shop/public.orders');
  const r = evaluateAnomalies(m, load(m.id, [1, 1, 1, 1, 1, 1], e), thresholds, now);
  assert.equal(r.observations.length, 0);
  assert.deepEqual(r.scopes, [{ serverId: 7, targetId: 3 }], 'its open findings there may clear');
  const up = evaluateAnomalies(m, load(m.id, [70, 70, 70, 70, 70], e), thresholds, now);
  assert.equal(up.observations[0]?.object, 'shop/public.orders');
  assert.match(up.observations[0]!.action, /^psql -d shop -c "SELECT schemaname, relname, n_dead_tup/);
});

test('other_metrics_of_the_load_and_tuned_thresholds_are_respected', () => {
  const m = metricById('pg.tps')!;
  const other = load('pg.connections', [900, 900, 900, 900, 900], entry('pg.connections', 10, 1));
  assert.deepEqual(evaluateAnomalies(m, other, thresholds, now), { observations: [], scopes: [] });
  const slow = evaluateAnomalies(
    m,
    load('pg.tps', [20, 20, 20, 20, 20], entry('pg.tps', 400, 20)),
    () => ({ warn_z: 2, crit_z: 3, minutes: 10, fast_z: 1000 }),
    now,
  );
  assert.equal(slow.observations.length, 0, 'ten minutes asked, five seen, the short run out of reach');
});

test('a_change_far_beyond_normal_opens_after_two_minutes_a_marginal_one_needs_five', () => {
  const m = metricById('pg.tps')!;
  const t = () => ({ warn_z: 3, crit_z: 5, minutes: 5, fast_z: 6, fast_minutes: 2 });
  // 400 ± 20 (σ ≈ 30): 20 tps is 13 σ away; two such minutes are enough.
  const far = evaluateAnomalies(m, load('pg.tps', [400, 400, 20, 20], entry('pg.tps', 400, 20)), t, now);
  assert.equal(far.observations.length, 1);
  assert.equal(
    far.observations[0]!.evidence.window &&
      (far.observations[0]!.evidence.window as { minutes: number }).minutes,
    2,
  );
  // 280 is 4 σ away: unusual, but two minutes of it are not enough…
  const marginal = load('pg.tps', [400, 400, 280, 280], entry('pg.tps', 400, 20));
  assert.equal(evaluateAnomalies(m, marginal, t, now).observations.length, 0);
  // …five are.
  const lasting = load('pg.tps', [400, 280, 280, 280, 280, 280], entry('pg.tps', 400, 20));
  assert.equal(evaluateAnomalies(m, lasting, t, now).observations.length, 1);
});

test('an_action_on_a_target_off_port_5432_carries_its_port_and_a_host_action_none', () => {
  const ports = new Map([['7/3', '5433']]);
  const tps = metricById('pg.tps')!;
  const r = evaluateAnomalies(
    tps,
    { ...load('pg.tps', [400, 20, 18, 22, 19, 21], entry('pg.tps', 400, 20)), ports },
    thresholds,
    now,
  );
  assert.match(r.observations[0]!.action, /^psql -p 5433 -c "SELECT datname, xact_commit/);
  const dead = metricById('pg.table_dead_ratio')!;
  const e = entry('pg.table_dead_ratio', 30, 2, 3, 'shop/public.orders');
  const up = evaluateAnomalies(dead, { ...load(dead.id, [70, 70, 70, 70, 70], e), ports }, thresholds, now);
  assert.match(up.observations[0]!.action, /^psql -p 5433 -d shop -c "SELECT schemaname/);
  // Another target of the same server, with no port known: psql's default.
  const other = evaluateAnomalies(
    tps,
    { ...load('pg.tps', [400, 20, 18, 22, 19, 21], entry('pg.tps', 400, 20, 4)), ports },
    thresholds,
    now,
  );
  assert.match(other.observations[0]!.action, /^psql -c "SELECT datname/);
});

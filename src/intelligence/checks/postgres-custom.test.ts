import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CustomGaugeRow } from '../../storage/queries/custom-metrics.sql.js';
import { customObject, evaluateCustomThresholds, pgCustomThreshold } from './postgres-custom.js';

const ts = new Date('2026-12-03T10:00:00Z');

function row(
  gauge: number | null,
  warnAbove: number | null,
  critAbove: number | null,
  labels = 'slot="s1"',
): CustomGaugeRow {
  return {
    serverId: 1,
    targetId: 2,
    target: 'main',
    metric: 'slot_lag',
    name: 'retained_bytes',
    labels,
    ts,
    gauge,
    warnAbove,
    critAbove,
  };
}

test('a_gauge_above_warn_is_a_warning_above_crit_critical_and_below_nothing', () => {
  const obs = evaluateCustomThresholds({
    series: [
      row(5, 10, 100),
      row(50, 10, 100, 'slot="s2"'),
      row(500, 10, 100, 'slot="s3"'),
      row(50, null, 100, 'slot="s4"'),
    ],
    targets: [{ serverId: 1, targetId: 2 }],
  });
  assert.deepEqual(
    obs.map((o) => [o.object, o.severity]),
    [
      ['custom.slot_lag.retained_bytes{slot="s2"}', 'warning'],
      ['custom.slot_lag.retained_bytes{slot="s3"}', 'critical'],
    ],
  );
  const w = obs[0]!;
  assert.match(w.title, /is 50 on main, above its warn_above 10/);
  assert.match(
    w.explanation,
    /read 50 on main at 2026-12-03T10:00:00.000Z, above the warn_above of 10 .*\(critical above 100\)/,
  );
  assert.deepEqual(w.evidence, {
    metric: 'slot_lag',
    column: 'retained_bytes',
    labels: 'slot="s2"',
    value: 50,
    warn_above: 10,
    crit_above: 100,
    ts: '2026-12-03T10:00:00.000Z',
  });
  assert.match(w.action, /pgvigil collect --once --json --only postgres/);
  assert.equal(w.value, 50);
});

test('every_target_with_custom_samples_is_a_scope_so_a_recovered_series_clears', () => {
  const { observations, scopes } = pgCustomThreshold.evaluate(
    { series: [row(1, 10, null)], targets: [{ serverId: 1, targetId: 2 }] },
    () => ({}),
    ts.getTime(),
  );
  assert.deepEqual(observations, []);
  assert.deepEqual(scopes, [{ serverId: 1, targetId: 2 }]);
});

test('a_series_without_labels_is_named_by_metric_and_column', () => {
  assert.equal(customObject({ metric: 'm', name: 'v', labels: '' }), 'custom.m.v');
});

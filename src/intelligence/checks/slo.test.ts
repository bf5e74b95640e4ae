import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SloRow } from '../../storage/queries/slos.sql.js';
import { evaluateSlo, type FlaggedMinute, hourMs, minuteMs, type SloStatus } from '../slo.js';
import { definitionOf } from '../slo-store.js';
import { sloBurnRate } from './slo.js';
import type { Thresholds } from './types.js';

const now = Date.parse('2026-03-01T18:00:00Z');
const defaults: Thresholds = Object.fromEntries(
  Object.entries(sloBurnRate.thresholds).map(([k, v]) => [k, v.default]),
);

const row: SloRow = {
  id: 4,
  serverId: 7,
  targetId: 3,
  name: 'availability',
  description: '',
  family: 'pg_instance',
  metric: 'server_version_num',
  per: [],
  scale: 1,
  minPer: null,
  labels: [],
  agg: 'max',
  missing: 'bad',
  comparison: '>=',
  threshold: 1,
  objective: 99.9,
  windowDays: 30,
  source: 'default',
  createdBy: 'pgvigil',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  countedUntil: null,
  status: null,
  evaluatedAt: null,
  serverName: 'db1',
  targetName: 'main',
};

function statusWithBadLast(minutes: number): SloStatus {
  const flags: FlaggedMinute[] = [];
  for (let ago = 360; ago >= 1; ago--)
    flags.push({ t: now - ago * minuteMs, flag: ago <= minutes ? 'bad' : 'good' });
  return evaluateSlo(
    { definition: definitionOf(row), hours: [], minutes: flags, minutesFrom: now - 6 * hourMs },
    now,
  );
}

test('a_fast_burn_is_one_critical_finding_on_the_slo_with_its_evidence_and_the_series_query', () => {
  const r = sloBurnRate.evaluate([{ row, status: statusWithBadLast(20) }], () => defaults, now);
  assert.deepEqual(r.scopes, [{ serverId: 7, targetId: 3 }]);
  assert.equal(r.observations.length, 1);
  const o = r.observations[0]!;
  assert.equal(o.severity, 'critical');
  assert.equal(o.object, 'availability');
  assert.equal(o.evidence.burn_5m, 1000);
  assert.equal(o.evidence.bad_minutes_1h, 20);
  assert.match(
    o.action,
    /^GET \/api\/v1\/series\?family=pg_instance&metrics=server_version_num&server=7&target=3&tier=minute/,
  );
  assert.match(o.action, /agg=max/);
  assert.match(o.action, /pg_isready/);
  assert.match(o.explanation, /99\.9 % of minutes good over 30 days/);
});

test('a_healthy_slo_is_a_scope_evaluated_without_findings_so_an_open_one_resolves', () => {
  const r = sloBurnRate.evaluate([{ row, status: statusWithBadLast(0) }], () => defaults, now);
  assert.equal(r.observations.length, 0);
  assert.deepEqual(r.scopes, [{ serverId: 7, targetId: 3 }]);
});

test('the_burn_factors_are_thresholds', () => {
  const status = statusWithBadLast(20);
  const r = sloBurnRate.evaluate([{ row, status }], () => ({ fast_burn: 2000, slow_burn: 2000 }), now);
  assert.equal(r.observations.length, 0);
});

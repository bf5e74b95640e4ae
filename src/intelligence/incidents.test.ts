import assert from 'node:assert/strict';
import { test } from 'node:test';
import { causeGraph, type IncidentMember } from './causes.js';
import {
  combineSeries,
  domainOf,
  groupFindings,
  incidentResolvedAt,
  incidentSeverity,
  seriesSpecOf,
} from './incidents.js';

const t0 = Date.parse('2026-12-02T12:00:00Z');
const min = 60_000;
const window = 10 * min;
let n = 0;

function f(check: string, openedAt: number, over: Partial<IncidentMember> = {}): IncidentMember {
  n++;
  return {
    id: String(n),
    check,
    kind: 'alert',
    object: '',
    targetId: null,
    severity: 'warning',
    state: 'open',
    title: check,
    evidence: {},
    openedAt,
    resolvedAt: null,
    ...over,
  };
}

test('domains follow the check groups; pg. is postgres', () => {
  assert.equal(domainOf('pg.blocking'), 'postgres');
  assert.equal(domainOf('host.cpu'), 'host');
  assert.equal(domainOf('anomaly.pg.tps'), 'anomaly');
  assert.equal(domainOf('logs.error_spike'), 'logs');
  assert.equal(domainOf('nonsense'), 'other');
});

test('findings of two domains within the window become one incident', () => {
  const plan = groupFindings([], [f('host.cpu', t0), f('pg.connections', t0 + 4 * min)], causeGraph, window);
  assert.equal(plan.creates.length, 1);
  assert.equal(plan.creates[0]!.length, 2);
});

test('a single finding, or two of one domain without a chain, is no incident', () => {
  assert.equal(groupFindings([], [f('host.cpu', t0)], causeGraph, window).creates.length, 0);
  assert.equal(
    groupFindings([], [f('host.cpu', t0), f('host.memory', t0 + min)], causeGraph, window).creates.length,
    0,
  );
});

test('recommendations do not make two domains on their own', () => {
  const plan = groupFindings(
    [],
    [f('pg.unused_index', t0, { kind: 'recommendation' }), f('host.cpu', t0 + min)],
    causeGraph,
    window,
  );
  assert.equal(plan.creates.length, 0);
});

test('one domain with a chain is an incident', () => {
  const plan = groupFindings(
    [],
    [
      f('pg.idle_in_transaction', t0, { targetId: 1, evidence: { datname: 'shop' } }),
      f('pg.blocking', t0 + min, { targetId: 1, evidence: { blocked: [{ datname: 'shop' }] } }),
    ],
    causeGraph,
    window,
  );
  assert.equal(plan.creates.length, 1);
});

test('findings 2 h apart are separate, and alone no incident', () => {
  const plan = groupFindings(
    [],
    [f('host.cpu', t0), f('pg.connections', t0 + 120 * min)],
    causeGraph,
    window,
  );
  assert.equal(plan.creates.length, 0);
});

test('a new finding joins the open incident whose newest member opened within the window', () => {
  const open = [
    { id: 'old', members: [f('host.cpu', t0 - 60 * min), f('pg.connections', t0 - 55 * min)] },
    { id: 'new', members: [f('host.cpu', t0 - 8 * min), f('pg.connections', t0 - 6 * min)] },
  ];
  const plan = groupFindings(
    open,
    [f('logs.pg_fatal_burst', t0), f('host.memory', t0 + 30 * min)],
    causeGraph,
    window,
  );
  assert.deepEqual(
    plan.joins.map((j) => [j.incidentId, j.members.map((m) => m.check)]),
    [['new', ['logs.pg_fatal_burst']]],
  );
  assert.equal(plan.creates.length, 0, 'the late finding alone is no incident');
});

test('severity is the worst member; resolved only when every member is', () => {
  assert.equal(
    incidentSeverity([{ severity: 'info' }, { severity: 'critical' }, { severity: 'warning' }]),
    'critical',
  );
  assert.equal(
    incidentResolvedAt([
      { state: 'resolved', resolvedAt: t0 },
      { state: 'open', resolvedAt: null },
    ]),
    null,
  );
  assert.equal(
    incidentResolvedAt([
      { state: 'resolved', resolvedAt: t0 },
      { state: 'resolved', resolvedAt: t0 + min },
    ]),
    t0 + min,
  );
  assert.equal(incidentResolvedAt([]), null);
});

test('series specs: checks and anomalies of one metric read the same series; logs have none', () => {
  assert.deepEqual(
    seriesSpecOf({ check: 'host.cpu', object: '', evidence: {} }),
    seriesSpecOf({ check: 'anomaly.host.cpu_busy_pct', object: '', evidence: {} }),
  );
  assert.deepEqual(
    seriesSpecOf({ check: 'pg.missing_index', object: 'shop/public.orders', evidence: {} })?.labels,
    ['datname:shop', 'schemaname:public', 'relname:orders'],
  );
  assert.deepEqual(
    seriesSpecOf({ check: 'anomaly.pg.statement_mean_ms', object: '42', evidence: {} })?.labels,
    ['queryid:42'],
  );
  assert.equal(seriesSpecOf({ check: 'logs.error_spike', object: 'app', evidence: {} }), null);
});

test('cache hit members read the ratio of each step, per database or for the instance', () => {
  assert.deepEqual(seriesSpecOf({ check: 'pg.cache_hit', object: 'db:shop', evidence: {} }), {
    family: 'pg_database',
    metric: 'cache_hit_interval_pct',
    labels: ['datname:shop'],
    combine: 'max',
  });
  assert.equal(
    seriesSpecOf({ check: 'anomaly.pg.cache_hit_pct', object: '', evidence: {} })?.metric,
    'cache_hit_interval_pct_instance',
  );
});

test('combineSeries sums or takes the max by step, and inverts', () => {
  const a: Array<[number, number]> = [
    [0, 1],
    [60, 2],
  ];
  const b: Array<[number, number]> = [
    [60, 5],
    [120, 1],
  ];
  assert.deepEqual(combineSeries([a, b], 'sum'), [
    [0, 1],
    [60, 7],
    [120, 1],
  ]);
  assert.deepEqual(combineSeries([a, b], 'max', true), [
    [0, -1],
    [60, -5],
    [120, -1],
  ]);
});

test('a finding caused by a standing finding (still open, opened hours before) makes an incident with it', () => {
  const slot = f('pg.replication_slot', t0, {
    object: 'slot:cdc',
    evidence: { slot_name: 'cdc', active: false },
  });
  const fill = f('host.disk_fill', t0 + 3 * 60 * min, { object: '/var/lib/postgresql' });
  const plan = groupFindings([], [fill], causeGraph, window, [slot]);
  assert.deepEqual(
    plan.creates.map((c) => c.map((m) => m.check)),
    [['pg.replication_slot', 'host.disk_fill']],
  );
  // Not when the standing finding causes nothing of the new one (an active slot is no chain cause)…
  const active = { ...slot, evidence: { slot_name: 'cdc', active: true } };
  assert.deepEqual(groupFindings([], [fill], causeGraph, window, [active]).creates, []);
  // …nor when it had resolved before the new finding started, nor when it is more than a day older.
  const ended = { ...slot, state: 'resolved', resolvedAt: t0 + 60 * min };
  assert.deepEqual(groupFindings([], [fill], causeGraph, window, [ended]).creates, []);
  const old = { ...slot, openedAt: t0 - 25 * 60 * min };
  assert.deepEqual(groupFindings([], [fill], causeGraph, window, [old]).creates, []);
});

test('a finding caused by a still-open member of an open incident joins it, however late', () => {
  const dead = f('anomaly.pg.table_dead_ratio', t0, { kind: 'anomaly', object: 'app/public.events' });
  const fill = f('host.disk_fill', t0 + 3 * 60 * min, { object: '/var/lib/postgresql' });
  // An unrelated finding as late does not join (nothing in the incident causes it).
  const other = f('anomaly.host.cpu_busy_pct', t0 + 5 * 60 * min, { kind: 'anomaly' });
  const open = [{ id: 'i1', members: [dead, f('host.disk_space', t0 - 5 * min)] }];
  const plan = groupFindings(open, [fill, other], causeGraph, window);
  assert.deepEqual(
    plan.joins.map((j) => [j.incidentId, j.members.map((m) => m.check)]),
    [['i1', ['host.disk_fill']]],
  );
});

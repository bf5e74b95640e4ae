import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scoreClean, scoreScenario, scoreTable, summarise } from './score.js';
import type { ReplayEvent, ReplayIncident, ReplayResult } from './types.js';

const t0 = Date.UTC(2026, 2, 2, 10);
const min = 60_000;

function fired(check: string, t: number, over: Partial<ReplayEvent> = {}): ReplayEvent {
  return {
    t,
    type: 'fired',
    check,
    kind: 'alert',
    object: '',
    severity: 'warning',
    title: check,
    notify: true,
    ...over,
  };
}

function incident(
  chain: string | null,
  t: number,
  later: Array<{ chain: string; t: number }> = [],
): ReplayIncident {
  return {
    id: String(t),
    openedAt: t,
    resolvedAt: null,
    title: '',
    chainAtOpen: chain,
    chain: later.at(-1)?.chain ?? chain,
    confidence: 0.8,
    chainTimes: [...(chain ? [{ chain, t }] : []), ...later],
    members: [],
  };
}

const result = (events: ReplayEvent[], incidents: ReplayIncident[] = [], minutes = 1440): ReplayResult => ({
  serverId: 1,
  events,
  incidents,
  evaluatedMinutes: minutes,
});

const chainTruth = {
  id: 'blocking',
  title: 'a blocking session',
  expect: { incident: 'blocking_session' },
  onset: t0,
  windowMs: 30 * min,
  timed: true,
};

test('a chain scenario is right when an incident in the window names the chain, timed from the onset', () => {
  const s = scoreScenario(
    chainTruth,
    result([fired('pg.blocking', t0 + 2 * min)], [incident('blocking_session', t0 + 3 * min)]),
  );
  assert.deepEqual([s.detected, s.cause, s.ttdIntervals], [true, 'right', 3]);
});

test('a chain named only when a later member joins counts from that moment', () => {
  const s = scoreScenario(
    chainTruth,
    result(
      [fired('pg.idle_in_transaction', t0 + min)],
      [incident(null, t0 + 2 * min, [{ chain: 'blocking_session', t: t0 + 9 * min }])],
    ),
  );
  assert.equal(s.cause, 'right');
  assert.equal(s.ttdIntervals, 9);
});

test('another chain is wrong; an alert of an unrelated check is not a detection', () => {
  const wrong = scoreScenario(
    chainTruth,
    result([fired('pg.blocking', t0 + min)], [incident('cpu_statements', t0 + 2 * min)]),
  );
  assert.deepEqual([wrong.detected, wrong.cause, wrong.named], [true, 'wrong', 'cpu_statements']);
  const unrelated = scoreScenario(chainTruth, result([fired('security.ssh_bruteforce', t0 + min)]));
  assert.deepEqual([unrelated.detected, unrelated.cause], [false, 'none']);
  // Outside the window nothing counts.
  const late = scoreScenario(chainTruth, result([], [incident('blocking_session', t0 + 31 * min)]));
  assert.equal(late.cause, 'none');
});

test('a finding scenario needs its check on its object', () => {
  const truth = { ...chainTruth, expect: { check: 'security.ssh_bruteforce', object: '203.0.113.7' } };
  const other = scoreScenario(
    truth,
    result([fired('security.ssh_bruteforce', t0, { object: '198.51.100.1' })]),
  );
  assert.equal(other.detected, false);
  const hit = scoreScenario(
    truth,
    result([fired('security.ssh_bruteforce', t0 + min, { object: '203.0.113.7' })]),
  );
  assert.deepEqual([hit.detected, hit.cause, hit.ttdIntervals], [true, 'right', 1]);
});

test('clean hosts: alerts, anomalies and incidents count per host-week, recommendations do not', () => {
  const c = scoreClean(
    [
      result(
        [
          fired('anomaly.pg.tps', t0, { kind: 'anomaly' }),
          fired('pg.missing_index', t0, { kind: 'recommendation' }),
          fired('pg.connections', t0 + min),
          { ...fired('pg.connections', t0 + 5 * min), type: 'resolved' },
        ],
        [incident(null, t0)],
        7 * 1440,
      ),
    ],
    (_s, t) => t === t0,
  );
  assert.equal(c.findings, 2);
  assert.equal(c.incidents, 1);
  assert.equal(c.falseAlertsPerHostWeek, 3);
  assert.equal(c.inBatchOrMaintenance, 1);
  assert.deepEqual({ ...c.byCheck }, { 'anomaly.pg.tps': 1, 'pg.connections': 1 });
});

test('the summary: recall over all scenarios, median time over the timed right ones', () => {
  const base = { title: '', expected: '', detected: true, named: '' };
  const s = summarise([
    { ...base, id: 'a', cause: 'right', ttdIntervals: 2, timed: true },
    { ...base, id: 'b', cause: 'right', ttdIntervals: 8, timed: true },
    { ...base, id: 'c', cause: 'right', ttdIntervals: 5000, timed: false },
    { ...base, id: 'd', cause: 'none', ttdIntervals: null, timed: true },
  ]);
  assert.equal(s.recall, 0.75);
  assert.equal(s.medianTtd, 5);
  assert.match(scoreTable([{ ...base, id: 'a', cause: 'right', ttdIntervals: 2, timed: true }]), /^scenario/);
});

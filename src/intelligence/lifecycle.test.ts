import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Change, defaultPolicy, reconcile, type StoredFinding } from './lifecycle.js';
import { findingKey, type Observation } from './model.js';

const now = Date.parse('2026-12-02T12:00:00Z');

function obs(severity: Observation['severity'] = 'warning', object = 'public.t'): Observation {
  return {
    check: 'pg.dead_tuples',
    serverId: 1,
    targetId: 2,
    object,
    kind: 'alert',
    severity,
    title: 't',
    explanation: 'e',
    evidence: {},
    action: 'VACUUM public.t;',
  };
}

function stored(over: Partial<StoredFinding> = {}): StoredFinding {
  return {
    id: '7',
    key: findingKey(obs()),
    check: 'pg.dead_tuples',
    serverId: 1,
    targetId: 2,
    state: 'open',
    severity: 'warning',
    clearCount: 0,
    flaps: 0,
    notified: true,
    lastSeen: now - 120_000,
    resolvedAt: null,
    silencedUntil: null,
    ...over,
  };
}

const evaluated = { evaluated: () => true };
const types = (c: Change[]) => c.map((x) => x.type);

test('a_new_observation_opens_and_is_delivered', () => {
  const c = reconcile([], { observations: [obs()], ...evaluated }, now);
  assert.deepEqual(types(c), ['open']);
  assert.equal((c[0] as { notify: boolean }).notify, true);
});

test('the_same_key_twice_in_one_evaluation_opens_once', () => {
  assert.deepEqual(types(reconcile([], { observations: [obs(), obs('critical')], ...evaluated }, now)), [
    'open',
  ]);
});

test('an_open_finding_observed_again_is_updated_and_only_an_escalation_is_delivered', () => {
  const same = reconcile([stored()], { observations: [obs()], ...evaluated }, now);
  assert.deepEqual(types(same), ['update']);
  assert.equal((same[0] as { notify: boolean }).notify, false);
  const up = reconcile([stored()], { observations: [obs('critical')], ...evaluated }, now);
  assert.equal((up[0] as { notify: boolean; escalated: boolean }).notify, true);
  const acked = reconcile(
    [stored({ state: 'acknowledged' })],
    { observations: [obs('critical')], ...evaluated },
    now,
  );
  assert.equal((acked[0] as { notify: boolean }).notify, false, 'acknowledged: not delivered again');
});

test('a_lasting_finding_is_rewritten_at_most_every_refresh_interval', () => {
  const recent = stored({ lastSeen: now - 5_000 });
  assert.deepEqual(reconcile([recent], { observations: [obs()], ...evaluated }, now), []);
  assert.deepEqual(types(reconcile([recent], { observations: [obs('critical')], ...evaluated }, now)), [
    'update',
  ]);
  assert.deepEqual(
    types(
      reconcile(
        [stored({ lastSeen: now - 5_000, clearCount: 1 })],
        { observations: [obs()], ...evaluated },
        now,
      ),
    ),
    ['update'],
    'a clear count to reset is written',
  );
  const old = stored({ lastSeen: now - defaultPolicy.refreshEveryMs });
  assert.deepEqual(types(reconcile([old], { observations: [obs()], ...evaluated }, now)), ['update']);
});

test('it_resolves_only_after_clear_after_evaluations_without_it', () => {
  const first = reconcile([stored()], { observations: [], ...evaluated }, now);
  assert.deepEqual(types(first), ['clear']);
  const second = reconcile([stored({ clearCount: 1 })], { observations: [], ...evaluated }, now);
  assert.deepEqual(types(second), ['resolve']);
  assert.equal((second[0] as { notify: boolean }).notify, true);
});

test('a_scope_not_evaluated_leaves_it_alone_until_it_is_stale', () => {
  const idle = reconcile([stored()], { observations: [], evaluated: () => false }, now);
  assert.deepEqual(idle, []);
  const stale = reconcile(
    [stored({ lastSeen: now - defaultPolicy.staleMs - 1 })],
    { observations: [], evaluated: () => false },
    now,
  );
  assert.deepEqual(types(stale), ['resolve']);
  assert.match((stale[0] as { reason: string }).reason, /not evaluated/);
});

test('a_check_that_judges_in_turns_keeps_its_findings_for_longer', () => {
  const f = stored({ lastSeen: now - 40 * 60_000 });
  const notEvaluated = { observations: [], evaluated: () => false };
  const turns = {
    ...defaultPolicy,
    staleMsOf: (check: string) => (check === f.check ? 60 * 60_000 : undefined),
  };
  assert.deepEqual(reconcile([f], notEvaluated, now, turns), [], 'within its own horizon');
  assert.deepEqual(types(reconcile([f], notEvaluated, now, defaultPolicy)), ['resolve']);
  const shorter = { ...defaultPolicy, staleMsOf: () => 60_000 };
  assert.deepEqual(
    reconcile([stored({ lastSeen: now - 20 * 60_000 })], notEvaluated, now, shorter),
    [],
    'never shorter than the 30 minutes',
  );
});

test('a_finding_that_keeps_coming_back_is_damped', () => {
  let f = stored({ state: 'resolved', resolvedAt: now - 60_000, flaps: 0 });
  const flaps: number[] = [];
  const notified: boolean[] = [];
  for (let i = 0; i < 4; i++) {
    const [c] = reconcile([f], { observations: [obs()], ...evaluated }, now);
    assert.equal(c!.type, 'reopen');
    const r = c as Extract<Change, { type: 'reopen' }>;
    flaps.push(r.flaps);
    notified.push(r.notify);
    f = { ...f, flaps: r.flaps };
  }
  assert.deepEqual(flaps, [1, 2, 3, 4]);
  assert.deepEqual(notified, [true, true, false, false], 'quiet after flapQuiet flaps');
  // A flapping finding needs more clear evaluations before it resolves.
  const open = stored({ flaps: 2, clearCount: 3 });
  assert.deepEqual(types(reconcile([open], { observations: [], ...evaluated }, now)), ['clear']);
  assert.deepEqual(types(reconcile([{ ...open, clearCount: 5 }], { observations: [], ...evaluated }, now)), [
    'resolve',
  ]);
});

test('a_reopening_long_after_resolution_is_not_a_flap', () => {
  const f = stored({ state: 'resolved', resolvedAt: now - 2 * defaultPolicy.flapWindowMs, flaps: 2 });
  const [c] = reconcile([f], { observations: [obs()], ...evaluated }, now);
  assert.equal((c as Extract<Change, { type: 'reopen' }>).flaps, 0);
});

test('an_expired_silence_ends_and_a_silenced_reopening_is_not_delivered', () => {
  const expired = stored({ state: 'silenced', silencedUntil: now - 1 });
  assert.ok(
    types(reconcile([expired], { observations: [], evaluated: () => false }, now)).includes('unsilence'),
  );
  const f = stored({
    state: 'resolved',
    resolvedAt: now - 2 * defaultPolicy.flapWindowMs,
    silencedUntil: now + 60_000,
  });
  const [c] = reconcile([f], { observations: [obs()], ...evaluated }, now);
  assert.equal((c as { notify: boolean }).notify, false);
});

test('a_resolution_is_delivered_only_when_the_firing_was', () => {
  const [c] = reconcile(
    [stored({ notified: false, clearCount: 1 })],
    { observations: [], ...evaluated },
    now,
  );
  assert.equal((c as { notify: boolean }).notify, false);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtureScope } from '../../../test/helpers/scope-fixture.js';
import { pgConnections } from './postgres-instance.js';
import type { IngestCheck, Row } from './types.js';

const defaults = (c: IngestCheck) =>
  Object.fromEntries(Object.entries(c.thresholds).map(([k, v]) => [k, v.default]));

/** One collection a minute: pg_instance (max_connections 100, 3 reserved: 97 usable) and the clients. */
function minutes(clients: readonly number[]) {
  return clients.map((n, i) => ({
    ts: i * 60_000,
    families: {
      pg_instance: [{ up: true, max_connections: 100, backends: n + 6 }] as Row[],
      pg_activity: [
        { datname: 'app', usename: 'app', backend_type: 'client backend', state: 'idle', count: n },
      ] as Row[],
    },
  }));
}

test('connections_over_the_warning_share_warn_only_once_it_has_held_for_for_s', () => {
  const t = defaults(pgConnections);
  assert.equal(t.for_s, 300);
  // 80 of 97 usable = 82 %: a peak of two minutes says nothing.
  assert.deepEqual(pgConnections.evaluate(fixtureScope(minutes([60, 80, 80])), t), []);
  // Six minutes over (0 … 300 s held): a warning, saying for how long.
  const out = pgConnections.evaluate(fixtureScope(minutes([60, 80, 81, 80, 82, 80, 81])), t);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.severity, 'warning');
  assert.equal((out[0]!.evidence as Record<string, unknown>).held_s, 300);
  assert.match(out[0]!.explanation, /over 80 % for 5 min/);
  // A dip under the share starts the count again.
  assert.deepEqual(pgConnections.evaluate(fixtureScope(minutes([80, 80, 80, 70, 80, 80, 80])), t), []);
});

test('connections_at_the_critical_share_are_raised_at_once', () => {
  const t = defaults(pgConnections);
  // 93 of 97 = 95.9 %: the next burst is refused.
  const out = pgConnections.evaluate(fixtureScope(minutes([40, 93])), t);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.severity, 'critical');
  // With for_s 0 the warning share is judged on one sample, as before.
  const now = pgConnections.evaluate(fixtureScope(minutes([80])), { ...t, for_s: 0 });
  assert.equal(now[0]?.severity, 'warning');
});

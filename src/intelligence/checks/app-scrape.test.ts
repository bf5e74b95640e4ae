import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateScrapeTargets, type ScrapeTargetState } from './app-scrape.js';

const t0 = Date.parse('2026-03-02T10:00:00Z');
const target = (over: Partial<ScrapeTargetState>): ScrapeTargetState => ({
  serverId: 7,
  name: 'api',
  url: 'http://10.0.0.5:3003/metrics',
  enabled: true,
  intervalMs: 15_000,
  lastScrapeAt: t0,
  lastOkAt: t0 - 60_000,
  createdAt: t0 - 86_400_000,
  lastError: 'http://10.0.0.5:3003/metrics: ECONNREFUSED',
  ...over,
});

test('a_target_failing_for_three_intervals_is_a_warning_naming_its_error', () => {
  const { observations, scopes } = evaluateScrapeTargets([target({})], () => 3, t0);
  assert.equal(observations.length, 1);
  const o = observations[0]!;
  assert.equal(o.object, 'api');
  assert.equal(o.severity, 'warning');
  assert.match(o.title, /has failed for 60 s: .*ECONNREFUSED/);
  assert.match(o.action, /^curl -sS/);
  assert.deepEqual(scopes, [{ serverId: 7, targetId: null }]);
});

test('a_short_failure_a_working_target_and_a_disabled_one_raise_nothing', () => {
  const r = evaluateScrapeTargets(
    [
      target({ lastOkAt: t0 - 20_000 }),
      target({ name: 'ok', lastError: null, lastOkAt: t0 }),
      target({ name: 'off', enabled: false }),
    ],
    () => 3,
    t0,
  );
  assert.deepEqual(r.observations, []);
});

test('a_refused_address_says_it_will_not_fix_itself', () => {
  const { observations } = evaluateScrapeTargets(
    [
      target({
        lastOkAt: null,
        lastError: 'refused: 169.254.169.254 is a cloud metadata address (rule cloud-metadata); …',
      }),
    ],
    () => 3,
    t0,
  );
  assert.match(observations[0]!.explanation, /since the target was added.*will not change by itself/);
  assert.match(observations[0]!.action, /allowAddresses/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baselinesPerRunFromEnv, defaultServersPerRun } from './baselines.js';

test('the_baselines_jobs_servers_per_run_come_from_the_environment_within_their_range', () => {
  assert.equal(baselinesPerRunFromEnv({}), defaultServersPerRun);
  assert.equal(baselinesPerRunFromEnv({ PGVIGIL_BASELINES_PER_RUN: '' }), defaultServersPerRun);
  assert.equal(baselinesPerRunFromEnv({ PGVIGIL_BASELINES_PER_RUN: '1' }), 1);
  assert.equal(baselinesPerRunFromEnv({ PGVIGIL_BASELINES_PER_RUN: '500' }), 500);
  assert.equal(baselinesPerRunFromEnv({ PGVIGIL_BASELINES_PER_RUN: '10000' }), 10_000);
  for (const v of ['0', '10001', '2.5', 'many', '-1']) {
    assert.throws(
      () => baselinesPerRunFromEnv({ PGVIGIL_BASELINES_PER_RUN: v }),
      (err: Error & { code?: string }) =>
        err.code === 'BAD_ARGUMENT' &&
        err.message.startsWith(`PGVIGIL_BASELINES_PER_RUN=${v}: expected 1 to 10000`),
    );
  }
});

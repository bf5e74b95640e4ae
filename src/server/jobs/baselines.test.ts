import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baselinesPerRunFromEnv, defaultServersPerRun } from './baselines.js';

// The parsing itself is numberFromEnv's (env.test.ts): here, the variable's name, default and range.
test('the_baselines_jobs_servers_per_run_come_from_the_environment_within_their_range', () => {
  assert.equal(baselinesPerRunFromEnv({}), defaultServersPerRun);
  assert.equal(baselinesPerRunFromEnv({ PGVIGIL_BASELINES_PER_RUN: '1' }), 1);
  assert.equal(baselinesPerRunFromEnv({ PGVIGIL_BASELINES_PER_RUN: '10000' }), 10_000);
  assert.throws(
    () => baselinesPerRunFromEnv({ PGVIGIL_BASELINES_PER_RUN: '0' }),
    /PGVIGIL_BASELINES_PER_RUN=0: expected 1 to 10000$/,
  );
  assert.throws(
    () => baselinesPerRunFromEnv({ PGVIGIL_BASELINES_PER_RUN: '10001' }),
    /PGVIGIL_BASELINES_PER_RUN=10001: expected 1 to 10000$/,
  );
});

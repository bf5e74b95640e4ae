import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baselineCacheSeriesFromEnv, findingsIntervalFromEnv, findingsReadersFromEnv } from './findings.js';

test('the_findings_jobs_environment_takes_its_ranges_and_refuses_the_rest_by_name', () => {
  assert.equal(findingsIntervalFromEnv({}), 60_000);
  assert.equal(findingsIntervalFromEnv({ PGVIGIL_FINDINGS_INTERVAL: '5' }), 5_000);
  assert.equal(findingsReadersFromEnv({}), 1);
  assert.equal(findingsReadersFromEnv({ PGVIGIL_FINDINGS_READERS: '' }), 1);
  assert.equal(findingsReadersFromEnv({ PGVIGIL_FINDINGS_READERS: '4' }), 4);
  for (const v of ['0', '5', '2.5', 'two', '1e1']) {
    assert.throws(
      () => findingsReadersFromEnv({ PGVIGIL_FINDINGS_READERS: v }),
      (err: Error & { code?: string }) =>
        err.code === 'BAD_ARGUMENT' &&
        err.message.startsWith(`PGVIGIL_FINDINGS_READERS=${v}: expected 1 to 4`),
    );
  }
  assert.throws(() => findingsIntervalFromEnv({ PGVIGIL_FINDINGS_INTERVAL: '4' }), /expected seconds from 5/);
  assert.equal(baselineCacheSeriesFromEnv({}), 200_000);
  assert.equal(baselineCacheSeriesFromEnv({ PGVIGIL_BASELINE_CACHE_SERIES: '10000' }), 10_000);
  for (const v of ['9999', '10000001', '1e9', 'all']) {
    assert.throws(
      () => baselineCacheSeriesFromEnv({ PGVIGIL_BASELINE_CACHE_SERIES: v }),
      (err: Error & { code?: string }) =>
        err.code === 'BAD_ARGUMENT' &&
        err.message === `PGVIGIL_BASELINE_CACHE_SERIES=${v}: expected 10000 to 10000000`,
    );
  }
});

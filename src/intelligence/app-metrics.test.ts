import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorPct, histogramQuantile, latencyP95, parseCanonicalLabels, requestRate } from './app-metrics.js';
import type { StepRow } from './metrics.js';

const row = (target: string, name: string, labels: string, counter: number): StepRow => ({
  labels: { target, name, labels },
  v: { counter },
});

test('request_rate_and_5xx_share_per_target_from_counter_increases', () => {
  const rows = [
    row('api', 'http_requests_total', 'code="200",method="GET"', 570),
    row('api', 'http_requests_total', 'code="503",method="GET"', 30),
    row('web', 'http_request_duration_seconds_count', '', 60),
  ];
  assert.deepEqual(requestRate(rows, 60), [
    { object: 'api', value: 10 },
    { object: 'web', value: 1 },
  ]);
  assert.deepEqual(errorPct(rows), [
    { object: 'api', value: 5 },
    { object: 'web', value: 0 },
  ]);
});

test('no_error_share_and_no_rate_without_requests', () => {
  const rows = [row('idle', 'http_requests_total', 'code="500"', 0)];
  assert.deepEqual(errorPct(rows), []);
  assert.deepEqual(requestRate([row('x', 'other_total', '', 5)], 60), []);
});

test('p95_interpolates_inside_the_bucket_as_histogram_quantile_does', () => {
  // 100 observations: 50 ≤ 0.1 s, 90 ≤ 0.5 s, 100 ≤ 1 s. Rank 95 lies halfway between 90 and 100 → 0.75 s.
  assert.equal(
    histogramQuantile(0.95, [
      [0.1, 50],
      [0.5, 90],
      [1, 100],
      [Number.POSITIVE_INFINITY, 100],
    ]),
    0.75,
  );
  assert.equal(
    histogramQuantile(0.95, [
      [1, 10],
      [Number.POSITIVE_INFINITY, 100],
    ]),
    1,
    'in +Inf: the largest finite bound',
  );
  assert.equal(
    histogramQuantile(0.95, [
      [1, 0],
      [Number.POSITIVE_INFINITY, 0],
    ]),
    undefined,
  );
  const rows = [
    row('api', 'http_request_duration_seconds_bucket', 'le="0.1",method="GET"', 30),
    row('api', 'http_request_duration_seconds_bucket', 'le="0.1",method="POST"', 20),
    row('api', 'http_request_duration_seconds_bucket', 'le="0.5",method="GET"', 50),
    row('api', 'http_request_duration_seconds_bucket', 'le="0.5",method="POST"', 40),
    row('api', 'http_request_duration_seconds_bucket', 'le="1",method="GET"', 55),
    row('api', 'http_request_duration_seconds_bucket', 'le="1",method="POST"', 45),
    row('api', 'http_request_duration_seconds_bucket', 'le="+Inf",method="GET"', 55),
    row('api', 'http_request_duration_seconds_bucket', 'le="+Inf",method="POST"', 45),
  ];
  assert.deepEqual(latencyP95(rows), [{ object: 'api', value: 0.75 }]);
});

test('canonical_labels_read_back_with_escapes', () => {
  assert.deepEqual(parseCanonicalLabels('a="x\\"y",b="c:\\\\d\\ne"'), { a: 'x"y', b: 'c:\\d\ne' });
});

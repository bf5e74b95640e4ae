import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { packageRoot } from '../version.js';
import { parseJsonMapping, parseJsonMetrics, valueAtPath } from './json.js';

const body = readFileSync(`${packageRoot}/test/fixtures/scrape/api.json`, 'utf8');

test('maps_json_fields_to_named_gauges_and_counters_with_units', () => {
  const mapping = parseJsonMapping([
    { path: 'requests.total', name: 'api_requests_total', type: 'counter' },
    { path: 'requests.failed', name: 'api_requests_failed_total', type: 'counter' },
    { path: 'requests.in_flight', name: 'api_in_flight', type: 'gauge' },
    { path: 'latency_ms.p95', name: 'api_latency', type: 'gauge', unit: 'ms', labels: { quantile: '0.95' } },
    { path: 'cache.enabled', name: 'api_cache_enabled', type: 'gauge' },
    { path: 'pools.1.active', name: 'api_pool_active', type: 'gauge', labels: { pool: 'replica' } },
    { path: 'cache.misses', name: 'api_cache_misses_total', type: 'counter' },
    { path: 'version', name: 'api_version', type: 'gauge' },
    { path: 'nothing.here', name: 'api_nothing', type: 'gauge' },
  ]);
  const { samples, dropped } = parseJsonMetrics(body, mapping, 1 << 20);
  assert.deepEqual(samples, [
    { name: 'api_requests_total', labels: '', value: 15234, kind: 'counter' },
    { name: 'api_requests_failed_total', labels: '', value: 37, kind: 'counter' },
    { name: 'api_in_flight', labels: '', value: 4, kind: 'gauge' },
    { name: 'api_latency', labels: 'quantile="0.95",unit="ms"', value: 48.25, kind: 'gauge' },
    { name: 'api_cache_enabled', labels: '', value: 1, kind: 'gauge' },
    { name: 'api_pool_active', labels: 'pool="replica"', value: 1, kind: 'gauge' },
  ]);
  assert.deepEqual(dropped, { missing: 2, not_numeric: 1 });
});

test('a_bad_mapping_is_refused_naming_the_entry_and_field', () => {
  assert.throws(
    () => parseJsonMapping([{ path: 'a', name: 'x', type: 'histogram' }]),
    /json mapping\[0\]\.type/,
  );
  assert.throws(() => parseJsonMapping([{ path: 'a..b', name: 'x', type: 'gauge' }]), /\[0\]\.path/);
  assert.throws(
    () => parseJsonMapping([{ path: Array(12).fill('a').join('.'), name: 'x', type: 'gauge' }]),
    /at most 10 deep/,
  );
  assert.throws(() => parseJsonMapping([{ path: 'a', name: '1x', type: 'gauge' }]), /\[0\]\.name/);
  assert.throws(
    () =>
      parseJsonMapping([
        { path: 'a', name: 'x', type: 'gauge' },
        { path: 'b', name: 'x', type: 'gauge' },
      ]),
    /mapped twice/,
  );
  assert.throws(
    () => parseJsonMapping([{ path: 'a', name: 'x', type: 'gauge', extra: 1 }]),
    /unknown field "extra"/,
  );
});

test('paths_walk_own_properties_only', () => {
  assert.equal(valueAtPath({}, 'constructor'), undefined);
  assert.equal(valueAtPath({ a: [5] }, 'a.length'), undefined);
  assert.equal(valueAtPath({ a: { b: 2 } }, 'a.b'), 2);
});

test('a_body_that_is_not_json_or_too_long_fails_clearly', () => {
  const m = parseJsonMapping([{ path: 'a', name: 'x', type: 'gauge' }]);
  assert.throws(() => parseJsonMetrics('<html>', m, 100), /not JSON/);
  assert.throws(() => parseJsonMetrics('{"a":1}', m, 3), /over the 3 limit/);
});

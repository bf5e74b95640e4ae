import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeContext, fixture, metricOf, rowsOf } from '../../../../test/helpers/collect.js';
import { loadCollector, parseLoadavg } from './load.js';

test('parses_loadavg', () => {
  assert.deepEqual(parseLoadavg('0.52 0.58 0.59 1/234 5678\n'), { load1: 0.52, load5: 0.58, load15: 0.59 });
});

test('malformed_loadavg_is_a_clear_error', () => {
  assert.throws(() => parseLoadavg(''), /\/proc\/loadavg line 1: expected three load averages/);
  assert.throws(() => parseLoadavg('0.5 high 0.1\n'), /load5: expected a number, got "high"/);
});

test('collects_load_from_each_kernel_tree', async () => {
  for (const [kernel, load1] of [
    ['4.14.0', 0.52],
    ['5.10.0', 3.1],
    ['6.1.0', 1.25],
  ] as const) {
    const ctx = fakeContext({ procRoot: fixture('proc', kernel) });
    const rows = rowsOf(await loadCollector.collect(ctx), 'host_load');
    assert.equal(rows[0]!.load1, load1);
    assert.equal(metricOf(ctx.exposed, 'node_load1').samples[0]!.value, load1);
  }
});

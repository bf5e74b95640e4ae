import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fakeContext, fixture, metricOf, rowsOf } from '../../../../test/helpers/collect.js';
import { createMemoryCollector, meminfoMetricName, memoryRow, parseMeminfo } from './memory.js';

const read = (kernel: string): string => readFileSync(fixture('proc', kernel, 'meminfo'), 'utf8');

test('memory_row_follows_free_1_accounting', () => {
  const row = memoryRow(parseMeminfo(read('6.1.0')));
  const kB = 1024;
  assert.equal(row.total_bytes, 4005876 * kB);
  assert.equal(row.available_bytes, 2803124 * kB);
  assert.equal(row.free_bytes, 251004 * kB);
  assert.equal(row.buffers_bytes, 102344 * kB);
  // Cached + SReclaimable, as free(1) shows "buff/cache".
  assert.equal(row.cached_bytes, (2301120 + 201332) * kB);
  assert.equal(row.used_bytes, (4005876 - 251004 - 102344 - 2301120 - 201332) * kB);
  assert.equal(row.swap_total_bytes, 1048572 * kB);
  assert.equal(row.swap_used_bytes, (1048572 - 948572) * kB);
});

test('parses_meminfo_of_kernels_4_14_5_10_and_6_1', () => {
  for (const kernel of ['4.14.0', '5.10.0', '6.1.0']) {
    const row = memoryRow(parseMeminfo(read(kernel)));
    for (const [k, v] of Object.entries(row)) assert.equal(typeof v, 'number', `${kernel} ${k}`);
  }
  assert.equal(memoryRow(parseMeminfo(read('5.10.0'))).swap_used_bytes, 0, 'no swap configured: 0 of 0 used');
});

test('kernel_without_memavailable_reports_null_available', () => {
  const row = memoryRow(parseMeminfo('MemTotal: 1000 kB\nMemFree: 500 kB\nBuffers: 10 kB\nCached: 100 kB\n'));
  assert.equal(row.available_bytes, null);
  assert.equal(row.used_bytes, (1000 - 500 - 10 - 100) * 1024);
  assert.equal(row.swap_total_bytes, null);
});

test('malformed_meminfo_is_a_clear_error', () => {
  assert.throws(
    () => parseMeminfo('MemTotal: lots kB\n'),
    /\/proc\/meminfo line 1: MemTotal: expected a non-negative integer/,
  );
  assert.throws(() => parseMeminfo('MemTotal: 5 MB\n'), /unknown unit "MB"/);
  assert.throws(() => parseMeminfo('MemFree: 5 kB\n'), /no MemTotal field/);
});

test('memory_names_are_promtool_clean_by_default_and_node_exporter_exact_on_request', () => {
  const f = (name: string, bytes = true) => ({ name, value: 1, bytes });
  assert.equal(meminfoMetricName(f('MemTotal'), false), 'node_memory_memtotal_bytes');
  assert.equal(meminfoMetricName(f('Active(anon)'), false), 'node_memory_active_anon_bytes');
  assert.equal(meminfoMetricName(f('DirectMap2M'), false), 'node_memory_directmap2m_bytes');
  assert.equal(meminfoMetricName(f('HugePages_Total', false), false), 'node_memory_hugepages_total_pages');
  assert.equal(meminfoMetricName(f('MemTotal'), true), 'node_memory_MemTotal_bytes');
  assert.equal(meminfoMetricName(f('Active(anon)'), true), 'node_memory_Active_anon_bytes');
  assert.equal(meminfoMetricName(f('HugePages_Total', false), true), 'node_memory_HugePages_Total');
});

test('exposes_every_meminfo_field', async () => {
  const ctx = fakeContext();
  const result = await createMemoryCollector().collect(ctx);
  assert.equal(rowsOf(result, 'host_memory').length, 1);
  assert.equal(ctx.exposed!.length, parseMeminfo(read('6.1.0')).length);
  assert.equal(metricOf(ctx.exposed, 'node_memory_memtotal_bytes').samples[0]!.value, 4005876 * 1024);
  assert.equal(metricOf(ctx.exposed, 'node_memory_hugepages_total_pages').samples[0]!.value, 64);
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  collectFixturePair,
  fakeContext,
  fixture,
  metricOf,
  rowsOf,
} from '../../../../test/helpers/collect.js';
import { CounterTracker } from '../../rates.js';
import { cpuRows, createCpuCollector, parseProcStat } from './cpu.js';

const read = (kernel: string): string => readFileSync(fixture('proc', kernel, 'stat'), 'utf8');

test('parses_proc_stat_of_kernels_4_14_5_10_and_6_1', () => {
  const k414 = parseProcStat(read('4.14.0'));
  assert.equal(k414.cores.length, 4);
  assert.deepEqual(k414.cores[0]!.ticks, {
    user: 1393280,
    nice: 32966,
    system: 572056,
    idle: 13343292,
    iowait: 6130,
    irq: 0,
    softirq: 17875,
    steal: 0,
  });
  assert.equal(k414.total.ticks.user, 1393280 + 1335516 + 1301239 + 1302118);
  assert.equal(k414.bootTimeSeconds, 1534000000);
  assert.equal(k414.contextSwitches, 380140932);
  assert.equal(parseProcStat(read('5.10.0')).procsBlocked, 1);
  assert.equal(parseProcStat(read('6.1.0')).cores.length, 2);
});

test('columns_an_old_kernel_lacks_are_null_not_zero', () => {
  const s = parseProcStat('cpu  10 20 30 40 50\ncpu0 10 20 30 40 50\n');
  assert.equal(s.total.ticks.iowait, 50);
  assert.equal(s.total.ticks.steal, null);
  assert.equal(s.total.guest, null);
  const rows = cpuRows(s, new CounterTracker(), 0);
  assert.equal(rows[0]!.steal_pct, null);
});

test('malformed_proc_stat_is_a_clear_error', () => {
  assert.throws(() => parseProcStat('intr 1 2 3\n'), /no aggregate "cpu" line/);
  assert.throws(
    () => parseProcStat('cpu  1 2 x 4\n'),
    /\/proc\/stat line 1: cpu column 3: expected a non-negative integer, got "x"/,
  );
});

test('first_sample_of_cpu_yields_null_percentages', async () => {
  const result = await createCpuCollector().collect(fakeContext());
  for (const row of rowsOf(result, 'host_cpu')) {
    assert.equal(row.user_pct, null);
    assert.equal(row.idle_pct, null);
  }
});

test('cpu_percentages_are_shares_of_elapsed_time_per_core_and_averaged_for_total', async () => {
  const { second } = await collectFixturePair(createCpuCollector());
  const rows = rowsOf(second, 'host_cpu');
  const byCpu = new Map(rows.map((r) => [r.cpu, r]));
  // The fixture pair is 10 s apart: 1000 ticks per core; cpu0 spent 250 in user, cpu1 50.
  assert.equal(byCpu.get('0')!.user_pct, 25);
  assert.equal(byCpu.get('0')!.idle_pct, 60);
  assert.equal(byCpu.get('1')!.user_pct, 5);
  assert.equal(byCpu.get('1')!.idle_pct, 88);
  assert.equal(byCpu.get('total')!.user_pct, 15);
  assert.equal(byCpu.get('total')!.idle_pct, 74);
  const sum = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal']
    .map((m) => byCpu.get('total')![`${m}_pct`] as number)
    .reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 100) < 1e-9, `modes add up to 100 %, got ${sum}`);
});

test('exposes_node_cpu_seconds_total_per_core_and_mode_in_seconds', async () => {
  const ctx = fakeContext();
  await createCpuCollector().collect(ctx);
  const m = metricOf(ctx.exposed, 'node_cpu_seconds_total');
  assert.equal(m.type, 'counter');
  assert.equal(m.samples.length, 2 * 8);
  assert.deepEqual(
    m.samples.find((s) => s.labels?.cpu === '0' && s.labels.mode === 'user'),
    { labels: { cpu: '0', mode: 'user' }, value: 5000 },
  );
  assert.equal(metricOf(ctx.exposed, 'node_boot_time_seconds').samples[0]!.value, 1700000000);
});

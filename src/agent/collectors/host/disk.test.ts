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
import { createDiskCollector, diskExposition, parseDiskstats, selectDisks } from './disk.js';

const read = (kernel: string): string => readFileSync(fixture('proc', kernel, 'diskstats'), 'utf8');

test('parses_diskstats_with_14_18_and_20_columns', () => {
  const k414 = parseDiskstats(read('4.14.0'));
  const sda = k414.find((d) => d.device === 'sda')!;
  assert.equal(sda.readsCompleted, 402112);
  assert.equal(sda.weightedIoMs, 3213446);
  assert.equal(sda.discards, null, 'Linux 4.14 has no discard columns');
  assert.equal(sda.flushes, null);
  const nvme = parseDiskstats(read('5.10.0')).find((d) => d.device === 'nvme0n1')!;
  assert.deepEqual(nvme.discards, { completed: 1200, merged: 0, sectors: 2400000, ms: 120 });
  assert.equal(nvme.flushes, null, 'Linux 5.10 diskstats has discards but no flush columns');
  const vda = parseDiskstats(read('6.1.0')).find((d) => d.device === 'vda')!;
  assert.deepEqual(vda.flushes, { completed: 3000, ms: 1500 });
});

test('ignores_partitions_loop_and_ram_devices_as_node_exporter_does', () => {
  const names = (kernel: string) => selectDisks(parseDiskstats(read(kernel))).map((d) => d.device);
  assert.deepEqual(names('4.14.0'), ['sda', 'sdb', 'sr0', 'dm-0']);
  assert.deepEqual(names('5.10.0'), ['nvme0n1']);
  assert.deepEqual(names('6.1.0'), ['vda', 'zram0']);
});

test('malformed_diskstats_is_a_clear_error', () => {
  assert.throws(
    () => parseDiskstats('   8 0 sda 1 2 3\n'),
    /\/proc\/diskstats line 1: expected at least 14 columns, got 6/,
  );
  assert.throws(
    () => parseDiskstats('   8 0 sda 1 2 3 4 5 6 7 8 9 10 -11\n'),
    /weighted ms doing I\/O: expected a non-negative integer, got "-11"/,
  );
});

test('disk_rates_await_and_utilisation_over_the_interval', async () => {
  const { second } = await collectFixturePair(createDiskCollector());
  const vda = rowsOf(second, 'host_disk').find((r) => r.device === 'vda')!;
  // 10 s: +100 reads of 2000 sectors in 50 ms, +50 writes of 8000 sectors in 200 ms, busy 250 ms.
  assert.equal(vda.reads_per_s, 10);
  assert.equal(vda.writes_per_s, 5);
  assert.equal(vda.read_bytes_per_s, (2000 * 512) / 10);
  assert.equal(vda.write_bytes_per_s, (8000 * 512) / 10);
  assert.equal(vda.read_await_ms, 0.5);
  assert.equal(vda.write_await_ms, 4);
  assert.equal(vda.util_pct, 2.5);
  assert.equal(vda.in_progress, 0);
});

test('await_without_io_in_the_interval_is_null_not_zero', async () => {
  const { second } = await collectFixturePair(createDiskCollector());
  const zram = rowsOf(second, 'host_disk').find((r) => r.device === 'zram0')!;
  assert.equal(zram.reads_per_s, 0);
  assert.equal(zram.read_await_ms, null);
  assert.equal(zram.write_await_ms, null);
});

test('exposition_has_node_exporter_names_and_only_the_columns_the_kernel_has', () => {
  const old = diskExposition(selectDisks(parseDiskstats(read('4.14.0'))));
  assert.ok(!old.some((m) => m.name.startsWith('node_disk_discard')), 'no discard series on 4.14');
  const m = diskExposition(selectDisks(parseDiskstats(read('6.1.0'))));
  assert.deepEqual(
    metricOf(m, 'node_disk_read_bytes_total').samples.find((s) => s.labels?.device === 'vda'),
    { labels: { device: 'vda' }, value: 4000000 * 512 },
  );
  assert.equal(metricOf(m, 'node_disk_read_time_seconds_total').samples[0]!.value, 50);
  assert.equal(metricOf(m, 'node_disk_io_now').type, 'gauge');
  assert.equal(metricOf(m, 'node_disk_flush_requests_total').samples[0]!.value, 3000);
});

test('first_disk_sample_has_no_rates_but_has_the_in_flight_gauge', async () => {
  const rows = rowsOf(await createDiskCollector().collect(fakeContext()), 'host_disk');
  const vda = rows.find((r) => r.device === 'vda')!;
  assert.equal(vda.reads_per_s, null);
  assert.equal(vda.util_pct, null);
  assert.equal(vda.in_progress, 1);
});

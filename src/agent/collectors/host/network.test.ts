import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { collectFixturePair, fixture, metricOf, rowsOf } from '../../../../test/helpers/collect.js';
import { createNetworkCollector, parseNetDev } from './network.js';

const read = (kernel: string): string => readFileSync(fixture('proc', kernel, 'net', 'dev'), 'utf8');

test('parses_net_dev_including_long_names_glued_to_their_counters', () => {
  const k414 = parseNetDev(read('4.14.0'));
  assert.deepEqual(
    k414.map((s) => s.device),
    ['lo', 'eth0'],
  );
  assert.equal(k414[1]!.counters.receive_bytes, 9876543210);
  assert.equal(k414[1]!.counters.receive_multicast, 4321);
  const k510 = parseNetDev(read('5.10.0'));
  const veth = k510.find((s) => s.device === 'vethabcdef1234')!;
  assert.equal(veth.counters.receive_bytes, 1200);
  assert.equal(veth.counters.transmit_packets, 30);
});

test('malformed_net_dev_is_a_clear_error', () => {
  const header = 'Inter-|\n face |\n';
  assert.throws(
    () => parseNetDev(`${header}eth0 1 2 3\n`),
    /\/proc\/net\/dev line 3: expected "interface: counters"/,
  );
  assert.throws(() => parseNetDev(`${header}eth0: 1 2 3\n`), /expected an interface name and 16 counters/);
});

test('network_counter_reset_yields_no_rate_for_that_interval', async () => {
  const { second } = await collectFixturePair(createNetworkCollector());
  const rows = new Map(rowsOf(second, 'host_network').map((r) => [r.interface, r]));
  // eth0's driver was reloaded between the two samples: its counters restarted near zero.
  const eth0 = rows.get('eth0')!;
  assert.equal(eth0.rx_bytes_per_s, null);
  assert.equal(eth0.tx_packets_per_s, null);
  assert.equal(eth0.tx_errors_per_s, null, 'its error counter did not go back, but the interface was reset');
  // lo kept counting: +10000 bytes and +100 packets in 10 s.
  const lo = rows.get('lo')!;
  assert.equal(lo.rx_bytes_per_s, 1000);
  assert.equal(lo.tx_packets_per_s, 10);
  assert.equal(lo.rx_errors_per_s, 0);
});

test('network_rates_resume_on_the_interval_after_a_reset', async () => {
  const collector = createNetworkCollector();
  const pair = await collectFixturePair(collector);
  pair.ctx.advance(10_000);
  // Same counters again: a true zero rate now that the base is the post-reset value.
  const third = await collector.collect(pair.ctx);
  const eth0 = rowsOf(third, 'host_network').find((r) => r.interface === 'eth0')!;
  assert.equal(eth0.rx_bytes_per_s, 0);
});

test('exposes_all_sixteen_counters_under_node_exporter_names', async () => {
  const { ctx } = await collectFixturePair(createNetworkCollector());
  const names = ctx.exposed!.map((m) => m.name);
  assert.equal(names.length, 16);
  assert.ok(names.includes('node_network_receive_bytes_total'));
  assert.ok(names.includes('node_network_transmit_colls_total'));
  const rx = metricOf(ctx.exposed, 'node_network_receive_bytes_total');
  assert.deepEqual(
    rx.samples.find((s) => s.labels?.device === 'lo'),
    { labels: { device: 'lo' }, value: 1010000 },
  );
});

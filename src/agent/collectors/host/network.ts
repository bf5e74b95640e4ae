/**
 * Network traffic per interface, from /proc/net/dev (the network namespace of the reading process, as
 * node_exporter reads it: run the agent in the host's network namespace to see the host's interfaces).
 *
 * Stored rows (host_network): bytes, packets, errors and drops per second (null for the first sample and
 * for an interval in which a counter went backwards, e.g. after a driver reload).
 * Exposition: all sixteen counters under node_exporter's names (node_network_receive_bytes_total{device}).
 */
import { CounterTracker, perSecond } from '../../rates.js';
import { fieldsOf, linesOf, ParseError, parseCount, readKernelFile } from '../proc.js';
import type { Collector, ExposedMetric, Row } from '../types.js';

const file = '/proc/net/dev';

/** The columns of /proc/net/dev, unchanged since Linux 2.6. */
export const netDevColumns = [
  'receive_bytes',
  'receive_packets',
  'receive_errs',
  'receive_drop',
  'receive_fifo',
  'receive_frame',
  'receive_compressed',
  'receive_multicast',
  'transmit_bytes',
  'transmit_packets',
  'transmit_errs',
  'transmit_drop',
  'transmit_fifo',
  'transmit_colls',
  'transmit_carrier',
  'transmit_compressed',
] as const;
export type NetDevColumn = (typeof netDevColumns)[number];

export interface NetDevStats {
  device: string;
  counters: Record<NetDevColumn, number>;
}

/** Parses /proc/net/dev (two header lines, then "name: 16 counters"). */
export function parseNetDev(text: string): NetDevStats[] {
  const out: NetDevStats[] = [];
  for (const line of linesOf(text)) {
    if (line.number <= 2) continue;
    const colon = line.text.indexOf(':');
    if (colon < 0) throw new ParseError(file, 'expected "interface: counters"', line);
    const device = line.text.slice(0, colon).trim();
    // With long names the first counter follows the colon without a space.
    const f = fieldsOf(line.text.slice(colon + 1));
    if (device === '' || f.length !== netDevColumns.length) {
      throw new ParseError(file, `expected an interface name and ${netDevColumns.length} counters`, line);
    }
    const counters = {} as Record<NetDevColumn, number>;
    netDevColumns.forEach((col, i) => {
      counters[col] = parseCount(f[i], file, col, line);
    });
    out.push({ device, counters });
  }
  return out;
}

const rowColumns: Array<[string, NetDevColumn]> = [
  ['rx_bytes_per_s', 'receive_bytes'],
  ['tx_bytes_per_s', 'transmit_bytes'],
  ['rx_packets_per_s', 'receive_packets'],
  ['tx_packets_per_s', 'transmit_packets'],
  ['rx_errors_per_s', 'receive_errs'],
  ['tx_errors_per_s', 'transmit_errs'],
  ['rx_drops_per_s', 'receive_drop'],
  ['tx_drops_per_s', 'transmit_drop'],
];

export function networkRows(stats: NetDevStats[], counters: CounterTracker, atMs: number): Row[] {
  const rows = stats.map((s) => {
    const d = counters.deltas(s.device, s.counters, atMs);
    const row: Row = { interface: s.device };
    for (const [column, source] of rowColumns) row[column] = perSecond(d[source]);
    return row;
  });
  counters.sweep();
  return rows;
}

export function networkExposition(stats: NetDevStats[]): ExposedMetric[] {
  return netDevColumns.map((col) => ({
    name: `node_network_${col}_total`,
    help: `Network device statistic ${col}.`,
    type: 'counter' as const,
    samples: stats.map((s) => ({ labels: { device: s.device }, value: s.counters[col] })),
  }));
}

export function createNetworkCollector(): Collector {
  const counters = new CounterTracker();
  return {
    name: 'network',
    defaultEnabled: true,
    intervalMs: 10_000,
    async collect(ctx) {
      const text = readKernelFile(ctx.procRoot, 'net/dev');
      const atMs = ctx.monotonic();
      const ts = ctx.now();
      const stats = parseNetDev(text);
      ctx.expose?.(networkExposition(stats));
      return [{ family: 'host_network', ts, rows: networkRows(stats, counters, atMs) }];
    },
  };
}

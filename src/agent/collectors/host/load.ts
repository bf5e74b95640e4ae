/**
 * Load averages over 1, 5 and 15 minutes, from /proc/loadavg (node_load1/5/15 in the exposition).
 */

import { fieldsOf, ParseError, parseDecimal, readKernelFile } from '../proc.js';
import type { Collector, ExposedMetric, Row } from '../types.js';

const file = '/proc/loadavg';

export interface LoadAverage {
  load1: number;
  load5: number;
  load15: number;
}

/** Parses /proc/loadavg ("0.52 0.58 0.59 1/234 5678"). */
export function parseLoadavg(text: string): LoadAverage {
  const line = text.split('\n')[0] ?? '';
  const f = fieldsOf(line);
  if (f.length < 3) throw new ParseError(file, 'expected three load averages', { number: 1, text: line });
  const ref = { number: 1, text: line };
  return {
    load1: parseDecimal(f[0], file, 'load1', ref),
    load5: parseDecimal(f[1], file, 'load5', ref),
    load15: parseDecimal(f[2], file, 'load15', ref),
  };
}

export function loadRow(load: LoadAverage): Row {
  return { load1: load.load1, load5: load.load5, load15: load.load15 };
}

export function loadExposition(load: LoadAverage): ExposedMetric[] {
  return [
    { name: 'node_load1', help: '1m load average.', type: 'gauge', samples: [{ value: load.load1 }] },
    { name: 'node_load5', help: '5m load average.', type: 'gauge', samples: [{ value: load.load5 }] },
    { name: 'node_load15', help: '15m load average.', type: 'gauge', samples: [{ value: load.load15 }] },
  ];
}

/** Stateless (gauges only), so one object serves every agent. */
export const loadCollector: Collector = {
  name: 'load',
  defaultEnabled: true,
  intervalMs: 10_000,
  async collect(ctx) {
    const text = readKernelFile(ctx.procRoot, 'loadavg');
    const ts = ctx.now();
    const load = parseLoadavg(text);
    ctx.expose?.(loadExposition(load));
    return [{ family: 'host_load', ts, rows: [loadRow(load)] }];
  },
};

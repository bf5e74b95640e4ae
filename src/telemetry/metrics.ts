/**
 * The program's own metrics (server: HTTP, ingest, jobs, pool), kept in memory and served as Prometheus
 * text. Names follow `pgvigil_<name>_<unit>[_total]` in base units. Label sets are few and fixed by
 * code (route, reason, status), never taken from input, so cardinality stays bounded.
 */

import { escapeHelp, escapeLabelValue, formatValue } from './prometheus-text.js';

type Labels = Record<string, string>;

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}="${escapeLabelValue(labels[k]!)}"`).join(',');
}

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(): string;
}

export class Counter implements Metric {
  readonly type = 'counter';
  private values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels?: Labels, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  /** For a total counted elsewhere (a table of the store) and read at scrape time. */
  set(value: number, labels?: Labels): void {
    this.values.set(labelKey(labels), value);
  }
  render(): string {
    let out = '';
    for (const [k, v] of this.values) out += `${this.name}${k ? `{${k}}` : ''} ${formatValue(v)}\n`;
    return out;
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge';
  private values = new Map<string, number | (() => number)>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(value: number | (() => number), labels?: Labels): void {
    this.values.set(labelKey(labels), value);
  }
  render(): string {
    let out = '';
    for (const [k, v] of this.values) {
      out += `${this.name}${k ? `{${k}}` : ''} ${formatValue(typeof v === 'function' ? v() : v)}\n`;
    }
    return out;
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram';
  private series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}
  observe(value: number, labels?: Labels): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string {
    let out = '';
    for (const [k, s] of this.series) {
      const sep = k ? `${k},` : '';
      this.buckets.forEach((b, i) => {
        out += `${this.name}_bucket{${sep}le="${formatValue(b)}"} ${s.counts[i]}\n`;
      });
      out += `${this.name}_bucket{${sep}le="+Inf"} ${s.count}\n`;
      out += `${this.name}_sum${k ? `{${k}}` : ''} ${formatValue(s.sum)}\n`;
      out += `${this.name}_count${k ? `{${k}}` : ''} ${s.count}\n`;
    }
    return out;
  }
}

export const secondsBuckets = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

export class Registry {
  private metrics: Metric[] = [];
  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help));
  }
  histogram(name: string, help: string, buckets: readonly number[] = secondsBuckets): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }
  private add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    let out = '';
    for (const m of this.metrics) {
      const body = m.render();
      if (body === '') continue;
      out += `# HELP ${m.name} ${escapeHelp(m.help)}\n# TYPE ${m.name} ${m.type}\n${body}`;
    }
    return out;
  }
}

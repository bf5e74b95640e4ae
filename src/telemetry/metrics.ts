/**
 * The server's own metrics (HTTP, ingest, jobs, pool, live feed), kept by prom-client and served as
 * Prometheus text. Names follow `pgvigil_<name>_<unit>[_total]` in base units. Label sets are few and
 * fixed by code (route, reason, status), never taken from input, so cardinality stays bounded.
 *
 * This is a thin face over prom-client so that call sites stay short (`registry.counter(name, help)`,
 * `.inc(labels)`, `.gauge(…).set(fn)`): prom-client wants label names declared up front, so each metric
 * is created on its first sample with that sample's label names (a later sample with another label name
 * is a programming error and throws). A metric appears on /metrics once it has a sample, as before.
 */
import * as prom from 'prom-client';

type Labels = Record<string, string>;

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  return JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  );
}

abstract class Lazy<M extends prom.Metric> {
  private made: M | undefined;
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly into: prom.Registry,
  ) {}
  protected abstract make(config: prom.MetricConfiguration<string>): M;
  /** The prom-client metric, made with these label names on first use. */
  protected metric(labels: Labels | undefined): M {
    this.made ??= this.make({
      name: this.name,
      help: this.help,
      labelNames: labels ? Object.keys(labels) : [],
      registers: [this.into],
    });
    return this.made;
  }
  get created(): boolean {
    return this.made !== undefined;
  }
}

export class Counter extends Lazy<prom.Counter> {
  protected make(config: prom.CounterConfiguration<string>) {
    return new prom.Counter(config);
  }
  inc(labels?: Labels, by = 1): void {
    const m = this.metric(labels);
    if (labels) m.inc(labels, by);
    else m.inc(by);
  }
  /** For a total counted elsewhere (a table of the store) and read at scrape time. */
  set(value: number, labels?: Labels): void {
    const m = this.metric(labels);
    if (labels) {
      m.remove(labels);
      m.inc(labels, value);
    } else {
      m.reset();
      m.inc(value);
    }
  }
}

export class Gauge extends Lazy<prom.Gauge> {
  /** Values read at each scrape, by label set. */
  private readonly readers = new Map<string, { labels: Labels; read: () => number }>();
  protected make(config: prom.GaugeConfiguration<string>) {
    const readers = this.readers;
    return new prom.Gauge({
      ...config,
      collect() {
        for (const { labels, read } of readers.values()) this.set(labels, read());
      },
    });
  }
  set(value: number | (() => number), labels?: Labels): void {
    const m = this.metric(labels);
    if (typeof value === 'function') {
      this.readers.set(labelKey(labels), { labels: labels ?? {}, read: value });
      return;
    }
    this.readers.delete(labelKey(labels));
    m.set(labels ?? {}, value);
  }
}

export class Histogram extends Lazy<prom.Histogram> {
  constructor(
    name: string,
    help: string,
    into: prom.Registry,
    readonly buckets: readonly number[],
  ) {
    super(name, help, into);
  }
  protected make(config: prom.HistogramConfiguration<string>) {
    return new prom.Histogram({ ...config, buckets: [...this.buckets] });
  }
  observe(value: number, labels?: Labels): void {
    const m = this.metric(labels);
    if (labels) m.observe(labels, value);
    else m.observe(value);
  }
}

export const secondsBuckets = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

export class Registry {
  private readonly prom = new prom.Registry();
  /** In the order they were declared, which is the order of the exposition. */
  private readonly metrics: Array<Counter | Gauge | Histogram> = [];
  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help, this.prom));
  }
  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help, this.prom));
  }
  histogram(name: string, help: string, buckets: readonly number[] = secondsBuckets): Histogram {
    return this.add(new Histogram(name, help, this.prom, buckets));
  }
  private add<M extends Counter | Gauge | Histogram>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} declared twice`);
    this.metrics.push(m);
    return m;
  }
  /** The exposition text (format 0.0.4). */
  async render(): Promise<string> {
    let out = '';
    for (const m of this.metrics) {
      if (m.created) out += `${await this.prom.getSingleMetricAsString(m.name)}\n`;
    }
    return out;
  }
}

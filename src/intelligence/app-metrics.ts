/**
 * Request rate, error rate and latency p95 of scraped applications (family app_metric), per scrape target,
 * as entries of the metric catalogue (./metrics.ts): baselines learn them and the anomaly checks judge them
 * like any host or PostgreSQL metric. Pure: each compute turns one step of app_metric series (counters as
 * the step's increase) into one value per target.
 *
 * Which series are read (the conventions of Prometheus client libraries; other names are stored but not
 * derived — say so in docs/configuration.md):
 * - requests: `http_requests_total`; when a target has none, the histogram's
 *   `http_request_duration_seconds_count` or Spring's `http_server_requests_seconds_count`;
 * - errors: those requests whose `code` or `status` label starts with 5;
 * - latency: the histogram `http_request_duration_seconds_bucket`, p95 by linear interpolation inside the
 *   bucket as Prometheus's histogram_quantile does (the +Inf bucket answers with the largest finite bound).
 * No value where the step saw no request (no rate from nothing, no error share of zero requests).
 */
import type { MetricDef, MetricValue, StepRow } from './metrics.js';

export const requestSeries = [
  'http_requests_total',
  'http_request_duration_seconds_count',
  'http_server_requests_seconds_count',
] as const;
export const latencyBuckets = 'http_request_duration_seconds_bucket';

/** The app_metric names the app metrics read (one filter for all three, so one read serves them). */
export const appLabelFilter = [...requestSeries, latencyBuckets].map((n) => `name:${n}`);

/** Label values of canonical label text `k="v",…` (as src/scrape/samples.ts writes it). */
export function parseCanonicalLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const m of text.matchAll(re)) {
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

const fin = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

function byTarget(rows: readonly StepRow[]): Map<string, StepRow[]> {
  const out = new Map<string, StepRow[]>();
  for (const r of rows) {
    const t = r.labels.target ?? '';
    const g = out.get(t);
    if (g) g.push(r);
    else out.set(t, [r]);
  }
  return out;
}

/** The request series of one target: the first name of `requestSeries` it has. */
function requestRows(rows: readonly StepRow[]): StepRow[] {
  for (const name of requestSeries) {
    const hit = rows.filter((r) => r.labels.name === name && fin(r.v.counter));
    if (hit.length > 0) return hit;
  }
  return [];
}

function isError(r: StepRow): boolean {
  const l = parseCanonicalLabels(r.labels.labels ?? '');
  const code = l.code ?? l.status ?? '';
  return /^5\d\d$/.test(code);
}

/** Requests per second per target over the step. */
export function requestRate(rows: readonly StepRow[], stepSeconds: number): MetricValue[] {
  const out: MetricValue[] = [];
  for (const [target, g] of byTarget(rows)) {
    const req = requestRows(g);
    if (req.length === 0 || stepSeconds <= 0) continue;
    out.push({ object: target, value: req.reduce((s, r) => s + r.v.counter!, 0) / stepSeconds });
  }
  return out;
}

/** Share of requests answered with a 5xx, % per target; none where the step saw no request. */
export function errorPct(rows: readonly StepRow[]): MetricValue[] {
  const out: MetricValue[] = [];
  for (const [target, g] of byTarget(rows)) {
    const req = requestRows(g);
    const total = req.reduce((s, r) => s + r.v.counter!, 0);
    if (total <= 0) continue;
    const errors = req.filter(isError).reduce((s, r) => s + r.v.counter!, 0);
    out.push({ object: target, value: (100 * errors) / total });
  }
  return out;
}

/**
 * The q-quantile of cumulative buckets [(upper bound, count)], as Prometheus's histogram_quantile: linear
 * inside the bucket; in the +Inf bucket, the largest finite bound. Undefined without observations.
 */
export function histogramQuantile(
  q: number,
  buckets: ReadonlyArray<readonly [number, number]>,
): number | undefined {
  const b = [...buckets].sort((x, y) => x[0] - y[0]);
  if (b.length === 0) return undefined;
  const total = b.at(-1)![1];
  if (!(total > 0) || b.at(-1)![0] !== Number.POSITIVE_INFINITY) return undefined;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of b) {
    if (count >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return b.length > 1 ? b.at(-2)![0] : undefined;
      if (count === prevCount) return bound;
      return prevBound + ((bound - prevBound) * (rank - prevCount)) / (count - prevCount);
    }
    prevBound = bound;
    prevCount = count;
  }
  return undefined;
}

/** p95 request latency, seconds per target, from the histogram's bucket increases over the step. */
export function latencyP95(rows: readonly StepRow[]): MetricValue[] {
  const out: MetricValue[] = [];
  for (const [target, g] of byTarget(rows)) {
    const byLe = new Map<number, number>();
    for (const r of g) {
      if (r.labels.name !== latencyBuckets || !fin(r.v.counter)) continue;
      const le = parseCanonicalLabels(r.labels.labels ?? '').le;
      const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
      if (le === undefined || Number.isNaN(bound)) continue;
      byLe.set(bound, (byLe.get(bound) ?? 0) + r.v.counter);
    }
    const p = histogramQuantile(0.95, [...byLe]);
    if (p !== undefined) out.push({ object: target, value: p });
  }
  return out;
}

const common = {
  family: 'app_metric',
  scope: 'host',
  columns: ['counter'],
  labelFilter: appLabelFilter,
  object: 'app',
} as const;

const look = (target: string) =>
  `curl -s <the ${target} target's URL> | grep -E '^http_request' (GET /api/v1/scrape-targets lists the URL), then the application's own logs`;

/** The catalogue entries (./metrics.ts appends them). */
export const appMetricDefs: MetricDef[] = [
  {
    ...common,
    id: 'app.request_rate',
    unit: '1/s',
    better: 'both',
    title: 'Application requests per second',
    how: 'increase of http_requests_total (else http_request_duration_seconds_count) per second, summed over its labels, per scrape target (app_metric)',
    floor: { abs: 0.5, rel: 0.2 },
    action: look,
    compute: (rows, step) => requestRate(rows, step),
  },
  {
    ...common,
    id: 'app.error_pct',
    unit: '%',
    better: 'lower',
    title: 'Application 5xx share',
    how: 'requests with a 5xx code or status label / all requests × 100 over the step, per scrape target; none without requests (app_metric)',
    floor: { abs: 1, rel: 0.2 },
    action: look,
    compute: (rows) => errorPct(rows),
  },
  {
    ...common,
    id: 'app.latency_p95_s',
    unit: 's',
    better: 'lower',
    title: 'Application latency p95',
    how: 'p95 of http_request_duration_seconds over the step, from the bucket increases (as histogram_quantile), per scrape target (app_metric)',
    floor: { abs: 0.01, rel: 0.2 },
    action: look,
    compute: (rows) => latencyP95(rows),
  },
];

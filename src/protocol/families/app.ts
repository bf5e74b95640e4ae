/**
 * Application metrics scraped over HTTP (Prometheus text, OpenMetrics, JSON with a mapping): the narrow
 * generic table of DESIGN.md. One row per scraped series and scrape; the series is named by the scrape
 * target, the metric name and its labels in canonical text. Each row carries its value in exactly one of
 * `gauge` and `counter` (the other null), so rollups treat counters as reset-aware increases.
 */
import type { FamilySpec } from './types.js';
import { label } from './types.js';

export const appFamilies = {
  app_metric: {
    name: 'app_metric',
    help: 'Scraped application series (Prometheus text, OpenMetrics, mapped JSON), one row per series and scrape.',
    scope: 'host',
    columns: [
      label('target', 'scrape target name'),
      label('name', 'metric (sample) name, e.g. http_requests_total, http_request_duration_seconds_bucket'),
      label(
        'labels',
        'the sample\'s labels as canonical text: k="v" pairs sorted by name, comma-separated, values escaped as in Prometheus text',
      ),
      {
        name: 'gauge',
        type: 'float8',
        help: 'value of a gauge-like sample (gauge, untyped, summary quantile); null for counters',
      },
      {
        name: 'counter',
        type: 'float8',
        counter: true,
        help: 'value of a cumulative sample (counter, histogram bucket/sum/count, summary sum/count); null for gauges',
      },
    ],
  },
} as const satisfies Record<string, FamilySpec>;

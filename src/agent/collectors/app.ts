/**
 * Application metrics of local apps (`scrape_targets_file`): one collector per scrape target, on the
 * target's own interval, scraping it over HTTP (src/scrape: bounded fetch, Prometheus text/OpenMetrics or
 * JSON with a mapping, the per-target series limit) into family app_metric. No SSRF rules here: the agent
 * scrapes what its own operator configured on its host; the server's rules are for URLs typed into the API.
 *
 * A failed scrape throws (the scheduler records the collector as failing with the error) and stores
 * nothing. Dropped samples are counted per reason and exposed on the agent's /metrics as
 * `pgvigil_agent_scrape_dropped_samples_total`, with the series kept as `pgvigil_agent_scrape_series`.
 */
import { appMetricRows } from '../../scrape/samples.js';
import { type ScrapeTarget, scrapeTarget } from '../../scrape/target.js';
import type { Collector, ExposedMetric } from './types.js';

export function createAppScrapeCollector(target: ScrapeTarget): Collector {
  let previous: Set<string> | undefined;
  const droppedTotal = new Map<string, number>();
  let lastSeries = 0;
  const exposition = (): ExposedMetric[] => [
    {
      name: 'pgvigil_agent_scrape_series',
      help: 'Series stored by the last scrape of an application target.',
      type: 'gauge',
      samples: [{ labels: { target: target.name }, value: lastSeries }],
    },
    {
      name: 'pgvigil_agent_scrape_dropped_samples_total',
      help: 'Scraped samples not stored, by target and reason (series_limit, non_finite, duplicate, …).',
      type: 'counter',
      samples: [...droppedTotal].map(([reason, value]) => ({
        labels: { target: target.name, reason },
        value,
      })),
    },
  ];
  return {
    name: `scrape:${target.name}`,
    defaultEnabled: true,
    intervalMs: target.intervalMs,
    ownInterval: true,
    async collect(ctx) {
      const ts = ctx.now();
      const out = await scrapeTarget(target, { previous });
      previous = out.kept;
      lastSeries = out.samples.length;
      for (const [reason, n] of Object.entries(out.dropped))
        droppedTotal.set(reason, (droppedTotal.get(reason) ?? 0) + n);
      ctx.expose?.(exposition());
      return [{ family: 'app_metric', ts, rows: appMetricRows(target.name, out.samples) }];
    },
  };
}

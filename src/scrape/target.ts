/**
 * A scrape target's definition, shared by the agent (`scrape_targets_file`) and the server (the
 * /scrape-targets API), and one scrape of it: fetch (bounded, src/scrape/http.ts), parse by format, keep
 * at most `maxSeries` series. The result is what to store and what was dropped, counted by reason.
 */
import { type AddressPolicy, fetchBounded } from './http.js';
import { type JsonMetricMapping, parseJsonMapping, parseJsonMetrics } from './json.js';
import { parsePrometheusText } from './prometheus.js';
import {
  type DropCounts,
  defaultParseLimits,
  limitSeries,
  type ScrapedSample,
  ScrapeParseError,
} from './samples.js';

export type ScrapeFormat = 'prometheus' | 'json';

export interface ScrapeTarget {
  /** Stored as the `target` label of app_metric. */
  name: string;
  url: string;
  format: ScrapeFormat;
  intervalMs: number;
  timeoutMs: number;
  maxBytes: number;
  maxSeries: number;
  /** For format json: which fields become which metrics. */
  jsonMapping?: JsonMetricMapping[];
}

export const scrapeDefaults = {
  intervalMs: 15_000,
  timeoutMs: 5_000,
  maxBytes: 4 * 1024 * 1024,
  maxSeries: 2_000,
} as const;

export const scrapeBounds = {
  intervalMs: [1_000, 86_400_000],
  timeoutMs: [100, 30_000],
  maxBytes: [1_024, 64 * 1024 * 1024],
  maxSeries: [1, 100_000],
} as const;

export const targetNameRe = /^[A-Za-z0-9_.:-]{1,100}$/;

const acceptProm =
  'application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.8,*/*;q=0.1';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A target from data (a config file's entry): checked field by field, defaults filled in. The error names
 * the field (`scrape target web.timeout_ms: …`). Keys in snake_case, as in the config files.
 */
export function parseScrapeTarget(input: unknown, where = 'scrape target'): ScrapeTarget {
  if (!isObject(input)) throw new ScrapeParseError(`${where}: expected a table/object`);
  const known = [
    'name',
    'url',
    'format',
    'interval_ms',
    'timeout_ms',
    'max_bytes',
    'max_series',
    'json_mapping',
  ];
  for (const k of Object.keys(input)) {
    if (!known.includes(k))
      throw new ScrapeParseError(`${where}: unknown key "${k.slice(0, 40)}" (known: ${known.join(', ')})`);
  }
  const name = input.name;
  if (typeof name !== 'string' || !targetNameRe.test(name))
    throw new ScrapeParseError(`${where}.name: expected 1-100 of A-Z a-z 0-9 _ . : -`);
  const at = `scrape target ${name}`;
  const url = input.url;
  let parsed: URL | undefined;
  try {
    parsed = typeof url === 'string' && url.length <= 2048 ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:'))
    throw new ScrapeParseError(`${at}.url: expected an http:// or https:// URL`);
  const format = input.format ?? 'prometheus';
  if (format !== 'prometheus' && format !== 'json')
    throw new ScrapeParseError(`${at}.format: expected prometheus or json`);
  const num = (key: string, field: keyof typeof scrapeBounds): number => {
    const v = input[key] ?? scrapeDefaults[field];
    const [lo, hi] = scrapeBounds[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
      throw new ScrapeParseError(`${at}.${key}: expected a whole number from ${lo} to ${hi}`);
    return v;
  };
  const target: ScrapeTarget = {
    name,
    url: parsed.href,
    format,
    intervalMs: num('interval_ms', 'intervalMs'),
    timeoutMs: num('timeout_ms', 'timeoutMs'),
    maxBytes: num('max_bytes', 'maxBytes'),
    maxSeries: num('max_series', 'maxSeries'),
  };
  if (target.timeoutMs > target.intervalMs)
    throw new ScrapeParseError(
      `${at}.timeout_ms: ${target.timeoutMs} is longer than interval_ms ${target.intervalMs}`,
    );
  if (format === 'json') {
    try {
      target.jsonMapping = parseJsonMapping(input.json_mapping);
    } catch (err) {
      throw new ScrapeParseError(`${at}: ${(err as Error).message}`);
    }
  } else if (input.json_mapping !== undefined) {
    throw new ScrapeParseError(`${at}.json_mapping: only for format json`);
  }
  return target;
}

export interface ScrapeOutcome {
  samples: ScrapedSample[];
  dropped: DropCounts;
  /** Series kept (the next scrape's `previous`). */
  kept: Set<string>;
  bytes: number;
  durationMs: number;
  /** The address that answered. */
  address: string;
}

/** One scrape of `target`. Throws ScrapeFetchError (network, caps, SSRF) or ScrapeParseError. */
export async function scrapeTarget(
  target: ScrapeTarget,
  opts: { policy?: AddressPolicy; previous?: ReadonlySet<string>; maxRedirects?: number } = {},
): Promise<ScrapeOutcome> {
  const started = performance.now();
  const res = await fetchBounded(target.url, {
    timeoutMs: target.timeoutMs,
    maxBytes: target.maxBytes,
    accept: target.format === 'json' ? 'application/json' : acceptProm,
    policy: opts.policy,
    maxRedirects: opts.maxRedirects,
  });
  const parsed =
    target.format === 'json'
      ? parseJsonMetrics(res.body, target.jsonMapping ?? [], target.maxBytes)
      : parsePrometheusText(res.body, { ...defaultParseLimits, maxBytes: target.maxBytes });
  const limited = limitSeries(parsed.samples, target.maxSeries, opts.previous, parsed.dropped);
  return {
    samples: limited.samples,
    dropped: limited.dropped,
    kept: limited.kept,
    bytes: res.bytes,
    durationMs: performance.now() - started,
    address: res.address,
  };
}

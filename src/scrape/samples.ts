/**
 * What a scrape yields, whatever the format: samples (name, canonical labels, value, gauge or counter),
 * the bounds every parser walks under, and the per-target series limit. Pure.
 *
 * Canonical labels are the text `k="v",…` with the pairs sorted by name and values escaped as in the
 * Prometheus text format (`\\`, `\"`, `\n`), so one series has one spelling whatever order the endpoint
 * printed its labels in, and the text parses back unambiguously.
 */

export type SampleKind = 'gauge' | 'counter';

export interface ScrapedSample {
  /** Sample name as exposed (`http_requests_total`, `…_bucket`), or the mapped name for JSON. */
  name: string;
  /** Canonical label text (see the module header); '' without labels. */
  labels: string;
  value: number;
  kind: SampleKind;
}

/** Why a sample was not kept; each is counted, none is silent. */
export type DropReason =
  | 'series_limit'
  | 'duplicate'
  | 'non_finite'
  | 'name_too_long'
  | 'label_bounds'
  | 'created'
  | 'missing'
  | 'not_numeric';

export type DropCounts = Partial<Record<DropReason, number>>;

export interface ParseLimits {
  /** Length of the text in UTF-16 units (the body was already capped in bytes by the fetch). */
  maxBytes: number;
  maxLines: number;
  /** Metric name length. */
  maxNameLength: number;
  /** Labels on one sample. */
  maxLabels: number;
  maxLabelNameLength: number;
  maxLabelValueLength: number;
}

export const defaultParseLimits: ParseLimits = {
  maxBytes: 4 * 1024 * 1024,
  maxLines: 200_000,
  maxNameLength: 200,
  maxLabels: 30,
  maxLabelNameLength: 100,
  maxLabelValueLength: 1024,
};

export interface ParseResult {
  samples: ScrapedSample[];
  dropped: DropCounts;
}

/** A body that cannot be read as its format; the message names the line or path. */
export class ScrapeParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScrapeParseError';
  }
}

export function countDrop(d: DropCounts, reason: DropReason, n = 1): void {
  d[reason] = (d[reason] ?? 0) + n;
}

export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

/** Canonical label text of name/value pairs (see the module header). */
export function canonicalLabels(pairs: ReadonlyArray<readonly [string, string]>): string {
  if (pairs.length === 0) return '';
  const sorted = [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return sorted.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',');
}

export function seriesKey(s: { name: string; labels: string }): string {
  return `${s.name}{${s.labels}}`;
}

/**
 * Keeps at most `limit` series. Series kept by the previous scrape (`previous`) keep their place first, so
 * the kept set stays stable while an endpoint adds series; the room left goes to new series in the
 * order the endpoint served them. The rest are dropped and counted as `series_limit`. Returns the kept
 * samples and the keys kept (the next scrape's `previous`).
 */
export function limitSeries(
  samples: readonly ScrapedSample[],
  limit: number,
  previous: ReadonlySet<string> = new Set(),
  dropped: DropCounts = {},
): { samples: ScrapedSample[]; kept: Set<string>; dropped: DropCounts } {
  if (samples.length <= limit) {
    return { samples: [...samples], kept: new Set(samples.map(seriesKey)), dropped };
  }
  const keys = samples.map(seriesKey);
  const keep = new Array<boolean>(samples.length).fill(false);
  const kept = new Set<string>();
  keys.forEach((k, i) => {
    if (kept.size < limit && previous.has(k)) {
      keep[i] = true;
      kept.add(k);
    }
  });
  keys.forEach((k, i) => {
    if (!keep[i] && kept.size < limit) {
      keep[i] = true;
      kept.add(k);
    }
  });
  const out = samples.filter((_, i) => keep[i]);
  countDrop(dropped, 'series_limit', samples.length - out.length);
  return { samples: out, kept, dropped };
}

/** Rows of family app_metric (src/protocol/families/app.ts) for one target's samples. */
export function appMetricRows(
  target: string,
  samples: readonly ScrapedSample[],
): Array<{ target: string; name: string; labels: string; gauge: number | null; counter: number | null }> {
  return samples.map((s) => ({
    target,
    name: s.name,
    labels: s.labels,
    gauge: s.kind === 'gauge' ? s.value : null,
    counter: s.kind === 'counter' ? s.value : null,
  }));
}

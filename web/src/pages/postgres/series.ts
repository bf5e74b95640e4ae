/**
 * Series helpers of the PostgreSQL sections: one request per family, then sums over label sets (every
 * database, every standby) and per-second rates from counters' per-step increases. A step missing in
 * every series stays missing (a gap), never a zero.
 */
import { fetchSeries, type Series, type SeriesResponse } from '../../api';
import type { ChartSeries } from '../../components/Chart';
import { useData } from '../../data';
import { rangeKey, type TimeRange } from '../../time';

export type Points = [number, number | null][];

/** One family's series of a target over the page's range. */
export function useFamily(
  family: string,
  server: number,
  target: number,
  metrics: readonly string[],
  range: TimeRange,
) {
  return useData(
    (signal) =>
      fetchSeries({ family, server, target, metrics: [...metrics], from: range.from, to: range.to }, signal),
    [family, server, target, metrics.join(','), rangeKey(range)],
  );
}

/** The sum over every label set of one metric, per step (steps no series has are left out). */
export function sumOf(res: SeriesResponse | undefined, metric: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of res?.series ?? []) {
    if (s.metric !== metric) continue;
    for (const [t, v] of s.points) out.set(t, (out.get(t) ?? 0) + v);
  }
  return out;
}

/** A per-step map as chart points, in time order, optionally transformed. */
export function pointsOf(
  m: Map<number, number>,
  f: (v: number, t: number) => number | null = (v) => v,
): Points {
  return [...m].sort((a, b) => a[0] - b[0]).map(([t, v]) => [t, f(v, t)] as [number, number | null]);
}

/** A counter summed over label sets, as a per-second rate. */
export function ratePoints(res: SeriesResponse | undefined, metric: string): Points {
  const step = res?.stepSeconds ?? 1;
  return pointsOf(sumOf(res, metric), (v) => v / step);
}

/** One chart line per label set of `metric`, named by `name(labels)`. */
export function perLabel(
  res: SeriesResponse | undefined,
  metric: string,
  name: (labels: Series['labels']) => string,
  scale = 1,
): ChartSeries[] {
  return (res?.series ?? [])
    .filter((s) => s.metric === metric)
    .map((s) => ({ label: name(s.labels), points: s.points.map(([t, v]) => [t, v * scale] as const) }));
}

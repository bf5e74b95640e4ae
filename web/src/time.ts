/**
 * The one time range of every page, kept in the URL as `from` and `to`: either relative (`now-1h`, `now`)
 * or absolute (ms since the epoch, as a drag-zoom sets them). Relative ranges move with the clock and are
 * refreshed; absolute ones stay put.
 */
import { useEffect, useState } from 'preact/hooks';
import { setQuery, useLocation } from './router';

export interface TimeRange {
  from: number;
  to: number;
  /** Relative to now (moves with the clock). */
  live: boolean;
  /** The URL form, e.g. { from: 'now-1h', to: 'now' }. */
  raw: { from: string; to: string };
}

export const presets = [
  { label: '15 minutes', from: 'now-15m' },
  { label: '1 hour', from: 'now-1h' },
  { label: '6 hours', from: 'now-6h' },
  { label: '24 hours', from: 'now-24h' },
  { label: '7 days', from: 'now-7d' },
  { label: '30 days', from: 'now-30d' },
] as const;

export const defaultFrom = 'now-1h';
const units: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };

/** `now`, `now-15m`, or ms since the epoch → ms; undefined when it is neither. */
export function parseTime(text: string, now: number): number | undefined {
  if (text === 'now') return now;
  const rel = /^now-(\d{1,6})([smhd])$/.exec(text);
  if (rel) return now - Number(rel[1]) * units[rel[2]!]!;
  if (/^\d{10,16}$/.test(text)) return Number(text);
  return undefined;
}

export function rangeOf(query: URLSearchParams, now: number): TimeRange {
  let rawFrom = query.get('from') ?? defaultFrom;
  let rawTo = query.get('to') ?? 'now';
  let from = parseTime(rawFrom, now);
  let to = parseTime(rawTo, now);
  if (from === undefined || to === undefined || from >= to) {
    rawFrom = defaultFrom;
    rawTo = 'now';
    from = parseTime(rawFrom, now)!;
    to = now;
  }
  return { from, to, live: rawTo === 'now', raw: { from: rawFrom, to: rawTo } };
}

/** How often a live range refreshes: often for short ranges, rarely for long ones. */
export function refreshEveryMs(range: TimeRange): number {
  const span = range.to - range.from;
  if (span <= 3600e3) return 15e3;
  if (span <= 86400e3) return 60e3;
  return 300e3;
}

/**
 * The range of the current URL. A live range is re-read at every `refreshEveryMs` boundary of the clock,
 * which is when its `rangeKey` changes, so pages that load on that key reload on their own (auto-refresh).
 */
export function useTimeRange(): TimeRange {
  const loc = useLocation();
  const [tick, setTick] = useState(0);
  const range = rangeOf(loc.query, Date.now());
  useEffect(() => {
    if (!range.live) return;
    const every = refreshEveryMs(range);
    // Just past the next boundary, so the render it causes sees the new key.
    const t = setTimeout(() => setTick((n) => n + 1), every - (Date.now() % every) + 5);
    return () => clearTimeout(t);
  }, [range.live, range.raw.from, range.raw.to, tick]);
  return range;
}

export function setRange(from: string, to = 'now'): void {
  setQuery({
    from: from === defaultFrom && to === 'now' ? undefined : from,
    to: to === 'now' ? undefined : to,
  });
}

/** A drag-zoom: absolute bounds (at least 1 minute wide). */
export function zoomTo(from: number, to: number): void {
  if (to - from < 60e3) to = from + 60e3;
  setRange(String(Math.round(from)), String(Math.round(to)));
}

/**
 * A dependency key for loading data of a range: `from`/`to` of a live range move with every render (they
 * are computed from the clock), so depending on them reloads in a loop. The key changes when the range
 * changes and, for a live range, once per `refreshEveryMs`.
 */
export function rangeKey(range: TimeRange): string {
  if (!range.live) return `${range.from}-${range.to}`;
  return `${range.raw.from}|${Math.floor(range.to / refreshEveryMs(range))}`;
}

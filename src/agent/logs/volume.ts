/**
 * Volume control for one source: at most `maxPerInterval` entries per interval, and flood protection that
 * lets at most `maxPerFingerprint` entries of one fingerprint through per interval (a crash loop writing
 * the same error 10,000 times a second should not push everything else out).
 *
 * Nothing is dropped silently: every drop is counted (totals in `stats()`, for the agent's own metrics),
 * and when an interval with drops ends, a `log_entries_dropped` entry reports how many entries were dropped
 * per fingerprint, with a sample message of each, under the same source.
 */
import type { LogEntry } from '../../protocol/logs.js';
import { currentMemoryBounds } from '../memory.js';
import { fingerprintOf } from './fingerprint.js';

export interface VolumeOptions {
  intervalMs?: number;
  maxPerInterval?: number;
  maxPerFingerprint?: number;
  /**
   * Distinct fingerprints counted per interval (default: the agent's memory budget's). A flood of
   * entries that all differ would otherwise grow the counters without bound; past this many, new
   * fingerprints share one counter (so flood protection treats them as one).
   */
  maxTrackedFingerprints?: number;
}

export interface VolumeStats {
  admitted: number;
  dropped: number;
  droppedByCap: number;
  droppedByFlood: number;
}

interface Dropped {
  count: number;
  level: string;
  sample: string;
}

/**
 * Entries dropped by every limiter of this process. Kept apart from the limiters because a source is
 * replaced when the server pushes new log settings: the agent's counters must not go back then.
 */
const processDrops = { cap: 0, flood: 0 };

/** Entries the volume limits of all log sources dropped since the agent started. */
export function volumeDropTotals(): { cap: number; flood: number } {
  return { ...processDrops };
}

/** How many distinct dropped fingerprints a report lists (the rest are summed under "other"). */
const maxReported = 20;
/** Distinct dropped fingerprints kept with a sample per interval; drops past it are only counted. */
const maxDroppedKept = 1000;
/** The shared counter of fingerprints past `maxTrackedFingerprints`. */
const untrackedKey = '(untracked)';

export class VolumeLimiter {
  private readonly intervalMs: number;
  private readonly maxPerInterval: number;
  private readonly maxPerFingerprint: number;
  private readonly maxTracked: number;
  private windowStart = -1;
  private inWindow = 0;
  private perFingerprint = new Map<string, number>();
  private dropped = new Map<string, Dropped>();
  private droppedByCapInWindow = 0;
  private droppedByFloodInWindow = 0;
  /** Drops in this interval whose fingerprint was past `maxDroppedKept` (counted, no sample). */
  private droppedUnkeptInWindow = 0;
  private readonly totals: VolumeStats = { admitted: 0, dropped: 0, droppedByCap: 0, droppedByFlood: 0 };

  constructor(
    private readonly source: string,
    opts: VolumeOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.maxPerInterval = opts.maxPerInterval ?? 10_000;
    this.maxPerFingerprint = opts.maxPerFingerprint ?? 1_000;
    this.maxTracked = opts.maxTrackedFingerprints ?? currentMemoryBounds().maxTrackedFingerprints;
  }

  /** Filters a batch; returns what to keep, plus a drop report when an interval with drops has ended. */
  apply(entries: LogEntry[], now: number): LogEntry[] {
    const out: LogEntry[] = [];
    this.roll(now, out);
    for (const e of entries) {
      const key =
        this.perFingerprint.has(e.fingerprint) || this.perFingerprint.size < this.maxTracked
          ? e.fingerprint
          : untrackedKey;
      const n = (this.perFingerprint.get(key) ?? 0) + 1;
      this.perFingerprint.set(key, n);
      if (this.inWindow >= this.maxPerInterval) this.drop(e, 'cap');
      else if (n > this.maxPerFingerprint) this.drop(e, 'flood');
      else {
        this.inWindow++;
        this.totals.admitted++;
        out.push(e);
      }
    }
    return out;
  }

  /** Ends the current interval if due (call when idle too, so a report is not held back). */
  tick(now: number): LogEntry[] {
    const out: LogEntry[] = [];
    this.roll(now, out);
    return out;
  }

  stats(): VolumeStats {
    return { ...this.totals };
  }

  private drop(e: LogEntry, why: 'cap' | 'flood'): void {
    this.totals.dropped++;
    processDrops[why]++;
    if (why === 'cap') {
      this.totals.droppedByCap++;
      this.droppedByCapInWindow++;
    } else {
      this.totals.droppedByFlood++;
      this.droppedByFloodInWindow++;
    }
    const d = this.dropped.get(e.fingerprint);
    if (d) d.count++;
    else if (this.dropped.size < maxDroppedKept)
      this.dropped.set(e.fingerprint, { count: 1, level: e.level, sample: e.message.slice(0, 500) });
    else this.droppedUnkeptInWindow++;
  }

  private roll(now: number, out: LogEntry[]): void {
    if (this.windowStart < 0) this.windowStart = now;
    if (now - this.windowStart < this.intervalMs) return;
    if (this.dropped.size > 0 || this.droppedUnkeptInWindow > 0) out.push(this.report(now));
    this.windowStart = now;
    this.inWindow = 0;
    this.perFingerprint = new Map();
    this.dropped = new Map();
    this.droppedByCapInWindow = 0;
    this.droppedByFloodInWindow = 0;
    this.droppedUnkeptInWindow = 0;
  }

  private report(now: number): LogEntry {
    const sorted = [...this.dropped.entries()].sort((a, b) => b[1].count - a[1].count);
    let total = this.droppedUnkeptInWindow;
    for (const [, d] of sorted) total += d.count;
    const listed = sorted.slice(0, maxReported).map(([fingerprint, d]) => ({
      fingerprint,
      count: d.count,
      level: d.level,
      sample: d.sample,
    }));
    const message = `dropped ${total} log entries of source ${this.source} in ${Math.round(this.intervalMs / 1000)} s (volume limit)`;
    return {
      ts: new Date(now).toISOString(),
      source: this.source,
      level: 'warning',
      component: 'pgvigil',
      message,
      context: {
        event: 'log_entries_dropped',
        dropped: total,
        dropped_by_cap: this.droppedByCapInWindow,
        dropped_by_flood: this.droppedByFloodInWindow,
        interval_ms: this.intervalMs,
        fingerprints: listed,
        other_fingerprints: Math.max(0, sorted.length - maxReported),
        // Dropped entries of fingerprints beyond the first 1,000 of the interval: counted, not listed.
        dropped_unlisted: this.droppedUnkeptInWindow,
      },
      fingerprint: fingerprintOf(this.source, 'warning', 'dropped log entries (volume limit)'),
    };
  }
}

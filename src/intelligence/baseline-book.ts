/**
 * The detector's in-memory cache of baselines. It holds, per series, only what judging the last minutes
 * needs: the hour-of-week and hour-of-day slots of the current and the previous hour (a 15-minute window can
 * straddle an hour) and the 30-day window — a few numbers per series instead of 192 slots, so a large fleet
 * fits in memory. When the hour changes it reloads everything; otherwise it reads the baselines of only
 * the servers refreshed since its last read, less a margin, whose rows it does not hold (a refreshed
 * server's rows replace that server's entries).
 */
import {
  type BaselineSlotRow,
  baselineSlots,
  baselinesComputedSince,
} from '../storage/queries/baselines.sql.js';
import type { Queryable } from '../storage/queries/queryable.js';
import {
  hourMs,
  hourOfDay,
  hourOfWeek,
  type SlotBaseline,
  type SlotStats,
  slotFor,
  unpackSlot,
  unpackWindow,
  type WindowStats,
} from './baselines.js';

/** One series' baseline as the detector sees it: plain data, so a replay can build one by hand. */
export interface BookEntry {
  serverId: number;
  targetId: number | null;
  metric: string;
  object: string;
  through: number;
  window: WindowStats | null;
  /** Hour-of-week slot → stats (only the slots loaded). */
  week: Readonly<Record<number, SlotStats | null>>;
  day: Readonly<Record<number, SlotStats | null>>;
}

/**
 * Slots already looked up, per entry and hour. An entry is never changed once built (a refresh makes new
 * ones), so what it says for an hour stays true; the findings job asks the same hours every minute.
 */
const slotCache = new WeakMap<BookEntry, Map<number, SlotBaseline | null>>();

/** The slot that applies at `t` (see ./baselines.ts `slotFor`); null outside the loaded hours. */
export function entrySlotAt(e: BookEntry, t: number): SlotBaseline | null {
  let byHour = slotCache.get(e);
  if (!byHour) {
    byHour = new Map();
    slotCache.set(e, byHour);
  }
  const h = Math.floor(t / hourMs);
  let s = byHour.get(h);
  if (s === undefined) {
    s = slotAtUncached(e, t);
    byHour.set(h, s);
  }
  return s;
}

function slotAtUncached(e: BookEntry, t: number): SlotBaseline | null {
  return slotFor(
    {
      hourOfWeek: (i) => (Object.hasOwn(e.week, i) ? e.week[i] : undefined),
      hourOfDay: (i) => (Object.hasOwn(e.day, i) ? e.day[i] : undefined),
      window: e.window,
    },
    t,
  );
}

/** How far before the newest computed_at seen each incremental read starts again. */
const rereadMarginMs = 10 * 60_000;

export const bookKey = (serverId: number, targetId: number | null, metric: string, object: string) =>
  `${serverId}|${targetId ?? ''}|${metric}|${object}`;

export class BaselineBook {
  private entries = new Map<string, BookEntry>();
  private byServer = new Map<number, Set<string>>();
  private hour: number | null = null;
  private newest: Date | null = null;
  /** Per server, the computed_at of the baselines the cache holds. */
  private computed = new Map<number, number>();

  /** Brings the cache up to date for `now`. */
  async refresh(db: Queryable, now: Date): Promise<void> {
    const hour = Math.floor(now.getTime() / hourMs) * hourMs;
    const full = this.hour !== hour;
    const prev = hour - hourMs;
    const weeks = [hourOfWeek(hour), hourOfWeek(prev)];
    const days = [hourOfDay(hour), hourOfDay(prev)];
    let rows: BaselineSlotRow[];
    if (full) {
      rows = await baselineSlots(db, weeks, days, null);
      this.entries = new Map();
      this.byServer = new Map();
      this.computed = new Map();
      this.hour = hour;
      this.newest = null;
    } else {
      // The servers refreshed since a margin before the newest seen (refreshes of several servers in one
      // job run share a computed_at, and one may commit after the cache read another's), of which only
      // those whose baselines the cache does not hold are read again: a refresh replaces all of a
      // server's rows, so its rows come back whole and replace what the cache had of it.
      const since = new Date(this.newest === null ? 0 : this.newest.getTime() - rereadMarginMs);
      const changed = (await baselinesComputedSince(db, since)).filter(
        (s) => this.computed.get(s.serverId) !== s.computedAt.getTime(),
      );
      if (changed.length === 0) return;
      for (const { serverId, computedAt } of changed) {
        for (const k of this.byServer.get(serverId) ?? []) this.entries.delete(k);
        this.byServer.delete(serverId);
        this.computed.set(serverId, computedAt.getTime());
        if (this.newest === null || computedAt > this.newest) this.newest = computedAt;
      }
      rows = await baselineSlots(
        db,
        weeks,
        days,
        changed.map((s) => s.serverId),
      );
    }
    for (const r of rows) {
      const week: Record<number, SlotStats | null> = {};
      const day: Record<number, SlotStats | null> = {};
      weeks.forEach((w, i) => {
        week[w] = unpackSlot(r.weekSlots[i]);
      });
      days.forEach((d, i) => {
        day[d] = unpackSlot(r.daySlots[i]);
      });
      const key = bookKey(r.serverId, r.targetId, r.metric, r.object);
      this.entries.set(key, {
        serverId: r.serverId,
        targetId: r.targetId,
        metric: r.metric,
        object: r.object,
        through: r.through.getTime(),
        window: unpackWindow(r.stats30d),
        week,
        day,
      });
      let s = this.byServer.get(r.serverId);
      if (!s) {
        s = new Set();
        this.byServer.set(r.serverId, s);
      }
      s.add(key);
      // What the cache holds of the server: as read (a refresh may have committed since its state was).
      this.computed.set(r.serverId, r.computedAt.getTime());
      if (this.newest === null || r.computedAt > this.newest) this.newest = r.computedAt;
    }
  }

  get(serverId: number, targetId: number | null, metric: string, object: string): BookEntry | undefined {
    return this.entries.get(bookKey(serverId, targetId, metric, object));
  }

  /** Servers with at least one baseline. */
  servers(): number[] {
    return [...this.byServer.keys()].sort((a, b) => a - b);
  }

  /** The entries of one server. */
  ofServer(serverId: number): BookEntry[] {
    return [...(this.byServer.get(serverId) ?? [])].map((k) => this.entries.get(k)!);
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * The detector's cache of baselines. It holds, per series, only what judging the last minutes needs: the
 * slot that applies in the current and in the previous hour (a 15-minute window can straddle an hour),
 * found from the hour-of-week and hour-of-day slots and the 30-day window when the series is read.
 *
 * It holds servers, not the fleet: each slice of the anomaly checks' pass asks for its own servers
 * (`load`), and a server's baselines are read when it is not held, or held for another hour. Past
 * `maxSeries` series the servers used least recently are let go of, so an instance's memory is bounded
 * whatever the fleet (about 0.8 kB a series; bench/RESULTS.md, "Anomaly checks' job"): a fleet within the
 * bound is read once an hour, server by server as its slices come; a larger one has each slice read its
 * servers.
 * Once a run, `forgetRefreshed` lets go of the servers whose baselines were refreshed since it last looked,
 * less a margin, so they are read again whole.
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

/** One series' baseline as the detector sees it. */
export interface BookEntry {
  serverId: number;
  targetId: number | null;
  metric: string;
  object: string;
  /** End of the last hour its baselines include (ms). */
  through: number;
  /** The slot that applies at `t` (ms), as ./baselines.ts `slotFor` finds it; null where none does. */
  slotAt(t: number): SlotBaseline | null;
}

/** Slots by index: a whole profile's (168 hours of the week, 24 of the day), or some of them. */
export interface SlotTable {
  /** The slot's stats; null: a slot without points; undefined: not known. */
  get(index: number): SlotStats | null | undefined;
}

/** A whole profile (an array, as the baselines job computes it) as a SlotTable. */
export function profileSlots(profile: ReadonlyArray<SlotStats | null>): SlotTable {
  return { get: (i) => profile[i] };
}

/**
 * An entry from a baseline's profile and window (a replay's, a test's): each hour's slot found once, then
 * remembered (an entry never changes; the detector asks the same hours every minute).
 */
export function profileEntry(
  e: Omit<BookEntry, 'slotAt'> & { window: WindowStats | null; week: SlotTable; day: SlotTable },
): BookEntry {
  const byHour = new Map<number, SlotBaseline | null>();
  const profile = {
    hourOfWeek: (i: number) => e.week.get(i),
    hourOfDay: (i: number) => e.day.get(i),
    window: e.window,
  };
  return {
    serverId: e.serverId,
    targetId: e.targetId,
    metric: e.metric,
    object: e.object,
    through: e.through,
    slotAt(t) {
      const h = Math.floor(t / hourMs);
      let slot = byHour.get(h);
      if (slot === undefined) {
        slot = slotFor(profile, t);
        byHour.set(h, slot);
      }
      return slot;
    },
  };
}

/**
 * An entry of the cache: the slots that apply in the two hours it was loaded for (the current and the
 * previous one), found when it is loaded, and nothing else of the baseline: half the memory of holding the
 * raw slots and window with the slots found from them (bench/RESULTS.md, "Anomaly checks' job").
 */
class HourEntry implements BookEntry {
  constructor(
    readonly serverId: number,
    readonly targetId: number | null,
    readonly metric: string,
    readonly object: string,
    readonly through: number,
    /** Start of the current hour (ms). */
    private readonly hour: number,
    private readonly current: SlotBaseline | null,
    private readonly previous: SlotBaseline | null,
  ) {}
  slotAt(t: number): SlotBaseline | null {
    const h = Math.floor(t / hourMs) * hourMs;
    // Outside the two hours (never asked: the detector reads the last 15 minutes of the hour it loaded for).
    return h === this.hour ? this.current : h === this.hour - hourMs ? this.previous : null;
  }
}

/** How far before the newest computed_at seen each look for refreshed servers starts again. */
const rereadMarginMs = 10 * 60_000;

/** The series a cache holds unless told otherwise: about 160 MB, the baselines of 2,000 hosts of 100 series. */
export const defaultMaxSeries = 200_000;

/** Servers whose baselines one statement reads. */
const serversPerRead = 500;

/** What the cache holds of one server. */
interface Held {
  /** The hour its slots are of. */
  hour: number;
  /** Its baselines' computed_at as read (NaN: it had none). */
  computedAt: number;
  /** By `seriesKey`. */
  entries: Map<string, BookEntry>;
}

const seriesKey = (targetId: number | null, metric: string, object: string) =>
  `${targetId ?? ''}|${metric}|${object}`;

export class BaselineBook {
  /** In the order last used: the first is let go of first. */
  private held = new Map<number, Held>();
  private series = 0;
  /** The newest computed_at seen, from which `forgetRefreshed` looks again (less the margin). */
  private newest: number | null = null;

  constructor(private readonly maxSeries = defaultMaxSeries) {}

  /**
   * Lets go of the servers held whose baselines were refreshed since the last look (one small read of
   * baseline_state): the next `load` that asks for them reads them again.
   */
  async forgetRefreshed(db: Queryable): Promise<void> {
    // Refreshes of several servers in one job run share a computed_at, and one may commit after this
    // read saw another: the look starts a margin before the newest seen.
    const since = new Date(this.newest === null ? 0 : this.newest - rereadMarginMs);
    for (const { serverId, computedAt } of await baselinesComputedSince(db, since)) {
      const t = computedAt.getTime();
      if (this.newest === null || t > this.newest) this.newest = t;
      const h = this.held.get(serverId);
      if (h && h.computedAt !== t) this.drop(serverId, h);
    }
  }

  /**
   * Makes sure the baselines of `servers` are held with the slots of the hour of `now`: reads those not
   * held, or held for another hour, then lets go of the least recently used past the bound. The entries
   * a caller took stay valid after they are let go of (they are never changed).
   */
  async load(db: Queryable, now: Date, servers: readonly number[]): Promise<void> {
    const hour = Math.floor(now.getTime() / hourMs) * hourMs;
    const missing: number[] = [];
    for (const id of servers) {
      const h = this.held.get(id);
      if (h && h.hour === hour) {
        // Used: to the end of the order.
        this.held.delete(id);
        this.held.set(id, h);
      } else {
        if (h) this.drop(id, h);
        missing.push(id);
      }
    }
    const prev = hour - hourMs;
    const weeks = [hourOfWeek(hour), hourOfWeek(prev)];
    const days = [hourOfDay(hour), hourOfDay(prev)];
    for (let i = 0; i < missing.length; i += serversPerRead) {
      const ids = missing.slice(i, i + serversPerRead);
      const read = new Map<number, Held>(
        ids.map((id) => [id, { hour, computedAt: Number.NaN, entries: new Map() }]),
      );
      for (const r of await baselineSlots(db, weeks, days, ids)) {
        const h = read.get(r.serverId);
        if (!h) continue;
        h.entries.set(seriesKey(r.targetId, r.metric, r.object), entryOf(r, hour));
        // What the cache holds of the server: as read (a refresh may have committed since its state was).
        h.computedAt = r.computedAt.getTime();
      }
      for (const [id, h] of read) {
        // Another load may have read it meanwhile: this read replaces that one.
        const other = this.held.get(id);
        if (other) this.drop(id, other);
        this.held.set(id, h);
        this.series += h.entries.size;
        if (!Number.isNaN(h.computedAt) && (this.newest === null || h.computedAt > this.newest))
          this.newest = h.computedAt;
      }
    }
    // The servers asked for are last in the order: the bound lets go of others only, so a slice larger
    // than the bound is held whole until the next load.
    const asked = new Set(servers);
    for (const [id, h] of this.held) {
      if (this.series <= this.maxSeries || asked.has(id)) break;
      this.drop(id, h);
    }
  }

  private drop(serverId: number, h: Held): void {
    this.held.delete(serverId);
    this.series -= h.entries.size;
  }

  get(serverId: number, targetId: number | null, metric: string, object: string): BookEntry | undefined {
    return this.held.get(serverId)?.entries.get(seriesKey(targetId, metric, object));
  }

  /** Servers held with at least one baseline. */
  servers(): number[] {
    return [...this.held]
      .filter(([, h]) => h.entries.size > 0)
      .map(([id]) => id)
      .sort((a, b) => a - b);
  }

  /** The entries held of one server. */
  ofServer(serverId: number): BookEntry[] {
    return [...(this.held.get(serverId)?.entries.values() ?? [])];
  }

  /** Series held. */
  get size(): number {
    return this.series;
  }
}

/** A row of `baselineSlots` read for `hour`: its slots of the current and the previous hour, in that order. */
function entryOf(r: BaselineSlotRow, hour: number): BookEntry {
  const window = unpackWindow(r.stats30d);
  const slotOf = (i: number, t: number) =>
    slotFor(
      {
        hourOfWeek: (w) => (w === hourOfWeek(t) ? unpackSlot(r.weekSlots[i]) : undefined),
        hourOfDay: (d) => (d === hourOfDay(t) ? unpackSlot(r.daySlots[i]) : undefined),
        window,
      },
      t,
    );
  return new HourEntry(
    r.serverId,
    r.targetId,
    r.metric,
    r.object,
    r.through.getTime(),
    hour,
    slotOf(0, hour),
    slotOf(1, hour - hourMs),
  );
}

/**
 * Baselines: what is normal for one metric of one server/target (and object), learnt from its hourly
 * history. Pure: hourly points in, statistics out; src/server/jobs/baselines.ts reads the points from the
 * hourly rollup tier and stores what `computeBaseline` returns, ./baseline-book.ts caches the slots the
 * detector needs.
 *
 * What is kept:
 * - per window (the last 7 and 30 days before `through`): count, mean, stddev (sample), median, MAD
 *   (median absolute deviation), min, max;
 * - a seasonal profile: per hour of the week (168 slots, Monday 00:00 UTC = slot 0) over the last 8 weeks,
 *   and per hour of the day (24 slots) over the last 30 days.
 *
 * A value is judged against the most specific level that has at least `minSamples` points: its hour of
 * the week (a Monday-morning peak is normal on Mondays), else its hour of the day (a nightly batch at
 * 02:00 is normal at 02:00 — this is what a young server has, since a slot of the week gets one point a
 * week), else the whole 30-day window. Fewer than `minSamples` points there: no baseline at all.
 *
 * Slots are UTC hours: a weekly pattern that follows local time shifts by an hour for a few weeks around a
 * daylight-saving change, until the profile catches up.
 */

/** Points a level needs before it is used. */
export const minSamples = 6;

export const hourMs = 3_600_000;
export const dayMs = 86_400_000;
/** How far back each part of a baseline looks. */
export const windowDays = { short: 7, long: 30, weekProfile: 56, dayProfile: 30 } as const;

export interface WindowStats {
  count: number;
  mean: number;
  stddev: number;
  median: number;
  mad: number;
  min: number;
  max: number;
}

/** One slot of the seasonal profile. */
export interface SlotStats {
  count: number;
  mean: number;
  stddev: number;
  median: number;
  mad: number;
}

export interface BaselineStats {
  /** End of the last hour included (ms). */
  through: number;
  stats7d: WindowStats | null;
  stats30d: WindowStats | null;
  /** 168 entries, null where the slot has no point. */
  hourOfWeek: Array<SlotStats | null>;
  /** 24 entries. */
  hourOfDay: Array<SlotStats | null>;
}

export type BaselineLevel = 'hour_of_week' | 'hour_of_day' | 'window';

/** The part of a baseline a value at one time is judged against. */
export interface SlotBaseline extends SlotStats {
  level: BaselineLevel;
  /** Hour of the week (0–167) or of the day (0–23); null for the whole window. */
  slot: number | null;
}

/** Hour of the week, Monday 00:00–01:00 UTC = 0. */
export function hourOfWeek(t: number): number {
  const d = new Date(t);
  return ((d.getUTCDay() + 6) % 7) * 24 + d.getUTCHours();
}

export function hourOfDay(t: number): number {
  return new Date(t).getUTCHours();
}

function median(sorted: readonly number[]): number {
  const n = sorted.length;
  const m = n >> 1;
  return n % 2 === 1 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
}

/** Count, mean, stddev, median, MAD, min, max of a list; null when empty. */
export function describe(values: readonly number[]): WindowStats | null {
  const xs = values.filter((v) => Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  let sum = 0;
  for (const v of xs) sum += v;
  const mean = sum / n;
  let ss = 0;
  for (const v of xs) ss += (v - mean) ** 2;
  const med = median(sorted);
  const dev = sorted.map((v) => Math.abs(v - med)).sort((a, b) => a - b);
  return {
    count: n,
    mean,
    stddev: n > 1 ? Math.sqrt(ss / (n - 1)) : 0,
    median: med,
    mad: median(dev),
    min: sorted[0]!,
    max: sorted[n - 1]!,
  };
}

function slotOf(values: readonly number[]): SlotStats | null {
  const d = describe(values);
  return d && { count: d.count, mean: d.mean, stddev: d.stddev, median: d.median, mad: d.mad };
}

/**
 * The baseline of one series from its hourly points ([hour start ms, value], any order) before `through`
 * (the end of the last rolled hour). Points at or after `through`, or older than the longest window, are
 * ignored.
 */
export function computeBaseline(
  points: ReadonlyArray<readonly [number, number]>,
  through: number,
): BaselineStats {
  const since = (days: number) => through - days * dayMs;
  const w7: number[] = [];
  const w30: number[] = [];
  const week: number[][] = Array.from({ length: 168 }, () => []);
  const day: number[][] = Array.from({ length: 24 }, () => []);
  for (const [t, v] of points) {
    if (t >= through || !Number.isFinite(v)) continue;
    if (t >= since(windowDays.weekProfile)) week[hourOfWeek(t)]!.push(v);
    if (t >= since(windowDays.dayProfile)) day[hourOfDay(t)]!.push(v);
    if (t >= since(windowDays.long)) w30.push(v);
    if (t >= since(windowDays.short)) w7.push(v);
  }
  return {
    through,
    stats7d: describe(w7),
    stats30d: describe(w30),
    hourOfWeek: week.map(slotOf),
    hourOfDay: day.map(slotOf),
  };
}

/** What a baseline says for a time: its hour of the week, else its hour of the day, else the window. */
export function slotFor(
  b: {
    hourOfWeek: (i: number) => SlotStats | null | undefined;
    hourOfDay: (i: number) => SlotStats | null | undefined;
    window: WindowStats | null | undefined;
  },
  t: number,
): SlotBaseline | null {
  const w = hourOfWeek(t);
  const hw = b.hourOfWeek(w);
  if (hw && hw.count >= minSamples) return { ...hw, level: 'hour_of_week', slot: w };
  const d = hourOfDay(t);
  const hd = b.hourOfDay(d);
  if (hd && hd.count >= minSamples) return { ...hd, level: 'hour_of_day', slot: d };
  const all = b.window;
  if (all && all.count >= minSamples) {
    return {
      count: all.count,
      mean: all.mean,
      stddev: all.stddev,
      median: all.median,
      mad: all.mad,
      level: 'window',
      slot: null,
    };
  }
  return null;
}

/** `slotFor` over a whole stored baseline. */
export function slotOfBaseline(b: BaselineStats, t: number): SlotBaseline | null {
  return slotFor(
    { hourOfWeek: (i) => b.hourOfWeek[i], hourOfDay: (i) => b.hourOfDay[i], window: b.stats30d },
    t,
  );
}

/** A slot as stored: [count, mean, stddev, median, mad] (compact: 192 of them per series). */
export type PackedSlot = [number, number, number, number, number] | null;

export function packSlot(s: SlotStats | null): PackedSlot {
  return s && [s.count, s.mean, s.stddev, s.median, s.mad];
}

export function unpackSlot(p: unknown): SlotStats | null {
  if (!Array.isArray(p) || p.length !== 5 || !p.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    return null;
  }
  const [count, mean, stddev, median, mad] = p as number[];
  return { count: count!, mean: mean!, stddev: stddev!, median: median!, mad: mad! };
}

/** A stored window's statistics, checked (JSON from the store). */
export function unpackWindow(p: unknown): WindowStats | null {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return null;
  const o = p as Record<string, unknown>;
  const keys = ['count', 'mean', 'stddev', 'median', 'mad', 'min', 'max'] as const;
  if (!keys.every((k) => Object.hasOwn(o, k) && typeof o[k] === 'number' && Number.isFinite(o[k])))
    return null;
  return Object.fromEntries(keys.map((k) => [k, o[k] as number])) as unknown as WindowStats;
}

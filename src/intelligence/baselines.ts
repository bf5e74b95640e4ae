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
 *   and per hour of the day (24 slots) over the last 30 days;
 * - per slot and window, the within-hour spread (`within`): the median, over its hours, of the standard
 *   deviation of the hour's minute values. The slot's median and MAD are statistics of hourly means, and a
 *   detector judges minutes: a batch that runs 40 minutes of an hour, a working-day ramp or a sawtooth of
 *   dead rows move the minutes far from their hour's mean while the means stay the same week after week
 *   (small MAD). The detector (./anomalies.ts) measures a minute against both. An hour-of-week slot's is
 *   the larger of its own (from at least `minWithinSamples` hours) and its hour of the day's; an hour of
 *   the day with too few hours takes the 30-day window's (the minute tier the spreads are computed from is
 *   kept 7 days: a new installation has only a few days of them);
 * - for the 30-day window, `residualMad`: how far hours stray from their own slot's median, pooled.
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
/** Hours with a known within-hour spread a slot needs before its own `within` is used. */
export const minWithinSamples = 3;

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
  /** Median within-hour standard deviation of minute values over the window's hours; absent: unknown. */
  within?: number;
  /**
   * Median absolute deviation of each hour from its own slot's median, pooled over every slot (30-day
   * window only; absent: unknown). A slot's own MAD comes from 6–8 points and is often far too small by
   * chance; this one comes from hundreds. A metric without a real weekly rhythm (dead rows rising and
   * falling between autovacuums at any hour) has a large one.
   */
  residualMad?: number;
}

/** One slot of the seasonal profile. */
export interface SlotStats {
  count: number;
  mean: number;
  stddev: number;
  median: number;
  mad: number;
  /** Median within-hour standard deviation of the slot's hours (see the module header); absent: unknown. */
  within?: number;
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
  /** The window's `residualMad`, carried for the detector's scale (slots of the week or day only). */
  residualMad?: number;
  /** The 30-day window's median and MAD, carried for the detector (slots of the week or day only). */
  windowMedian?: number;
  windowMad?: number;
  /** Hour of the week (0–167) or of the day (0–23); null for the whole window. */
  slot: number | null;
}

/**
 * Hour of the week, Monday 00:00–01:00 UTC = 0. Arithmetic rather than through a Date (the baselines of a
 * replay place ~100,000 points an hour): 1970-01-01 was a Thursday, hour 72 of its week.
 */
export function hourOfWeek(t: number): number {
  return (((Math.floor(t / hourMs) + 72) % 168) + 168) % 168;
}

export function hourOfDay(t: number): number {
  return ((Math.floor(t / hourMs) % 24) + 24) % 24;
}

function median(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  const m = n >> 1;
  return n % 2 === 1 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
}

/** Count, mean, stddev, median, MAD, min, max of a list; null when empty. */
export function describe(values: readonly number[]): WindowStats | null {
  const xs = values.filter((v) => Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return null;
  // Typed arrays sort numerically without a comparator call per pair: the baselines job and the replay
  // describe ~200 lists per series and hour.
  const sorted = Float64Array.from(xs).sort();
  let sum = 0;
  for (const v of xs) sum += v;
  const mean = sum / n;
  let ss = 0;
  for (const v of xs) ss += (v - mean) ** 2;
  const med = median(sorted);
  const dev = sorted.map((v) => Math.abs(v - med)).sort();
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

/**
 * The within-hour spread of a set of hours: the root mean square of their standard deviations (the mean
 * within-hour variance: with the variance of the hourly values it makes the variance of the minutes, by
 * the law of total variance), without the largest one — an hour of a past incident should not widen the
 * slot for eight weeks. Undefined with fewer than `min` hours.
 */
/** The larger of two known values (a slot's own 6–8 hours are not trusted below its hour of the day's). */
const maxOf = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : Math.max(a, b);
function withinOf(sds: readonly number[], min: number): number | undefined {
  const xs = sds.filter((v) => Number.isFinite(v));
  if (xs.length < min || xs.length === 0) return undefined;
  let max = 0;
  let ss = 0;
  for (const v of xs) {
    ss += v * v;
    if (v > max) max = v;
  }
  return Math.sqrt(ss / xs.length);
}

function slotOf(values: readonly number[], within: number | undefined): SlotStats | null {
  const d = describe(values);
  if (!d) return null;
  const s: SlotStats = { count: d.count, mean: d.mean, stddev: d.stddev, median: d.median, mad: d.mad };
  if (within !== undefined) s.within = within;
  return s;
}

function windowOf(values: readonly number[], within: number | undefined): WindowStats | null {
  const d = describe(values);
  if (d && within !== undefined) d.within = within;
  return d;
}

/** Minute values an hour needs for its within-hour spread. */
export const minMinutesForSpread = 10;

/**
 * The within-hour spread of one hour: the sample standard deviation of its minute values; NaN with fewer
 * than `minMinutesForSpread` of them (too few to say).
 */
export function hourSpread(minuteValues: readonly number[]): number {
  let n = 0;
  let sum = 0;
  for (const v of minuteValues) {
    if (!Number.isFinite(v)) continue;
    n++;
    sum += v;
  }
  if (n < minMinutesForSpread) return Number.NaN;
  const mean = sum / n;
  let ss = 0;
  for (const v of minuteValues) if (Number.isFinite(v)) ss += (v - mean) ** 2;
  return Math.sqrt(ss / (n - 1));
}

/**
 * An hourly point: [hour start ms, the hour's value] or [hour start ms, value, within-hour standard
 * deviation of its minute values] (NaN or absent: unknown).
 */
export type HourPoint = readonly [number, number] | readonly [number, number, number];

/**
 * The baseline of one series from its hourly points (any order) before `through` (the end of the last
 * rolled hour). Points at or after `through`, or older than the longest window, are ignored.
 */
export function computeBaseline(points: ReadonlyArray<HourPoint>, through: number): BaselineStats {
  const since = (days: number) => through - days * dayMs;
  const w7: number[] = [];
  const w30: number[] = [];
  const s30: number[] = [];
  const week: number[][] = Array.from({ length: 168 }, () => []);
  const day: number[][] = Array.from({ length: 24 }, () => []);
  const weekS: number[][] = Array.from({ length: 168 }, () => []);
  const dayS: number[][] = Array.from({ length: 24 }, () => []);
  const fromWeek = since(windowDays.weekProfile);
  const fromDay = since(windowDays.dayProfile);
  const fromLong = since(windowDays.long);
  const fromShort = since(windowDays.short);
  for (const p of points) {
    const t = p[0];
    const v = p[1];
    if (t >= through || t < fromWeek || !Number.isFinite(v)) continue;
    const sd = p.length > 2 ? (p as readonly [number, number, number])[2] : Number.NaN;
    const w = hourOfWeek(t);
    week[w]!.push(v);
    if (Number.isFinite(sd)) weekS[w]!.push(sd);
    if (t >= fromDay) {
      const d = w % 24;
      day[d]!.push(v);
      if (Number.isFinite(sd)) dayS[d]!.push(sd);
    }
    if (t >= fromLong) {
      w30.push(v);
      if (Number.isFinite(sd)) s30.push(sd);
    }
    if (t >= fromShort) w7.push(v);
  }
  const all = withinOf(s30, 1);
  const dayWithin = dayS.map((xs) => withinOf(xs, minWithinSamples) ?? all);
  const hourOfWeekSlots = week.map((xs, i) =>
    slotOf(xs, maxOf(withinOf(weekS[i]!, minWithinSamples), dayWithin[i % 24])),
  );
  const hourOfDaySlots = day.map((xs, i) => slotOf(xs, dayWithin[i]));
  const stats30d = windowOf(w30, all);
  if (stats30d) {
    // Residuals at the level the detector uses: the hour of the week where it has enough points.
    const res: number[] = [];
    for (let i = 0; i < 168; i++) {
      const slot = hourOfWeekSlots[i];
      const xs = week[i]!;
      const at = slot && slot.count >= minSamples ? slot : hourOfDaySlots[i % 24];
      if (!at || at.count < minSamples) continue;
      for (const v of xs) res.push(Math.abs(v - at.median));
    }
    if (res.length >= minSamples) {
      // Normal-equivalent, tails included: for normal residuals the 90th percentile of |r| / 1.645 and
      // 1.4826 × their median agree; when the tails are heavy (a sawtooth, bursts) the first is larger,
      // and a minute in those tails is not unusual. Kept in MAD units (÷ 1.4826) like the slots' MAD.
      const sorted = Float64Array.from(res).sort();
      const p90 = sorted[Math.min(sorted.length - 1, Math.floor(0.95 * sorted.length))]!;
      stats30d.residualMad = Math.max(median(sorted), p90 / 1.96 / 1.4826);
    }
  }
  return {
    through,
    stats7d: windowOf(w7, undefined),
    stats30d,
    hourOfWeek: hourOfWeekSlots,
    hourOfDay: hourOfDaySlots,
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
  const all = b.window;
  const pooled = {
    ...(all?.residualMad !== undefined ? { residualMad: all.residualMad } : {}),
    ...(all && all.count >= minSamples ? { windowMedian: all.median, windowMad: all.mad } : {}),
  };
  if (hw && hw.count >= minSamples) return { ...hw, ...pooled, level: 'hour_of_week', slot: w };
  const d = hourOfDay(t);
  const hd = b.hourOfDay(d);
  if (hd && hd.count >= minSamples) return { ...hd, ...pooled, level: 'hour_of_day', slot: d };
  if (all && all.count >= minSamples) {
    const s: SlotBaseline = {
      count: all.count,
      mean: all.mean,
      stddev: all.stddev,
      median: all.median,
      mad: all.mad,
      level: 'window',
      slot: null,
    };
    if (all.within !== undefined) s.within = all.within;
    return s;
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

/**
 * A slot as stored: [count, mean, stddev, median, mad] or [count, mean, stddev, median, mad, within]
 * (compact: 192 of them per series; rows stored before the within-hour spread have five).
 */
export type PackedSlot =
  | [number, number, number, number, number]
  | [number, number, number, number, number, number]
  | null;

export function packSlot(s: SlotStats | null): PackedSlot {
  if (!s) return null;
  return s.within === undefined
    ? [s.count, s.mean, s.stddev, s.median, s.mad]
    : [s.count, s.mean, s.stddev, s.median, s.mad, s.within];
}

export function unpackSlot(p: unknown): SlotStats | null {
  if (
    !Array.isArray(p) ||
    (p.length !== 5 && p.length !== 6) ||
    !p.every((x) => typeof x === 'number' && Number.isFinite(x))
  ) {
    return null;
  }
  const [count, mean, stddev, median, mad, within] = p as number[];
  const s: SlotStats = { count: count!, mean: mean!, stddev: stddev!, median: median!, mad: mad! };
  if (within !== undefined && within >= 0) s.within = within;
  return s;
}

/** A stored window's statistics, checked (JSON from the store). */
export function unpackWindow(p: unknown): WindowStats | null {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return null;
  const o = p as Record<string, unknown>;
  const keys = ['count', 'mean', 'stddev', 'median', 'mad', 'min', 'max'] as const;
  if (!keys.every((k) => Object.hasOwn(o, k) && typeof o[k] === 'number' && Number.isFinite(o[k])))
    return null;
  const w = Object.fromEntries(keys.map((k) => [k, o[k] as number])) as unknown as WindowStats;
  for (const k of ['within', 'residualMad'] as const) {
    const v = Object.hasOwn(o, k) ? o[k] : undefined;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) w[k] = v;
  }
  return w;
}

/**
 * Service level objectives: the pure part. An SLO names an indicator on a rolled-up metric family (what
 * GET /api/v1/series can chart), a comparison and threshold per minute, an objective (share of good
 * minutes, e.g. 99.9 %) and a window (default 30 days).
 *
 * - A minute is judged on its one value (the indicator over the minute's rows of every matching series):
 *   good when it meets the threshold, bad when not. A minute without rows is a gap and is not counted
 *   either way; a minute with rows but no value is not counted, or counted bad when the SLO says
 *   `missing: 'bad'` (the availability default: pg_instance rows without the values an answering instance
 *   reports). A ratio minute with less than `minPer` in its denominator is not counted (too little traffic
 *   to judge). A minute within `restartExclusionMs` after an agent start is excluded: counters need two
 *   samples and statement deltas a baseline, so those minutes say little.
 * - SLI: good / (good + bad) over the window. Error budget: (1 − objective) × counted minutes; remaining =
 *   allowed − bad (minutes) and 1 − bad / allowed (fraction, negative once overspent).
 * - Burn rate over a window: (bad / counted) / (1 − objective) — 1 spends the budget exactly over the
 *   SLO window; null when no minute of that window was counted.
 * - Alerts (Google SRE workbook, multi-window, multi-burn-rate): critical when the 1 h and the 5 min burn
 *   rates both exceed 14.4 (2 % of a 30-day budget in an hour), warning when the 6 h and the 30 min rates
 *   both exceed 6 (5 % in 6 hours). The short window makes the alert end soon after the burning stops.
 *
 * Everything here is a function of its arguments (minute flags or per-hour counts, the definition, now):
 * the slos job, the findings check, the API and tests call the same code.
 */

import type { SloRow } from '../storage/queries/slos.sql.js';

export type Comparison = SloRow['comparison'];
export type SloAgg = SloRow['agg'];

/** An SLO as stored (src/storage/queries/slos.sql.ts) and as the API shows it. */
export type SloDefinition = Omit<
  SloRow,
  'updatedAt' | 'countedUntil' | 'status' | 'evaluatedAt' | 'serverName' | 'targetName'
>;

/** One minute of the indicator, as the store computes it (src/storage/queries/slos.sql.ts). */
export interface MinuteRow {
  /** Minute start, ms since the epoch. */
  t: number;
  /** Rows in the minute, every matching series. */
  samples: number;
  /** The indicator; null when the rows had no value for it. */
  value: number | null;
  /** A ratio's denominator (before scaling); null for plain indicators. */
  per: number | null;
}

export type MinuteFlag = 'good' | 'bad' | 'excluded';

export interface FlaggedMinute {
  t: number;
  flag: MinuteFlag;
}

export interface HourCounts {
  /** Hour start, ms. */
  hour: number;
  good: number;
  bad: number;
  excluded: number;
}

export const minuteMs = 60_000;
export const hourMs = 3_600_000;
export const dayMs = 86_400_000;
/** Minutes after an agent start that SLOs leave out. */
export const restartExclusionMs = 10 * minuteMs;

/** The windows burn rates are reported for, and their length. */
export const burnWindows = {
  '5m': 5 * minuteMs,
  '30m': 30 * minuteMs,
  '1h': hourMs,
  '6h': 6 * hourMs,
} as const;
export type BurnWindow = keyof typeof burnWindows;
/** The minute-level history the evaluation needs: the longest burn window. */
export const minuteHistoryMs = burnWindows['6h'];

export const defaultBurnFactors = { fast: 14.4, slow: 6 } as const;

/** Whether a value meets the SLO's threshold. */
export function meets(def: Pick<SloDefinition, 'comparison' | 'threshold'>, value: number): boolean {
  return def.comparison === '<=' ? value <= def.threshold : value >= def.threshold;
}

/**
 * Judges minutes: flags in time order; minutes that are not counted (no value and `missing: 'skip'`, too
 * little traffic) are left out, as gaps are. `starts`: agent start times (ms) of the SLO's server.
 */
export function classifyMinutes(
  rows: readonly MinuteRow[],
  def: Pick<SloDefinition, 'comparison' | 'threshold' | 'missing' | 'minPer' | 'per'>,
  starts: readonly number[],
): FlaggedMinute[] {
  const sortedStarts = [...starts].sort((a, b) => a - b);
  const out: FlaggedMinute[] = [];
  for (const r of [...rows].sort((a, b) => a.t - b.t)) {
    if (r.samples <= 0) continue;
    // The minute [t, t+1m) overlaps [start, start+10m) of some agent start.
    if (sortedStarts.some((s) => r.t + minuteMs > s && r.t < s + restartExclusionMs)) {
      out.push({ t: r.t, flag: 'excluded' });
      continue;
    }
    if (def.per.length > 0 && def.minPer !== null && (r.per === null || r.per < def.minPer)) continue;
    if (r.value === null || !Number.isFinite(r.value)) {
      if (def.missing === 'bad') out.push({ t: r.t, flag: 'bad' });
      continue;
    }
    out.push({ t: r.t, flag: meets(def, r.value) ? 'good' : 'bad' });
  }
  return out;
}

/** Flags summed per hour, in hour order. */
export function countByHour(minutes: readonly FlaggedMinute[]): HourCounts[] {
  const by = new Map<number, HourCounts>();
  for (const m of minutes) {
    const hour = Math.floor(m.t / hourMs) * hourMs;
    let h = by.get(hour);
    if (!h) {
      h = { hour, good: 0, bad: 0, excluded: 0 };
      by.set(hour, h);
    }
    h[m.flag]++;
  }
  return [...by.values()].sort((a, b) => a.hour - b.hour);
}

/**
 * What an evaluation gets: counted hours, and flagged minutes from `minutesFrom` on and in `edgeHour`.
 * Hours judged minute by minute are taken from the minutes, never from `hours`. Every hour that holds the
 * start of a burn window (now − 5 min … now − 6 h) must be judged minute by minute: the loader reads the
 * last hour or more from `minutesFrom`, and the hour the 6 h window starts in as `edgeHour`.
 */
export interface SloInput {
  definition: SloDefinition;
  hours: readonly HourCounts[];
  minutes: readonly FlaggedMinute[];
  /** Where the minutes start (ms, on an hour). */
  minutesFrom: number;
  /** One more hour (its start, ms) whose minutes are in `minutes`. */
  edgeHour?: number;
}

export interface BurnRate {
  /** Null when no minute of the window was counted. */
  rate: number | null;
  bad: number;
  counted: number;
}

export interface SloStatus {
  /** Share of good minutes over the window, %; null without counted minutes. */
  sli: number | null;
  windowFrom: string;
  counted: number;
  good: number;
  bad: number;
  excluded: number;
  budget: {
    /** Bad minutes the objective allows over the counted minutes. */
    allowedMinutes: number | null;
    remainingMinutes: number | null;
    /** 1 − bad / allowed; below 0 once the budget is overspent. */
    remainingFraction: number | null;
    exhausted: boolean;
  };
  burn: Record<BurnWindow, BurnRate>;
}

const round = (v: number, digits = 4) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

function burnOf(bad: number, counted: number, objective: number): BurnRate {
  const allowedShare = 1 - objective / 100;
  return { rate: counted > 0 ? round(bad / counted / allowedShare) : null, bad, counted };
}

/** Budget and burn rates at `now`. */
export function evaluateSlo(input: SloInput, now: number): SloStatus {
  const def = input.definition;
  const windowFrom = Math.floor((now - def.windowDays * dayMs) / hourMs) * hourMs;
  const byMinutes = (t: number) =>
    t >= input.minutesFrom || Math.floor(t / hourMs) * hourMs === input.edgeHour;
  const windows = Object.entries(burnWindows) as Array<[BurnWindow, number]>;
  const perWindow = new Map<BurnWindow, { bad: number; counted: number }>(
    windows.map(([w]) => [w, { bad: 0, counted: 0 }]),
  );
  let good = 0;
  let bad = 0;
  let excluded = 0;
  // Hours before the longest burn window are in none (most of the 30 days: the job runs every minute).
  const burnFrom = now - Math.max(...windows.map(([, len]) => len));
  for (const h of input.hours) {
    if (h.hour < windowFrom || byMinutes(h.hour)) continue;
    good += h.good;
    bad += h.bad;
    excluded += h.excluded;
    if (h.hour < burnFrom) continue;
    // A whole counted hour inside a burn window (the loader judges the hours windows start in by minute).
    for (const [w, len] of windows) {
      if (h.hour >= now - len && h.hour + hourMs <= now) {
        const c = perWindow.get(w)!;
        c.counted += h.good + h.bad;
        c.bad += h.bad;
      }
    }
  }
  for (const m of input.minutes) {
    if (!byMinutes(m.t) || m.t < windowFrom || m.t >= now) continue;
    if (m.flag === 'excluded') {
      excluded++;
      continue;
    }
    if (m.flag === 'good') good++;
    else bad++;
    if (m.t < burnFrom) continue;
    for (const [w, len] of windows) {
      if (m.t >= now - len) {
        const c = perWindow.get(w)!;
        c.counted++;
        if (m.flag === 'bad') c.bad++;
      }
    }
  }
  const counted = good + bad;
  const allowed = counted > 0 ? (counted * (100 - def.objective)) / 100 : null;
  const burn = Object.fromEntries(
    windows.map(([w]) => {
      const c = perWindow.get(w)!;
      return [w, burnOf(c.bad, c.counted, def.objective)];
    }),
  ) as Record<BurnWindow, BurnRate>;
  return {
    sli: counted > 0 ? round((good / counted) * 100, 5) : null,
    windowFrom: new Date(windowFrom).toISOString(),
    counted,
    good,
    bad,
    excluded,
    budget: {
      allowedMinutes: allowed === null ? null : round(allowed, 2),
      remainingMinutes: allowed === null ? null : round(allowed - bad, 2),
      remainingFraction: allowed === null ? null : round(1 - bad / allowed),
      exhausted: allowed !== null && bad >= allowed && bad > 0,
    },
    burn,
  };
}

export interface BurnAlert {
  severity: 'critical' | 'warning';
  /** The long and short windows that both exceeded the factor. */
  windows: [BurnWindow, BurnWindow];
  factor: number;
}

/** The multi-window rule: critical on 1 h and 5 min > fast, else warning on 6 h and 30 min > slow. */
export function burnAlert(
  status: Pick<SloStatus, 'burn'>,
  factors: { fast: number; slow: number } = defaultBurnFactors,
): BurnAlert | null {
  const over = (w: BurnWindow, f: number) => {
    const r = status.burn[w].rate;
    return r !== null && r > f;
  };
  if (over('1h', factors.fast) && over('5m', factors.fast)) {
    return { severity: 'critical', windows: ['1h', '5m'], factor: factors.fast };
  }
  if (over('6h', factors.slow) && over('30m', factors.slow)) {
    return { severity: 'warning', windows: ['6h', '30m'], factor: factors.slow };
  }
  return null;
}

export interface BurnPoint {
  /** Hour start, ms: the point describes the hour ending at t + 1 h. */
  t: number;
  /** Burn rate over that hour; null when no minute of it was counted. */
  burn1h: number | null;
  /** Error budget remaining (fraction) over the SLO window ending with that hour; null without data. */
  budgetRemaining: number | null;
  good: number;
  bad: number;
}

/**
 * An hourly series for charts: per hour in [from, to), its burn rate and the budget remaining over the
 * window that ends with it. `hours` must cover [from − window, to).
 */
export function burnSeries(
  hours: readonly HourCounts[],
  def: Pick<SloDefinition, 'objective' | 'windowDays'>,
  from: number,
  to: number,
): BurnPoint[] {
  const byHour = new Map(hours.map((h) => [h.hour, h]));
  const windowHours = def.windowDays * 24;
  const first = Math.floor(from / hourMs) * hourMs;
  const points: BurnPoint[] = [];
  let good = 0;
  let bad = 0;
  // Running sums over the window that ends with each hour.
  for (let t = first - windowHours * hourMs; t < first; t += hourMs) {
    const h = byHour.get(t);
    if (h) {
      good += h.good;
      bad += h.bad;
    }
  }
  for (let t = first; t < to; t += hourMs) {
    const h = byHour.get(t);
    const leaving = byHour.get(t - windowHours * hourMs);
    if (h) {
      good += h.good;
      bad += h.bad;
    }
    if (leaving) {
      good -= leaving.good;
      bad -= leaving.bad;
    }
    const counted = good + bad;
    const allowed = (counted * (100 - def.objective)) / 100;
    points.push({
      t,
      burn1h: h && h.good + h.bad > 0 ? burnOf(h.bad, h.good + h.bad, def.objective).rate : null,
      budgetRemaining: counted > 0 ? round(1 - bad / allowed) : null,
      good: h?.good ?? 0,
      bad: h?.bad ?? 0,
    });
  }
  return points;
}

/** The indicator in words, for evidence and the API: `p95 of pg_statements.x (datname:app) <= 200`. */
export function describeIndicator(
  def: Pick<
    SloDefinition,
    'family' | 'metric' | 'per' | 'scale' | 'labels' | 'agg' | 'comparison' | 'threshold'
  >,
): string {
  const labels = def.labels.length > 0 ? ` (${def.labels.join(', ')})` : '';
  const value =
    def.per.length > 0
      ? `${def.scale !== 1 ? `${def.scale} × ` : ''}Σ ${def.family}.${def.metric} / Σ (${def.per.join(' + ')})`
      : `${def.agg} of ${def.family}.${def.metric}`;
  return `${value}${labels} per minute ${def.comparison} ${def.threshold}`;
}

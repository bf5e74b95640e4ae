/**
 * The anomaly detector, pure: the recent minute points of one metric (of one server/target and object),
 * its baseline and `now` in; a verdict out. The findings job runs it through ./checks/anomalies.ts; a
 * replay runs the same function on synthetic series.
 *
 * How a point is judged: against the baseline slot of its own time (hour of the week, else hour of the
 * day, else the 30-day window: ./baselines.ts), with a robust z-score
 *
 *     z = (value − slot median) / max(√((1.4826 × max(slot MAD, pooled MAD))² + within²), floor)
 *
 * where `within` is the slot's within-hour spread (./baselines.ts: the median standard deviation of the
 * minute values inside the slot's hours). The MAD says how much the hour's level varies from week to
 * week; `within` how far a minute strays from its hour's level in a normal hour (a batch ending mid-hour,
 * a ramp, a sawtooth). A minute is unusual only when it is far from both. The pooled MAD (./baselines.ts
 * `residualMad`: every hour's distance from its own slot's median, over 30 days) keeps a slot whose 6–8
 * points happen to agree from claiming more certainty than the series has.
 *
 * Why robust and not (value − mean) / stddev: the history the baseline learns from holds the incidents of
 * the past weeks. One bad hour in a slot of six drags its mean and inflates its stddev so much that the
 * same incident next week no longer stands out; the median and MAD ignore up to half the points being
 * bad. 1.4826 × MAD is the stddev for normally distributed data, so the thresholds read as usual σ. The
 * classic z is still computed and shown in the evidence. The floor (per metric: max(abs, rel × |median|))
 * keeps a metric that hardly moves — 0 deadlocks every hour, MAD 0 — from turning any change into an
 * infinite z (and stands in for `within` where the slot has none yet).
 *
 * A finding needs `minutes` minutes of points all beyond `warnZ` in the same direction (one noisy sample
 * is not an anomaly), the last of them recent — or, for a deviation far beyond the scale, only
 * `fastMinutes` minutes all beyond `fastZ`: a change that large is not noise, and waiting the full
 * duration only delays the incident it belongs to; one minute without a point inside the run is allowed (the
 * PostgreSQL families of a database are collected every 60 s, so a minute now and then has no sample),
 * a longer gap ends it. An accumulating metric (replication lag) beyond `warnZ` that rose at each of its
 * last `fastMinutes` minutes opens at once (`risingRun`). Severity: critical when every point of that run is
 * beyond `critZ`. A move in the metric's good direction (a drop of a lower-is-better metric such as
 * deadlocks or dead rows, a rise of the cache hit ratio) is never an anomaly. Back to normal: the next
 * evaluations observe nothing and the lifecycle resolves the finding; the same anomaly coming back within
 * the hour reopens that finding (its key is check, server, target, object), it does not open another.
 */
import type { SlotBaseline } from './baselines.js';
import type { Better } from './metrics.js';
import type { Evidence, Severity } from './model.js';

export interface AnomalySettings {
  /** |z| at or above which a point is anomalous (warning). */
  warnZ: number;
  /** |z| at or above which every point of the run must be for a critical finding. */
  critZ: number;
  /** Consecutive anomalous minutes needed. */
  minutes: number;
  /** |z| at or above which every point of a shorter run must be for `fastMinutes` to suffice. */
  fastZ?: number;
  /** Consecutive minutes needed when all are beyond `fastZ` (at most `minutes`). */
  fastMinutes?: number;
}

export const defaultAnomalySettings: Required<AnomalySettings> = {
  warnZ: 3,
  critZ: 5,
  minutes: 5,
  fastZ: 6,
  fastMinutes: 2,
};

/** What the detector needs to know of the metric (./metrics.ts has the catalogue). */
export interface AnomalyMetric {
  id: string;
  title: string;
  unit: string;
  better: Better;
  floor: { abs: number; rel: number };
  /**
   * Minute values are counts of rare discrete events (checkpoints, deadlocks): each minute is 0 or 1 of
   * them, so no single minute can be unusual and the run is judged by its mean (see `detectAnomaly`).
   */
  discrete?: boolean;
  /** Accumulates while its cause acts (replication lag): a steady rise is judged early (`risingRun`). */
  accumulates?: boolean;
}

export interface AnomalyInput {
  metric: AnomalyMetric;
  /** '' when the metric has no object. */
  object: string;
  /** [minute start ms, value], any order; only complete minutes. */
  points: ReadonlyArray<readonly [number, number]>;
  /** The baseline slot that applies at a time, or null when there is none (too few samples). */
  baselineAt(t: number): SlotBaseline | null;
  now: number;
  settings: AnomalySettings;
  /** The newest point may be this old and still count as current (ms); default 4 minutes. */
  maxAgeMs?: number;
}

export type Direction = 'spike' | 'drop';

export interface AnomalyJudged {
  /** Whether the newest point could be judged (recent, with a baseline). */
  judged: boolean;
  /** Present when the newest `minutes` points are all anomalous in one direction. */
  anomaly?: AnomalyFound;
}

export interface AnomalyFound {
  severity: Severity;
  direction: Direction;
  value: number;
  z: number;
  /** The smallest |z| over the run (what the severity is graded on). */
  minAbsZ: number;
  driftPct: number | null;
  slot: SlotBaseline;
  scale: number;
  /** The run judged: [minute, value, z], oldest first. */
  run: Array<[number, number, number]>;
}

const madToSigma = 1.4826;
const minuteMs = 60_000;
/** Points of a run may be this far apart (one minute may lack a point). */
const maxGapMs = 2 * minuteMs;

/**
 * The spread a z is measured in: the slot's robust σ of hourly values and its within-hour spread, added
 * in quadrature (independent sources of movement), never below the metric's floor.
 */
export function scaleOf(
  slot: Pick<SlotBaseline, 'mad' | 'median' | 'within' | 'residualMad'>,
  floor: { abs: number; rel: number },
): number {
  // A slot's own MAD (6–8 points) is never trusted below the series' pooled one.
  const between = madToSigma * Math.max(slot.mad, slot.residualMad ?? 0);
  const within = slot.within ?? 0;
  return Math.max(
    Math.sqrt(between * between + within * within),
    floor.abs,
    floor.rel * Math.abs(slot.median),
    Number.MIN_VALUE,
  );
}

/**
 * For a lower-is-better metric, whether a value is a level the series reaches in ordinary hours of the last
 * 30 days (within `warnZ` robust σ of the window's median, σ from the window's MAD and the slot's
 * within-hour spread). Such a level is no problem at any hour: dead rows at the top of their sawtooth
 * between autovacuums, iowait at its daytime level a few hours early. What is unusual for its hour and
 * for the month still is.
 */
export function ordinaryForTheMonth(
  value: number,
  slot: SlotBaseline,
  floor: { abs: number; rel: number },
  warnZ: number,
): boolean {
  if (slot.windowMedian === undefined || slot.windowMad === undefined) return false;
  const scale = scaleOf({ median: slot.windowMedian, mad: slot.windowMad, within: slot.within }, floor);
  return (value - slot.windowMedian) / scale < warnZ;
}

/** z of one value against one slot (robust). */
export function robustZ(value: number, slot: SlotBaseline, floor: { abs: number; rel: number }): number {
  return (value - slot.median) / scaleOf(slot, floor);
}

/** Whether a move in this direction can be an anomaly of a metric (lower-is-better suppression). */
export function badDirection(better: Better, direction: Direction): boolean {
  return better === 'both' || (better === 'lower' ? direction === 'spike' : direction === 'drop');
}

/** Judges the newest points of one series. */
export function detectAnomaly(input: AnomalyInput): AnomalyJudged {
  const { metric, settings } = input;
  const pts = [...input.points]
    .filter((p) => Number.isFinite(p[1]) && p[0] <= input.now)
    .sort((a, b) => a[0] - b[0]);
  const last = pts[pts.length - 1];
  if (!last || input.now - last[0] > (input.maxAgeMs ?? 4 * minuteMs)) return { judged: false };
  const lastSlot = input.baselineAt(last[0]);
  if (!lastSlot) return { judged: false };
  const need = Math.max(1, Math.trunc(settings.minutes));
  const fastNeed = Math.min(need, Math.max(1, Math.trunc(settings.fastMinutes ?? need)));
  const fastZ = settings.fastZ ?? Number.POSITIVE_INFINITY;
  const run: Array<[number, number, number]> = [];
  let direction: Direction | undefined;
  let slot = lastSlot;
  const needMs = need * minuteMs;
  const spanOf = () => (run.length === 0 ? 0 : run[run.length - 1]![0] + minuteMs - run[0]![0]);
  // The smallest |z| of the run so far, and whether a run of fastNeed minutes all beyond fastZ is met.
  let minAbs = Number.POSITIVE_INFINITY;
  let fast = false;
  for (let i = pts.length - 1; i >= 0 && spanOf() < needMs; i--) {
    const [t, v] = pts[i]!;
    // One minute without a point is jitter (families collected every 60 s land 0 or 2 times in a minute);
    // a longer gap ends the run.
    if (run.length > 0 && run[0]![0] - t > maxGapMs) break;
    const s = i === pts.length - 1 ? lastSlot : input.baselineAt(t);
    if (!s) break;
    const z = robustZ(v, s, metric.floor);
    const d: Direction = z >= 0 ? 'spike' : 'drop';
    if (Math.abs(z) < settings.warnZ || !badDirection(metric.better, d)) break;
    if (metric.better === 'lower' && ordinaryForTheMonth(v, s, metric.floor, settings.warnZ)) break;
    if (direction !== undefined && d !== direction) break;
    direction = d;
    if (run.length === 0) slot = s;
    run.unshift([t, v, z]);
    minAbs = Math.min(minAbs, Math.abs(z));
    if (
      minAbs >= fastZ &&
      spanOf() >= fastNeed * minuteMs &&
      run.length >= Math.ceil(fastNeed / 2) &&
      // A single minute is enough only when the settings say so; otherwise two points at least.
      (run.length >= 2 || fastNeed === 1)
    ) {
      fast = true;
      break;
    }
  }
  if (!fast && (spanOf() < needMs || run.length < Math.ceil(need / 2) || direction === undefined)) {
    if (metric.accumulates) {
      const rising = risingRun(input, pts, lastSlot, fastNeed);
      if (rising) return rising;
    }
    return metric.discrete ? discreteRun(input, pts, lastSlot, need) : { judged: true };
  }
  if (direction === undefined) return { judged: true };
  const minAbsZ = Math.min(...run.map((r) => Math.abs(r[2])));
  const z = run[run.length - 1]![2];
  return {
    judged: true,
    anomaly: {
      severity: minAbsZ >= settings.critZ ? 'critical' : 'warning',
      direction,
      value: last[1],
      z,
      minAbsZ,
      driftPct: slot.mean !== 0 ? ((last[1] - slot.mean) / Math.abs(slot.mean)) * 100 : null,
      slot,
      scale: scaleOf(slot, metric.floor),
      run,
    },
  };
}

/**
 * An accumulating metric (`MetricDef.accumulates`: replication lag) whose last point is beyond `warnZ`
 * and which rose at each of its last `steps` minutes, by at least the scale a minute on average. Noise
 * does not climb minute after minute; a standby that cannot keep up does, and its lag is unusual for
 * minutes before the level alone has held long enough (or grown far enough for the fast run). A rise to
 * a level normal for the hour (a nightly batch the standby always trails) stays below `warnZ`.
 */
function risingRun(
  input: AnomalyInput,
  pts: ReadonlyArray<readonly [number, number]>,
  slot: SlotBaseline,
  steps: number,
): AnomalyJudged | null {
  const { metric, settings } = input;
  const n = Math.max(1, steps);
  if (pts.length < n + 1) return null;
  const tail = pts.slice(-(n + 1));
  for (let i = 1; i < tail.length; i++) {
    if (tail[i]![0] - tail[i - 1]![0] > maxGapMs || tail[i]![1] <= tail[i - 1]![1]) return null;
  }
  const last = tail[tail.length - 1]!;
  const scale = scaleOf(slot, metric.floor);
  const z = robustZ(last[1], slot, metric.floor);
  if (z < settings.warnZ || !badDirection(metric.better, 'spike')) return null;
  if (metric.better === 'lower' && ordinaryForTheMonth(last[1], slot, metric.floor, settings.warnZ))
    return null;
  if (last[1] - tail[0]![1] < n * scale) return null;
  const run = tail
    .slice(1)
    .map(([t, v]) => [t, v, robustZ(v, slot, metric.floor)] as [number, number, number]);
  return {
    judged: true,
    anomaly: {
      // Graded on the level now: the run is short by design.
      severity: z >= settings.critZ ? 'critical' : 'warning',
      direction: 'spike',
      value: last[1],
      z,
      minAbsZ: Math.min(...run.map((r) => Math.abs(r[2]))),
      driftPct: slot.mean !== 0 ? ((last[1] - slot.mean) / Math.abs(slot.mean)) * 100 : null,
      slot,
      scale,
      run,
    },
  };
}

/**
 * A discrete metric's last `need` minutes judged by their mean: n minutes' mean of events arriving at the
 * slot's rate spreads by scale / √n, so a checkpoint every minute for five minutes stands out from one
 * every five minutes though no minute does (each is 0 or 1).
 */
function discreteRun(
  input: AnomalyInput,
  pts: ReadonlyArray<readonly [number, number]>,
  slot: SlotBaseline,
  need: number,
): AnomalyJudged {
  const { metric, settings } = input;
  const last = pts[pts.length - 1]!;
  const from = last[0] - (need - 1) * minuteMs;
  const run: Array<[number, number, number]> = [];
  for (const [t, v] of pts) if (t >= from) run.push([t, v, robustZ(v, slot, metric.floor)]);
  if (run.length < need) return { judged: true };
  const mean = run.reduce((a, r) => a + r[1], 0) / run.length;
  const scale = scaleOf(slot, metric.floor) / Math.sqrt(run.length);
  const z = (mean - slot.median) / scale;
  const direction: Direction = z >= 0 ? 'spike' : 'drop';
  if (Math.abs(z) < settings.warnZ || !badDirection(metric.better, direction)) return { judged: true };
  if (
    metric.better === 'lower' &&
    slot.windowMedian !== undefined &&
    slot.windowMad !== undefined &&
    (mean - slot.windowMedian) /
      (scaleOf({ median: slot.windowMedian, mad: slot.windowMad, within: slot.within }, metric.floor) /
        Math.sqrt(run.length)) <
      settings.warnZ
  )
    return { judged: true };
  return {
    judged: true,
    anomaly: {
      severity: Math.abs(z) >= settings.critZ ? 'critical' : 'warning',
      direction,
      value: mean,
      z,
      minAbsZ: Math.abs(z),
      driftPct: slot.mean !== 0 ? ((mean - slot.mean) / Math.abs(slot.mean)) * 100 : null,
      slot,
      scale,
      run,
    },
  };
}

const weekdays = ['Mondays', 'Tuesdays', 'Wednesdays', 'Thursdays', 'Fridays', 'Saturdays', 'Sundays'];
const hh = (h: number) => `${String(h).padStart(2, '0')}:00`;

/** The slot in words: "Mondays 14:00–15:00 UTC", "14:00–15:00 UTC every day", "the last 30 days". */
export function slotText(s: Pick<SlotBaseline, 'level' | 'slot'>): string {
  if (s.level === 'hour_of_week' && s.slot !== null) {
    const h = s.slot % 24;
    return `${weekdays[Math.floor(s.slot / 24)]} ${hh(h)}–${hh((h + 1) % 24)} UTC`;
  }
  if (s.level === 'hour_of_day' && s.slot !== null)
    return `${hh(s.slot)}–${hh((s.slot + 1) % 24)} UTC every day`;
  return 'the last 30 days';
}

/** A number for a sentence: 3 significant digits, no exponent for everyday sizes. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return String(Math.round(v));
  if (a >= 100) return String(Math.round(v));
  if (a >= 10) return String(Number(v.toFixed(1)));
  if (a >= 1) return String(Number(v.toFixed(2)));
  if (a === 0) return '0';
  return String(Number(v.toPrecision(2)));
}

const r4 = (v: number) => Math.round(v * 1e4) / 1e4;

/** The finding's words and evidence for an anomaly. */
export function describeAnomaly(
  metric: AnomalyMetric,
  object: string,
  a: AnomalyFound,
): { title: string; explanation: string; evidence: Evidence } {
  const on = object === '' ? '' : ` on ${object}`;
  const unit = metric.unit === 'count' || metric.unit === 'ratio' ? '' : ` ${metric.unit}`;
  const where = slotText(a.slot);
  const drift =
    a.driftPct === null ? '' : ` (${a.driftPct >= 0 ? '+' : ''}${Math.round(a.driftPct)} % from its mean)`;
  const title = `${metric.title}${on} ${a.direction === 'spike' ? 'unusually high' : 'unusually low'}: ${fmt(a.value)}${unit}, normal ${fmt(a.slot.median)}${unit} for ${where}`;
  const explanation =
    `For the last ${a.run.length} minutes ${metric.title.toLowerCase()}${on} has been ${a.direction === 'spike' ? 'above' : 'below'} what is normal for ${where}: ` +
    `now ${fmt(a.value)}${unit} against a median of ${fmt(a.slot.median)}${unit}${drift}, ${fmt(Math.abs(a.z))} robust standard deviations away ` +
    `(baseline of ${a.slot.count} hourly values; the least unusual minute of the run was ${fmt(a.minAbsZ)} σ away). ` +
    'Something changed: new load, a job at an unusual time, a failing component — the action is where to look first.';
  const classic =
    a.slot.stddev > 0 ? (a.value - a.slot.mean) / Math.max(a.slot.stddev, metric.floor.abs) : null;
  const evidence: Evidence = {
    metric: metric.id,
    object,
    unit: metric.unit,
    value: r4(a.value),
    direction: a.direction,
    z: r4(a.z),
    z_classic: classic === null ? null : r4(classic),
    drift_pct: a.driftPct === null ? null : r4(a.driftPct),
    baseline_median: r4(a.slot.median),
    baseline_mad: r4(a.slot.mad),
    baseline_mean: r4(a.slot.mean),
    baseline_stddev: r4(a.slot.stddev),
    scale: r4(a.scale),
    level: a.slot.level,
    slot: a.slot.slot,
    slot_text: where,
    samples: a.slot.count,
    window: {
      from: new Date(a.run[0]![0]).toISOString(),
      to: new Date(a.run[a.run.length - 1]![0] + minuteMs).toISOString(),
      minutes: a.run.length,
    },
    points: a.run.map(([t, v, z]) => ({ t: new Date(t).toISOString(), value: r4(v), z: r4(z) })),
  };
  return { title, explanation, evidence };
}

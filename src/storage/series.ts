/**
 * Time-series reads for charts: one family, up to 20 metrics, one server, optional label filters, bucketed
 * into steps in SQL.
 *
 * Tier (`auto`): a range up to 4 h reads raw rows, up to 36 h the minute tier, up to 14 days the hourly
 * tier, beyond that the daily tier — never a tier whose retention no longer reaches back to `from`. (Why a
 * minute tier: ingest writes raw rows time-major, so one host's day of raw rows is spread over thousands of
 * heap pages shared with every other host; the rollup job writes one host's minute rows of an hour
 * together, and there are 10× fewer of them at 10-s sampling.) Step: the largest of the requested
 * step, the tier's resolution and range / 1500 (so no series has more than ~1,500 points), rounded up to a
 * round value; `from` and `to` are widened to whole steps, and every point is stamped with the start of
 * its step.
 *
 * The recent end of a rollup tier is read from finer data: buckets not rolled yet (pending, or the
 * current hour/day) come from raw rows (and, in the daily tier, rolled hours of unrolled days from the
 * hourly tier). The minute tier is rolled with its hour and, for the hour still running, on its own a
 * minute or two behind the clock (its mark: `pgvigil.rollup_minute_marks`), so its tail is the last
 * minutes. The parts of one step are combined: averages weighted by samples, min of mins, max of
 * maxes, counter increases summed; a p95 over several buckets is the largest bucket p95 (an upper bound —
 * percentiles do not combine exactly).
 *
 * Counters come back as their increase over each step (reset-aware, the same rule as the rollups, so
 * steps add up across tiers). Gauges as the chosen aggregate. Steps without data are left out: a gap
 * stays a gap, never a zero.
 *
 * Derived metrics (`derivedMetrics`) are ratios of counter increases within each step, computed from the
 * same increases a chart of those counters gets: the cache hit ratio of each interval, per database and
 * for the whole instance. A step where the denominator did not grow (no block access, or a single sample:
 * no increase at all) has no point, never a 0 or a 100.
 *
 * Identifiers come from the family registry; every value from a request is a bind parameter.
 */
import pg from 'pg';
import { parseDurationMs } from '../duration.js';
import { PgvigilError } from '../errors.js';
import { parseTimeText } from '../protocol/batch.js';
import { type ColumnSpec, type FamilySpec, families, familyByName } from '../protocol/families/index.js';
import { quoteIdent as q } from './ddl.js';
import type { RetentionPolicy } from './partitions.js';
import { intText } from './queries/literals.js';
import type { Queryable } from './queries/queryable.js';
import {
  counterMaxGapSeconds,
  counterStepSql,
  hasP95,
  isNumeric,
  rawLookbackSeconds,
  rawWithStepsSql,
  rollupSpecs,
} from './rollups.js';

export type SeriesTier = 'raw' | 'minute' | 'hourly' | 'daily';
export type GaugeAgg = 'avg' | 'min' | 'max' | 'p95';

export interface SeriesRequest {
  family: string;
  /** Comma-separated metric (column) names; all numeric columns when absent (if at most 20). */
  metrics?: string;
  server: number;
  target?: number;
  /** `name:value` label filters; several values of one label match any of them. */
  label?: string[];
  from?: string;
  to?: string;
  step?: string;
  tier?: 'auto' | SeriesTier;
  agg?: GaugeAgg;
  /** points (default): `[t, v]` pairs per series; grid: one shared time grid, a value or null per step. */
  shape?: SeriesShape;
}

export type SeriesShape = 'points' | 'grid';

/**
 * A metric computed per step from counter increases: scale × Σ numerator / Σ denominator over the step.
 * With `across`, the series of those labels are added together first (one series per remaining labels).
 */
export interface DerivedMetric {
  name: string;
  help: string;
  numerator: readonly string[];
  denominator: readonly string[];
  scale: number;
  across?: readonly string[];
}

/** Derived metrics by family (look names up as own properties). */
export const derivedMetrics: Readonly<Record<string, readonly DerivedMetric[]>> = Object.assign(
  Object.create(null),
  {
    pg_database: [
      {
        name: 'cache_hit_interval_pct',
        help: '100 × Δblks_hit / (Δblks_hit + Δblks_read) within the step, per database (not since the stats reset, as cache_hit_pct)',
        numerator: ['blks_hit'],
        denominator: ['blks_hit', 'blks_read'],
        scale: 100,
      },
      {
        name: 'cache_hit_interval_pct_instance',
        help: 'the same over all databases of the target together: one series per target',
        numerator: ['blks_hit'],
        denominator: ['blks_hit', 'blks_read'],
        scale: 100,
        across: ['datname'],
      },
    ],
  },
);

function derivedOf(family: FamilySpec): readonly DerivedMetric[] {
  return Object.hasOwn(derivedMetrics, family.name) ? derivedMetrics[family.name]! : [];
}

export interface SeriesPlan {
  family: FamilySpec;
  /** Derived metrics asked for; their counters are in `metrics` (and in `hidden` when not asked for). */
  derived?: DerivedMetric[];
  /** Metrics read only for derived ones: not returned. */
  hidden?: string[];
  serverId: number;
  /** Many servers in one query (the fleet view): replaces `serverId`, and `server_id` leads the keys. */
  serverIds?: number[];
  targetId?: number;
  metrics: ColumnSpec[];
  agg: GaugeAgg;
  labels: Array<{ column: ColumnSpec; values: string[] }>;
  tier: SeriesTier;
  stepSeconds: number;
  /** Widened to whole steps. */
  from: Date;
  to: Date;
}

export const maxMetrics = 20;
export const maxPointsPerSeries = 1500;
export const maxRangeMs = 731 * 86_400_000;
const hourMs = 3_600_000;
const dayMs = 86_400_000;
const rawMaxRangeMs = 4 * hourMs;
const minuteMaxRangeMs = 36 * hourMs;
const hourlyMaxRangeMs = 14 * dayMs;

export const tierResolutionSeconds: Record<SeriesTier, number> = {
  raw: 1,
  minute: 60,
  hourly: 3600,
  daily: 86_400,
};

/** Steps a chart can label: every step is rounded up to one of these (or to whole days beyond). */
const roundSteps = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800,
  604_800, 1_209_600, 2_592_000,
];

function bad(message: string): never {
  throw new PgvigilError('BAD_ARGUMENT', message);
}

function roundStep(seconds: number, resolution: number): number {
  const s = Math.max(seconds, resolution);
  const round = roundSteps.find((r) => r >= s && r % resolution === 0);
  return round ?? Math.ceil(s / 86_400) * 86_400;
}

function parseStepSeconds(step: string | undefined): number {
  if (step === undefined || step === '') return 0;
  const ms = /^\d+$/.test(step) ? Number(step) * 1000 : parseDurationMs(step);
  if (ms === undefined || !Number.isFinite(ms) || ms < 1000) {
    bad(
      `step: expected a duration of at least 1s such as 60s, 5m, 1h, 1d (or seconds), got "${step.slice(0, 20)}"`,
    );
  }
  return Math.ceil(ms / 1000);
}

function parseTime(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = parseTimeText(value);
  if (ms === undefined) {
    bad(
      `${name}: expected an ISO 8601 time with its zone (2026-01-31T12:00:00Z) or milliseconds since the epoch, got "${value.slice(0, 40)}"`,
    );
  }
  return ms;
}

/** Numeric value columns of a family: what `metrics` may name. */
export function metricColumns(family: FamilySpec): ColumnSpec[] {
  return family.columns.filter((c) => !c.label && isNumeric(c));
}

/** Checks a request against the family specs and decides tier, step and range. Pure. */
export function planSeries(req: SeriesRequest, now: Date, retention: RetentionPolicy): SeriesPlan {
  const family = familyByName(req.family);
  if (!family) bad(`unknown family "${req.family.slice(0, 64)}"; known: ${Object.keys(families).join(', ')}`);
  const numeric = metricColumns(family);
  if (numeric.length === 0) bad(`family ${family.name} has no numeric columns to chart`);
  let metrics: ColumnSpec[];
  const derived: DerivedMetric[] = [];
  const hidden: string[] = [];
  if (req.metrics === undefined || req.metrics.trim() === '') {
    if (numeric.length > maxMetrics) {
      bad(`family ${family.name} has ${numeric.length} metrics; name up to ${maxMetrics} with metrics=a,b,…`);
    }
    metrics = numeric;
  } else {
    const names = [...new Set(req.metrics.split(',').map((m) => m.trim()))];
    if (names.length > maxMetrics) bad(`at most ${maxMetrics} metrics per request, got ${names.length}`);
    const derivable = derivedOf(family);
    const asked = names.filter((n) => {
      const d = derivable.find((x) => x.name === n);
      if (d) derived.push(d);
      return !d;
    });
    metrics = asked.map((n) => {
      const c = numeric.find((x) => x.name === n);
      if (!c) {
        bad(
          `unknown metric "${n.slice(0, 64)}" for ${family.name}; known: ${[...numeric.map((x) => x.name), ...derivable.map((d) => d.name)].join(', ')}`,
        );
      }
      return c;
    });
    for (const d of derived) {
      for (const n of [...d.numerator, ...d.denominator]) {
        if (metrics.some((m) => m.name === n)) continue;
        metrics.push(numeric.find((x) => x.name === n)!);
        hidden.push(n);
      }
    }
  }
  const agg = req.agg ?? 'avg';
  if (agg === 'p95') {
    const without = metrics.filter((m) => !m.counter && !hasP95(m));
    if (without.length > 0) {
      bad(
        `agg=p95 exists for float gauges (percentages and rates) only, not for ${without.map((m) => m.name).join(', ')}`,
      );
    }
  }

  const labelColumns = family.columns.filter((c) => c.label);
  const byLabel = new Map<string, { column: ColumnSpec; values: string[] }>();
  for (const f of req.label ?? []) {
    const i = f.indexOf(':');
    if (i <= 0) bad(`label: expected name:value, got "${f.slice(0, 64)}"`);
    const name = f.slice(0, i);
    const value = f.slice(i + 1);
    const column = labelColumns.find((c) => c.name === name);
    if (!column) {
      bad(
        `unknown label "${name.slice(0, 64)}" for ${family.name}; ${labelColumns.length ? `labels: ${labelColumns.map((c) => c.name).join(', ')}` : 'it has no labels'}`,
      );
    }
    if (column.type !== 'text' && !/^-?\d{1,19}$/.test(value)) {
      bad(`label ${name}: expected an integer, got "${value.slice(0, 40)}"`);
    }
    const entry = byLabel.get(name) ?? { column, values: [] };
    byLabel.set(name, entry);
    entry.values.push(value);
  }
  if (req.target !== undefined && family.scope !== 'target') {
    bad(`target: ${family.name} is a host family; it has no targets`);
  }

  const nowMs = now.getTime();
  const to = parseTime('to', req.to) ?? nowMs;
  const from = parseTime('from', req.from) ?? to - hourMs;
  if (from >= to)
    bad(`from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
  const range = to - from;
  if (range > maxRangeMs) bad(`the range is longer than ${maxRangeMs / dayMs} days; ask for less`);

  const rolled = family.name in rollupSpecs;
  const covers = (tier: SeriesTier) => {
    const days =
      tier === 'raw' || tier === 'minute'
        ? retention.rawDays
        : tier === 'hourly'
          ? retention.hourlyDays
          : retention.dailyDays;
    return from >= nowMs - days * dayMs;
  };
  let tier: SeriesTier;
  const asked = req.tier ?? 'auto';
  if (asked !== 'auto') {
    if (asked !== 'raw' && !rolled) bad(`family ${family.name} has no rollups; use tier=raw (or auto)`);
    tier = asked;
  } else {
    tier =
      range <= rawMaxRangeMs
        ? 'raw'
        : range <= minuteMaxRangeMs
          ? 'minute'
          : range <= hourlyMaxRangeMs
            ? 'hourly'
            : 'daily';
    if ((tier === 'raw' || tier === 'minute') && !covers(tier)) tier = 'hourly';
    if (tier === 'hourly' && !covers('hourly')) tier = 'daily';
    if (!rolled) {
      if (!covers('raw')) {
        bad(
          `family ${family.name} is kept raw only, for ${retention.rawDays} days; ask for a range within them`,
        );
      }
      tier = 'raw';
    }
  }
  const stepSeconds = roundStep(
    Math.max(parseStepSeconds(req.step), Math.ceil(range / 1000 / maxPointsPerSeries)),
    tierResolutionSeconds[tier],
  );
  const stepMs = stepSeconds * 1000;
  return {
    family,
    ...(derived.length > 0 ? { derived, hidden } : {}),
    serverId: req.server,
    ...(req.target !== undefined ? { targetId: req.target } : {}),
    metrics,
    agg,
    labels: [...byLabel.values()],
    tier,
    stepSeconds,
    from: new Date(Math.floor(from / stepMs) * stepMs),
    to: new Date(Math.ceil(to / stepMs) * stepMs),
  };
}

/** Where each source's part of the range starts: rollups end where unrolled buckets begin. */
export interface Tails {
  /** Hourly rollups are complete before this (ms); raw rows from here on. */
  hourly: number;
  /** Daily rollups are complete before this (ms); `hourly` ≥ it. */
  daily: number;
  /** Minute rollups are complete before this (ms); ≥ `hourly`. */
  minute: number;
}

/** The span of the running hour's minutes rolled on their own: complete in [since, rolledTo). */
export interface MinuteMark {
  since: number;
  rolledTo: number;
}

/**
 * Tails from the server's pending buckets, its minute mark and `now`. With no pending hour there are no raw
 * rows after the rolled hours (every raw write records its hour as pending), so the minute tier is
 * complete up to now. Otherwise it is complete up to the first pending hour, or up to the mark when the
 * mark's span starts at or before that hour.
 */
export function tailsFrom(
  now: Date,
  pending: { hourly?: number; daily?: number },
  mark?: MinuteMark | null,
): Tails {
  const t = now.getTime();
  const hourly = Math.min(pending.hourly ?? Number.POSITIVE_INFINITY, Math.floor(t / hourMs) * hourMs);
  const daily = Math.min(
    pending.daily ?? Number.POSITIVE_INFINITY,
    Math.floor(t / dayMs) * dayMs,
    Math.floor(hourly / dayMs) * dayMs,
  );
  let minute: number;
  if (pending.hourly === undefined) minute = t;
  else if (mark && mark.since <= pending.hourly && mark.rolledTo > pending.hourly) minute = mark.rolledTo;
  else minute = pending.hourly;
  return { hourly, daily, minute: Math.max(hourly, Math.min(minute, t)) };
}

/**
 * The earliest raw row a read from `start` needs for counters' previous samples: a short look-back when the
 * minute tier is complete up to it (earlier samples are found through the minute tier), else back to where
 * the minute tier ends (at most `counterMaxGapSeconds`).
 */
export function lookbackFrom(start: number, minuteTail: number): number {
  return Math.max(
    start - counterMaxGapSeconds * 1000,
    Math.min(start - rawLookbackSeconds * 1000, minuteTail),
  );
}

/**
 * Tails of each server from its pending buckets and minute mark, in one statement whatever the number of
 * servers.
 */
export async function serverTails(
  db: Queryable,
  serverIds: readonly number[],
  now: Date,
): Promise<Map<number, Tails>> {
  const { rows } = await db.query<TailsRow & { server_id: string }>(
    `SELECT s.id::text AS server_id, p.hourly, p.daily, m.since, m.rolled_to
       FROM unnest($1::bigint[]) AS s(id)
       LEFT JOIN (SELECT server_id,
                         min(bucket) FILTER (WHERE tier = 'hourly') AS hourly,
                         min(bucket) FILTER (WHERE tier = 'daily') AS daily
                    FROM pgvigil.rollup_pending WHERE server_id = ANY($1::bigint[])
                   GROUP BY server_id) p ON p.server_id = s.id
       LEFT JOIN pgvigil.rollup_minute_marks m ON m.server_id = s.id`,
    [serverIds],
  );
  const out = new Map<number, Tails>();
  for (const r of rows) out.set(Number(r.server_id), tailsOfRow(r, now));
  return out;
}

/** A row of a server's first pending buckets and its minute mark, as tails. */
interface TailsRow {
  hourly: Date | null;
  daily: Date | null;
  since: Date | null;
  rolled_to: Date | null;
}

function tailsOfRow(r: TailsRow, now: Date): Tails {
  const pending: { hourly?: number; daily?: number } = {};
  if (r.hourly) pending.hourly = r.hourly.getTime();
  if (r.daily) pending.daily = r.daily.getTime();
  const mark = r.since && r.rolled_to ? { since: r.since.getTime(), rolledTo: r.rolled_to.getTime() } : null;
  return tailsFrom(now, pending, mark);
}

/**
 * The statement of one server's existence and its tails, without parameters: a route sends it in its read
 * snapshot's first message (`inReadSnapshot`'s `first`), so that a chart's tails cost no round trip.
 * `existingServerTails` reads its rows.
 */
export function existingServerTailsSql(serverId: number): string {
  return `SELECT (SELECT min(bucket) FROM pgvigil.rollup_pending p
            WHERE p.server_id = s.server_id AND p.tier = 'hourly') AS hourly,
          (SELECT min(bucket) FROM pgvigil.rollup_pending p
            WHERE p.server_id = s.server_id AND p.tier = 'daily') AS daily,
          m.since, m.rolled_to
     FROM pgvigil.servers s
     LEFT JOIN pgvigil.rollup_minute_marks m ON m.server_id = s.server_id
    WHERE s.server_id = ${intText(serverId)}::bigint`;
}

/** The tails in the rows of `existingServerTailsSql`, or `undefined` when no such server exists. */
export function existingServerTails(
  rows: ReadonlyArray<Record<string, unknown>>,
  now: Date,
): Tails | undefined {
  const r = rows[0];
  return r ? tailsOfRow(r as unknown as TailsRow, now) : undefined;
}

export interface SeriesSql {
  text: string;
  values: unknown[];
  /** Label columns in the result (target first for target families), as returned. */
  keys: string[];
}

export interface SeriesSqlOptions {
  /**
   * Rows in time order (default). Without it the rows come as the scans find them, each (step, series) still
   * once: the caller orders each series' points itself (`querySeries`), and the store skips a sort of every
   * row of the answer — for a 24 h chart of 10 series, 7,205 rows, about a quarter of the store's CPU for it,
   * and the first rows go out while the scan is still running instead of after it.
   */
  ordered?: boolean;
}

/**
 * The query for a plan: one row per (step, series), in time order unless `ordered: false`, with `pv_t` (ms)
 * and `pv_v0…` per metric.
 */
export function seriesSql(
  plan: SeriesPlan,
  tails: Tails,
  rowLimit: number,
  opts: SeriesSqlOptions = {},
): SeriesSql {
  const orderBy = opts.ordered === false ? '' : '\n ORDER BY pv_b';
  const values: unknown[] = [];
  const param = (v: unknown, cast: string) => {
    values.push(v);
    return `$${values.length}::${cast}`;
  };
  const fleet = plan.serverIds !== undefined;
  const server = fleet ? param(plan.serverIds, 'bigint[]') : param(plan.serverId, 'bigint');
  // Bound once, when a part first buckets (a part reading one tier bucket per step has nothing to bin).
  let step: string | undefined;
  const target = plan.family.scope === 'target';
  const labelNames = plan.family.columns.filter((c) => c.label).map((c) => c.name);
  const keys = [...(fleet ? ['server_id'] : []), ...(target ? ['target_id'] : []), ...labelNames];
  const filters = [fleet ? `server_id = ANY(${server})` : `server_id = ${server}`];
  if (plan.targetId !== undefined) filters.push(`target_id = ${param(plan.targetId, 'bigint')}`);
  for (const l of plan.labels) {
    filters.push(
      `${q(l.column.name)} = ANY(${param(l.values, l.column.type === 'text' ? 'text[]' : 'bigint[]')})`,
    );
  }
  const keyList = keys.map(q).join(', ');
  const bucket = (col: string) => {
    step ??= param(`${plan.stepSeconds} seconds`, 'interval');
    return `date_bin(${step}, ${col}, '1970-01-01T00:00:00Z'::timestamptz)`;
  };
  const parts: string[] = [];
  const from = plan.from.getTime();
  const to = plan.to.getTime();

  const rawFrom =
    plan.tier === 'raw' ? from : Math.max(from, plan.tier === 'minute' ? tails.minute : tails.hourly);
  const rollupRanges: Array<['minute' | 'hourly' | 'daily', number, number]> = [];
  if (plan.tier === 'minute') rollupRanges.push(['minute', from, Math.min(to, tails.minute)]);
  if (plan.tier === 'hourly') rollupRanges.push(['hourly', from, Math.min(to, tails.hourly)]);
  if (plan.tier === 'daily') {
    rollupRanges.push(['daily', from, Math.min(to, tails.daily)]);
    rollupRanges.push(['hourly', Math.max(from, tails.daily), Math.min(to, tails.hourly)]);
  }
  const starts = [
    ...(rawFrom < to ? [rawFrom] : []),
    ...rollupRanges.filter(([, lo, hi]) => lo < hi).map(([, lo]) => lo),
  ];
  // One source (the common case), or sources meeting on step boundaries (a 24 h minute chart: its raw tail
  // starts on the hour): no step has parts from two sources, so each source's aggregates are final and no
  // second aggregation over partial ones is needed.
  const stepMs = plan.stepSeconds * 1000;
  const single = starts.length === 1 || starts.every((t) => t % stepMs === 0);
  if (rawFrom < to) {
    const counters = plan.metrics.some((m) => m.counter);
    const start = param(new Date(rawFrom), 'timestamptz');
    const end = param(new Date(to), 'timestamptz');
    const inner = rawWithStepsSql(plan.family.name, fleet ? keys : ['server_id', ...keys], plan.metrics, {
      filters,
      start,
      end,
      lookbackFrom: counters ? param(new Date(lookbackFrom(rawFrom, tails.minute)), 'timestamptz') : start,
    });
    const cols = plan.metrics.map((m, i) => {
      const c = q(m.name);
      if (m.counter) return `sum(${counterStepSql(m.name)})::float8 AS pv_v${i}`;
      switch (plan.agg) {
        case 'avg':
          return single
            ? `sum(${c}::float8) / nullif(count(${c}), 0) AS pv_v${i}`
            : `sum(${c}::float8) AS pv_s${i}, count(${c})::float8 AS pv_n${i}`;
        case 'min':
          return `min(${c})::float8 AS pv_v${i}`;
        case 'max':
          return `max(${c})::float8 AS pv_v${i}`;
        case 'p95':
          return `percentile_cont(0.95) WITHIN GROUP (ORDER BY ${c}) AS pv_v${i}`;
      }
      return '';
    });
    parts.push(`SELECT ${bucket('ts')} AS pv_b${keys.length ? `, ${keyList}` : ''}, ${cols.join(', ')}
  FROM (${inner}) r
 WHERE ts >= ${start}
 GROUP BY 1${keys.length ? `, ${keyList}` : ''}`);
  }

  const rollupPart = (tier: 'minute' | 'hourly' | 'daily', lo: number, hi: number) => {
    if (lo >= hi) return;
    const cols = plan.metrics.map((m, i) => {
      if (m.counter) return `sum(${q(m.name)})::float8 AS pv_v${i}`;
      const c = (agg: string) => q(`${m.name}_${agg}`);
      switch (plan.agg) {
        case 'avg':
          return single
            ? `(sum(${c('avg')} * samples) / nullif(sum(samples) FILTER (WHERE ${c('avg')} IS NOT NULL), 0))::float8 AS pv_v${i}`
            : `sum(${c('avg')} * samples) AS pv_s${i}, (sum(samples) FILTER (WHERE ${c('avg')} IS NOT NULL))::float8 AS pv_n${i}`;
        case 'min':
          return `min(${c('min')})::float8 AS pv_v${i}`;
        case 'max':
          return `max(${c('max')})::float8 AS pv_v${i}`;
        case 'p95':
          return `max(${c('p95')}) AS pv_v${i}`;
      }
      return '';
    });
    const a = param(new Date(lo), 'timestamptz');
    const b = param(new Date(hi), 'timestamptz');
    if (single && plan.stepSeconds === tierResolutionSeconds[tier]) {
      // A step is one bucket of the tier: its row is the point, nothing to aggregate.
      const direct = plan.metrics.map((m, i) => {
        const c = m.counter ? m.name : `${m.name}_${plan.agg}`;
        return `${q(c)}::float8 AS pv_v${i}`;
      });
      parts.push(`SELECT ts AS pv_b${keys.length ? `, ${keyList}` : ''}, ${direct.join(', ')}
  FROM pgvigil.${q(`${plan.family.name}_${tier}`)}
 WHERE ${[...filters, `ts >= ${a}`, `ts < ${b}`].join(' AND ')}`);
      return;
    }
    parts.push(`SELECT ${bucket('ts')} AS pv_b${keys.length ? `, ${keyList}` : ''}, ${cols.join(', ')}
  FROM pgvigil.${q(`${plan.family.name}_${tier}`)}
 WHERE ${[...filters, `ts >= ${a}`, `ts < ${b}`].join(' AND ')}
 GROUP BY 1${keys.length ? `, ${keyList}` : ''}`);
  };
  for (const [tier, lo, hi] of rollupRanges) rollupPart(tier, lo, hi);

  // The parts' counts (pv_n) are float8, exact for integers below 2^53: as bigint, the sums below would be
  // numeric, which took about 40 % of the store's time for a 24 h chart read from two sources.
  const outCols = plan.metrics.map((m, i) => {
    if (m.counter) return `sum(pv_v${i}) AS pv_v${i}`;
    switch (plan.agg) {
      case 'avg':
        return `(sum(pv_s${i}) / nullif(sum(pv_n${i}), 0))::float8 AS pv_v${i}`;
      case 'min':
        return `min(pv_v${i}) AS pv_v${i}`;
      default:
        return `max(pv_v${i}) AS pv_v${i}`;
    }
  });
  const keyText = keys.map((k) => `${q(k)}::text AS ${q(k)}`);
  // The sources tile [from, to): there is always at least one.
  if (single) {
    const cols = plan.metrics.map((_, i) => `pv_v${i}`);
    const text = `SELECT date_part('epoch', pv_b) * 1000 AS pv_t${keyText.length ? `, ${keyText.join(', ')}` : ''}, ${cols.join(', ')}
  FROM (${parts.join('\nUNION ALL\n')}) p${orderBy}
 LIMIT ${Math.max(1, Math.trunc(rowLimit)) + 1}`;
    return { text, values, keys };
  }
  const text = `SELECT date_part('epoch', pv_b) * 1000 AS pv_t${keyText.length ? `, ${keyText.join(', ')}` : ''}, ${outCols.join(', ')}
  FROM (${parts.join('\nUNION ALL\n')}) p
 GROUP BY pv_b${keys.length ? `, ${keyList}` : ''}${orderBy}
 LIMIT ${Math.max(1, Math.trunc(rowLimit)) + 1}`;
  return { text, values, keys };
}

export interface SeriesOut {
  metric: string;
  kind: 'gauge' | 'counter';
  /** ratio: a derived metric (see `derivedMetrics`). */
  agg: GaugeAgg | 'increase' | 'ratio';
  labels: Record<string, string>;
  points: Array<[number, number]>;
}

export interface SeriesResult {
  family: string;
  tier: SeriesTier;
  stepSeconds: number;
  from: number;
  to: number;
  series: SeriesOut[];
}

/** Points across all series one response may carry. */
export const maxPointsPerResponse = 500_000;

/**
 * Runs a plan on `client` (the caller's read transaction): pending buckets (unless the caller read the
 * server's `tails` already, in the same transaction), then the series.
 */
export async function querySeries(
  client: pg.PoolClient,
  plan: SeriesPlan,
  now: Date,
  known?: Tails,
): Promise<SeriesResult> {
  // Raw reads need them too: where the minute tier ends bounds counters' look-back.
  const tails = known ?? (await serverTails(client, [plan.serverId], now)).get(plan.serverId)!;
  const rowLimit = Math.floor(maxPointsPerResponse / plan.metrics.length);
  // Rows in no particular order (the store's sort of every row cost more than ordering each series here);
  // each label combination is one series per metric, each (step, series) comes once.
  const sql = seriesSql(plan, tails, rowLimit, { ordered: false });
  const labelName = (k: string) => (k === 'target_id' ? 'target' : k);
  const nKeys = sql.keys.length;
  const first = 1 + nKeys;
  const bySeries = new Map<string, SeriesOut[]>();
  const addRow = (row: Array<string | number | null>) => {
    const key = nKeys === 1 ? String(row[1]) : row.slice(1, first).join('\u0000');
    let group = bySeries.get(key);
    if (!group) {
      const labels: Record<string, string> = {};
      sql.keys.forEach((k, j) => {
        labels[labelName(k)] = String(row[1 + j]);
      });
      group = plan.metrics.map((m) => ({
        metric: m.name,
        kind: m.counter ? 'counter' : 'gauge',
        agg: m.counter ? 'increase' : plan.agg,
        labels,
        points: [],
      }));
      bySeries.set(key, group);
    }
    const t = row[0] as number;
    for (let i = 0; i < group.length; i++) {
      const v = row[first + i];
      if (v !== null && v !== undefined) group[i]!.points.push([t, v as number]);
    }
  };
  // Each row is made into points as it arrives rather than kept until the last one: a 24 h chart is
  // thousands of rows (pv_t, labels…, values…), and holding them all made the garbage collector copy and
  // promote them — most of the client's CPU for such an answer.
  let n = 0;
  await new Promise<void>((resolve, reject) => {
    const config: pg.QueryArrayConfig = { text: sql.text, values: sql.values, rowMode: 'array' };
    const query = new pg.Query<Array<string | number | null>>(config);
    query.on('row', (row) => {
      if (++n <= rowLimit) addRow(row);
    });
    query.once('end', () => resolve());
    query.once('error', reject);
    client.query(query);
  });
  if (n > rowLimit) {
    bad(
      `more than ${maxPointsPerResponse} points; narrow the series with label=name:value, fewer metrics or a larger step`,
    );
  }
  // Each series' points in time order: the rows mostly come so already (the store keeps a server's rows
  // of an hour together, hours in order); a series that does not is sorted.
  for (const group of bySeries.values()) {
    for (const s of group) {
      const points = s.points;
      for (let i = 1; i < points.length; i++) {
        if (points[i - 1]![0] > points[i]![0]) {
          points.sort((a, b) => a[0] - b[0]);
          break;
        }
      }
    }
  }
  // Order: by metric as asked, then by labels.
  const keys = [...bySeries.keys()].sort();
  const series: SeriesOut[] = [];
  const hidden = new Set(plan.hidden ?? []);
  for (let i = 0; i < plan.metrics.length; i++) {
    if (hidden.has(plan.metrics[i]!.name)) continue;
    for (const k of keys) {
      const s = bySeries.get(k)![i]!;
      if (s.points.length > 0) series.push(s);
    }
  }
  for (const d of plan.derived ?? []) {
    series.push(
      ...derivedSeries(
        d,
        plan.metrics,
        keys.map((k) => bySeries.get(k)!),
      ),
    );
  }
  return {
    family: plan.family.name,
    tier: plan.tier,
    stepSeconds: plan.stepSeconds,
    from: plan.from.getTime(),
    to: plan.to.getTime(),
    series,
  };
}

/**
 * A derived metric's series from the counters' series (each group: one label combination, a series per
 * plan metric in plan order). A step counts a source series only where all its counters have a point
 * there; the step has a point only where the denominator grew.
 */
export function derivedSeries(
  d: DerivedMetric,
  metrics: readonly ColumnSpec[],
  groups: ReadonlyArray<readonly SeriesOut[]>,
): SeriesOut[] {
  const index = (n: string) => metrics.findIndex((m) => m.name === n);
  const num = d.numerator.map(index);
  const den = d.denominator.map(index);
  const all = [...new Set([...num, ...den])];
  const out = new Map<string, { labels: Record<string, string>; steps: Map<number, [number, number]> }>();
  for (const group of groups) {
    const source = group[all[0]!]!;
    const labels = { ...source.labels };
    for (const l of d.across ?? []) delete labels[l];
    const key = JSON.stringify(Object.entries(labels).sort());
    let acc = out.get(key);
    if (!acc) {
      acc = { labels, steps: new Map() };
      out.set(key, acc);
    }
    const at = all.map((i) => new Map(group[i]!.points));
    const steps = acc.steps;
    for (const [t] of group[all[0]!]!.points) {
      if (!at.every((m) => m.has(t))) continue;
      const value = (i: number) => at[all.indexOf(i)]!.get(t)!;
      const cur = steps.get(t) ?? [0, 0];
      cur[0] += num.reduce((s, i) => s + value(i), 0);
      cur[1] += den.reduce((s, i) => s + value(i), 0);
      steps.set(t, cur);
    }
  }
  const series: SeriesOut[] = [];
  for (const key of [...out.keys()].sort()) {
    const { labels, steps } = out.get(key)!;
    const points: Array<[number, number]> = [...steps]
      .filter(([, [, b]]) => b > 0)
      .sort((a, b) => a[0] - b[0])
      .map(([t, [a, b]]) => [t, (d.scale * a) / b]);
    if (points.length > 0) series.push({ metric: d.name, kind: 'gauge', agg: 'ratio', labels, points });
  }
  return series;
}

export interface GridSeriesOut {
  metric: string;
  kind: 'gauge' | 'counter';
  agg: GaugeAgg | 'increase' | 'ratio';
  labels: Record<string, string>;
  /** One per entry of `times`: the step's value, or null for a step without a point (a gap, never 0). */
  values: Array<number | null>;
}

export interface GridSeriesResult {
  family: string;
  tier: SeriesTier;
  stepSeconds: number;
  from: number;
  to: number;
  /** Step starts from `from` up to `to` (exclusive), `stepSeconds` apart, shared by every series. */
  times: number[];
  series: GridSeriesOut[];
}

/**
 * The same answer on one shared time grid (`shape=grid`): every step of [from, to) once, and per series a
 * value or null for each of them. The points are exactly those of `r` (same times, same numbers); a step
 * without a point is null. Every point is stamped with the start of a step of the range, so the grid holds
 * them all; were one ever off it, its time is added to the grid rather than the point lost.
 */
export function gridOf(r: SeriesResult): GridSeriesResult {
  const stepMs = r.stepSeconds * 1000;
  const n = Math.max(0, Math.round((r.to - r.from) / stepMs));
  const onGrid = (t: number) => t >= r.from && t < r.to && (t - r.from) % stepMs === 0;
  let times: number[] = new Array(n);
  for (let i = 0; i < n; i++) times[i] = r.from + i * stepMs;
  let index = (t: number) => (t - r.from) / stepMs;
  if (!r.series.every((s) => s.points.every(([t]) => onGrid(t)))) {
    const all = new Set(times);
    for (const s of r.series) for (const [t] of s.points) all.add(t);
    times = [...all].sort((a, b) => a - b);
    const at = new Map(times.map((t, i) => [t, i]));
    index = (t) => at.get(t)!;
  }
  const series = r.series.map((s) => {
    const values: Array<number | null> = new Array(times.length).fill(null);
    for (const [t, v] of s.points) values[index(t)] = v;
    return { metric: s.metric, kind: s.kind, agg: s.agg, labels: s.labels, values };
  });
  return {
    family: r.family,
    tier: r.tier,
    stepSeconds: r.stepSeconds,
    from: r.from,
    to: r.to,
    times,
    series,
  };
}

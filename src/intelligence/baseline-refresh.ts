/**
 * Computing one server's baselines: which objects the bounded metrics follow (the largest tables and
 * busiest statements of the last week, from the hourly tier), the history of every metric from the hourly
 * tier (./metric-points.ts), each hour's within-hour spread (computed once per hour from the minute tier,
 * which is kept only days, and stored for the 8 weeks the profile spans: `pgvigil.baseline_hour_spreads`),
 * and the statistics of each series (./baselines.ts), ready to store. The baselines job
 * (src/server/jobs/baselines.ts) decides when and stores the result.
 *
 * With `BaselineStates` (kept by the job between runs) each series' statistics are refreshed
 * incrementally (`BaselineState`: the same numbers as `computeBaseline`, redoing only what the hours read
 * since the last refresh changed); a series without a state — the first run, or past the cache's bound —
 * is computed in full.
 */
import type pg from 'pg';
import { defaultRetention } from '../storage/partitions.js';
import {
  type BaselineWrite,
  busiestStatements,
  type HourSpreadRow,
  hostCores,
  hourSpreads,
  largestTables,
  lastSpreadHour,
  preferIndexScans,
  writeHourSpreads,
} from '../storage/queries/baselines.sql.js';
import {
  BaselineState,
  computeBaseline,
  dayMs,
  type HourPoint,
  hourMs,
  hourSpread,
  packSlot,
  windowDays,
} from './baselines.js';
import { objectIn } from './checks/psql.js';
import { type MetricSeries, readMetricPoints } from './metric-points.js';
import { boundedTop, statementObject } from './metrics.js';

/** The bounded objects of a server: per target, as metrics name them, and the label values to filter on. */
export async function boundedObjects(
  client: pg.PoolClient,
  serverId: number,
  since: Date,
  until: Date,
): Promise<{
  tables: Map<number, Set<string>>;
  statements: Map<number, Set<string>>;
  tableNames: string[];
  queryids: string[];
}> {
  const tables = new Map<number, Set<string>>();
  const statements = new Map<number, Set<string>>();
  const names = new Set<string>();
  const ids = new Set<string>();
  for (const t of await largestTables(client, serverId, since, until, boundedTop.tables)) {
    const s = tables.get(t.targetId) ?? new Set<string>();
    s.add(objectIn(t.datname, t.schemaname, t.relname));
    tables.set(t.targetId, s);
    names.add(t.relname);
  }
  for (const q of await busiestStatements(client, serverId, since, until, boundedTop.statements)) {
    const s = statements.get(q.targetId) ?? new Set<string>();
    s.add(statementObject(q.queryid));
    statements.set(q.targetId, s);
    ids.add(q.queryid);
  }
  return { tables, statements, tableNames: [...names], queryids: [...ids] };
}

/**
 * The incremental states of the series the baselines job refreshes, kept between its runs: at most
 * `maxSeries` (each holds 8 weeks of hourly points and its sorted windows, about 115 kB), the ones not
 * refreshed for `idleMs` dropped. A state is only a shortcut: it is correct whatever points it is given
 * next (they are compared with those it holds), so a failed write, another instance refreshing the same
 * server or late data cost a larger update, never a wrong baseline.
 */
export class BaselineStates {
  private readonly states = new Map<string, { state: BaselineState; usedAt: number }>();

  constructor(
    readonly maxSeries = 500,
    readonly idleMs = 3 * 3_600_000,
  ) {}

  get size(): number {
    return this.states.size;
  }

  /** The state of a series (made when there is room), or null: compute it in full. */
  take(key: string, now: number): BaselineState | null {
    const had = this.states.get(key);
    if (had) {
      had.usedAt = now;
      return had.state;
    }
    if (this.states.size >= this.maxSeries) {
      this.prune(now);
      if (this.states.size >= this.maxSeries) return null;
    }
    const state = new BaselineState();
    this.states.set(key, { state, usedAt: now });
    return state;
  }

  /** Drops the states of series not refreshed for `idleMs` (servers gone silent, objects out of the top). */
  prune(now: number): void {
    for (const [k, v] of this.states) if (now - v.usedAt > this.idleMs) this.states.delete(k);
  }
}

/**
 * Runs reads of the rollup tiers over [from, to) in one snapshot: by default on the caller's client; the
 * baselines job hands one that may use a streaming standby (src/server/jobs/baselines.ts).
 */
export type HistoryReader = <T>(
  range: { from: Date; to: Date },
  fn: (client: pg.PoolClient) => Promise<T>,
) => Promise<T>;

/**
 * Every baseline of one server through `through` (an hour boundary the hourly tier has rolled). The tier
 * reads go through `read` (default: `client`); the within-hour spreads this keeps are read and written on
 * `client`.
 */
export async function computeServerBaselines(
  client: pg.PoolClient,
  serverId: number,
  through: Date,
  now: Date,
  states?: BaselineStates,
  read: HistoryReader = (_range, fn) => fn(client),
): Promise<BaselineWrite[]> {
  const t = through.getTime();
  const from = new Date(t - Math.max(windowDays.weekProfile, windowDays.long) * dayMs);
  const { bounded, cores, series } = await read({ from, to: through }, async (c) => {
    await preferIndexScans(c);
    const bounded = await boundedObjects(c, serverId, new Date(t - windowDays.short * dayMs), through);
    const cores = await hostCores(
      c,
      serverId,
      new Date(t - 2 * dayMs),
      new Date(now.getTime() - 15 * 60_000),
    );
    const series = await readMetricPoints(c, {
      serverId,
      tier: 'hourly',
      from,
      to: through,
      now,
      ...bounded,
      cores,
    });
    return { bounded, cores, series };
  });
  const spreads = await refreshHourSpreads(client, serverId, through, now, { ...bounded, cores }, read);
  const out: BaselineWrite[] = [];
  for (const s of series) {
    const sds = spreads.get(seriesKey(s.targetId, s.metric, s.object));
    const points: HourPoint[] = sds
      ? s.points.map(([h, v]) => [h, v, sds.get(h) ?? Number.NaN] as const)
      : s.points;
    const state = states?.take(
      `${serverId}\u0000${seriesKey(s.targetId, s.metric, s.object)}`,
      now.getTime(),
    );
    const b = state ? state.update(points, t) : computeBaseline(points, t);
    if (!b.stats30d && !b.hourOfWeek.some((x) => x)) continue;
    out.push({
      targetId: s.targetId,
      metric: s.metric,
      object: s.object,
      stats7d: b.stats7d,
      stats30d: b.stats30d,
      hourOfWeek: b.hourOfWeek.map(packSlot),
      hourOfDay: b.hourOfDay.map(packSlot),
    });
  }
  return out;
}

const seriesKey = (targetId: number | null, metric: string, object: string) =>
  `${targetId ?? 0}\u0000${metric}\u0000${object}`;

/**
 * Pure: the within-hour spread of every series and whole hour in minute points (hours with too few
 * minutes have none).
 */
export function spreadsOfMinutes(series: readonly MetricSeries[]): HourSpreadRow[] {
  const out: HourSpreadRow[] = [];
  for (const s of series) {
    const byHour = new Map<number, number[]>();
    for (const [t, v] of s.points) {
      const h = Math.floor(t / hourMs) * hourMs;
      const l = byHour.get(h);
      if (l) l.push(v);
      else byHour.set(h, [v]);
    }
    for (const [h, xs] of byHour) {
      const sd = hourSpread(xs);
      if (Number.isFinite(sd))
        out.push({ targetId: s.targetId, metric: s.metric, object: s.object, hour: new Date(h), sd });
    }
  }
  return out;
}

/**
 * Computes the within-hour spreads of the hours rolled since the last ones stored (at most as far back as
 * the minute tier reaches), stores them, drops those older than the profile, and returns every stored one
 * of the profile's span: series key → hour → spread.
 */
async function refreshHourSpreads(
  client: pg.PoolClient,
  serverId: number,
  through: Date,
  now: Date,
  wants: Omit<Parameters<typeof readMetricPoints>[1], 'serverId' | 'tier' | 'from' | 'to' | 'now'>,
  read: HistoryReader,
): Promise<Map<string, Map<number, number>>> {
  const t = through.getTime();
  const keepFrom = t - windowDays.weekProfile * dayMs;
  const last = await lastSpreadHour(client, serverId);
  // The minute tier's oldest complete hour (a day's margin inside its retention).
  const minuteFrom = Math.ceil((now.getTime() - (defaultRetention.rawDays - 1) * dayMs) / hourMs) * hourMs;
  let from = Math.max(minuteFrom, keepFrom, last ? last.getTime() + hourMs : 0);
  const rows: HourSpreadRow[] = [];
  // A day at a time: the series machinery widens the step past 1,500 points per series.
  while (from < t) {
    const to = Math.min(t, from + dayMs);
    const minutes = await read({ from: new Date(from), to: new Date(to) }, (c) =>
      readMetricPoints(c, {
        serverId,
        tier: 'minute',
        from: new Date(from),
        to: new Date(to),
        now,
        ...wants,
      }),
    );
    rows.push(...spreadsOfMinutes(minutes));
    from = to;
  }
  await writeHourSpreads(client, serverId, rows, new Date(keepFrom));
  const out = new Map<string, Map<number, number>>();
  for (const r of await hourSpreads(client, serverId, new Date(keepFrom), through)) {
    const k = seriesKey(r.targetId, r.metric, r.object);
    let m = out.get(k);
    if (!m) {
      m = new Map();
      out.set(k, m);
    }
    m.set(r.hour.getTime(), r.sd);
  }
  return out;
}

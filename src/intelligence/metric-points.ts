/**
 * The catalogue's metrics (./metrics.ts) as points: reads a server's families through the series machinery
 * (src/storage/series.ts — the hourly tier for baselines, the minute tier with its raw tail for the
 * detector, so recent minutes count before their hour is rolled) and turns each step into metric values
 * with the metric's pure `compute`. `pointsFromSeries` is the pure part, tested on fixtures.
 */
import type pg from 'pg';
import { defaultRetention } from '../storage/partitions.js';
import { fleetSeriesRows } from '../storage/queries/baselines.sql.js';
import { fleetTails } from '../storage/queries/fleet.sql.js';
import type { Queryable } from '../storage/queries/queryable.js';
import { planSeries, querySeries, type SeriesOut, type SeriesResult } from '../storage/series.js';
import { inReadSnapshot } from '../storage/tx.js';
import { metrics as allMetrics, type MetricContext, type MetricDef, type StepRow } from './metrics.js';

/** One metric of one server, target and object, with its points ([step start ms, value], oldest first). */
export interface MetricSeries {
  metric: string;
  targetId: number | null;
  object: string;
  points: Array<[number, number]>;
}

/** Per target ('' for host scope): what the computes need. */
export type ContextFor = (targetId: number | null) => MetricContext;

/**
 * Pure: one family's series result → the points of each metric computed from it. Each step of each target
 * hands the metric every series of the family at that step.
 */
export function pointsFromSeries(
  result: Pick<SeriesResult, 'series' | 'stepSeconds'>,
  familyMetrics: readonly MetricDef[],
  ctxFor: ContextFor,
): MetricSeries[] {
  // target → step → the rows of that step (one per series), and per series its row index at each step.
  interface Frame {
    steps: Map<number, StepRow[]>;
    seriesIndex: Map<string, number>;
  }
  const frames = new Map<string, Frame>();
  // A host family has no target id; a `target` there is its own label (app_metric's scrape target).
  const hostScope = familyMetrics[0]?.scope === 'host';
  for (const s of result.series as readonly SeriesOut[]) {
    const { target, ...rest } = s.labels;
    const tKey = hostScope ? '' : (target ?? '');
    const labels: Record<string, string> = hostScope ? s.labels : rest;
    let frame = frames.get(tKey);
    if (!frame) {
      frame = { steps: new Map(), seriesIndex: new Map() };
      frames.set(tKey, frame);
    }
    const sKey = Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]}`)
      .join('\u0000');
    // One row object per series and step, shared by the columns of that series.
    let idx = frame.seriesIndex.get(sKey);
    if (idx === undefined) {
      idx = frame.seriesIndex.size;
      frame.seriesIndex.set(sKey, idx);
    }
    for (const [t, v] of s.points) {
      let rows = frame.steps.get(t);
      if (!rows) {
        rows = [];
        frame.steps.set(t, rows);
      }
      let row = rows[idx] as { labels: Record<string, string>; v: Record<string, number> } | undefined;
      if (!row) {
        // `{}` for fast properties, not a null prototype: its keys are registry column names, never input.
        row = { labels, v: {} as Record<string, number> };
        rows[idx] = row;
      }
      row.v[s.metric] = v;
    }
  }
  const out: MetricSeries[] = [];
  for (const [tKey, frame] of frames) {
    const targetId = tKey === '' ? null : Number(tKey);
    const ctx = ctxFor(targetId);
    const steps = [...frame.steps.keys()].sort((a, b) => a - b);
    // Each step's rows, made dense (sparse where a series has no point at this step) once for all the
    // family's metrics.
    const stepRows = steps.map((t) => frame.steps.get(t)!.filter((r) => r !== undefined));
    for (const m of familyMetrics) {
      const byObject = new Map<string, MetricSeries>();
      for (let i = 0; i < steps.length; i++) {
        const t = steps[i]!;
        for (const { object, value } of m.compute(stepRows[i]!, result.stepSeconds, ctx)) {
          let ms = byObject.get(object);
          if (!ms) {
            ms = { metric: m.id, targetId, object, points: [] };
            byObject.set(object, ms);
            out.push(ms);
          }
          ms.points.push([t, value]);
        }
      }
    }
  }
  return out;
}

export interface ReadPlan {
  serverId: number;
  tier: 'hourly' | 'minute';
  from: Date;
  to: Date;
  now: Date;
  /** The metrics wanted (default: the whole catalogue). */
  metrics?: readonly MetricDef[];
  /** Per target: the tables and statements bounded metrics follow (objects as the metrics name them). */
  tables?: ReadonlyMap<number, ReadonlySet<string>>;
  statements?: ReadonlyMap<number, ReadonlySet<string>>;
  /** Label values for the bounded families' filters (relname, queryid), over all targets. */
  tableNames?: readonly string[];
  queryids?: readonly string[];
  cores?: number | null;
}

const maxFilterValues = 200;

/** Runs `fn` on a client: the caller's, or one from the pool in a read snapshot. */
export async function onClient<T>(
  db: Queryable,
  timeoutMs: number,
  fn: (c: pg.PoolClient) => Promise<T>,
): Promise<T> {
  // A pool (it counts its clients) lends one for a read-only snapshot; a client is used as it is.
  if ('totalCount' in db) return inReadSnapshot(db as pg.Pool, timeoutMs, fn);
  return fn(db as pg.PoolClient);
}

/** Reads every wanted metric of one server over [from, to) at the tier's resolution. */
export async function readMetricPoints(client: pg.PoolClient, plan: ReadPlan): Promise<MetricSeries[]> {
  const wanted = plan.metrics ?? allMetrics;
  const byFamily = new Map<string, MetricDef[]>();
  for (const m of wanted) {
    if (m.id === 'host.load_per_core' && !plan.cores) continue;
    const l = byFamily.get(m.family) ?? [];
    l.push(m);
    byFamily.set(m.family, l);
  }
  const ctxFor: ContextFor = (targetId) => ({
    ...(plan.cores ? { cores: plan.cores } : {}),
    ...(targetId !== null
      ? {
          objects: new Set([
            ...(plan.tables?.get(targetId) ?? []),
            ...(plan.statements?.get(targetId) ?? []),
          ]),
        }
      : {}),
  });
  const out: MetricSeries[] = [];
  for (const [family, ms] of byFamily) {
    const columns = [...new Set(ms.flatMap((m) => m.columns))];
    const filters = ms[0]!.labelFilter;
    const label = ms.every((m) => (m.labelFilter ?? []).join() === (filters ?? []).join())
      ? [...(filters ?? [])]
      : [];
    if (ms.some((m) => m.bounded === 'tables')) {
      const names = (plan.tableNames ?? []).slice(0, maxFilterValues);
      if (names.length === 0) continue;
      label.push(...names.map((n) => `relname:${n}`));
    }
    if (ms.some((m) => m.bounded === 'statements')) {
      const ids = (plan.queryids ?? []).slice(0, maxFilterValues);
      if (ids.length === 0) continue;
      label.push(...ids.map((q) => `queryid:${q}`));
    }
    const seriesPlan = planSeries(
      {
        family,
        metrics: columns.join(','),
        server: plan.serverId,
        label,
        from: plan.from.toISOString(),
        to: plan.to.toISOString(),
        step: plan.tier === 'hourly' ? '3600' : '60',
        tier: plan.tier,
        agg: 'avg',
      },
      plan.now,
      defaultRetention,
    );
    const result = await querySeries(client, seriesPlan, plan.now);
    // Steps the plan widened past `to` (a partial current step) are not complete: left out.
    const to = plan.to.getTime();
    const stepMs = result.stepSeconds * 1000;
    for (const s of result.series) s.points = s.points.filter(([t]) => t + stepMs <= to);
    out.push(...pointsFromSeries(result, ms, ctxFor));
  }
  return out;
}

/** What one server of a fleet read wants. */
export interface FleetServerWants {
  serverId: number;
  metrics: readonly MetricDef[];
  tables?: ReadonlyMap<number, ReadonlySet<string>>;
  statements?: ReadonlyMap<number, ReadonlySet<string>>;
  tableNames?: readonly string[];
  queryids?: readonly string[];
  cores?: number | null;
}

/** Rows one fleet read may return (servers × series × steps); beyond it the read fails and is retried. */
const fleetRowLimit = 2_000_000;

/**
 * `readMetricPoints` for many servers: one statement per family for all of them (the series machinery's
 * fleet plan: server_id = ANY, with the tails of the whole group — reading raw rows of a bucket some servers
 * have rolled already gives the same numbers), so judging a fleet costs a dozen statements per group of
 * servers rather than per server. Label filters are the union of the servers' (bounded tables and
 * statements: a server's own objects are kept by its compute context).
 */
export async function readFleetMetricPoints(
  client: pg.PoolClient,
  servers: readonly FleetServerWants[],
  range: { tier: 'minute' | 'hourly'; from: Date; to: Date; now: Date },
): Promise<Map<number, MetricSeries[]>> {
  const out = new Map<number, MetricSeries[]>();
  if (servers.length === 0) return out;
  const ids = servers.map((s) => s.serverId);
  const tails = await fleetTails(client, ids, range.now);
  const families = new Set(servers.flatMap((s) => s.metrics.map((m) => m.family)));
  const to = range.to.getTime();
  for (const family of families) {
    const wanting = servers.filter((s) =>
      s.metrics.some((m) => m.family === family && (m.id !== 'host.load_per_core' || s.cores)),
    );
    const fms = allMetrics.filter((m) => m.family === family);
    const columns = [...new Set(fms.flatMap((m) => m.columns))];
    const filters = fms[0]!.labelFilter ?? [];
    const label = fms.every((m) => (m.labelFilter ?? []).join() === filters.join()) ? [...filters] : [];
    const bounded = fms.find((m) => m.bounded)?.bounded;
    if (bounded) {
      const values = new Set(
        wanting.flatMap((s) => (bounded === 'tables' ? (s.tableNames ?? []) : (s.queryids ?? []))),
      );
      if (values.size === 0) continue;
      const name = bounded === 'tables' ? 'relname' : 'queryid';
      label.push(...[...values].slice(0, maxFilterValues * 10).map((v) => `${name}:${v}`));
    }
    const plan = planSeries(
      {
        family,
        metrics: columns.join(','),
        server: ids[0]!,
        label,
        from: range.from.toISOString(),
        to: range.to.toISOString(),
        step: range.tier === 'hourly' ? '3600' : '60',
        tier: range.tier,
        agg: 'avg',
      },
      range.now,
      defaultRetention,
    );
    const { keys, rows } = await fleetSeriesRows(
      client,
      { ...plan, serverIds: wanting.map((s) => s.serverId) },
      tails,
      fleetRowLimit,
    );
    if (rows.length > fleetRowLimit)
      throw new Error(`fleet read of ${family}: more than ${fleetRowLimit} rows`);
    // Rows → per server, the family's series as the single-server read returns them.
    const stepMs = plan.stepSeconds * 1000;
    const first = 1 + keys.length;
    const byServer = new Map<number, Map<string, SeriesOut[]>>();
    for (const row of rows) {
      const t = Number(row[0]);
      if (t + stepMs > to) continue;
      const serverId = Number(row[1]);
      let series = byServer.get(serverId);
      if (!series) {
        series = new Map();
        byServer.set(serverId, series);
      }
      const key = row.slice(2, first).join('\u0000');
      let group = series.get(key);
      if (!group) {
        const labels: Record<string, string> = {};
        for (let j = 1; j < keys.length; j++)
          labels[keys[j] === 'target_id' ? 'target' : keys[j]!] = String(row[1 + j]);
        group = plan.metrics.map((m) => ({
          metric: m.name,
          kind: m.counter ? 'counter' : 'gauge',
          agg: m.counter ? 'increase' : 'avg',
          labels,
          points: [],
        }));
        series.set(key, group);
      }
      for (let i = 0; i < group.length; i++) {
        const v = row[first + i];
        if (v !== null && v !== undefined) group[i]!.points.push([t, Number(v)]);
      }
    }
    for (const s of wanting) {
      const series = byServer.get(s.serverId);
      if (!series) continue;
      const ms = s.metrics.filter((m) => m.family === family && (m.id !== 'host.load_per_core' || s.cores));
      const ctxFor: ContextFor = (targetId) => ({
        ...(s.cores ? { cores: s.cores } : {}),
        ...(targetId !== null
          ? { objects: new Set([...(s.tables?.get(targetId) ?? []), ...(s.statements?.get(targetId) ?? [])]) }
          : {}),
      });
      const points = pointsFromSeries(
        { series: [...series.values()].flat(), stepSeconds: plan.stepSeconds },
        ms,
        ctxFor,
      );
      const l = out.get(s.serverId) ?? [];
      l.push(...points);
      out.set(s.serverId, l);
    }
  }
  return out;
}

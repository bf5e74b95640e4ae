/**
 * Anomaly checks (job checks, one per metric of the catalogue: `anomaly.<metric id>`): the last minutes of
 * each metric against its baseline (../anomalies.ts has the rule, ../baselines.ts the statistics).
 *
 * One check per metric so each can be switched off or tuned per server/target like any other check, and a
 * finding's check names the metric. They judge the fleet in passes that every instance's anomaly job
 * (src/server/jobs/findings.ts) takes slices of, and share one load per slice: the baselines of the
 * slice's servers are made sure of in the instance's cache (../baseline-book.ts), then the last
 * `windowMinutes` complete minutes of the families the servers' baselines need are read through the series
 * machinery, 100 servers per statement (minute tier plus the raw tail: current before the hour is rolled).
 * A minute still arriving is left out: its counter increases would read low.
 */

import { baselinedServers, baselinedServersListing, hostCores } from '../../storage/queries/baselines.sql.js';
import type { TargetRef } from '../../storage/queries/check-pass.sql.js';
import { targetPorts } from '../../storage/queries/findings.sql.js';
import type { Queryable } from '../../storage/queries/queryable.js';
import { defaultAnomalySettings, describeAnomaly, detectAnomaly } from '../anomalies.js';
import { appMetricDefs } from '../app-metrics.js';
import { BaselineBook, type BookEntry, defaultMaxSeries } from '../baseline-book.js';
import {
  type FleetServerWants,
  type MetricSeries,
  onClient,
  readFleetMetricPoints,
} from '../metric-points.js';
import { type MetricDef, metricById, metrics, statementObject } from '../metrics.js';
import { FleetPass } from './fleet-pass.js';
import { portOf, portsSince } from './psql.js';
import { type JobCheck, type JobObservation, onePerRun, type Scope, type Slice } from './types.js';

/** Minutes read per run. */
export const windowMinutes = 15;
/**
 * The newest minute is read only once it ended this long ago (rows in flight): agents push every 10 s, so
 * 15 s after a minute ends its rows are in (a late batch makes that minute's counter rates read low once;
 * a finding needs at least two minutes). It was 60 s: one more evaluation before any anomaly is seen.
 */
export const settleMs = 15_000;
/** The name of the checks' read in slices (`JobCheck.slices`), and of their job's runs. */
export const anomalySlices = 'anomalies';
/** Servers one slice judges (five fleet reads of 100). */
const sliceServers = 500;
/** Servers per fleet read (one statement per family). */
const serversPerRead = 100;
/** Servers a load made outside the checks' job reads (`loadRecentMetrics` without a slice): the first ones. */
const maxServersAlone = 5000;
/**
 * The checks judge the servers with baselines in passes (`pgvigil.check_pass`, pass 'anomalies'), which
 * every instance's anomaly job takes slices of: a new pass begins at most every 45 s (the window moves by
 * the minute), and a run takes no new slice after 40 s, so a fleet larger than a run judges goes on in the
 * next runs, on any instance. Their findings wait two passes and a minute before they resolve by time.
 */
const anomalyPass = new FleetPass({
  name: 'anomalies',
  gapMs: 45_000,
  sliceRows: sliceServers,
  runBudgetMs: 40_000,
  intervalMs: 60_000,
  maxStaleMs: 6 * 3_600_000,
});

export interface AnomalyLoad {
  /** Per series with a baseline and recent points. */
  series: Array<{ serverId: number; points: MetricSeries; baseline: BookEntry }>;
  /** The port of each PostgreSQL target of `series` (`serverId/targetId`), for the psql commands of actions. */
  ports?: ReadonlyMap<string, string>;
}

const books = new WeakMap<object, BaselineBook>();
let cacheSeries = defaultMaxSeries;

/** The bound on the series each store's baselines cache holds in this process (its caches made after). */
export function setBaselineCacheSeries(series: number): void {
  cacheSeries = series;
}
const cores = new Map<number, { n: number | null; at: number }>();

/** The cache of one store (keyed by the pool the engine passes). */
export function baselineBookOf(db: Queryable): BaselineBook {
  let b = books.get(db);
  if (!b) {
    b = new BaselineBook(cacheSeries);
    books.set(db, b);
  }
  return b;
}

async function coresOf(db: Queryable, serverId: number, now: Date): Promise<number | null> {
  const c = cores.get(serverId);
  if (c && now.getTime() - c.at < 3_600_000 && now.getTime() >= c.at) return c.n;
  const n = await hostCores(
    db,
    serverId,
    new Date(now.getTime() - 2 * 86_400_000),
    new Date(now.getTime() - 900_000),
  );
  if (cores.size > 100_000) cores.clear();
  cores.set(serverId, { n, at: now.getTime() });
  return n;
}

/**
 * Reads what every anomaly check judges: of one slice of the pass when `run` is a `Slice` (the checks'
 * job), else of the first servers with baselines (a check loaded on its own).
 */
export async function loadRecentMetrics(db: Queryable, now: Date, run?: object): Promise<AnomalyLoad> {
  const book = baselineBookOf(db);
  const slice = run as Slice | undefined;
  // Once a run: its later slices judge against what the cache holds then.
  if (!slice?.after) await book.forgetRefreshed(db);
  const to = new Date(Math.floor((now.getTime() - settleMs) / 60_000) * 60_000);
  const from = new Date(to.getTime() - windowMinutes * 60_000);
  const out: AnomalyLoad = { series: [] };
  // A new pass lists the servers whose last refresh wrote baselines.
  const servers = slice
    ? (await anomalyPass.take(db, now, slice, baselinedServersListing)).taken.map((t) => t.serverId)
    : await baselinedServers(db, maxServersAlone);
  await book.load(db, now, servers);
  const wants: FleetServerWants[] = [];
  for (const serverId of servers) {
    // Its baselines removed since the pass was listed: nothing to judge.
    const entries = book.ofServer(serverId);
    if (entries.length === 0) continue;
    const wanted = new Set(entries.map((e) => e.metric));
    const tables = new Map<number, Set<string>>();
    const statements = new Map<number, Set<string>>();
    const tableNames = new Set<string>();
    const queryids = new Set<string>();
    for (const e of entries) {
      const m = metricById(e.metric);
      if (!m?.bounded || e.targetId === null) continue;
      const into = m.bounded === 'tables' ? tables : statements;
      const s = into.get(e.targetId) ?? new Set<string>();
      s.add(e.object);
      into.set(e.targetId, s);
      if (m.bounded === 'tables') tableNames.add(e.object.slice(e.object.lastIndexOf('.') + 1));
      else queryids.add(e.object.slice('query:'.length));
    }
    wants.push({
      serverId,
      metrics: metrics.filter((m) => wanted.has(m.id)),
      tables,
      statements,
      tableNames: [...tableNames],
      queryids: [...queryids],
      cores: wanted.has('host.load_per_core') ? await coresOf(db, serverId, now) : null,
    });
  }
  let failure: unknown;
  let failed = 0;
  for (let i = 0; i < wants.length; i += serversPerRead) {
    const chunk = wants.slice(i, i + serversPerRead);
    let read: Map<number, MetricSeries[]>;
    try {
      read = await onClient(db, 30_000, (c) =>
        readFleetMetricPoints(c, chunk, { tier: 'minute', from, to, now }),
      );
    } catch (err) {
      // These servers are judged again next run; one failing read does not stop the others.
      failure ??= err;
      failed++;
      continue;
    }
    for (const [serverId, points] of read) {
      for (const p of points) {
        const e = book.get(serverId, p.targetId, p.metric, p.object);
        if (e) out.series.push({ serverId, points: p, baseline: e });
      }
    }
  }
  // Nothing could be read: say so (the engine logs a failing check) rather than judge nothing quietly.
  if (failed > 0 && failed === Math.ceil(wants.length / serversPerRead)) throw failure;
  // Without them an action's psql command lacks its -p; that is no reason to judge nothing.
  out.ports = await targetPorts(db, targetsOf(out.series), portsSince(now)).catch(() => undefined);
  return out;
}

/** The PostgreSQL targets of the series, each once. */
function targetsOf(series: AnomalyLoad['series']): TargetRef[] {
  const seen = new Map<string, TargetRef>();
  for (const s of series) {
    const targetId = s.points.targetId;
    if (targetId !== null) seen.set(`${s.serverId}/${targetId}`, { serverId: s.serverId, targetId });
  }
  return [...seen.values()];
}

/** How long an anomaly finding may go without an evaluation before it resolves by time (FleetPass.staleMs). */
export const anomalyStaleMs = (now: number): number => anomalyPass.staleMs(now);

/** The load shared by the checks of one run: the first check's call reads, the others reuse it. */
const sharedLoad = onePerRun(loadRecentMetrics);

/** Pure: the anomalies of one metric in a load. */
export function evaluateAnomalies(
  metric: MetricDef,
  input: AnomalyLoad,
  thresholdsFor: (serverId: number, targetId: number | null) => Readonly<Record<string, number>>,
  now: number,
): { observations: JobObservation[]; scopes: Scope[] } {
  const observations: JobObservation[] = [];
  const scopes = new Map<string, Scope>();
  for (const s of input.series) {
    if (s.points.metric !== metric.id) continue;
    const t = thresholdsFor(s.serverId, s.points.targetId);
    const verdict = detectAnomaly({
      metric,
      object: s.points.object,
      points: s.points.points,
      baselineAt: (at) => s.baseline.slotAt(at),
      now,
      settings: {
        warnZ: t.warn_z ?? defaultAnomalySettings.warnZ,
        critZ: t.crit_z ?? defaultAnomalySettings.critZ,
        minutes: t.minutes ?? defaultAnomalySettings.minutes,
        fastZ: t.fast_z ?? defaultAnomalySettings.fastZ,
        fastMinutes: t.fast_minutes ?? defaultAnomalySettings.fastMinutes,
      },
    });
    if (!verdict.judged) continue;
    scopes.set(`${s.serverId}|${s.points.targetId ?? ''}`, {
      serverId: s.serverId,
      targetId: s.points.targetId,
    });
    const a = verdict.anomaly;
    if (!a) continue;
    const words = describeAnomaly(metric, s.points.object, a);
    observations.push({
      serverId: s.serverId,
      targetId: s.points.targetId,
      object: s.points.object,
      severity: a.severity,
      ...words,
      action: metric.action(s.points.object, portOf(input.ports, s.serverId, s.points.targetId)),
      value: a.value,
    });
  }
  return { observations, scopes: [...scopes.values()] };
}

/**
 * The application metrics' anomaly checks ship off: the replay that measures false alerts
 * (bench/replay-score.ts, 30 clean host-days with a nightly batch and a weekly maintenance window: 0.9 per
 * host and week, goal ≤ 1) has no scraped application in it. The others ship on.
 */
export const appAnomaliesOffReason =
  'its false-alert rate is not measured: the replay of clean host-days that measures the other anomaly checks (bench/RESULTS.md, "Intelligence scored by replay") has no scraped application';

/** An object of the metric's kind as the catalogue shows it: written as real objects are, so actions that take it apart read. */
function objectPlaceholder(kind: string): string {
  if (kind === '') return '';
  if (kind === 'statement') return statementObject('<queryid>');
  if (kind === 'table') return '<database>/<schema.table>';
  return `<${kind}>`;
}

function anomalyCheck(metric: MetricDef): JobCheck<AnomalyLoad> {
  const dir =
    metric.better === 'lower'
      ? 'a rise (a drop is an improvement, not an anomaly)'
      : metric.better === 'higher'
        ? 'a drop (a rise is an improvement, not an anomaly)'
        : 'a rise or a drop';
  return {
    id: `anomaly.${metric.id}`,
    group: 'anomaly',
    mode: 'job',
    kind: 'anomaly',
    title: `${metric.title} unusual for the time of week (${metric.unit}${metric.object ? `, per ${metric.object}` : ''})`,
    doc: {
      evidence: `value, baseline median/MAD and mean/stddev of its slot (hour of week, hour of day or 30 days), robust z and classic z, drift % from the slot mean, slot, samples, the minutes judged; looks for ${dir}. Computed as: ${metric.how}`,
      action: metric.action(objectPlaceholder(metric.object)),
    },
    clearAfter: 3,
    ...(appMetricDefs.includes(metric) ? { offByDefault: appAnomaliesOffReason } : {}),
    thresholds: {
      warn_z: {
        default: defaultAnomalySettings.warnZ,
        unit: 'σ',
        help: 'robust z at or beyond which a minute is unusual (warning)',
        min: 1,
        max: 20,
      },
      crit_z: {
        default: defaultAnomalySettings.critZ,
        unit: 'σ',
        help: 'robust z every minute of the run must reach for a critical finding',
        min: 1,
        max: 50,
      },
      minutes: {
        default: defaultAnomalySettings.minutes,
        unit: 'count',
        help: 'consecutive unusual minutes before a finding opens',
        min: 1,
        max: windowMinutes,
      },
      fast_z: {
        default: defaultAnomalySettings.fastZ,
        unit: 'σ',
        help: 'robust z every minute of a shorter run must reach for `fast_minutes` to be enough (a change far beyond normal is named sooner)',
        min: 1,
        max: 100,
      },
      fast_minutes: {
        default: defaultAnomalySettings.fastMinutes,
        unit: 'count',
        help: 'consecutive minutes beyond fast_z before a finding opens (at most `minutes`)',
        min: 1,
        max: windowMinutes,
      },
    },
    slices: anomalySlices,
    staleMs: anomalyStaleMs,
    load: sharedLoad,
    evaluate: (input, thresholdsFor, now) => evaluateAnomalies(metric, input, thresholdsFor, now),
  };
}

export const anomalyChecks: readonly JobCheck<AnomalyLoad>[] = metrics.map(anomalyCheck);

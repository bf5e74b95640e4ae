/**
 * SLOs against the store: resolving an indicator (the same validation as GET /api/v1/series), the
 * defaults per PostgreSQL target, counting complete hours into `slo_hours`, and loading an evaluation's
 * input. The judging itself is pure (./slo.ts).
 *
 * Why per-hour counts: a minute is judged against a threshold, which the hourly tier cannot answer (an
 * hour's average hides its bad minutes), and reading 30 days of minute rows for every SLO on every run
 * would cost 43,200 minutes × series each time. So the slos job judges each complete hour once, from the
 * minute tier, and keeps its good/bad/excluded counts; an evaluation reads those for the window and judges
 * only the last hours (≥ 6 h, the longest burn window) minute by minute — the minute tier where it is
 * rolled, raw rows for the tail that is not (tail-aware as src/storage/series.ts). A late batch that makes
 * an hour pending again moves `counted_until` back, so that hour is counted again once re-rolled.
 */
import type pg from 'pg';
import { PgvigilError } from '../errors.js';
import { type FamilySpec, familyByName } from '../protocol/families/index.js';
import { defaultRetention } from '../storage/partitions.js';
import type { Queryable } from '../storage/queries/queryable.js';
import {
  agentStarts,
  allSlos,
  commitWithoutFlush,
  createDefaultSlo,
  hourlyTail,
  type IndicatorPlan,
  indicatorMinutes,
  pruneAgentStarts,
  pruneSloHours,
  recordAgentStarts,
  type SloRow,
  type SloWrite,
  sloForUpdate,
  sloHours,
  storeSloHours,
  storeSloStatus,
  targetsWithData,
  uncountSloHours,
} from '../storage/queries/slos.sql.js';
import { readReplicasOf } from '../storage/read-replicas.js';
import { rollupSpecs } from '../storage/rollups.js';
import { planSeries } from '../storage/series.js';
import { inReadSnapshot, inTransaction } from '../storage/tx.js';
import {
  burnWindows,
  classifyMinutes,
  countByHour,
  dayMs,
  evaluateSlo,
  hourMs,
  minuteHistoryMs,
  restartExclusionMs,
  type SloDefinition,
  type SloInput,
  type SloStatus,
} from './slo.js';

/** What an indicator names, as the API takes it. */
export interface IndicatorFields {
  family: string;
  metric: string;
  per: string[];
  labels: string[];
  agg: 'avg' | 'min' | 'max' | 'p95';
  scale: number;
}

/**
 * Checks an indicator with the series API's own plan (family, metrics, labels, p95 availability, scope)
 * and resolves its columns. Throws BAD_ARGUMENT naming `indicator` and what is wrong.
 */
export function resolveIndicator(
  f: IndicatorFields,
  serverId: number,
  targetId: number | null,
  now = new Date(),
): IndicatorPlan {
  const names = [f.metric, ...f.per];
  if (familyByName(f.family) && !(f.family in rollupSpecs)) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `indicator: family ${f.family.slice(0, 64)} has no minute rollups, which SLOs are judged on`,
    );
  }
  let plan: ReturnType<typeof planSeries>;
  try {
    plan = planSeries(
      {
        family: f.family,
        metrics: names.join(','),
        server: serverId,
        ...(targetId !== null ? { target: targetId } : {}),
        label: f.labels,
        agg: f.per.length > 0 ? 'avg' : f.agg,
        tier: 'minute',
        from: String(now.getTime() - hourMs),
        to: String(now.getTime()),
      },
      now,
      defaultRetention,
    );
  } catch (err) {
    if (err instanceof PgvigilError) throw new PgvigilError('BAD_ARGUMENT', `indicator: ${err.message}`);
    throw err;
  }
  const col = (n: string) => plan.metrics.find((m) => m.name === n)!;
  if (plan.family.scope === 'target' && targetId === null) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `targetId: ${plan.family.name} is a PostgreSQL family; name the target the SLO is about`,
    );
  }
  return {
    family: plan.family,
    metric: col(f.metric),
    per: f.per.map(col),
    scale: f.scale,
    labels: plan.labels,
    agg: f.agg,
    serverId,
    targetId,
  };
}

export function definitionOf(r: SloRow): SloDefinition {
  return {
    id: r.id,
    serverId: r.serverId,
    targetId: r.targetId,
    name: r.name,
    description: r.description,
    family: r.family,
    metric: r.metric,
    per: r.per,
    scale: r.scale,
    minPer: r.minPer,
    labels: r.labels,
    agg: r.agg,
    missing: r.missing,
    comparison: r.comparison,
    threshold: r.threshold,
    objective: r.objective,
    windowDays: r.windowDays,
    source: r.source,
    createdBy: r.createdBy,
    createdAt: r.createdAt,
  };
}

/**
 * The defaults every PostgreSQL target gets once it has data of their family (docs/slo.md says why each
 * indicator and figure).
 */
export const defaultSlos: ReadonlyArray<Omit<SloWrite, 'serverId' | 'targetId'>> = [
  {
    // pg_instance rows of an instance that did not answer carry only up = false, collect_ms and the error:
    // server_version_num is there exactly when it answered. `up` itself is boolean, which the rollups do
    // not keep; so a minute is good when the instance answered at least once in it, bad when it had rows
    // and never answered.
    name: 'availability',
    description: 'The instance answered (pg_instance up) at least once in each minute it was polled.',
    family: 'pg_instance',
    metric: 'server_version_num',
    per: [],
    scale: 1,
    minPer: null,
    labels: [],
    agg: 'max',
    missing: 'bad',
    comparison: '>=',
    threshold: 1,
    objective: 99.9,
    windowDays: 30,
  },
  {
    // pg_stat_statements has no percentiles: the honest latency is the mean execution time per call over
    // the statements pgvigil tracks (top N by time, calls and I/O), Σ exec_time_ms / Σ calls per minute.
    name: 'statement-latency',
    description:
      'Mean execution time per call over the tracked statements (pg_stat_statements top N) at most 200 ms, in minutes with at least 10 calls.',
    family: 'pg_statements',
    metric: 'exec_time_ms',
    per: ['calls'],
    scale: 1,
    minPer: 10,
    labels: [],
    agg: 'avg',
    missing: 'skip',
    comparison: '<=',
    threshold: 200,
    objective: 99,
    windowDays: 30,
  },
  {
    // cache_hit_pct is since the last stats reset and hardly moves: the per-minute ratio comes from the
    // counters, 100 × Δblks_hit / (Δblks_hit + Δblks_read), every database of the instance together.
    name: 'cache-hit',
    description:
      'Shared-buffer hit ratio per minute, all databases, at least 99 %, in minutes with at least 1000 block accesses.',
    family: 'pg_database',
    metric: 'blks_hit',
    per: ['blks_hit', 'blks_read'],
    scale: 100,
    minPer: 1000,
    labels: [],
    agg: 'avg',
    missing: 'skip',
    comparison: '>=',
    threshold: 99,
    objective: 99,
    windowDays: 30,
  },
];

/** Creates the defaults for targets that have data of their family (last hour). Returns SLOs created. */
export async function createDefaults(db: Queryable, now: Date): Promise<number> {
  const fams = defaultSlos.map((d) => ({ family: familyByName(d.family) as FamilySpec }));
  const unique = fams.filter((f, i) => fams.findIndex((x) => x.family.name === f.family.name) === i);
  const targets = await targetsWithData(
    db,
    new Date(now.getTime() - hourMs),
    unique,
    defaultSlos.map((d) => d.name),
    1000,
  );
  let created = 0;
  for (const t of targets) {
    for (const d of defaultSlos) {
      if (t.created.includes(d.name) || !t.families.includes(d.family)) continue;
      if (await createDefaultSlo(db, { ...d, serverId: t.serverId, targetId: t.targetId })) created++;
    }
  }
  return created;
}

/**
 * Most hours counted per SLO and run: a whole window (the minute tier reaches back only as far as raw
 * retention, 7 days by default, so a first count reads at most that much).
 */
const maxHoursPerRun = 91 * 24;

/**
 * Runs reads of the indicator's minutes over [from, to) in one snapshot. `tail` is where the primary's
 * hourly rollups end: a snapshot that shows them ending earlier lacks minute rows the read counts on. By
 * default on the caller's connection; the slos job hands one that may use a streaming standby.
 */
export type IndicatorReader = <T>(
  range: { from: Date; to: Date },
  tail: number,
  fn: (db: Queryable) => Promise<T>,
) => Promise<T>;

const onSameConnection =
  (db: Queryable): IndicatorReader =>
  (_range, _tail, fn) =>
    fn(db);

/** Counts the complete hours not counted yet (and re-counts re-opened ones). Returns hours counted. */
export async function countHours(
  db: Queryable,
  row: SloRow,
  plan: IndicatorPlan,
  now: Date,
  read: IndicatorReader = onSameConnection(db),
): Promise<number> {
  const tail = await hourlyTail(db, row.serverId, now);
  let counted = row.countedUntil?.getTime() ?? null;
  if (counted !== null && counted > tail) {
    await uncountSloHours(db, row.id, new Date(tail));
    counted = tail;
  }
  const windowFrom = Math.floor((now.getTime() - row.windowDays * dayMs) / hourMs) * hourMs;
  const from = Math.max(counted ?? windowFrom, windowFrom);
  const to = Math.min(tail, from + maxHoursPerRun * hourMs);
  if (from >= to) return 0;
  const rows = await read({ from: new Date(from), to: new Date(to) }, tail, (c) =>
    indicatorMinutes(c, plan, new Date(from), new Date(to), to),
  );
  const starts = await agentStarts(db, row.serverId, new Date(from - restartExclusionMs), new Date(to));
  const hours = countByHour(classifyMinutes(rows, definitionOf(row), starts));
  await storeSloHours(db, row.id, new Date(from), new Date(to), hours);
  row.countedUntil = new Date(to);
  return hours.length;
}

/**
 * The input of an evaluation at `now`: counted hours of the window; minutes judged one by one from
 * `minutesFrom` — the last hour, or earlier where hours are not counted yet (at most 48 h back) — and in
 * the hour the 6-hour burn window starts in. Hours between come from their counts: a steady evaluation
 * reads about two hours of minutes plus the raw tail, not six.
 */
export async function loadSloInput(
  db: Queryable,
  row: SloRow,
  plan: IndicatorPlan,
  now: Date,
  read: IndicatorReader = onSameConnection(db),
): Promise<SloInput> {
  const def = definitionOf(row);
  const t = now.getTime();
  const tail = await hourlyTail(db, row.serverId, now);
  const floorHour = (ms: number) => Math.floor(ms / hourMs) * hourMs;
  const counted = row.countedUntil?.getTime() ?? Number.NEGATIVE_INFINITY;
  const minutesFrom = Math.max(
    Math.min(counted, floorHour(t - burnWindows['1h'])),
    floorHour(t - 48 * hourMs),
  );
  const edge = floorHour(t - minuteHistoryMs);
  const edgeHour = edge < minutesFrom ? edge : undefined;
  const windowFrom = floorHour(t - def.windowDays * dayMs);
  const hours = await sloHours(db, row.id, new Date(windowFrom), new Date(minutesFrom));
  const rows = await read({ from: new Date(edgeHour ?? minutesFrom), to: now }, tail, async (c) => {
    const out = await indicatorMinutes(c, plan, new Date(minutesFrom), new Date(t), tail);
    if (edgeHour !== undefined) {
      out.push(...(await indicatorMinutes(c, plan, new Date(edgeHour), new Date(edgeHour + hourMs), tail)));
    }
    return out;
  });
  const from = edgeHour ?? minutesFrom;
  const starts = await agentStarts(db, row.serverId, new Date(from - restartExclusionMs), new Date(t));
  return {
    definition: def,
    hours,
    minutes: classifyMinutes(rows, def, starts),
    minutesFrom,
    ...(edgeHour !== undefined ? { edgeHour } : {}),
  };
}

export interface SloRunResult {
  slos: number;
  defaultsCreated: number;
  hoursCounted: number;
  failed: number;
  /** Milliseconds spent per SLO (counting and evaluating), mean. */
  msPerSlo: number | null;
}

let lastPrunedAt = Number.NEGATIVE_INFINITY;

/** Statement timeout of one indicator read on the job's path (a first count reads up to 7 days of minutes). */
const indicatorReadTimeoutMs = 120_000;

/**
 * The slos job's indicator reads: on a streaming standby (DATABASE_READ_URL) that is fresh up to now, less
 * the lag bound, and whose snapshot shows the server's hourly rollups as far as the primary's — rows are
 * rolled after the hour they cover, so the time range alone cannot vouch for them; else on the primary.
 * Agent starts and counted hours are the job's own writes and stay on its primary transaction.
 */
function replicaReader(pool: pg.Pool, serverId: number, now: Date): IndicatorReader {
  return (range, tail, fn) =>
    inReadSnapshot(
      pool,
      indicatorReadTimeoutMs,
      fn,
      { from: range.from, to: now },
      {
        holds: async (c) => (await hourlyTail(c, serverId, now)) >= tail,
      },
    );
}

/**
 * One run of the slos job: record agent starts, create defaults, then per SLO count its new complete hours,
 * evaluate it and store its status (budget, burn rates) for the API and the `slo.burn_rate` check.
 */
export async function runSlos(
  db: pg.Pool,
  now: Date,
  onError?: (slo: SloRow, err: unknown) => void,
): Promise<SloRunResult> {
  await recordAgentStarts(db, now);
  const defaultsCreated = await createDefaults(db, now);
  // Pruning scans every SLO's hours: once an hour is enough for rows that age by days.
  if (now.getTime() - lastPrunedAt >= hourMs || now.getTime() < lastPrunedAt) {
    await pruneAgentStarts(db, new Date(now.getTime() - 100 * dayMs));
    await pruneSloHours(db, now);
    lastPrunedAt = now.getTime();
  }
  let afterId = 0;
  let slos = 0;
  let hoursCounted = 0;
  let failed = 0;
  const started = performance.now();
  for (;;) {
    const batch = await allSlos(db, afterId, 500);
    if (batch.length === 0) break;
    for (const row of batch) {
      afterId = row.id;
      slos++;
      try {
        hoursCounted += await inTransaction(db, async (c) => {
          await commitWithoutFlush(c);
          // Re-read under a row lock: a PATCH that committed since the list was read (and dropped the
          // counted hours) is what gets counted, and one that comes now waits for this transaction.
          const fresh = await sloForUpdate(c, row.id);
          if (!fresh) return 0;
          const plan = resolveIndicator(fresh, fresh.serverId, fresh.targetId, now);
          // Without standbys the reads stay in this transaction, as before.
          const read = readReplicasOf(db) ? replicaReader(db, fresh.serverId, now) : undefined;
          const n = await countHours(c, fresh, plan, now, read);
          const status = evaluateSlo(await loadSloInput(c, fresh, plan, now, read), now.getTime());
          await storeSloStatus(c, fresh.id, status, now);
          return n;
        });
      } catch (err) {
        failed++;
        onError?.(row, err);
      }
    }
  }
  return {
    slos,
    defaultsCreated,
    hoursCounted,
    failed,
    msPerSlo: slos > 0 ? Math.round(((performance.now() - started) / slos) * 100) / 100 : null,
  };
}

/** A stored status read back (it is the store's JSON: only what evaluateSlo wrote is trusted). */
export function readStatus(v: unknown): SloStatus | null {
  if (typeof v !== 'object' || v === null || !('burn' in v) || !('budget' in v)) return null;
  return v as SloStatus;
}

/**
 * Service level objectives (src/intelligence/slo.ts): definitions, their per-hour minute counts
 * (`slo_hours`), the defaults created per target, agent starts, and the one read that judges minutes — the
 * indicator per minute from the minute tier, with the recent tail (hours not rolled yet) from raw rows, as
 * src/storage/series.ts reads a chart. Family, column and label names come from the family registry (the
 * route resolves them with planSeries); every value is a bind parameter.
 */
import type { ColumnSpec, FamilySpec } from '../../protocol/families/index.js';
import { counterStepSql, rawWithStepsSql } from '../rollups.js';
import { lookbackFrom } from '../series.js';
import { ident as q } from './identifiers.js';
import type { Queryable } from './queryable.js';

export interface SloRow {
  id: number;
  serverId: number;
  targetId: number | null;
  name: string;
  description: string;
  family: string;
  metric: string;
  /** Ratio denominator columns (summed); empty for a plain indicator. */
  per: string[];
  scale: number;
  minPer: number | null;
  labels: string[];
  agg: 'avg' | 'min' | 'max' | 'p95';
  missing: 'skip' | 'bad';
  comparison: '<=' | '>=';
  threshold: number;
  /** Percent, 50 ≤ objective < 100. */
  objective: number;
  windowDays: number;
  source: 'default' | 'api';
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
  countedUntil: Date | null;
  status: unknown;
  evaluatedAt: string | null;
  serverName: string | null;
  targetName: string | null;
}

export type SloWrite = Omit<
  SloRow,
  | 'id'
  | 'createdAt'
  | 'updatedAt'
  | 'countedUntil'
  | 'status'
  | 'evaluatedAt'
  | 'serverName'
  | 'targetName'
  | 'source'
  | 'createdBy'
>;

/** A write's values in the column order of the inserts below ($1…$16). */
function writeValues(w: SloWrite): unknown[] {
  return [
    w.serverId,
    w.targetId,
    w.name,
    w.description,
    w.family,
    w.metric,
    w.per,
    w.scale,
    w.minPer,
    w.labels,
    w.agg,
    w.missing,
    w.comparison,
    w.threshold,
    w.objective,
    w.windowDays,
  ];
}

const sloColumns = `s.slo_id::int AS id, s.server_id::int AS "serverId", s.target_id::int AS "targetId", s.name,
  s.description, s.family, s.metric, s.per, s.scale, s.min_per AS "minPer", s.labels, s.agg, s.missing,
  s.comparison, s.threshold, s.objective_pct AS objective, s.window_days AS "windowDays", s.source,
  s.created_by AS "createdBy", to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt",
  to_char(s.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "updatedAt",
  s.counted_until AS "countedUntil", s.status,
  to_char(s.evaluated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "evaluatedAt",
  sv.name AS "serverName", t.name AS "targetName"`;
const sloFrom = `pgvigil.slos s
  LEFT JOIN pgvigil.servers sv ON sv.server_id = s.server_id
  LEFT JOIN pgvigil.targets t ON t.server_id = s.server_id AND t.target_id = s.target_id`;

/** Inserts an SLO; undefined when one of that name exists in that scope. */
export async function insertSlo(
  db: Queryable,
  w: SloWrite,
  source: 'default' | 'api',
  createdBy: string | null,
): Promise<number | undefined> {
  const { rows } = await db.query<{ id: number }>(
    `INSERT INTO pgvigil.slos (server_id, target_id, name, description, family, metric, per, scale, min_per,
       labels, agg, missing, comparison, threshold, objective_pct, window_days, source, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
     ON CONFLICT (server_id, target_id, name) DO NOTHING
     RETURNING slo_id::int AS id`,
    [...writeValues(w), source, createdBy],
  );
  return rows[0]?.id;
}

/**
 * Replaces an SLO's definition. When what judges a minute changed, its counted hours are dropped (they are
 * counted again from the minute tier, as far back as it reaches). 'conflict' when the name is taken.
 */
export async function updateSlo(
  db: Queryable,
  id: number,
  w: SloWrite,
  recount: boolean,
): Promise<'updated' | 'missing' | 'conflict'> {
  try {
    const { rowCount } = await db.query(
      `WITH up AS (
         UPDATE pgvigil.slos SET name = $2, description = $3, family = $4, metric = $5, per = $6, scale = $7,
           min_per = $8, labels = $9, agg = $10, missing = $11, comparison = $12, threshold = $13,
           objective_pct = $14, window_days = $15, updated_at = now(),
           counted_until = CASE WHEN $16::boolean THEN NULL ELSE counted_until END,
           status = CASE WHEN $16::boolean THEN NULL ELSE status END,
           evaluated_at = CASE WHEN $16::boolean THEN NULL ELSE evaluated_at END
          WHERE slo_id = $1
          RETURNING slo_id)
       DELETE FROM pgvigil.slo_hours h USING up WHERE $16::boolean AND h.slo_id = up.slo_id`,
      [
        id,
        w.name,
        w.description,
        w.family,
        w.metric,
        w.per,
        w.scale,
        w.minPer,
        w.labels,
        w.agg,
        w.missing,
        w.comparison,
        w.threshold,
        w.objective,
        w.windowDays,
        recount,
      ],
    );
    void rowCount;
  } catch (err) {
    if ((err as { code?: string }).code === '23505') return 'conflict';
    throw err;
  }
  return (await sloById(db, id)) ? 'updated' : 'missing';
}

export async function deleteSlo(db: Queryable, id: number): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM pgvigil.slos WHERE slo_id = $1', [id]);
  return (rowCount ?? 0) > 0;
}

export async function sloById(db: Queryable, id: number): Promise<SloRow | undefined> {
  const { rows } = await db.query<SloRow>(`SELECT ${sloColumns} FROM ${sloFrom} WHERE s.slo_id = $1`, [id]);
  return rows[0];
}

/** An SLO, its row locked until the transaction ends (the job evaluates what a concurrent PATCH left). */
export async function sloForUpdate(db: Queryable, id: number): Promise<SloRow | undefined> {
  const { rows } = await db.query<SloRow>(
    `SELECT ${sloColumns} FROM ${sloFrom} WHERE s.slo_id = $1 FOR UPDATE OF s`,
    [id],
  );
  return rows[0];
}

/** SLOs by server and target (null: any), in id order after `afterId`, at most `limit`. */
export async function listSlos(
  db: Queryable,
  f: { serverId?: number; targetId?: number; afterId?: number; limit: number },
): Promise<SloRow[]> {
  const { rows } = await db.query<SloRow>(
    `SELECT ${sloColumns} FROM ${sloFrom}
      WHERE ($1::bigint IS NULL OR s.server_id = $1) AND ($2::bigint IS NULL OR s.target_id = $2)
        AND s.slo_id > $3
      ORDER BY s.slo_id
      LIMIT $4`,
    [f.serverId ?? null, f.targetId ?? null, f.afterId ?? 0, f.limit],
  );
  return rows;
}

/** SLOs evaluated since `since`, with their stored status (what the findings check reads). */
export async function evaluatedSlos(db: Queryable, since: Date): Promise<SloRow[]> {
  const { rows } = await db.query<SloRow>(
    `SELECT ${sloColumns} FROM ${sloFrom} WHERE s.evaluated_at >= $1 AND s.status IS NOT NULL ORDER BY s.slo_id`,
    [since],
  );
  return rows;
}

export async function storeSloStatus(db: Queryable, id: number, status: unknown, at: Date): Promise<void> {
  await db.query('UPDATE pgvigil.slos SET status = $2, evaluated_at = $3 WHERE slo_id = $1', [
    id,
    JSON.stringify(status),
    at,
  ]);
}

/**
 * Inside a transaction: commit it without waiting for the WAL flush. For what the slos job writes (hour
 * counts, statuses): derived data that the next run recomputes, so a crash that loses the last commit
 * loses nothing, and a run over many SLOs does not wait for one flush each.
 */
export async function commitWithoutFlush(db: Queryable): Promise<void> {
  await db.query('SET LOCAL synchronous_commit TO off');
}

/** Where a server's hourly (and so minute) rollups end: its oldest pending hour, else the current hour. */
export async function hourlyTail(db: Queryable, serverId: number, now: Date): Promise<number> {
  const { rows } = await db.query<{ first: Date | null }>(
    `SELECT min(bucket) AS first FROM pgvigil.rollup_pending WHERE server_id = $1 AND tier = 'hourly'`,
    [serverId],
  );
  const current = Math.floor(now.getTime() / 3_600_000) * 3_600_000;
  const first = rows[0]?.first?.getTime();
  return first === undefined ? current : Math.min(first, current);
}

export interface SloHourRow {
  hour: number;
  good: number;
  bad: number;
  excluded: number;
}

/** Counted hours of an SLO in [from, to). */
export async function sloHours(db: Queryable, id: number, from: Date, to: Date): Promise<SloHourRow[]> {
  const { rows } = await db.query<SloHourRow>(
    `SELECT (date_part('epoch', hour) * 1000)::float8 AS hour, good, bad, excluded
       FROM pgvigil.slo_hours WHERE slo_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour`,
    [id, from, to],
  );
  return rows;
}

/**
 * Writes the counted hours in [from, to) (replacing what was there) and moves `counted_until` to `to`.
 * An hour without counted minutes has no row.
 */
export async function storeSloHours(
  db: Queryable,
  id: number,
  from: Date,
  to: Date,
  hours: readonly SloHourRow[],
): Promise<void> {
  await db.query(
    `WITH gone AS (DELETE FROM pgvigil.slo_hours WHERE slo_id = $1 AND hour >= $2 AND hour < $3),
          ins AS (INSERT INTO pgvigil.slo_hours (server_id, slo_id, hour, good, bad, excluded)
                  SELECT s.server_id, $1, to_timestamp(h / 1000.0), g, b, x
                    FROM pgvigil.slos s,
                         unnest($4::float8[], $5::int[], $6::int[], $7::int[]) AS u(h, g, b, x)
                   WHERE s.slo_id = $1
                  ON CONFLICT (slo_id, hour, server_id) DO UPDATE SET good = excluded.good, bad = excluded.bad,
                    excluded = excluded.excluded)
     UPDATE pgvigil.slos SET counted_until = $3 WHERE slo_id = $1`,
    [
      id,
      from,
      to,
      hours.map((h) => h.hour),
      hours.map((h) => h.good),
      hours.map((h) => h.bad),
      hours.map((h) => h.excluded),
    ],
  );
}

/** Forgets counted hours from `from` on (a late batch re-opened them) and moves `counted_until` back. */
export async function uncountSloHours(db: Queryable, id: number, from: Date): Promise<void> {
  await db.query(
    `WITH gone AS (DELETE FROM pgvigil.slo_hours WHERE slo_id = $1 AND hour >= $2)
     UPDATE pgvigil.slos SET counted_until = $2 WHERE slo_id = $1`,
    [id, from],
  );
}

/** Drops counted hours older than each SLO's window (plus a day). Returns rows deleted. */
export async function pruneSloHours(db: Queryable, now: Date): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM pgvigil.slo_hours h USING pgvigil.slos s
      WHERE h.slo_id = s.slo_id AND h.hour < $1::timestamptz - make_interval(days => s.window_days + 1)`,
    [now],
  );
  return rowCount ?? 0;
}

/** Every SLO, for the slos job (id order). */
export async function allSlos(db: Queryable, afterId: number, limit: number): Promise<SloRow[]> {
  return listSlos(db, { afterId, limit });
}

/**
 * Copies the start time each agent reports in its batches' status (`startedAt`, ms) into agent_starts
 * when it is new. Values outside 2020…now + 1 day are ignored. Returns rows added.
 */
export async function recordAgentStarts(db: Queryable, now: Date): Promise<number> {
  const { rowCount } = await db.query(
    `INSERT INTO pgvigil.agent_starts (server_id, agent_id, started_at)
     SELECT server_id, agent_id, to_timestamp((status ->> 'startedAt')::float8 / 1000)
       FROM pgvigil.agents
      WHERE jsonb_typeof(status -> 'startedAt') = 'number'
        AND (status ->> 'startedAt')::float8 BETWEEN 1577836800000
            AND date_part('epoch', $1::timestamptz + interval '1 day') * 1000
     ON CONFLICT DO NOTHING`,
    [now],
  );
  return rowCount ?? 0;
}

/** Agent start times (ms) of a server in [from, to). */
export async function agentStarts(db: Queryable, serverId: number, from: Date, to: Date): Promise<number[]> {
  const { rows } = await db.query<{ t: number }>(
    `SELECT (date_part('epoch', started_at) * 1000)::float8 AS t FROM pgvigil.agent_starts
      WHERE server_id = $1 AND started_at >= $2 AND started_at < $3 ORDER BY started_at LIMIT 10000`,
    [serverId, from, to],
  );
  return rows.map((r) => r.t);
}

/** Drops agent starts older than `before`. */
export async function pruneAgentStarts(db: Queryable, before: Date): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM pgvigil.agent_starts WHERE started_at < $1', [before]);
  return rowCount ?? 0;
}

export interface TargetData {
  serverId: number;
  targetId: number;
  /** Families with raw rows since `since`, of those asked. */
  families: string[];
  /** Default SLO names already created for the target. */
  created: string[];
}

/**
 * Targets with rows of any of `familyNames` since `since` (newest partitions only), with the default SLOs
 * they already got; at most `limit` targets, those still missing a default first.
 */
export async function targetsWithData(
  db: Queryable,
  since: Date,
  checks: ReadonlyArray<{ family: FamilySpec }>,
  defaultNames: readonly string[],
  limit: number,
): Promise<TargetData[]> {
  // Family names are from the registry (quoted as identifiers) and passed as values for the result.
  const exists = checks.map(
    (c, i) =>
      `CASE WHEN EXISTS (SELECT 1 FROM pgvigil.${q(c.family.name)} x
                          WHERE x.server_id = t.server_id AND x.target_id = t.target_id AND x.ts >= $1)
            THEN $${4 + i}::text END`,
  );
  const { rows } = await db.query<TargetData>(
    `SELECT t.server_id::int AS "serverId", t.target_id::int AS "targetId",
            array_remove(ARRAY[${exists.join(', ')}]::text[], NULL) AS families,
            coalesce((SELECT array_agg(d.name) FROM pgvigil.slo_defaults_created d
                       WHERE d.server_id = t.server_id AND d.target_id = t.target_id), '{}') AS created
       FROM pgvigil.targets t
      WHERE (SELECT count(*) FROM pgvigil.slo_defaults_created d
              WHERE d.server_id = t.server_id AND d.target_id = t.target_id AND d.name = ANY($2::text[]))
            < cardinality($2::text[])
      ORDER BY t.server_id, t.target_id
      LIMIT $3`,
    [since, defaultNames, limit, ...checks.map((c) => c.family.name)],
  );
  return rows;
}

/**
 * Creates a default SLO for a target unless that default was created before (and perhaps deleted since).
 * Returns its id, or undefined.
 */
export async function createDefaultSlo(db: Queryable, w: SloWrite): Promise<number | undefined> {
  const { rows } = await db.query<{ id: number }>(
    `WITH d AS (
       INSERT INTO pgvigil.slo_defaults_created (server_id, target_id, name) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING RETURNING 1)
     INSERT INTO pgvigil.slos (server_id, target_id, name, description, family, metric, per, scale, min_per,
       labels, agg, missing, comparison, threshold, objective_pct, window_days, source, created_by)
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'default', 'pgvigil'
       FROM d
     ON CONFLICT (server_id, target_id, name) DO NOTHING
     RETURNING slo_id::int AS id`,
    writeValues(w),
  );
  return rows[0]?.id;
}

/** A resolved indicator: every name checked against the family registry. */
export interface IndicatorPlan {
  family: FamilySpec;
  metric: ColumnSpec;
  per: ColumnSpec[];
  scale: number;
  labels: Array<{ column: ColumnSpec; values: string[] }>;
  agg: 'avg' | 'min' | 'max' | 'p95';
  serverId: number;
  targetId: number | null;
}

export interface MinuteValueRow {
  t: number;
  samples: number;
  value: number | null;
  per: number | null;
}

/**
 * The indicator per minute in [from, to): minute-tier rows before `tail` (where the rollups end), raw rows
 * grouped by minute from it on. Only minutes with rows are returned. Rows: every matching series.
 */
export async function indicatorMinutes(
  db: Queryable,
  p: IndicatorPlan,
  from: Date,
  to: Date,
  tail: number,
): Promise<MinuteValueRow[]> {
  const sql = indicatorMinutesSql(p, from.getTime(), to.getTime(), tail);
  if (!sql) return [];
  const { rows } = await db.query<MinuteValueRow>(sql.text, sql.values);
  return rows;
}

/** The statement of indicatorMinutes (exported for its unit test); undefined for an empty range. */
export function indicatorMinutesSql(
  p: IndicatorPlan,
  from: number,
  to: number,
  tail: number,
): { text: string; values: unknown[] } | undefined {
  if (from >= to) return undefined;
  const values: unknown[] = [];
  const param = (v: unknown, cast: string) => {
    values.push(v);
    return `$${values.length}::${cast}`;
  };
  const target = p.family.scope === 'target';
  const keys = [
    'server_id',
    ...(target ? ['target_id'] : []),
    ...p.family.columns.filter((c) => c.label).map((c) => c.name),
  ];
  const filters = [`server_id = ${param(p.serverId, 'bigint')}`];
  if (target && p.targetId !== null) filters.push(`target_id = ${param(p.targetId, 'bigint')}`);
  for (const l of p.labels) {
    filters.push(
      `${q(l.column.name)} = ANY(${param(l.values, l.column.type === 'text' ? 'text[]' : 'bigint[]')})`,
    );
  }
  const ratio = p.per.length > 0;
  // Per source, the inner columns: for a ratio `num` and `den` (totals over the minute), else `v` (and `c`
  // for averages).
  const total = (c: ColumnSpec, tier: 'minute' | 'raw') =>
    tier === 'minute'
      ? c.counter
        ? `${q(c.name)}::float8`
        : `(${q(`${c.name}_avg`)} * samples)`
      : c.counter
        ? `sum(${counterStepSql(c.name)})::float8`
        : `sum(${q(c.name)})::float8`;
  const sumOf = (parts: string[]) =>
    parts.length === 1
      ? parts[0]!
      : `CASE WHEN ${parts.map((x) => `${x} IS NULL`).join(' AND ')} THEN NULL ELSE ${parts.map((x) => `coalesce(${x}, 0)`).join(' + ')} END`;
  const inner = (tier: 'minute' | 'raw'): string[] => {
    const m = p.metric;
    if (ratio) {
      return [`${total(m, tier)} AS num`, `${sumOf(p.per.map((c) => total(c, tier)))} AS den`];
    }
    if (m.counter) return [`${total(m, tier)} AS v`, 'NULL::float8 AS c'];
    const col = q(m.name);
    const r = (agg: string) => q(`${m.name}_${agg}`);
    switch (p.agg) {
      case 'avg':
        return tier === 'minute'
          ? [`${r('avg')} * samples AS v`, `CASE WHEN ${r('avg')} IS NOT NULL THEN samples END::float8 AS c`]
          : [`sum(${col})::float8 AS v`, `count(${col})::float8 AS c`];
      case 'min':
        return [
          tier === 'minute' ? `${r('min')}::float8 AS v` : `min(${col})::float8 AS v`,
          'NULL::float8 AS c',
        ];
      case 'max':
        return [
          tier === 'minute' ? `${r('max')}::float8 AS v` : `max(${col})::float8 AS v`,
          'NULL::float8 AS c',
        ];
      case 'p95':
        return [
          tier === 'minute'
            ? `${r('p95')}::float8 AS v`
            : `percentile_cont(0.95) WITHIN GROUP (ORDER BY ${col})::float8 AS v`,
          'NULL::float8 AS c',
        ];
    }
    return [];
  };
  const parts: string[] = [];
  const minuteEnd = Math.min(to, tail);
  if (from < minuteEnd) {
    const a = param(new Date(from), 'timestamptz');
    const b = param(new Date(minuteEnd), 'timestamptz');
    parts.push(`SELECT ts AS m, samples::float8 AS n, ${inner('minute').join(', ')}
  FROM pgvigil.${q(`${p.family.name}_minute`)}
 WHERE ${[...filters, `ts >= ${a}`, `ts < ${b}`].join(' AND ')}`);
  }
  const rawFrom = Math.max(from, tail);
  if (rawFrom < to) {
    const cols = [p.metric, ...p.per].filter((c, i, all) => all.findIndex((x) => x.name === c.name) === i);
    const counters = cols.some((c) => c.counter);
    const a = param(new Date(rawFrom), 'timestamptz');
    const b = param(new Date(to), 'timestamptz');
    // The minute tier is complete before `tail`: counters' earlier samples are found through it.
    const src = rawWithStepsSql(p.family.name, keys, cols, {
      filters,
      start: a,
      end: b,
      lookbackFrom: counters ? param(new Date(lookbackFrom(rawFrom, tail)), 'timestamptz') : a,
    });
    const keyList = keys.map(q).join(', ');
    parts.push(`SELECT date_bin('1 minute', ts, '1970-01-01T00:00:00Z'::timestamptz) AS m, count(*)::float8 AS n, ${inner('raw').join(', ')}
  FROM (${src}) r
 WHERE ts >= ${a}
 GROUP BY 1, ${keyList}`);
  }
  if (parts.length === 0) return undefined;
  const scale = param(p.scale, 'float8');
  const outer = ratio
    ? `${scale} * sum(num) / nullif(sum(den), 0) AS value, sum(den) AS per`
    : p.metric.counter
      ? `${scale} * sum(v) AS value, NULL::float8 AS per`
      : p.agg === 'avg'
        ? `${scale} * sum(v) / nullif(sum(c), 0) AS value, NULL::float8 AS per`
        : `${scale} * ${p.agg === 'min' ? 'min' : 'max'}(v) AS value, NULL::float8 AS per`;
  const text = `SELECT (date_part('epoch', m) * 1000)::float8 AS t, sum(n)::float8 AS samples, ${outer}
  FROM (${parts.join('\nUNION ALL\n')}) p
 GROUP BY m
 ORDER BY m`;
  return { text, values };
}

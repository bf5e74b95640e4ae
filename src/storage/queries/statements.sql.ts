/**
 * Statements over time: the sparklines of a top list (time per step of many statements, in one query) and
 * one statement's history (its per-interval deltas summed per step), plus its text.
 *
 * Steps are aligned on the epoch (a step starts at a multiple of its length), so a moving live range keeps
 * its points where they were. A step is never shorter than the usual collection interval of the range: a
 * step shorter than the interval would leave most steps empty and draw the line as dots.
 */
import type { Queryable } from './queryable.js';

/** One statement key; `queryid` as text to keep all 64 bits. */
export interface StatementKey {
  queryid: string;
  dbid: number;
  userid: number;
}

export interface StepQuery {
  serverId: number;
  targetId: number;
  from: Date;
  to: Date;
  /** At most this many steps over (from, to]. */
  steps: number;
}

/**
 * The step (seconds) for `steps` steps over (from, to]: the range divided evenly, rounded up to whole
 * seconds, but at least the median collection interval of the target's statement rows in the range.
 */
export async function statementStepSeconds(db: Queryable, p: StepQuery): Promise<number> {
  const even = Math.max(1, Math.ceil((p.to.getTime() - p.from.getTime()) / 1000 / p.steps));
  const { rows } = await db.query<{ interval_s: number | null }>(
    `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY interval_s) AS interval_s
       FROM pgvigil.pg_statements
      WHERE server_id = $1 AND target_id = $2 AND ts > $3 AND ts <= $4`,
    [p.serverId, p.targetId, p.from, p.to],
  );
  const usual = rows[0]?.interval_s;
  return typeof usual === 'number' && Number.isFinite(usual) ? Math.max(even, Math.ceil(usual)) : even;
}

export interface SparkPoint extends StatementKey {
  /** Start of the step, ms since the epoch. */
  step_ms: number;
  total_time_ms: number;
}

/**
 * Total time (execution + planning, ms) per step of each statement of `keys`, steps in which a statement
 * made no top list absent (a gap: its time then is unknown, not zero).
 */
export async function statementSparklines(
  db: Queryable,
  p: Omit<StepQuery, 'steps'> & { stepSeconds: number; keys: readonly StatementKey[] },
): Promise<SparkPoint[]> {
  if (p.keys.length === 0) return [];
  const { rows } = await db.query<SparkPoint>(
    `SELECT s.queryid::text AS queryid, s.dbid, s.userid,
            (floor(extract(epoch FROM s.ts) / $5) * $5 * 1000)::float8 AS step_ms,
            sum(coalesce(s.exec_time_ms, 0) + coalesce(s.plan_time_ms, 0))::float8 AS total_time_ms
       FROM pgvigil.pg_statements s
       JOIN unnest($6::bigint[], $7::bigint[], $8::bigint[]) AS k(queryid, dbid, userid)
         ON k.queryid = s.queryid AND k.dbid = s.dbid AND k.userid = s.userid
      WHERE s.server_id = $1 AND s.target_id = $2 AND s.ts > $3 AND s.ts <= $4
      GROUP BY 1, 2, 3, 4
      ORDER BY 1, 2, 3, 4`,
    [
      p.serverId,
      p.targetId,
      p.from,
      p.to,
      p.stepSeconds,
      p.keys.map((k) => k.queryid),
      p.keys.map((k) => k.dbid),
      p.keys.map((k) => k.userid),
    ],
  );
  return rows;
}

/** The deltas a statement's history sums per step. */
export const historyColumns = [
  'calls',
  'exec_time_ms',
  'plan_time_ms',
  'rows',
  'shared_blks_hit',
  'shared_blks_read',
  'shared_blks_dirtied',
  'shared_blks_written',
  'temp_blks_read',
  'temp_blks_written',
  'blk_read_time_ms',
  'blk_write_time_ms',
] as const;
export type HistoryColumn = (typeof historyColumns)[number];

export type HistoryStep = { step_ms: number; intervals: number; covered_s: number } & Record<
  HistoryColumn,
  number | null
>;

export interface HistoryQuery {
  serverId: number;
  targetId: number;
  from: Date;
  to: Date;
  stepSeconds: number;
  queryid: string;
  /** Only this database / role; null sums every (dbid, userid) of the query id. */
  dbid: number | null;
  userid: number | null;
}

/**
 * One statement's deltas summed per step, with the seconds the summed intervals cover (`covered_s`, the
 * denominator of its rates). Steps without a row are absent.
 */
export async function statementHistory(db: Queryable, p: HistoryQuery): Promise<HistoryStep[]> {
  // Column names come from the constant list above, never from a request.
  const sums = historyColumns.map((n) => `sum(${n})::float8 AS ${n}`).join(', ');
  const { rows } = await db.query<HistoryStep>(
    `SELECT (floor(extract(epoch FROM ts) / $5) * $5 * 1000)::float8 AS step_ms,
            count(*)::int AS intervals, sum(interval_s)::float8 AS covered_s, ${sums}
       FROM pgvigil.pg_statements
      WHERE server_id = $1 AND target_id = $2 AND ts > $3 AND ts <= $4 AND queryid = $6::bigint
        AND ($7::bigint IS NULL OR dbid = $7) AND ($8::bigint IS NULL OR userid = $8)
      GROUP BY 1
      ORDER BY 1`,
    [p.serverId, p.targetId, p.from, p.to, p.stepSeconds, p.queryid, p.dbid, p.userid],
  );
  return rows;
}

export interface StatementIdentity extends StatementKey {
  datname: string | null;
  usename: string | null;
}

/** The (dbid, userid) pairs a query id was seen with in the range, with their newest names. */
export async function statementIdentities(
  db: Queryable,
  p: Omit<HistoryQuery, 'stepSeconds'>,
): Promise<StatementIdentity[]> {
  const { rows } = await db.query<StatementIdentity>(
    `SELECT queryid::text AS queryid, dbid, userid,
            (array_agg(datname ORDER BY ts DESC))[1] AS datname,
            (array_agg(usename ORDER BY ts DESC))[1] AS usename
       FROM pgvigil.pg_statements
      WHERE server_id = $1 AND target_id = $2 AND ts > $3 AND ts <= $4 AND queryid = $5::bigint
        AND ($6::bigint IS NULL OR dbid = $6) AND ($7::bigint IS NULL OR userid = $7)
      GROUP BY queryid, dbid, userid
      ORDER BY dbid, userid`,
    [p.serverId, p.targetId, p.from, p.to, p.queryid, p.dbid, p.userid],
  );
  return rows;
}

export interface StatementText extends StatementKey {
  query: string;
  truncated: boolean | null;
}

/** The stored texts of a query id (one per (dbid, userid); the same text for each, as a rule). */
export async function statementTexts(
  db: Queryable,
  p: { serverId: number; targetId: number; queryid: string; dbid: number | null; userid: number | null },
): Promise<StatementText[]> {
  const { rows } = await db.query<StatementText>(
    `SELECT queryid::text AS queryid, dbid, userid, query, truncated
       FROM pgvigil.pg_statement_texts
      WHERE server_id = $1 AND target_id = $2 AND queryid = $3::bigint AND query IS NOT NULL
        AND ($4::bigint IS NULL OR dbid = $4) AND ($5::bigint IS NULL OR userid = $5)
      ORDER BY dbid, userid
      LIMIT 100`,
    [p.serverId, p.targetId, p.queryid, p.dbid, p.userid],
  );
  return rows;
}

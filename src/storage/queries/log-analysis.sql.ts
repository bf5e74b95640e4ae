/**
 * Log analysis (migration 0018): the persisted message patterns per server, the per-server watermark of
 * the log-analysis job, the hourly log counts by (source, level) and by pattern, and what the error-spike
 * check and the /log-patterns and /log-trends routes read. Every list is bounded here.
 */
import type { LogLevel } from '../../protocol/logs.js';
import type { Queryable } from './queryable.js';

/** SQL rank of a level (1 = debug … 7 = panic), for "the most severe level seen". */
const levelRank = (col: string) =>
  `array_position('{debug,info,notice,warning,error,fatal,panic}'::text[], ${col})`;

/** Longest sample message kept in a pattern. */
export const patternSampleChars = 500;

export interface LogAnalysisServer {
  serverId: number;
  /** null before the job first read this server's entries. */
  watermark: Date | null;
  /** When it last looked for late entries. */
  reconciledAt: Date | null;
}

/**
 * Servers that shipped anything since `since`, with their watermark; those furthest behind first (a run
 * that runs out of time leaves the others for the next).
 */
export async function logAnalysisServers(db: Queryable, since: Date): Promise<LogAnalysisServer[]> {
  const { rows } = await db.query<LogAnalysisServer>(
    `SELECT s.server_id::int AS "serverId", st.watermark, st.reconciled_at AS "reconciledAt"
       FROM pgvigil.servers s LEFT JOIN pgvigil.log_analysis_state st USING (server_id)
      WHERE s.last_seen_at >= $1
      ORDER BY st.watermark NULLS FIRST, s.server_id`,
    [since],
  );
  return rows;
}

/** The oldest entry of a server at or after `since`, or null. */
export async function oldestLogEntry(db: Queryable, serverId: number, since: Date): Promise<Date | null> {
  const { rows } = await db.query<{ ts: Date | null }>(
    'SELECT min(ts) AS ts FROM pgvigil.log_entries WHERE server_id = $1 AND ts >= $2',
    [serverId, since],
  );
  return rows[0]?.ts ?? null;
}

/**
 * The ts of the entry after the first `maxRows` entries of [from, to) (oldest first), or null when the
 * range holds at most `maxRows`: where a chunk of at most `maxRows` entries has to end.
 */
export async function logChunkEnd(
  db: Queryable,
  serverId: number,
  from: Date,
  to: Date,
  maxRows: number,
): Promise<Date | null> {
  const { rows } = await db.query<{ ts: Date }>(
    `SELECT ts FROM pgvigil.log_entries
      WHERE server_id = $1 AND ts >= $2 AND ts < $3
      ORDER BY ts OFFSET $4 LIMIT 1`,
    [serverId, from, to, maxRows],
  );
  return rows[0]?.ts ?? null;
}

export interface ChunkPattern {
  fingerprint: string;
  source: string;
  level: LogLevel;
  component: string;
  count: number;
  first: Date;
  last: Date;
  /** The newest message (≤ patternSampleChars). */
  sample: string;
  event: string | null;
  /** The pattern is tracked already (has a row in log_patterns). */
  known: boolean;
  /** With `storedHour`: the entries of this fingerprint already counted in that hour (0 when none). */
  stored: number;
  /** Over the whole chunk, before the limit: entries and distinct fingerprints. */
  totalEntries: number;
  totalFingerprints: number;
}

/**
 * The entries of [from, to) of one server grouped by fingerprint: every tracked pattern first, then new
 * fingerprints, most severe and most frequent first; at most `limit` groups (the totals say what the
 * limit left out).
 */
export async function aggregateLogChunk(
  db: Queryable,
  serverId: number,
  from: Date,
  to: Date,
  limit: number,
  storedHour: Date | null = null,
): Promise<ChunkPattern[]> {
  const { rows } = await db.query<ChunkPattern>(
    `WITH g AS (
       SELECT e.fingerprint, min(left(e.source, 100)) AS source,
              (array_agg(e.level ORDER BY ${levelRank('e.level')} DESC))[1] AS level,
              (array_agg(left(e.component, 100) ORDER BY e.ts DESC))[1] AS component,
              count(*)::int AS count, min(e.ts) AS first, max(e.ts) AS last,
              (array_agg(left(e.message, ${patternSampleChars}) ORDER BY e.ts DESC))[1] AS sample,
              (array_agg(left(e.context ->> 'event', 100) ORDER BY e.ts DESC))[1] AS event
         FROM pgvigil.log_entries e
        WHERE e.server_id = $1 AND e.ts >= $2 AND e.ts < $3
        GROUP BY e.fingerprint
     )
     -- A primary-key probe per group, whatever the planner believes of a young log_patterns (a join
     -- planned on no statistics became a nested loop over every pattern for every group).
     , k AS (
       SELECT g.*, EXISTS (SELECT 1 FROM pgvigil.log_patterns p
                            WHERE p.server_id = $1 AND p.fingerprint = g.fingerprint) AS known,
              CASE WHEN $5::timestamptz IS NULL THEN 0
                   ELSE coalesce((SELECT f.count FROM pgvigil.log_fingerprints_hourly f
                                   WHERE f.server_id = $1 AND f.hour = $5 AND f.fingerprint = g.fingerprint), 0)
              END::int AS stored
         FROM g
     )
     SELECT k.*, (sum(k.count) OVER ())::int AS "totalEntries", (count(*) OVER ())::int AS "totalFingerprints"
       FROM k
      ORDER BY k.known DESC, ${levelRank('k.level')} DESC, k.count DESC, k.fingerprint
      LIMIT $4`,
    [serverId, from, to, limit, storedHour],
  );
  return rows;
}

/**
 * Hours of [from, to) where log_entries hold more entries of the server than the hourly counts (entries
 * that arrived behind the watermark), oldest first, with how many more. `to` is the watermark: the counts
 * of its hour cover [hour, watermark).
 */
export async function lateLogHours(
  db: Queryable,
  serverId: number,
  from: Date,
  to: Date,
): Promise<Array<{ hour: Date; missing: number }>> {
  const { rows } = await db.query<{ hour: Date; missing: number }>(
    `WITH raw AS (
       SELECT date_bin('1 hour', ts, TIMESTAMPTZ 'epoch') AS hour, count(*) AS n FROM pgvigil.log_entries
        WHERE server_id = $1 AND ts >= $2 AND ts < $3 GROUP BY 1
     ), counted AS (
       SELECT hour, sum(count) AS n FROM pgvigil.log_counts_hourly
        WHERE server_id = $1 AND hour >= $2 AND hour < $3 GROUP BY 1
     )
     SELECT raw.hour, (raw.n - coalesce(counted.n, 0))::int AS missing
       FROM raw LEFT JOIN counted USING (hour)
      WHERE raw.n > coalesce(counted.n, 0)
      ORDER BY raw.hour`,
    [serverId, from, to],
  );
  return rows;
}

/** Patterns a server tracks now. */
export async function countLogPatterns(db: Queryable, serverId: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pgvigil.log_patterns WHERE server_id = $1',
    [serverId],
  );
  return rows[0]?.n ?? 0;
}

/** Deletes up to `n` resolved patterns of a server, least recently seen first; returns how many. */
export async function evictResolvedPatterns(db: Queryable, serverId: number, n: number): Promise<number> {
  if (n <= 0) return 0;
  const { rowCount } = await db.query(
    `DELETE FROM pgvigil.log_patterns p
      WHERE p.server_id = $1 AND p.fingerprint IN (
        SELECT fingerprint FROM pgvigil.log_patterns
         WHERE server_id = $1 AND state = 'resolved'
         ORDER BY last_seen, fingerprint LIMIT $2)`,
    [serverId, n],
  );
  return rowCount ?? 0;
}

export interface PatternUpsert {
  fingerprint: string;
  source: string;
  level: string;
  component: string;
  count: number;
  first: Date;
  last: Date;
  sample: string;
  event: string | null;
}

export interface UpsertedPattern {
  fingerprint: string;
  /** A pattern never seen before on this server. */
  inserted: boolean;
  /** When it was last reopened (equal to the chunk's first entry when this upsert reopened it). */
  reopenedAt: Date | null;
  level: LogLevel;
  source: string;
  sample: string;
  firstSeen: Date;
  count: number;
}

/**
 * Adds one chunk's counts to the patterns (inserting new ones): first/last seen widen, the level is the
 * most severe seen, the sample and event are the newest; a resolved pattern seen again is reopened.
 */
export async function upsertLogPatterns(
  db: Queryable,
  serverId: number,
  rows: readonly PatternUpsert[],
  /** false for late entries: they add to the counts but neither reopen nor keep open a quiet pattern. */
  reopen = true,
): Promise<UpsertedPattern[]> {
  if (rows.length === 0) return [];
  const { rows: out } = await db.query<UpsertedPattern>(
    `INSERT INTO pgvigil.log_patterns AS p
       (server_id, fingerprint, source, level, component, first_seen, last_seen, count, sample, event)
     SELECT $1, u.fingerprint, u.source, u.level, u.component, u.first, u.last, u.count, u.sample, u.event
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
                   $8::bigint[], $9::text[], $10::text[])
            AS u (fingerprint, source, level, component, first, last, count, sample, event)
     ON CONFLICT (server_id, fingerprint) DO UPDATE SET
       count = p.count + EXCLUDED.count,
       first_seen = least(p.first_seen, EXCLUDED.first_seen),
       last_seen = greatest(p.last_seen, EXCLUDED.last_seen),
       level = CASE WHEN ${levelRank('EXCLUDED.level')} > ${levelRank('p.level')} THEN EXCLUDED.level ELSE p.level END,
       sample = CASE WHEN EXCLUDED.last_seen >= p.last_seen THEN EXCLUDED.sample ELSE p.sample END,
       event = CASE WHEN EXCLUDED.last_seen >= p.last_seen THEN EXCLUDED.event ELSE p.event END,
       component = CASE WHEN EXCLUDED.last_seen >= p.last_seen THEN EXCLUDED.component ELSE p.component END,
       state = CASE WHEN $11 THEN 'open' ELSE p.state END,
       resolved_at = CASE WHEN $11 THEN NULL ELSE p.resolved_at END,
       reopened_at = CASE WHEN $11 AND p.state = 'resolved' THEN EXCLUDED.first_seen ELSE p.reopened_at END,
       reopen_count = p.reopen_count + ($11 AND p.state = 'resolved')::int,
       updated_at = now()
     RETURNING p.fingerprint, (p.xmax = 0) AS inserted, p.reopened_at AS "reopenedAt",
               p.level, p.source, p.sample, p.first_seen AS "firstSeen", p.count::float8 AS count`,
    [
      serverId,
      rows.map((r) => r.fingerprint),
      rows.map((r) => r.source),
      rows.map((r) => r.level),
      rows.map((r) => r.component),
      rows.map((r) => r.first),
      rows.map((r) => r.last),
      rows.map((r) => r.count),
      rows.map((r) => r.sample),
      rows.map((r) => r.event),
      reopen,
    ],
  );
  return out;
}

/** What the hourly counts call the sources beyond a server-hour's bound. */
export const otherSource = '(other)';

/**
 * Adds the entries of [from, to) (within one hour) to the hourly counts by (source, level); with
 * `replace`, sets the counts to them instead (a recount of a whole counted range). A server-hour keeps at
 * most `maxSources` sources (those it has, then the busiest new ones); entries of the others are counted
 * under `(other)`, so an agent inventing sources cannot grow the table. Returns the rows touched.
 */
export async function addLogCountsHourly(
  db: Queryable,
  serverId: number,
  from: Date,
  to: Date,
  replace = false,
  maxSources = 50,
): Promise<number> {
  const { rowCount } = await db.query(
    `WITH g AS (
       SELECT date_bin('1 hour', e.ts, TIMESTAMPTZ 'epoch') AS hour, left(e.source, 100) AS source, e.level,
              count(*) AS n
         FROM pgvigil.log_entries e
        WHERE e.server_id = $1 AND e.ts >= $2 AND e.ts < $3
        GROUP BY 1, 2, 3
     ), src AS (
       SELECT g.hour, g.source, sum(g.n) AS n,
              EXISTS (SELECT 1 FROM pgvigil.log_counts_hourly h
                       WHERE h.server_id = $1 AND h.hour = g.hour AND h.source = g.source) AS known
         FROM g GROUP BY g.hour, g.source
     ), ranked AS (
       SELECT src.*, row_number() OVER (PARTITION BY hour ORDER BY known DESC, n DESC, source) AS rn,
              count(*) FILTER (WHERE known) OVER (PARTITION BY hour) AS known_here,
              (SELECT count(DISTINCT h.source) FROM pgvigil.log_counts_hourly h
                WHERE h.server_id = $1 AND h.hour = src.hour) AS have
         FROM src
     )
     INSERT INTO pgvigil.log_counts_hourly AS h (server_id, hour, source, level, count)
     SELECT $1, g.hour, CASE WHEN r.known OR r.have + r.rn - r.known_here <= $5 THEN g.source ELSE '${otherSource}' END,
            g.level, sum(g.n)
       FROM g JOIN ranked r USING (hour, source)
      GROUP BY 2, 3, 4
     ON CONFLICT (server_id, hour, source, level) DO UPDATE
        SET count = CASE WHEN $4 THEN EXCLUDED.count ELSE h.count + EXCLUDED.count END`,
    [serverId, from, to, replace, maxSources],
  );
  return rowCount ?? 0;
}

/** Adds counts of tracked patterns to one hour of log_fingerprints_hourly. */
export async function addFingerprintsHourly(
  db: Queryable,
  serverId: number,
  hour: Date,
  rows: ReadonlyArray<{ fingerprint: string; source: string; level: string; count: number }>,
): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO pgvigil.log_fingerprints_hourly AS h (server_id, hour, fingerprint, source, level, count)
     SELECT $1, $2, u.fingerprint, u.source, u.level, u.count
       FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[]) AS u (fingerprint, source, level, count)
     ON CONFLICT (server_id, hour, fingerprint) DO UPDATE
        SET count = h.count + EXCLUDED.count, level = EXCLUDED.level`,
    [
      serverId,
      hour,
      rows.map((r) => r.fingerprint),
      rows.map((r) => r.source),
      rows.map((r) => r.level),
      rows.map((r) => r.count),
    ],
  );
}

export interface WatermarkAdvance {
  serverId: number;
  watermark: Date;
  entries: number;
  droppedPatterns: number;
  droppedEntries: number;
  evicted: number;
  /** Entries found behind the watermark (a reconcile). */
  late?: number;
  /** When a reconcile looked (set with `late`). */
  reconciledAt?: Date;
}

/** Moves a server's watermark and adds to its counters (creating its state row). */
export async function advanceLogWatermark(db: Queryable, a: WatermarkAdvance): Promise<void> {
  await db.query(
    `INSERT INTO pgvigil.log_analysis_state AS s
       (server_id, watermark, entries_processed, dropped_patterns, dropped_entries, evicted_patterns,
      late_entries, reconciled_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (server_id) DO UPDATE SET
       watermark = greatest(s.watermark, EXCLUDED.watermark),
       entries_processed = s.entries_processed + EXCLUDED.entries_processed,
       dropped_patterns = s.dropped_patterns + EXCLUDED.dropped_patterns,
       dropped_entries = s.dropped_entries + EXCLUDED.dropped_entries,
       evicted_patterns = s.evicted_patterns + EXCLUDED.evicted_patterns,
       late_entries = s.late_entries + EXCLUDED.late_entries,
       reconciled_at = coalesce(EXCLUDED.reconciled_at, s.reconciled_at),
       updated_at = now()`,
    [
      a.serverId,
      a.watermark,
      a.entries,
      a.droppedPatterns,
      a.droppedEntries,
      a.evicted,
      a.late ?? 0,
      a.reconciledAt ?? null,
    ],
  );
}

export interface LogAnalysisState {
  serverId: number;
  watermark: Date;
  entriesProcessed: number;
  droppedPatterns: number;
  droppedEntries: number;
  evictedPatterns: number;
  lateEntries: number;
  reconciledAt: Date | null;
  patterns: number;
}

/** A server's analysis state with its number of patterns, or undefined before the first run. */
export async function logAnalysisState(
  db: Queryable,
  serverId: number,
): Promise<LogAnalysisState | undefined> {
  const { rows } = await db.query<LogAnalysisState>(
    `SELECT s.server_id::int AS "serverId", s.watermark, s.entries_processed::float8 AS "entriesProcessed",
            s.dropped_patterns::float8 AS "droppedPatterns", s.dropped_entries::float8 AS "droppedEntries",
            s.evicted_patterns::float8 AS "evictedPatterns", s.late_entries::float8 AS "lateEntries",
            s.reconciled_at AS "reconciledAt",
            (SELECT count(*)::int FROM pgvigil.log_patterns p WHERE p.server_id = s.server_id) AS patterns
       FROM pgvigil.log_analysis_state s WHERE s.server_id = $1`,
    [serverId],
  );
  return rows[0];
}

/**
 * Resolves open patterns not seen for `quietMs` before the server's watermark (or `now`, if earlier: a
 * server whose entries the job has not read yet is not judged quiet). Returns how many.
 */
export async function resolveQuietPatterns(db: Queryable, now: Date, quietMs: number): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE pgvigil.log_patterns p
        SET state = 'resolved', resolved_at = p.last_seen + $2 * interval '1 millisecond', updated_at = now()
       FROM pgvigil.log_analysis_state s
      WHERE p.server_id = s.server_id AND p.state = 'open'
        AND p.last_seen < least(s.watermark, $1) - $2 * interval '1 millisecond'
        -- implied by the line above; lets the partial index log_patterns_open bound the scan
        AND p.last_seen < $1::timestamptz - $2 * interval '1 millisecond'`,
    [now, quietMs],
  );
  return rowCount ?? 0;
}

/** Deletes up to `limit` resolved patterns last seen before `before`; returns how many. */
export async function pruneResolvedPatterns(db: Queryable, before: Date, limit: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM pgvigil.log_patterns p
      USING (SELECT server_id, fingerprint FROM pgvigil.log_patterns
              WHERE state = 'resolved' AND last_seen < $1 ORDER BY last_seen LIMIT $2) old
      WHERE p.server_id = old.server_id AND p.fingerprint = old.fingerprint`,
    [before, limit],
  );
  return rowCount ?? 0;
}

/**
 * Cuts the hours of log_fingerprints_hourly in [each server's trimmed_through (or `upto` − 7 days), `upto`)
 * to the `keep` busiest patterns per server and hour, and records `upto`. Returns the rows deleted.
 */
export async function trimFingerprintsHourly(db: Queryable, upto: Date, keep: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `WITH ranked AS (
       SELECT f.server_id, f.hour, f.fingerprint,
              row_number() OVER (PARTITION BY f.server_id, f.hour ORDER BY f.count DESC, f.fingerprint) AS rn
         FROM pgvigil.log_fingerprints_hourly f
         JOIN pgvigil.log_analysis_state s USING (server_id)
        WHERE f.hour >= coalesce(s.trimmed_through, $1::timestamptz - interval '7 days') AND f.hour < $1
     ), gone AS (
       DELETE FROM pgvigil.log_fingerprints_hourly f USING ranked r
        WHERE r.rn > $2 AND f.server_id = r.server_id AND f.hour = r.hour AND f.fingerprint = r.fingerprint
          AND f.hour < $1
       RETURNING 1
     ), marked AS (
       UPDATE pgvigil.log_analysis_state SET trimmed_through = $1
        WHERE trimmed_through IS NULL OR trimmed_through < $1
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM gone)::int AS n, (SELECT count(*) FROM marked) AS m`,
    [upto, keep],
  );
  return rows[0]?.n ?? 0;
}

// ── the error-spike check ──────────────────────────────────────────────────────────────────────────────

export interface RecentErrors {
  serverId: number;
  source: string;
  count: number;
  first: Date;
  last: Date;
  /** The most frequent fingerprints of the window, ≤ 5. */
  top: Array<{ fingerprint: string; count: number; level: string; sample: string }>;
}

/** Entries at level error or worse in [from, to) per server and source, with their top fingerprints. */
export async function recentErrorsBySource(db: Queryable, from: Date, to: Date): Promise<RecentErrors[]> {
  const { rows } = await db.query<RecentErrors>(
    `WITH e AS (
       SELECT e.server_id, left(e.source, 100) AS source, e.fingerprint, e.level, e.ts, e.message
         FROM pgvigil.log_entries e
        WHERE e.ts >= $1 AND e.ts < $2 AND e.level IN ('error', 'fatal', 'panic')
     ), byfp AS (
       SELECT server_id, source, fingerprint, count(*)::int AS n,
              (array_agg(level ORDER BY ts DESC))[1] AS level,
              (array_agg(left(message, 300) ORDER BY ts DESC))[1] AS sample
         FROM e GROUP BY server_id, source, fingerprint
     )
     SELECT e.server_id::int AS "serverId", e.source, count(*)::int AS count, min(e.ts) AS first, max(e.ts) AS last,
            (SELECT coalesce(jsonb_agg(jsonb_build_object('fingerprint', b.fingerprint, 'count', b.n,
                                                          'level', b.level, 'sample', b.sample)
                                       ORDER BY b.n DESC, b.fingerprint), '[]')
               FROM (SELECT * FROM byfp b WHERE b.server_id = e.server_id AND b.source = e.source
                      ORDER BY b.n DESC, b.fingerprint LIMIT 5) b) AS top
       FROM e GROUP BY e.server_id, e.source
      ORDER BY count DESC LIMIT 2000`,
    [from, to],
  );
  return rows;
}

export interface ErrorBaselineRow {
  serverId: number;
  /** null: the server's coverage row (any source, any level). */
  source: string | null;
  /** Entries at level error or worse in the hours covered. */
  errors: number;
  /**
   * The sum over those hours of each hour's error count squared (with `errors` and the hours covered: the
   * variance of the hourly counts). Absent in rows built before it existed: no spread known.
   */
  errorsSq?: number;
  /** The first hour the server has any count in, within the baseline range. */
  firstHour: Date;
}

/**
 * For the error-spike baseline, from the hourly counts of [from, to): per server, the first hour with any
 * count (coverage), and per server and source the error-or-worse entries and the sum of their hourly
 * counts squared.
 */
export async function errorBaselines(
  db: Queryable,
  from: Date,
  to: Date,
  serverIds: readonly number[],
): Promise<ErrorBaselineRow[]> {
  if (serverIds.length === 0) return [];
  const { rows } = await db.query<ErrorBaselineRow>(
    `WITH per_hour AS (
       SELECT h.server_id, h.source, h.hour,
              sum(h.count) FILTER (WHERE h.level IN ('error', 'fatal', 'panic')) AS errors
         FROM pgvigil.log_counts_hourly h
        WHERE h.server_id = ANY($3::bigint[]) AND h.hour >= $1 AND h.hour < $2
        GROUP BY h.server_id, h.source, h.hour
     )
     SELECT server_id::int AS "serverId", source,
            sum(errors)::float8 AS errors,
            sum(errors * errors)::float8 AS "errorsSq",
            min(hour) AS "firstHour"
       FROM per_hour
      GROUP BY GROUPING SETS ((server_id), (server_id, source))
      LIMIT 100000`,
    [from, to, serverIds],
  );
  return rows.map((r) => ({ ...r, errors: r.errors ?? 0, errorsSq: r.errorsSq ?? 0 }));
}

// ── the read API ───────────────────────────────────────────────────────────────────────────────────────

export type PatternOrder = 'last_seen' | 'count';

export interface PatternFilter {
  serverId?: number;
  sources?: string[];
  levels?: LogLevel[];
  state?: 'open' | 'resolved';
  /** Substring of the sample, case-insensitive. */
  contains?: string;
  order: PatternOrder;
  /** Keyset: strictly after (sort value, server id, fingerprint) in the order. */
  after?: { value: number; serverId: number; fingerprint: string };
  limit: number;
}

export interface PatternRow {
  serverId: number;
  serverName: string;
  fingerprint: string;
  source: string;
  level: LogLevel;
  component: string;
  firstSeen: Date;
  lastSeen: Date;
  count: number;
  sample: string;
  event: string | null;
  state: 'open' | 'resolved';
  resolvedAt: Date | null;
  reopenedAt: Date | null;
  reopenCount: number;
  /** The sort value (last_seen in µs since the epoch, or count), for the page key. */
  sortValue: number;
}

/** Sort expressions by name (the request picks the name, never the text). */
const patternOrders: Record<PatternOrder, string> = {
  last_seen: '(extract(epoch FROM p.last_seen) * 1000000)::bigint::float8',
  count: 'p.count::float8',
};

/** Stored patterns, largest sort value first; filters combine. */
export async function listLogPatterns(db: Queryable, f: PatternFilter): Promise<PatternRow[]> {
  const sortExpr = patternOrders[f.order];
  const keyCol = f.order === 'count' ? 'p.count' : 'p.last_seen';
  const keyVal =
    f.order === 'count'
      ? '$7::float8::bigint'
      : "TIMESTAMPTZ 'epoch' + $7::float8::bigint * interval '1 microsecond'";
  const { rows } = await db.query<PatternRow>(
    `SELECT p.server_id::int AS "serverId", v.name AS "serverName", p.fingerprint, p.source, p.level,
            p.component, p.first_seen AS "firstSeen", p.last_seen AS "lastSeen", p.count::float8 AS count,
            p.sample, p.event, p.state, p.resolved_at AS "resolvedAt", p.reopened_at AS "reopenedAt",
            p.reopen_count AS "reopenCount", ${sortExpr} AS "sortValue"
       FROM pgvigil.log_patterns p JOIN pgvigil.servers v USING (server_id)
      WHERE ($1::bigint IS NULL OR p.server_id = $1)
        AND ($2::text[] IS NULL OR p.source = ANY($2))
        AND ($3::text[] IS NULL OR p.level = ANY($3))
        AND ($4::text IS NULL OR p.state = $4)
        AND ($5::text IS NULL OR p.sample ILIKE $5 ESCAPE '\\')
        AND ($6::boolean IS NOT TRUE OR (${keyCol}, p.server_id, p.fingerprint) < (${keyVal}, $8::bigint, $9::text))
      ORDER BY ${keyCol} DESC, p.server_id DESC, p.fingerprint DESC
      LIMIT $10`,
    [
      f.serverId ?? null,
      f.sources ?? null,
      f.levels ?? null,
      f.state ?? null,
      f.contains === undefined ? null : `%${f.contains.replace(/[\\%_]/g, (m) => `\\${m}`)}%`,
      f.after !== undefined,
      f.after?.value ?? 0,
      f.after?.serverId ?? 0,
      f.after?.fingerprint ?? '',
      f.limit,
    ],
  );
  return rows;
}

export interface HourlyCountRow {
  hour: Date;
  source: string;
  level: LogLevel;
  count: number;
}

/** Hourly counts of one server in [from, to), oldest first (at most `limit` rows). */
export async function logCountsHourly(
  db: Queryable,
  serverId: number,
  from: Date,
  to: Date,
  limit: number,
): Promise<HourlyCountRow[]> {
  const { rows } = await db.query<HourlyCountRow>(
    `SELECT hour, source, level, count::float8 AS count FROM pgvigil.log_counts_hourly
      WHERE server_id = $1 AND hour >= $2 AND hour < $3
      ORDER BY hour, source, level LIMIT $4`,
    [serverId, from, to, limit],
  );
  return rows;
}

export interface FingerprintSeriesRow {
  fingerprint: string;
  hour: Date;
  count: number;
}

/**
 * The `top` fingerprints of one server over [from, to) by entries, and their hourly counts (hours older
 * than 48 h hold only each hour's top 20, so a pattern's older hours may be missing from its series).
 */
export async function topFingerprintSeries(
  db: Queryable,
  serverId: number,
  from: Date,
  to: Date,
  top: number,
): Promise<Array<FingerprintSeriesRow & { source: string; level: LogLevel; total: number }>> {
  const { rows } = await db.query<FingerprintSeriesRow & { source: string; level: LogLevel; total: number }>(
    `WITH t AS (
       SELECT fingerprint, sum(count)::float8 AS total,
              (array_agg(source ORDER BY hour DESC))[1] AS source, (array_agg(level ORDER BY hour DESC))[1] AS level
         FROM pgvigil.log_fingerprints_hourly
        WHERE server_id = $1 AND hour >= $2 AND hour < $3
        GROUP BY fingerprint ORDER BY total DESC, fingerprint LIMIT $4
     )
     SELECT t.fingerprint, t.source, t.level, t.total, f.hour, f.count::float8 AS count
       FROM t JOIN pgvigil.log_fingerprints_hourly f
         ON f.server_id = $1 AND f.fingerprint = t.fingerprint AND f.hour >= $2 AND f.hour < $3
      ORDER BY t.total DESC, t.fingerprint, f.hour`,
    [serverId, from, to, top],
  );
  return rows;
}

/** The sample of stored patterns of one server (for the trend's legend), by fingerprint. */
export async function patternSamples(
  db: Queryable,
  serverId: number,
  fingerprints: readonly string[],
): Promise<Array<{ fingerprint: string; sample: string }>> {
  if (fingerprints.length === 0) return [];
  const { rows } = await db.query<{ fingerprint: string; sample: string }>(
    `SELECT fingerprint, left(sample, 200) AS sample FROM pgvigil.log_patterns
      WHERE server_id = $1 AND fingerprint = ANY($2::text[])`,
    [serverId, fingerprints],
  );
  return rows;
}

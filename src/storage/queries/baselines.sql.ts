/**
 * Baselines (`pgvigil.baselines`, `pgvigil.baseline_state`): which servers are due a refresh, what bounds
 * the per-object metrics (largest tables, busiest statements, from the hourly tier), the core count of a
 * host, replacing one server's baselines, the slots the detector's cache reads, and the API's listing.
 * The metric history itself is read through ../series.ts (hourly tier).
 */
import { type SeriesPlan, seriesSql, type Tails } from '../series.js';
import { maxPassRows, type PassListing } from './check-pass.sql.js';
import type { Queryable } from './queryable.js';

export interface BaselineCandidate {
  serverId: number;
  /** End of the last hour its hourly tier has rolled (pending hours and the current one excluded). */
  rolledThrough: Date;
  /** Its baselines' `through`, null before the first refresh. */
  through: Date | null;
}

/**
 * Servers whose baselines are behind their hourly tier: an hour rolled past `through` and data received
 * since. Least recently refreshed first, at most `limit`.
 */
export async function baselineCandidates(
  db: Queryable,
  now: Date,
  limit: number,
): Promise<BaselineCandidate[]> {
  const { rows } = await db.query<{ server_id: string; rolled: Date; through: Date | null }>(
    `SELECT s.server_id, r.rolled, b.through
       FROM pgvigil.servers s
       LEFT JOIN pgvigil.baseline_state b USING (server_id)
       CROSS JOIN LATERAL (
         SELECT least(date_trunc('hour', $1::timestamptz),
                      (SELECT min(p.bucket) FROM pgvigil.rollup_pending p
                        WHERE p.server_id = s.server_id AND p.tier = 'hourly')) AS rolled
       ) r
      WHERE s.last_seen_at IS NOT NULL
        AND (b.through IS NULL OR (r.rolled > b.through AND s.last_seen_at >= b.through))
      ORDER BY b.refreshed_at NULLS FIRST, s.server_id
      LIMIT $2`,
    [now, limit],
  );
  return rows.map((r) => ({ serverId: Number(r.server_id), rolledThrough: r.rolled, through: r.through }));
}

/** First key of the two-key advisory lock a refresh of one server's baselines holds ("bl"). */
const baselineLockSpace = 0x626c;

/**
 * Takes one server's baselines for a refresh through `through` in the caller's transaction: false when
 * another transaction holds them (another instance refreshing it: never waited for) or they already
 * reach `through` (refreshed since the candidates were read). The lock is the transaction's, released at
 * its end; the check reads after it is taken, so it sees a refresh that committed just before.
 */
export async function claimBaselineRefresh(
  client: Queryable,
  serverId: number,
  through: Date,
): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>(
    // Server ids past the int4 range share a key with another server: at worst one of the two waits a run.
    'SELECT pg_try_advisory_xact_lock($1, ($2::bigint % 2147483647)::int) AS locked',
    [baselineLockSpace, serverId],
  );
  if (!rows[0]?.locked) return false;
  const state = await client.query<{ through: Date }>(
    'SELECT through FROM pgvigil.baseline_state WHERE server_id = $1',
    [serverId],
  );
  const done = state.rows[0]?.through;
  return done === undefined || done.getTime() < through.getTime();
}

/** The rolled-through hour of one server (as `baselineCandidates` computes it). */
export async function rolledThrough(db: Queryable, serverId: number, now: Date): Promise<Date> {
  const { rows } = await db.query<{ rolled: Date }>(
    `SELECT least(date_trunc('hour', $2::timestamptz),
                  (SELECT min(bucket) FROM pgvigil.rollup_pending WHERE server_id = $1 AND tier = 'hourly')) AS rolled`,
    [serverId, now],
  );
  return rows[0]!.rolled;
}

/**
 * For the rest of the caller's transaction, plain index scans for one server's rows rather than sequential
 * (or bitmap) scans of the tier's partitions. The hourly tier's monthly partitions hold every server's rows;
 * on a store of a few dozen servers the planner reckons a scan of a whole partition cheaper than fetching
 * one server's rows through its primary key (server_id first), and pays for reading every other server's
 * rows — the store's CPU per server then grows with the number of servers (bench/RESULTS.md, "Baselines
 * job: cost per server"). The results are the same rows; only the plan differs.
 */
export async function preferIndexScans(db: Queryable): Promise<void> {
  await db.query(
    "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)",
  );
}

export interface TopTable {
  targetId: number;
  datname: string;
  schemaname: string;
  relname: string;
}

/** The `perTarget` largest tables of each target of a server (average total size over [since, until)). */
export async function largestTables(
  db: Queryable,
  serverId: number,
  since: Date,
  until: Date,
  perTarget: number,
): Promise<TopTable[]> {
  const { rows } = await db.query<{
    target_id: string;
    datname: string;
    schemaname: string;
    relname: string;
  }>(
    `SELECT target_id, datname, schemaname, relname FROM (
       SELECT target_id, datname, schemaname, relname,
              row_number() OVER (PARTITION BY target_id ORDER BY avg(total_bytes_avg) DESC NULLS LAST, datname, schemaname, relname) AS n
         FROM pgvigil.pg_tables_hourly
        WHERE server_id = $1 AND ts >= $2 AND ts < $3
        GROUP BY target_id, datname, schemaname, relname
     ) t WHERE n <= $4`,
    [serverId, since, until, perTarget],
  );
  return rows.map((r) => ({
    targetId: Number(r.target_id),
    datname: r.datname,
    schemaname: r.schemaname,
    relname: r.relname,
  }));
}

/** The `perTarget` statements (queryids) of each target with the most execution time over [since, until). */
export async function busiestStatements(
  db: Queryable,
  serverId: number,
  since: Date,
  until: Date,
  perTarget: number,
): Promise<Array<{ targetId: number; queryid: string }>> {
  const { rows } = await db.query<{ target_id: string; queryid: string }>(
    `SELECT target_id, queryid::text AS queryid FROM (
       SELECT target_id, queryid,
              row_number() OVER (PARTITION BY target_id ORDER BY sum(exec_time_ms_avg * samples) DESC NULLS LAST, queryid) AS n
         FROM pgvigil.pg_statements_hourly
        WHERE server_id = $1 AND ts >= $2 AND ts < $3
        GROUP BY target_id, queryid
     ) t WHERE n <= $4`,
    [serverId, since, until, perTarget],
  );
  return rows.map((r) => ({ targetId: Number(r.target_id), queryid: r.queryid }));
}

/** CPU cores of a host: per-core series seen in its hourly tier since `since`, or in raw rows since `rawSince`. */
export async function hostCores(
  db: Queryable,
  serverId: number,
  since: Date,
  rawSince: Date,
): Promise<number | null> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT greatest(
              (SELECT count(DISTINCT cpu) FROM pgvigil.host_cpu_hourly WHERE server_id = $1 AND ts >= $2 AND cpu <> 'total'),
              (SELECT count(DISTINCT cpu) FROM pgvigil.host_cpu WHERE server_id = $1 AND ts >= $3 AND cpu <> 'total')
            )::int AS n`,
    [serverId, since, rawSince],
  );
  const n = rows[0]?.n ?? 0;
  return n > 0 ? n : null;
}

export interface BaselineWrite {
  targetId: number | null;
  metric: string;
  object: string;
  stats7d: unknown;
  stats30d: unknown;
  hourOfWeek: unknown;
  hourOfDay: unknown;
}

/**
 * Replaces every baseline of a server (inside the caller's transaction) and records its state. Returns the
 * rows written.
 */
export async function replaceServerBaselines(
  db: Queryable,
  serverId: number,
  through: Date,
  computedAt: Date,
  rows: readonly BaselineWrite[],
  durationMs: number,
): Promise<number> {
  await db.query('DELETE FROM pgvigil.baselines WHERE server_id = $1', [serverId]);
  let written = 0;
  if (rows.length > 0) {
    const r = await db.query(
      `INSERT INTO pgvigil.baselines
              (server_id, target_id, metric, object, through, computed_at, stats_7d, stats_30d, hour_of_week, hour_of_day)
       SELECT $1, x.target_id, x.metric, x.object, $2, $3, x.stats_7d, x.stats_30d, x.hour_of_week, x.hour_of_day
         FROM jsonb_to_recordset($4::jsonb)
              AS x(target_id bigint, metric text, object text, stats_7d jsonb, stats_30d jsonb, hour_of_week jsonb, hour_of_day jsonb)
         -- A target deleted meanwhile: its series are dropped, not an error.
        WHERE x.target_id IS NULL
           OR EXISTS (SELECT 1 FROM pgvigil.targets t WHERE t.server_id = $1 AND t.target_id = x.target_id)`,
      [
        serverId,
        through,
        computedAt,
        JSON.stringify(
          rows.map((w) => ({
            target_id: w.targetId,
            metric: w.metric,
            object: w.object,
            stats_7d: w.stats7d,
            stats_30d: w.stats30d,
            hour_of_week: w.hourOfWeek,
            hour_of_day: w.hourOfDay,
          })),
        ),
      ],
    );
    written = r.rowCount ?? 0;
  }
  await db.query(
    `INSERT INTO pgvigil.baseline_state (server_id, through, refreshed_at, series, duration_ms)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (server_id) DO UPDATE
        SET through = EXCLUDED.through, refreshed_at = EXCLUDED.refreshed_at,
            series = EXCLUDED.series, duration_ms = EXCLUDED.duration_ms`,
    [serverId, through, computedAt, written, durationMs],
  );
  return written;
}

/** One within-hour spread of a baseline series (target 0: the host). */
export interface HourSpreadRow {
  targetId: number | null;
  metric: string;
  object: string;
  hour: Date;
  sd: number;
}

/** The newest hour with a stored within-hour spread for a server, null when none. */
export async function lastSpreadHour(db: Queryable, serverId: number): Promise<Date | null> {
  const { rows } = await db.query<{ hour: Date | null }>(
    'SELECT max(hour) AS hour FROM pgvigil.baseline_hour_spreads WHERE server_id = $1',
    [serverId],
  );
  return rows[0]?.hour ?? null;
}

/**
 * Stores within-hour spreads of a server (upsert: an hour computed again replaces its value) and drops
 * those of hours before `keepFrom`. A series of a target deleted meanwhile is skipped.
 */
export async function writeHourSpreads(
  db: Queryable,
  serverId: number,
  rows: readonly HourSpreadRow[],
  keepFrom: Date,
): Promise<void> {
  await db.query('DELETE FROM pgvigil.baseline_hour_spreads WHERE server_id = $1 AND hour < $2', [
    serverId,
    keepFrom,
  ]);
  for (let i = 0; i < rows.length; i += 5000) {
    const chunk = rows.slice(i, i + 5000);
    await db.query(
      `INSERT INTO pgvigil.baseline_hour_spreads (server_id, target_id, metric, object, hour, sd)
       SELECT $1, x.target_id, x.metric, x.object, x.hour, x.sd
         FROM jsonb_to_recordset($2::jsonb) AS x(target_id bigint, metric text, object text, hour timestamptz, sd float8)
        WHERE x.target_id = 0
           OR EXISTS (SELECT 1 FROM pgvigil.targets t WHERE t.server_id = $1 AND t.target_id = x.target_id)
       ON CONFLICT (server_id, target_id, metric, object, hour) DO UPDATE SET sd = EXCLUDED.sd`,
      [
        serverId,
        JSON.stringify(
          chunk.map((r) => ({
            target_id: r.targetId ?? 0,
            metric: r.metric,
            object: r.object,
            hour: r.hour.toISOString(),
            sd: r.sd,
          })),
        ),
      ],
    );
  }
}

/** The stored within-hour spreads of a server's hours in [from, to). */
export async function hourSpreads(
  db: Queryable,
  serverId: number,
  from: Date,
  to: Date,
): Promise<HourSpreadRow[]> {
  const { rows } = await db.query<{
    target_id: string;
    metric: string;
    object: string;
    hour: Date;
    sd: number;
  }>(
    `SELECT target_id, metric, object, hour, sd
       FROM pgvigil.baseline_hour_spreads
      WHERE server_id = $1 AND hour >= $2 AND hour < $3`,
    [serverId, from, to],
  );
  return rows.map((r) => ({
    targetId: Number(r.target_id) === 0 ? null : Number(r.target_id),
    metric: r.metric,
    object: r.object,
    hour: r.hour,
    sd: Number(r.sd),
  }));
}

export interface BaselineSlotRow {
  serverId: number;
  targetId: number | null;
  metric: string;
  object: string;
  through: Date;
  computedAt: Date;
  stats30d: unknown;
  /** The requested hour-of-week slots, in the order asked. */
  weekSlots: unknown[];
  /** The requested hour-of-day slots, in the order asked. */
  daySlots: unknown[];
}

/**
 * For the detector's cache: the baselines of `servers` (of every server when null), with only the slots it
 * needs now (the current and previous hour), not all 192.
 */
export async function baselineSlots(
  db: Queryable,
  weekSlots: readonly number[],
  daySlots: readonly number[],
  servers: readonly number[] | null,
): Promise<BaselineSlotRow[]> {
  const { rows } = await db.query<{
    server_id: string;
    target_id: string | null;
    metric: string;
    object: string;
    through: Date;
    computed_at: Date;
    stats_30d: unknown;
    week: unknown[];
    day: unknown[];
  }>(
    `SELECT server_id, target_id, metric, object, through, computed_at, stats_30d,
            ARRAY(SELECT hour_of_week -> w FROM unnest($1::int[]) WITH ORDINALITY AS u(w, i) ORDER BY i) AS week,
            ARRAY(SELECT hour_of_day -> d FROM unnest($2::int[]) WITH ORDINALITY AS u(d, i) ORDER BY i) AS day
       FROM pgvigil.baselines
      WHERE $3::bigint[] IS NULL OR server_id = ANY($3::bigint[])`,
    [weekSlots, daySlots, servers],
  );
  return rows.map((r) => ({
    serverId: Number(r.server_id),
    targetId: r.target_id === null ? null : Number(r.target_id),
    metric: r.metric,
    object: r.object,
    through: r.through,
    computedAt: r.computed_at,
    stats30d: r.stats_30d,
    weekSlots: r.week,
    daySlots: r.day,
  }));
}

/** The servers whose last refresh wrote baselines, in order: a FROM clause for a SELECT of server_id. */
const baselinedFrom = 'FROM pgvigil.baseline_state WHERE series > 0 ORDER BY server_id';

/** A pass of the anomaly checks: the servers whose last refresh wrote baselines, each with target 0. */
export function baselinedServersListing(): PassListing {
  return { select: `SELECT server_id, 0 ${baselinedFrom} LIMIT $2`, params: [maxPassRows] };
}

/** The first `limit` servers whose last refresh wrote baselines. */
export async function baselinedServers(db: Queryable, limit: number): Promise<number[]> {
  const { rows } = await db.query<{ server_id: string }>(`SELECT server_id ${baselinedFrom} LIMIT $1`, [
    limit,
  ]);
  return rows.map((r) => Number(r.server_id));
}

/**
 * For the detector's cache: the servers whose baselines were computed after `since`, with when (one row
 * per server in baseline_state, written in the transaction that replaces its baselines).
 */
export async function baselinesComputedSince(
  db: Queryable,
  since: Date,
): Promise<Array<{ serverId: number; computedAt: Date }>> {
  const { rows } = await db.query<{ serverId: number; computedAt: Date }>(
    `SELECT server_id::int AS "serverId", refreshed_at AS "computedAt"
       FROM pgvigil.baseline_state WHERE refreshed_at > $1`,
    [since],
  );
  return rows;
}

export interface BaselineRow {
  serverId: number;
  targetId: number | null;
  metric: string;
  object: string;
  through: Date;
  computedAt: Date;
  stats7d: unknown;
  stats30d: unknown;
  hourOfWeek: unknown;
  hourOfDay: unknown;
}

/** The baselines of one server for the API, optionally of one metric and/or one target (0 = host). */
export async function serverBaselines(
  db: Queryable,
  serverId: number,
  filter: { metric?: string; target?: number },
  limit: number,
): Promise<BaselineRow[]> {
  const { rows } = await db.query<{
    server_id: string;
    target_id: string | null;
    metric: string;
    object: string;
    through: Date;
    computed_at: Date;
    stats_7d: unknown;
    stats_30d: unknown;
    hour_of_week: unknown;
    hour_of_day: unknown;
  }>(
    `SELECT server_id, target_id, metric, object, through, computed_at, stats_7d, stats_30d, hour_of_week, hour_of_day
       FROM pgvigil.baselines
      WHERE server_id = $1
        AND ($2::text IS NULL OR metric = $2)
        AND ($3::bigint IS NULL OR coalesce(target_id, 0) = $3)
      ORDER BY metric, coalesce(target_id, 0), object
      LIMIT $4`,
    [serverId, filter.metric ?? null, filter.target ?? null, limit],
  );
  return rows.map((r) => ({
    serverId: Number(r.server_id),
    targetId: r.target_id === null ? null : Number(r.target_id),
    metric: r.metric,
    object: r.object,
    through: r.through,
    computedAt: r.computed_at,
    stats7d: r.stats_7d,
    stats30d: r.stats_30d,
    hourOfWeek: r.hour_of_week,
    hourOfDay: r.hour_of_day,
  }));
}

/**
 * One family's series for many servers at once, per label combination (not summed as the fleet charts
 * do): `seriesSql` with the plan's `serverIds`, rows as arrays — [ms, server_id, target_id?, labels…,
 * values…] — with the key names. For the anomaly checks' read of the last minutes of every server.
 */
export async function fleetSeriesRows(
  db: Queryable,
  plan: SeriesPlan & { serverIds: number[] },
  tails: Tails,
  rowLimit: number,
): Promise<{ keys: string[]; rows: Array<Array<string | number | null>> }> {
  const sql = seriesSql(plan, tails, rowLimit);
  const { rows } = await db.query<Array<string | number | null>>({
    text: sql.text,
    values: sql.values,
    rowMode: 'array',
  });
  return { keys: sql.keys, rows };
}

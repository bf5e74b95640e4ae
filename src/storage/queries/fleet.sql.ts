/**
 * The fleet overview: every server at once, in a fixed handful of statements whatever the number of servers
 * (never one per server). Server status comes from servers.sql.ts (agentsOfServers, targetsOfServers,
 * failingFamilies, which already take a list of servers); this file adds the search, the finding counts and
 * the sparklines, which are the series of /api/v1/series (storage/series.ts) for many servers in one query.
 */
import type pg from 'pg';
import { type SeriesPlan, seriesSql, serverTails, type Tails, tailsFrom } from '../series.js';
import type { Queryable } from './queryable.js';
import type { ServerRow } from './servers.sql.js';

/**
 * Servers whose name, or the name of one of whose targets, contains `q` (case-insensitive; every server
 * when null), by name, up to `limit`. `strpos`, not LIKE: `%` and `_` in a search are plain characters.
 */
export async function fleetServers(db: Queryable, q: string | null, limit: number): Promise<ServerRow[]> {
  const { rows } = await db.query<ServerRow>(
    `SELECT s.server_id, s.name, s.labels, s.created_at, s.agentless FROM pgvigil.servers s
      WHERE $1::text IS NULL OR strpos(lower(s.name), lower($1)) > 0
         OR EXISTS (SELECT 1 FROM pgvigil.targets t
                     WHERE t.server_id = s.server_id AND strpos(lower(t.name), lower($1)) > 0)
      ORDER BY s.name LIMIT $2`,
    [q, limit],
  );
  return rows;
}

export interface FindingCountRow {
  server_id: string;
  severity: 'info' | 'warning' | 'critical';
  count: number;
}

/** Findings that still ask for attention (open or acknowledged; not silenced, not resolved) by server and severity. */
export async function activeFindingCounts(db: Queryable, serverIds: number[]): Promise<FindingCountRow[]> {
  const { rows } = await db.query<FindingCountRow>(
    `SELECT server_id::text AS server_id, severity, count(*)::int AS count FROM pgvigil.findings
      WHERE server_id = ANY($1::bigint[]) AND state IN ('open', 'acknowledged')
      GROUP BY 1, 2`,
    [serverIds],
  );
  return rows;
}

/**
 * Where rollups end for a set of servers: the earliest tail of any of them. Reading raw rows for buckets
 * some servers have rolled already gives the same numbers (rollups are computed from those rows by the same
 * rules), so one tail serves the whole fleet.
 */
export async function fleetTails(db: Queryable, serverIds: number[], now: Date): Promise<Tails> {
  const t = now.getTime();
  const out: Tails = { hourly: t, daily: t, minute: t };
  for (const s of (await serverTails(db, serverIds, now)).values()) {
    out.hourly = Math.min(out.hourly, s.hourly);
    out.daily = Math.min(out.daily, s.daily);
    out.minute = Math.min(out.minute, s.minute);
  }
  if (serverIds.length === 0) return tailsFrom(now, {});
  return out;
}

/** One server's (and target's, for PostgreSQL families) line: step starts and, per metric, the values. */
export interface FleetLine {
  serverId: number;
  targetId: number | null;
  /** Step starts (ms), ascending. */
  t: number[];
  /** Per metric of the plan, a value per step (null where no label had one). */
  values: Array<Array<number | null>>;
}

/**
 * Rows a fleet series query may produce before labels are summed (servers × steps × label values); far
 * beyond any fleet the route's `limit` allows, so the statement timeout, not this, is what bounds it.
 */
const fleetRowLimit = 20_000_000;

/**
 * The series of `plan` for every server of `plan.serverIds`, in one statement: per server (and target),
 * per step, each metric summed over the family's labels (databases for pg_database: counters' increases
 * add up; with a label filter such as cpu=total there is one series and the sum is the value itself).
 * A step where no label has a value stays null; steps without any row are absent. One row per line, its
 * steps and values as lists (`listSql`).
 */
export async function fleetSeries(
  db: pg.ClientBase,
  plan: SeriesPlan & { serverIds: number[] },
  tails: Tails,
): Promise<FleetLine[]> {
  const inner = seriesSql(plan, tails, fleetRowLimit);
  const target = plan.family.scope === 'target';
  const sums = plan.metrics.map((_, i) => `sum(pv_v${i})::float8 AS v${i}`);
  const arrays = plan.metrics.map((_, i) => listSql(`v${i}`, 'pv_t'));
  const { rows } = await db.query<Array<string | null>>({
    text: `SELECT server_id, target_id, ${listSql('pv_t::bigint', 'pv_t')}, ${arrays.join(', ')}
             FROM (SELECT server_id::bigint::text AS server_id,
                          ${target ? 'target_id::bigint::text' : 'NULL::text'} AS target_id,
                          pv_t, ${sums.join(', ')}
                     FROM (${inner.text}) s
                    GROUP BY 1, 2, 3) g
            GROUP BY 1, 2`,
    values: inner.values,
    rowMode: 'array',
  });
  return rows.map(lineOf);
}

/**
 * A column of a line as text (`1,2,,4`: empty for null), in `order`. Lists of numbers as one text each
 * parse several times faster in JavaScript than PostgreSQL arrays do (a fleet is 240,000 values).
 */
const listSql = (expr: string, order: string) =>
  `array_to_string(array_agg(${expr} ORDER BY ${order}), ',', '')`;

export function parseList(text: string | null): Array<number | null> {
  if (!text) return [];
  return text.split(',').map((x) => (x === '' ? null : Number(x)));
}

/** A row (server, target, steps, values per metric) as a line. */
function lineOf(r: Array<string | null>): FleetLine {
  return {
    serverId: Number(r[0]),
    targetId: r[1] === null ? null : Number(r[1]),
    t: parseList(r[2] ?? null) as number[],
    values: r.slice(3).map(parseList),
  };
}

/**
 * Writes the fleet tables' rows of [from, to) for these servers from the minute tier (inside the caller's
 * transaction, after it rolled those minutes), and deletes rows there the minute tier no longer gives: so,
 * like the roll itself, running it again gives the same rows.
 */
export async function refreshFleetMinutes(
  db: Queryable,
  serverIds: readonly number[],
  from: Date,
  to: Date,
): Promise<void> {
  await db.query(
    `WITH src AS (
       SELECT coalesce(c.server_id, m.server_id) AS server_id, coalesce(c.ts, m.ts) AS ts,
              c.idle_pct_avg, c.iowait_pct_avg, m.total_bytes_avg, m.available_bytes_avg
         FROM (SELECT server_id, ts, idle_pct_avg, iowait_pct_avg FROM pgvigil.host_cpu_minute
                WHERE server_id = ANY($1::bigint[]) AND cpu = 'total' AND ts >= $2 AND ts < $3) c
         FULL JOIN (SELECT server_id, ts, total_bytes_avg, available_bytes_avg FROM pgvigil.host_memory_minute
                     WHERE server_id = ANY($1::bigint[]) AND ts >= $2 AND ts < $3) m
           ON m.server_id = c.server_id AND m.ts = c.ts
     ), produced AS (
       INSERT INTO pgvigil.fleet_host_minute (server_id, ts, idle_pct, iowait_pct, total_bytes, available_bytes)
       SELECT * FROM src ORDER BY 1, 2
       ON CONFLICT (server_id, ts) DO UPDATE SET idle_pct = EXCLUDED.idle_pct, iowait_pct = EXCLUDED.iowait_pct,
         total_bytes = EXCLUDED.total_bytes, available_bytes = EXCLUDED.available_bytes
       RETURNING server_id, ts
     )
     DELETE FROM pgvigil.fleet_host_minute f
      WHERE f.server_id = ANY($1::bigint[]) AND f.ts >= $2 AND f.ts < $3
        AND NOT EXISTS (SELECT 1 FROM produced p WHERE p.server_id = f.server_id AND p.ts = f.ts)`,
    [serverIds, from, to],
  );
  await db.query(
    `WITH src AS (
       SELECT coalesce(i.server_id, d.server_id) AS server_id, coalesce(i.target_id, d.target_id) AS target_id,
              coalesce(i.ts, d.ts) AS ts, i.backends_avg, d.xact_commit, d.xact_rollback
         FROM (SELECT server_id, target_id, ts, backends_avg FROM pgvigil.pg_instance_minute
                WHERE server_id = ANY($1::bigint[]) AND ts >= $2 AND ts < $3) i
         FULL JOIN (SELECT server_id, target_id, ts, sum(xact_commit)::float8 AS xact_commit,
                           sum(xact_rollback)::float8 AS xact_rollback
                      FROM pgvigil.pg_database_minute
                     WHERE server_id = ANY($1::bigint[]) AND ts >= $2 AND ts < $3
                     GROUP BY 1, 2, 3) d
           ON d.server_id = i.server_id AND d.target_id = i.target_id AND d.ts = i.ts
     ), produced AS (
       INSERT INTO pgvigil.fleet_target_minute (server_id, target_id, ts, backends, xact_commit, xact_rollback)
       SELECT * FROM src ORDER BY 1, 2, 3
       ON CONFLICT (server_id, target_id, ts) DO UPDATE SET backends = EXCLUDED.backends,
         xact_commit = EXCLUDED.xact_commit, xact_rollback = EXCLUDED.xact_rollback
       RETURNING server_id, target_id, ts
     )
     DELETE FROM pgvigil.fleet_target_minute f
      WHERE f.server_id = ANY($1::bigint[]) AND f.ts >= $2 AND f.ts < $3
        AND NOT EXISTS (SELECT 1 FROM produced p
                         WHERE p.server_id = f.server_id AND p.target_id = f.target_id AND p.ts = f.ts)`,
    [serverIds, from, to],
  );
}

/**
 * The fleet tables' lines over [from, to) (minute steps): per server the host's four values per minute, per
 * target its three, as arrays (`fleetSeries`'s shape: metrics in the order of the columns).
 */
export async function fleetMinuteLines(
  db: Queryable,
  serverIds: readonly number[],
  from: Date,
  to: Date,
): Promise<{ host: FleetLine[]; targets: FleetLine[] }> {
  const lines = async (sql: string) => {
    const { rows } = await db.query<Array<string | null>>({
      text: sql,
      values: [serverIds, from, to],
      rowMode: 'array',
    });
    return rows.map(lineOf);
  };
  const t = listSql(`(date_part('epoch', ts) * 1000)::bigint`, 'ts');
  const agg = (c: string) => listSql(c, 'ts');
  return {
    host: await lines(
      `SELECT server_id::text, NULL, ${t}, ${['idle_pct', 'iowait_pct', 'total_bytes', 'available_bytes'].map(agg).join(', ')}
         FROM pgvigil.fleet_host_minute
        WHERE server_id = ANY($1::bigint[]) AND ts >= $2 AND ts < $3
        GROUP BY server_id`,
    ),
    targets: await lines(
      `SELECT server_id::text, target_id::text, ${t}, ${['backends', 'xact_commit', 'xact_rollback'].map(agg).join(', ')}
         FROM pgvigil.fleet_target_minute
        WHERE server_id = ANY($1::bigint[]) AND ts >= $2 AND ts < $3
        GROUP BY server_id, target_id`,
    ),
  };
}

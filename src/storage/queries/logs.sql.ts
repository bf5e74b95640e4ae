/**
 * Log search: entries newest first (keyset by (ts, ctid)), counts per level per time bucket, and top
 * fingerprints. Every filter value is a parameter; no input reaches the SQL text.
 */
import type { LogLevel } from '../../protocol/logs.js';
import type { Queryable } from './queryable.js';

/** Checked filters (the route parses and bounds them). */
export interface LogSelection {
  from: Date;
  to: Date;
  serverId?: number;
  sources?: string[];
  levels?: LogLevel[];
  /** Substring of the message, case-insensitive (%, _ and \ match themselves). */
  contains?: string;
  fingerprint?: string;
  /** Classified PostgreSQL event (context.event). */
  event?: string;
}

/** WHERE clauses and their parameters. */
function logWhere(s: LogSelection): { where: string[]; params: unknown[] } {
  const params: unknown[] = [s.from, s.to];
  const where = ['e.ts >= $1', 'e.ts < $2'];
  const add = (sql: (n: string) => string, value: unknown) => {
    params.push(value);
    where.push(sql(`$${params.length}`));
  };
  if (s.serverId !== undefined) add((n) => `e.server_id = ${n}`, s.serverId);
  if (s.sources !== undefined) add((n) => `e.source = ANY(${n}::text[])`, s.sources);
  if (s.levels !== undefined) add((n) => `e.level = ANY(${n}::text[])`, s.levels);
  if (s.contains !== undefined)
    add((n) => `e.message ILIKE ${n} ESCAPE '\\'`, `%${s.contains.replace(/[\\%_]/g, (m) => `\\${m}`)}%`);
  if (s.fingerprint !== undefined) add((n) => `e.fingerprint = ${n}`, s.fingerprint);
  // `context ? 'event'` matches the partial index log_entries_event.
  if (s.event !== undefined) add((n) => `e.context ? 'event' AND e.context ->> 'event' = ${n}`, s.event);
  return { where, params };
}

const tsKeySql = `to_char(e.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export interface LogEntryRow {
  server_id: number;
  server: string;
  /** ts as ISO 8601 with microseconds: the first half of the page key. */
  ts_key: string;
  /** ctid: the second half of the page key. */
  row_key: string;
  source: string;
  level: string;
  component: string;
  message: string;
  context: Record<string, unknown>;
  fingerprint: string;
}

/** Up to `limit` entries, newest first, strictly after the page key `before` ([ts_key, row_key]). */
export async function logEntries(
  db: Queryable,
  s: LogSelection,
  before: [string, string] | undefined,
  limit: number,
): Promise<LogEntryRow[]> {
  const { where, params } = logWhere(s);
  if (before !== undefined) {
    params.push(before[0], before[1]);
    const t = `$${params.length - 1}::timestamptz`;
    where.push(`e.ts <= ${t} AND (e.ts < ${t} OR e.ctid < $${params.length}::tid)`);
  }
  params.push(limit);
  const { rows } = await db.query<LogEntryRow>(
    `SELECT page.*, s.name AS server FROM (
       SELECT e.server_id, ${tsKeySql} AS ts_key, e.ctid::text AS row_key, e.source, e.level, e.component,
              e.message, e.context, e.fingerprint
         FROM pgvigil.log_entries e
        WHERE ${where.join(' AND ')}
        ORDER BY e.ts DESC, e.ctid DESC
        LIMIT $${params.length}) page
     JOIN pgvigil.servers s ON s.server_id = page.server_id
     ORDER BY page.ts_key DESC, page.row_key::tid DESC`,
    params,
  );
  return rows;
}

/** Entries per level per bucket of `stepS` seconds, in bucket order. */
export async function logCounts(
  db: Queryable,
  s: LogSelection,
  stepS: number,
): Promise<Array<{ bucket: Date; level: LogLevel; n: number }>> {
  const { where, params } = logWhere(s);
  params.push(stepS);
  const n = `$${params.length}`;
  const { rows } = await db.query<{ bucket: Date; level: LogLevel; n: number }>(
    `SELECT to_timestamp(floor(extract(epoch FROM e.ts) / ${n}::int) * ${n}::int) AS bucket, e.level,
            count(*)::bigint AS n
       FROM pgvigil.log_entries e
      WHERE ${where.join(' AND ')}
      GROUP BY 1, 2 ORDER BY 1`,
    params,
  );
  return rows;
}

export interface LogPatternRow {
  fingerprint: string;
  n: number;
  servers: number;
  first_seen: Date;
  last_seen: Date;
  sample_server: number;
  message: string | null;
  level: string | null;
  source: string | null;
  component: string | null;
}

/** The `limit` most frequent fingerprints, each with its newest message as a sample. */
export async function logPatterns(db: Queryable, s: LogSelection, limit: number): Promise<LogPatternRow[]> {
  const { where, params } = logWhere(s);
  params.push(limit);
  const { rows } = await db.query<LogPatternRow>(
    `WITH per_server AS (
       SELECT e.fingerprint, e.server_id, count(*) AS n, min(e.ts) AS first_seen, max(e.ts) AS last_seen
         FROM pgvigil.log_entries e
        WHERE ${where.join(' AND ')}
        GROUP BY e.fingerprint, e.server_id
     ), top AS (
       SELECT fingerprint, sum(n)::bigint AS n, count(*)::int AS servers, min(first_seen) AS first_seen,
              max(last_seen) AS last_seen,
              (array_agg(server_id ORDER BY last_seen DESC, server_id))[1] AS sample_server
         FROM per_server GROUP BY fingerprint
        ORDER BY n DESC, fingerprint LIMIT $${params.length}
     )
     SELECT top.*, x.message, x.level, x.source, x.component
       FROM top
       LEFT JOIN LATERAL (
         SELECT message, level, source, component FROM pgvigil.log_entries s
          WHERE s.server_id = top.sample_server AND s.fingerprint = top.fingerprint AND s.ts = top.last_seen
          LIMIT 1) x ON true
      ORDER BY top.n DESC, top.fingerprint`,
    params,
  );
  return rows;
}

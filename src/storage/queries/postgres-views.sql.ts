/**
 * The read API's views of a PostgreSQL target: the newest collection (`pg_instance` and the families it
 * ran), a family's rows at one collection, top statements over a range, and the newest tables, indexes
 * and settings snapshots. Orderings are chosen by name from the whitelists here: a request's value never
 * reaches SQL text.
 */
import { type FamilySpec, postgresFamilies as f } from '../../protocol/families/index.js';
import { statementDeltaColumns } from '../../protocol/families/postgres.js';
import { nextPeriod, parsePartitionName, tierOf } from '../partitions.js';
import { familyColumns, familyTable, ident } from './identifiers.js';
import type { Queryable } from './queryable.js';

type Row = Record<string, unknown>;

export interface InstanceRow {
  ts: Date;
  /** ts as PostgreSQL prints it, passed back as is so microseconds survive. */
  key: string;
  up: boolean | null;
  error: string | null;
  server_version: string | null;
  in_recovery: boolean | null;
}

/** A target's newest `pg_instance` row within `windowS` seconds. */
export async function newestInstance(
  db: Queryable,
  serverId: number,
  targetId: number,
  windowS: number,
): Promise<InstanceRow | undefined> {
  const { rows } = await db.query<InstanceRow>(
    `SELECT ts, ts::text AS key, up, error, server_version, in_recovery FROM pgvigil.pg_instance
      WHERE server_id = $1 AND target_id = $2 AND ts > now() - make_interval(secs => $3)
      ORDER BY ts DESC LIMIT 1`,
    [serverId, targetId, windowS],
  );
  return rows[0];
}

/** The instance-wide families one collection (by ts key) ran, with their outcome. */
export async function collectionFamilies(
  db: Queryable,
  serverId: number,
  targetId: number,
  tsKey: string,
): Promise<Array<{ family: string; ok: boolean | null; error: string | null }>> {
  const { rows } = await db.query<{ family: string; ok: boolean | null; error: string | null }>(
    `SELECT family, ok, error FROM pgvigil.pg_collector
      WHERE server_id = $1 AND target_id = $2 AND ts = $3::timestamptz AND datname = ''`,
    [serverId, targetId, tsKey],
  );
  return rows;
}

/** How the rows of each family read at one collection are ordered. */
const collectionOrder = {
  pg_activity: 'count DESC, datname, usename, application_name, backend_type, state',
  pg_wait_events: 'count DESC, wait_event_type, wait_event',
  pg_lock_waits: 'wait_s DESC NULLS LAST, pid',
  pg_replication: 'application_name, client_addr, pid',
  pg_replication_slots: 'retained_bytes DESC NULLS LAST, slot_name',
  pg_standby: 'ts',
  pg_subscriptions: 'datname, subname',
  pg_xmin_holders: 'holder, xmin_age DESC NULLS LAST, ident',
} as const;
export type CollectionFamily = keyof typeof collectionOrder;

/** The rows of a family at one collection (by ts key). */
export async function familyRowsAt(
  db: Queryable,
  family: CollectionFamily,
  serverId: number,
  targetId: number,
  tsKey: string,
): Promise<Row[]> {
  const spec = f[family];
  const { rows } = await db.query<Row>(
    `SELECT ${familyColumns(spec)} FROM ${familyTable(spec)}
      WHERE server_id = $1 AND target_id = $2 AND ts = $3::timestamptz ORDER BY ${collectionOrder[family]}`,
    [serverId, targetId, tsKey],
  );
  return rows;
}

// Statements --------------------------------------------------------------------------------------------

const ioExpr = `coalesce(shared_blks_read, 0) + coalesce(shared_blks_written, 0) + coalesce(local_blks_read, 0)
  + coalesce(local_blks_written, 0) + coalesce(temp_blks_read, 0) + coalesce(temp_blks_written, 0)`;

/** Ranking expressions by `order`. */
const statementOrder = {
  total_time: 'sum(coalesce(exec_time_ms, 0) + coalesce(plan_time_ms, 0))',
  calls: 'sum(coalesce(calls, 0))',
  io: `sum(${ioExpr})`,
  mean_time: 'sum(exec_time_ms) / nullif(sum(calls), 0)',
  rows: 'sum(coalesce(rows, 0))',
  shared_blks_hit: 'sum(coalesce(shared_blks_hit, 0))',
  shared_blks_read: 'sum(coalesce(shared_blks_read, 0))',
} as const;
export type StatementOrder = keyof typeof statementOrder;
export const statementOrders = Object.keys(statementOrder) as StatementOrder[];

const statementColumnType = new Map(f.pg_statements.columns.map((c) => [c.name, c.type]));
/** The delta columns summed over a range, split by type (integers come back as bigint). */
export const summedInt = statementDeltaColumns.filter((n) => statementColumnType.get(n) !== 'float8');
export const summedFloat = statementDeltaColumns.filter((n) => statementColumnType.get(n) === 'float8');

export interface TopStatementsQuery {
  serverId: number;
  targetId: number;
  from: Date;
  to: Date;
  order: StatementOrder;
  limit: number;
  datname: string | null;
  /** Whether the statement text is returned (else NULL; `has_text` still says whether one exists). */
  withText: boolean;
}

/**
 * Per (queryid, dbid, userid), the deltas of every interval ending in (from, to] summed, ranked by
 * `order`, with the statement text; columns `has_text` and `query_truncated` besides the sums.
 */
export async function topStatements(db: Queryable, p: TopStatementsQuery): Promise<Row[]> {
  const sums = [
    ...summedInt.map((n) => `sum(${ident(n)})::bigint AS ${ident(n)}`),
    ...summedFloat.map((n) => `sum(${ident(n)}) AS ${ident(n)}`),
  ].join(', ');
  const { rows } = await db.query<Row>(
    `WITH top AS (
       SELECT queryid, dbid, userid,
              (array_agg(datname ORDER BY ts DESC))[1] AS datname,
              (array_agg(usename ORDER BY ts DESC))[1] AS usename,
              count(*)::int AS intervals, sum(interval_s) AS covered_s,
              min(ts) AS first_ts, max(ts) AS last_ts, ${sums},
              sum(${ioExpr})::bigint AS io_blocks,
              ${statementOrder[p.order]} AS rank
         FROM pgvigil.pg_statements
        WHERE server_id = $1 AND target_id = $2 AND ts > $3 AND ts <= $4
          AND ($6::text IS NULL OR datname = $6)
        GROUP BY queryid, dbid, userid
        ORDER BY rank DESC NULLS LAST, queryid, dbid, userid
        LIMIT $5)
     SELECT top.queryid::text AS queryid, top.dbid, top.userid, top.datname, top.usename, top.intervals,
            top.covered_s, top.first_ts, top.last_ts, ${[...summedInt, ...summedFloat].map((n) => `top.${ident(n)}`).join(', ')},
            top.io_blocks, top.exec_time_ms + coalesce(top.plan_time_ms, 0) AS total_time_ms,
            top.exec_time_ms / nullif(top.calls, 0) AS mean_exec_time_ms,
            ${p.withText ? 'x.query' : 'NULL::text'} AS query, x.query IS NOT NULL AS has_text,
            x.truncated AS query_truncated
       FROM top
       LEFT JOIN pgvigil.pg_statement_texts x
         ON x.server_id = $1 AND x.target_id = $2 AND x.queryid = top.queryid AND x.dbid = top.dbid
        AND x.userid = top.userid
      ORDER BY top.rank DESC NULLS LAST, top.queryid, top.dbid, top.userid`,
    [p.serverId, p.targetId, p.from, p.to, p.limit, p.datname],
  );
  return rows;
}

// Snapshots (tables, indexes, settings) -----------------------------------------------------------------

const bloatExpr = `round(table_bytes::numeric * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0))::bigint`;
const tableOrder = {
  size: 'total_bytes DESC NULLS LAST',
  dead_tuples: 'n_dead_tup DESC NULLS LAST',
  dead_pct: 'dead_pct DESC NULLS LAST',
  bloat: `${bloatExpr} DESC NULLS LAST`,
} as const;
export type TableOrder = keyof typeof tableOrder;
export const tableOrders = Object.keys(tableOrder) as TableOrder[];

export interface SnapshotQuery {
  serverId: number;
  targetId: number;
  /** ts key of the snapshot (see newestTargetTs). */
  tsKey: string;
  datname: string | null;
  limit: number;
}

/** Tables of one snapshot, with `bloat_bytes_estimate`. */
export async function tablesAt(db: Queryable, p: SnapshotQuery & { order: TableOrder }): Promise<Row[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${familyColumns(f.pg_tables)}, ${bloatExpr} AS bloat_bytes_estimate
       FROM pgvigil.pg_tables
      WHERE server_id = $1 AND target_id = $2 AND ts = $3::timestamptz AND ($4::text IS NULL OR datname = $4)
      ORDER BY ${tableOrder[p.order]}, datname, schemaname, relname
      LIMIT $5`,
    [p.serverId, p.targetId, p.tsKey, p.datname, p.limit],
  );
  return rows;
}

/** Indexes of one snapshot, largest first; with `unused` set, only those (not) unused. */
export async function indexesAt(db: Queryable, p: SnapshotQuery & { unused?: boolean }): Promise<Row[]> {
  const unusedExpr = 'coalesce(unused, idx_scan = 0 AND is_unique IS NOT TRUE AND is_primary IS NOT TRUE)';
  const { rows } = await db.query<Row>(
    `SELECT ${familyColumns(f.pg_indexes, ['unused'])}, ${unusedExpr} AS unused
       FROM pgvigil.pg_indexes
      WHERE server_id = $1 AND target_id = $2 AND ts = $3::timestamptz AND ($4::text IS NULL OR datname = $4)
        ${p.unused === undefined ? '' : `AND ${unusedExpr} IS ${p.unused ? '' : 'NOT '}TRUE`}
      ORDER BY size_bytes DESC NULLS LAST, datname, schemaname, relname, indexrelname
      LIMIT $5`,
    [p.serverId, p.targetId, p.tsKey, p.datname, p.limit],
  );
  return rows;
}

/**
 * The settings of one snapshot changed from their defaults, by name. Snapshots also carry a fixed list of
 * settings at their default (is_default, for the checks); those are left out here. Rows from agents
 * before is_default existed have it null: they only ever sent changed settings.
 */
export async function settingsAt(
  db: Queryable,
  p: Pick<SnapshotQuery, 'serverId' | 'targetId' | 'tsKey'>,
): Promise<Row[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${familyColumns(f.pg_settings)} FROM pgvigil.pg_settings
      WHERE server_id = $1 AND target_id = $2 AND ts = $3::timestamptz AND is_default IS NOT TRUE
      ORDER BY name`,
    [p.serverId, p.targetId, p.tsKey],
  );
  return rows;
}

/**
 * The newest ts of a target's rows in a family table, whatever its age, as { ts, key } (key: ts as
 * PostgreSQL prints it, to pass back without losing microseconds), or null.
 *
 * Asked partition by partition, newest first, each query bounded to exactly one partition's range: the
 * planner then reads one entry backwards from the primary key (server_id, target_id, ts). Over the
 * whole partitioned table it may instead read every row of the target (measured: a sort over all of
 * them), which for a table snapshot sent every minute for a week is millions of rows.
 */
export async function newestTargetTs(
  db: Queryable,
  family: FamilySpec,
  serverId: number,
  targetId: number,
): Promise<{ ts: Date; key: string } | null> {
  const table = family.name;
  const { rows: parts } = await db.query<{ name: string }>(
    `SELECT ch.relname AS name FROM pg_inherits i JOIN pg_class ch ON ch.oid = i.inhrelid
      WHERE i.inhparent = to_regclass($1)`,
    [familyTable(family)],
  );
  const tier = tierOf(table);
  const ranges = parts
    .map((p) => parsePartitionName(table, p.name))
    .filter((d): d is Date => d !== undefined)
    .map((start) => ({ start, end: nextPeriod(tier, start) }))
    .sort((x, y) => y.start.getTime() - x.start.getTime());
  const sql = `SELECT ts, ts::text AS key FROM ${familyTable(family)}
      WHERE server_id = $1 AND target_id = $2 AND ts >= $3 AND ts < $4 ORDER BY ts DESC LIMIT 1`;
  for (const r of ranges) {
    const { rows } = await db.query<{ ts: Date; key: string }>(sql, [serverId, targetId, r.start, r.end]);
    if (rows[0]) return rows[0];
  }
  // Partitions not of our naming (attached by hand): one query over everything.
  if (ranges.length === parts.length) return null;
  const { rows } = await db.query<{ ts: Date; key: string }>(
    `SELECT ts, ts::text AS key FROM ${familyTable(family)}
      WHERE server_id = $1 AND target_id = $2 ORDER BY ts DESC LIMIT 1`,
    [serverId, targetId],
  );
  return rows[0] ?? null;
}

/**
 * pg_stat_statements queries. Their columns follow the version of the installed extension (which can lag
 * the server after an upgrade until ALTER EXTENSION … UPDATE), so they are keyed by extension version
 * (major * 100 + minor: 1.8 → 108), the closest lower wins, like the server-version keyed families.
 *
 * The hot path reads `pg_stat_statements(false)`: no query texts, so the external text file is not read.
 * Texts are read only for statements that are new to the collector, by queryid.
 */

/** Extension version keyed SQL for the counters of every statement. Columns: see StatementRow. */
export const statementCountersQueries: Readonly<Record<number, string>> = {
  // 1.8 (PostgreSQL 13): plan/exec times split, WAL counters; no toplevel.
  108: `SELECT userid, dbid, queryid, true AS toplevel, plans, calls,
       total_plan_time AS plan_time_ms, total_exec_time AS exec_time_ms, rows,
       shared_blks_hit, shared_blks_read, shared_blks_dirtied, shared_blks_written,
       local_blks_hit, local_blks_read, local_blks_written, temp_blks_read, temp_blks_written,
       blk_read_time AS blk_read_time_ms, blk_write_time AS blk_write_time_ms,
       wal_records, wal_fpi, wal_bytes, NULL::timestamptz AS stats_since
  FROM pg_stat_statements(false) WHERE queryid IS NOT NULL`,
  // 1.9 (14): toplevel is part of an entry's key.
  109: `SELECT userid, dbid, queryid, toplevel, plans, calls,
       total_plan_time AS plan_time_ms, total_exec_time AS exec_time_ms, rows,
       shared_blks_hit, shared_blks_read, shared_blks_dirtied, shared_blks_written,
       local_blks_hit, local_blks_read, local_blks_written, temp_blks_read, temp_blks_written,
       blk_read_time AS blk_read_time_ms, blk_write_time AS blk_write_time_ms,
       wal_records, wal_fpi, wal_bytes, NULL::timestamptz AS stats_since
  FROM pg_stat_statements(false) WHERE queryid IS NOT NULL`,
  // 1.11 (17): block times split into shared and local; stats_since tells when an entry was (re)created.
  111: `SELECT userid, dbid, queryid, toplevel, plans, calls,
       total_plan_time AS plan_time_ms, total_exec_time AS exec_time_ms, rows,
       shared_blks_hit, shared_blks_read, shared_blks_dirtied, shared_blks_written,
       local_blks_hit, local_blks_read, local_blks_written, temp_blks_read, temp_blks_written,
       shared_blk_read_time + local_blk_read_time AS blk_read_time_ms,
       shared_blk_write_time + local_blk_write_time AS blk_write_time_ms,
       wal_records, wal_fpi, wal_bytes, stats_since
  FROM pg_stat_statements(false) WHERE queryid IS NOT NULL`,
};

/** Reset time and evictions (1.9+), with the server's clock so entry ages compare on one clock. */
export const statementInfoQueries: Readonly<Record<number, string>> = {
  108: `SELECT NULL::bigint AS dealloc, NULL::timestamptz AS stats_reset, now() AS server_now,
       current_setting('pg_stat_statements.max')::int AS max`,
  109: `SELECT i.dealloc, i.stats_reset, now() AS server_now,
       current_setting('pg_stat_statements.max')::int AS max
  FROM pg_stat_statements_info i`,
};

/** Texts of the given statements, cut to `$2` characters. `$1`: queryids (bigint[]). */
export const statementTextsQuery = `SELECT userid, dbid, queryid, left(query, $2) AS query, length(query) > $2 AS truncated
  FROM pg_stat_statements(true)
 WHERE queryid = ANY($1::bigint[])`;

/** Installed extension version in the connected database, and whether the library is preloaded. */
export const statementsAvailabilityQuery = `SELECT (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements') AS extversion,
       current_setting('shared_preload_libraries') AS preload`;

/** Names of databases (`$1`, oid[]) and roles (`$2`, oid[]): kind 'd' or 'r', oid, name. */
export const statementNamesQuery = `SELECT 'd' AS kind, oid::int8 AS oid, datname::text AS name FROM pg_database WHERE oid = ANY($1::oid[])
       UNION ALL
       SELECT 'r', oid::int8, rolname::text FROM pg_roles WHERE oid = ANY($2::oid[])`;

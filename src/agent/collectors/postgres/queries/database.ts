/**
 * Per-database families: these views only show the database the session is connected to, so they run once
 * in every visited database. Each is capped at `$1` rows (largest or busiest objects first) so a database
 * with 50,000 tables cannot flood the store; the cap is chosen on cheap catalog estimates (relpages) before
 * any size function runs, so size functions run on the capped rows only.
 */
import type { FamilyQuery } from './types.js';

/** The databases the session's role may enter, which the include and exclude lists then narrow. */
export const databaseListQuery = `SELECT datname FROM pg_database
        WHERE datallowconn AND NOT datistemplate AND has_database_privilege(datname, 'CONNECT')
        ORDER BY datname`;

export const tablesQuery: FamilyQuery = {
  family: 'pg_tables',
  scope: 'database',
  takesRowCap: true,
  versions: {
    130000: `SELECT current_database() AS datname, t.schemaname, t.relname,
       t.n_live_tup, t.n_dead_tup,
       round(100.0 * t.n_dead_tup / nullif(t.n_live_tup + t.n_dead_tup, 0), 3) AS dead_pct,
       t.seq_scan, t.seq_tup_read, t.idx_scan, t.idx_tup_fetch,
       t.n_tup_ins, t.n_tup_upd, t.n_tup_del, t.n_tup_hot_upd, t.n_mod_since_analyze, t.n_ins_since_vacuum,
       t.last_vacuum, t.last_autovacuum, t.last_analyze, t.last_autoanalyze,
       t.vacuum_count, t.autovacuum_count, t.analyze_count, t.autoanalyze_count,
       pg_table_size(t.relid) - coalesce(pg_total_relation_size(nullif(t.reltoastrelid, 0)), 0) AS table_bytes,
       coalesce(pg_total_relation_size(nullif(t.reltoastrelid, 0)), 0) AS toast_bytes,
       pg_indexes_size(t.relid) AS indexes_bytes,
       pg_total_relation_size(t.relid) AS total_bytes
  FROM (SELECT s.*, c.reltoastrelid
          FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
         ORDER BY c.relpages DESC, s.relid
         LIMIT $1) t`,
  },
};

export const indexesQuery: FamilyQuery = {
  family: 'pg_indexes',
  scope: 'database',
  takesRowCap: true,
  versions: {
    // "Unused": never scanned and not enforcing a constraint (unique, primary key, exclusion): a candidate
    // to drop. Invalid: left behind by a failed CREATE INDEX CONCURRENTLY, costs writes and serves nothing.
    130000: `SELECT current_database() AS datname, t.schemaname, t.relname, t.indexrelname,
       t.idx_scan, t.idx_tup_read, t.idx_tup_fetch,
       pg_relation_size(t.indexrelid) AS size_bytes,
       t.indisunique AS is_unique, t.indisprimary AS is_primary, t.indisvalid AS is_valid,
       (t.idx_scan = 0 AND NOT t.indisunique
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = t.indexrelid)) AS unused
  FROM (SELECT s.*, i.indisunique, i.indisprimary, i.indisvalid
          FROM pg_stat_user_indexes s
          JOIN pg_index i ON i.indexrelid = s.indexrelid
          JOIN pg_class c ON c.oid = s.indexrelid
         ORDER BY c.relpages DESC, s.indexrelid
         LIMIT $1) t`,
  },
};

export const statioQuery: FamilyQuery = {
  family: 'pg_statio',
  scope: 'database',
  takesRowCap: true,
  versions: {
    130000: `SELECT current_database() AS datname, schemaname, relname,
       heap_blks_read, heap_blks_hit, idx_blks_read, idx_blks_hit,
       toast_blks_read, toast_blks_hit, tidx_blks_read, tidx_blks_hit
  FROM pg_statio_user_tables
 ORDER BY coalesce(heap_blks_read, 0) + coalesce(heap_blks_hit, 0)
          + coalesce(idx_blks_read, 0) + coalesce(idx_blks_hit, 0) DESC, relid
 LIMIT $1`,
  },
};

/** Per-database families in the order they are collected. */
export const databaseQueries: readonly FamilyQuery[] = [tablesQuery, indexesQuery, statioQuery];

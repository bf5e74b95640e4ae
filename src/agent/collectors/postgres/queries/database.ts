/**
 * Per-database families: these views only show the database the session is connected to, so they run once
 * in every visited database. Each is capped at `$1` rows (largest or busiest objects first) so a database
 * with 50,000 tables cannot flood the store; the cap is chosen on cheap catalog estimates (relpages) before
 * any size function runs, so size functions run on the capped rows only. Sequences likewise: at most `$1`
 * are read, chosen on the catalog, and the 20 most used of those are sent.
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
    //
    // Duplicate: another valid index of the same table that any query could use instead — same access
    // method, key and INCLUDE columns, operator classes, collations, orderings, expressions and predicate.
    // Of such a group the keeper is the primary key, else a unique index, else the lowest name; every other
    // member names it. It is looked for among all indexes of the table, not only the capped ones.
    130000: `SELECT current_database() AS datname, t.schemaname, t.relname, t.indexrelname,
       t.idx_scan, t.idx_tup_read, t.idx_tup_fetch,
       pg_relation_size(t.indexrelid) AS size_bytes,
       t.indisunique AS is_unique, t.indisprimary AS is_primary, t.indisvalid AS is_valid,
       (t.idx_scan = 0 AND NOT t.indisunique
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = t.indexrelid)) AS unused,
       CASE WHEN t.indisvalid THEN
         (SELECT dc.relname FROM pg_index d JOIN pg_class dc ON dc.oid = d.indexrelid
           WHERE d.indrelid = t.indrelid AND d.indexrelid <> t.indexrelid AND d.indisvalid
             AND dc.relam = t.relam AND d.indkey = t.indkey AND d.indclass = t.indclass
             AND d.indcollation = t.indcollation AND d.indoption = t.indoption
             AND (NOT d.indisprimary, NOT d.indisunique, dc.relname)
                 < (NOT t.indisprimary, NOT t.indisunique, t.indexrelname)
             AND pg_get_expr(d.indexprs, d.indrelid) IS NOT DISTINCT FROM pg_get_expr(t.indexprs, t.indrelid)
             AND pg_get_expr(d.indpred, d.indrelid) IS NOT DISTINCT FROM pg_get_expr(t.indpred, t.indrelid)
           ORDER BY NOT d.indisprimary, NOT d.indisunique, dc.relname
           LIMIT 1)
       END AS duplicate_of,
       left(pg_get_indexdef(t.indexrelid), 500) AS definition
  FROM (SELECT s.*, i.indrelid, i.indisunique, i.indisprimary, i.indisvalid, i.indkey, i.indclass,
               i.indcollation, i.indoption, i.indexprs, i.indpred, c.relam
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

/** At most this many sequences per database, the most used first. */
const sequencesPerDatabase = 20;

export const sequencesQuery: FamilyQuery = {
  family: 'pg_sequences',
  scope: 'database',
  takesRowCap: true,
  versions: {
    // A sequence's last value is only known by reading it, which takes the lock nextval() takes
    // (RowExclusiveLock) until the query ends: so at most $1 are read, chosen on the catalog alone — those
    // with the fewest steps left in their whole range first (smallint and integer before bigint), then
    // those whose owning table had the most inserts. Never used (null) ones are left out; so are the ones
    // the role may not read (pg_monitor may not: docs/postgres-setup.md), temporary ones, and unlogged ones
    // on a standby (they cannot be read there before 17). numeric: a bigint range overflows int8.
    130000: `SELECT current_database() AS datname, schemaname, sequencename, data_type,
       last_value, max_value, min_value, increment_by, cycle,
       round(100 * CASE WHEN increment_by > 0 THEN last_value::numeric - min_value
                        ELSE max_value::numeric - last_value END
             / nullif(max_value::numeric - min_value, 0), 3) AS used_pct
  FROM (SELECT k.nspname AS schemaname, k.relname AS sequencename, k.seqtypid::regtype::text AS data_type,
               pg_sequence_last_value(k.oid) AS last_value, k.seqmax AS max_value, k.seqmin AS min_value,
               k.seqincrement AS increment_by, k.seqcycle AS cycle
          FROM (SELECT c.oid, n.nspname, c.relname, s.seqtypid, s.seqmax, s.seqmin, s.seqincrement, s.seqcycle
                  FROM pg_sequence s
                  JOIN pg_class c ON c.oid = s.seqrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE (c.relpersistence = 'p' OR (c.relpersistence = 'u' AND NOT pg_is_in_recovery()))
                   -- CASE: the planner may test pg_class rows before the join, and this errors on a table
                   AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'SELECT,USAGE') END
                 ORDER BY (s.seqmax::numeric - s.seqmin) / abs(s.seqincrement),
                          coalesce((SELECT pg_stat_get_tuples_inserted(d.refobjid) FROM pg_depend d
                                     WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                       AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                                     LIMIT 1), 0) DESC,
                          c.oid
                 LIMIT $1) k
        OFFSET 0) q
 WHERE last_value IS NOT NULL
 ORDER BY used_pct DESC NULLS LAST, schemaname, sequencename
 LIMIT ${sequencesPerDatabase}`,
  },
};

/** Per-database families in the order they are collected. */
export const databaseQueries: readonly FamilyQuery[] = [
  tablesQuery,
  indexesQuery,
  statioQuery,
  sequencesQuery,
];

/**
 * Instance-wide families: run once per collection over the main connection, whatever database it is in
 * (these views and functions are cluster-wide).
 */
import type { FamilyQuery } from './types.js';

/** The WAL position to measure lag against: insert position on a primary, received WAL on a standby. */
const currentLsn = `CASE WHEN pg_is_in_recovery()
      THEN coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
      ELSE pg_current_wal_lsn() END`;

const databaseColumns13 = `d.datname,
       s.numbackends, s.xact_commit, s.xact_rollback, s.blks_read, s.blks_hit,
       s.tup_returned, s.tup_fetched, s.tup_inserted, s.tup_updated, s.tup_deleted,
       s.conflicts, s.temp_files, s.temp_bytes, s.deadlocks, s.checksum_failures,
       s.blk_read_time AS blk_read_time_ms, s.blk_write_time AS blk_write_time_ms,
       round(100.0 * s.blks_hit / nullif(s.blks_hit + s.blks_read, 0), 3) AS cache_hit_pct,
       -- pg_database_size walks every file of the database: read when $1 says so (at the database interval).
       -- It needs CONNECT or pg_read_all_stats (pg_monitor has it); never fail the family for one
       CASE WHEN $1::boolean
             AND (has_database_privilege(d.oid, 'CONNECT') OR pg_has_role('pg_read_all_stats', 'MEMBER'))
            THEN pg_database_size(d.oid) END AS size_bytes,
       s.stats_reset, s.checksum_last_failure,
       c.confl_tablespace, c.confl_lock, c.confl_snapshot, c.confl_bufferpin, c.confl_deadlock`;

const sessionColumns14 = `s.session_time AS session_time_ms, s.active_time AS active_time_ms,
       s.idle_in_transaction_time AS idle_in_transaction_time_ms,
       s.sessions, s.sessions_abandoned, s.sessions_fatal, s.sessions_killed`;

const databaseFrom = `pg_database d JOIN pg_stat_database s ON s.datid = d.oid
  LEFT JOIN pg_stat_database_conflicts c ON c.datid = d.oid
 WHERE d.datallowconn AND NOT d.datistemplate`;

/** Version, role and size of the instance: read first, it picks the queries of every family. */
export const instanceInfoQuery = `SELECT current_setting('server_version_num')::int AS server_version_num,
                current_setting('server_version') AS server_version,
                pg_is_in_recovery() AS in_recovery, pg_postmaster_start_time() AS start_time,
                current_setting('max_connections')::int AS max_connections,
                (SELECT count(*) FROM pg_stat_activity) AS backends`;

export const databaseQuery: FamilyQuery = {
  family: 'pg_database',
  scope: 'instance',
  takesSizeFlag: true,
  versions: {
    130000: `SELECT ${databaseColumns13}
  FROM ${databaseFrom}`,
    140000: `SELECT ${databaseColumns13},
       ${sessionColumns14}
  FROM ${databaseFrom}`,
    // 16 added logical slots invalidated on a standby to the recovery conflicts.
    160000: `SELECT ${databaseColumns13},
       ${sessionColumns14},
       c.confl_active_logicalslot
  FROM ${databaseFrom}`,
  },
};

export const activityQuery: FamilyQuery = {
  family: 'pg_activity',
  scope: 'instance',
  versions: {
    130000: `SELECT coalesce(datname, '') AS datname, coalesce(usename, '') AS usename,
       left(coalesce(application_name, ''), 64) AS application_name,
       coalesce(backend_type, '') AS backend_type, coalesce(state, '') AS state,
       count(*) AS count,
       -- Sessions of other roles are hidden from a role without pg_read_all_stats (pg_monitor has it): every
       -- column but the pid is NULL, backend_type too, which every visible process has. Whether they wait
       -- is unknown, not 0.
       CASE WHEN bool_or(backend_type IS NOT NULL)
            THEN count(*) FILTER (WHERE wait_event_type = 'Lock') END AS waiting,
       -- pg_blocking_pids walks the lock table: only ask for processes that wait on a lock
       CASE WHEN bool_or(backend_type IS NOT NULL)
            THEN count(*) FILTER (WHERE CASE WHEN wait_event_type = 'Lock'
                                             THEN cardinality(pg_blocking_pids(pid)) > 0 ELSE false END)
       END AS blocked,
       max(extract(epoch FROM now() - xact_start)) AS max_xact_age_s,
       max(extract(epoch FROM now() - query_start)) FILTER (WHERE state = 'active') AS max_query_age_s,
       max(extract(epoch FROM now() - state_change)) AS max_state_age_s
  FROM pg_stat_activity
 WHERE pid <> pg_backend_pid()
 GROUP BY 1, 2, 3, 4, 5`,
  },
};

export const waitEventsQuery: FamilyQuery = {
  family: 'pg_wait_events',
  scope: 'instance',
  versions: {
    // Idle background processes always "wait" on their main loop (type Activity): not interesting.
    130000: `SELECT wait_event_type, wait_event, count(*) AS count
  FROM pg_stat_activity
 WHERE pid <> pg_backend_pid() AND wait_event IS NOT NULL
   AND (state = 'active' OR (backend_type <> 'client backend' AND wait_event_type <> 'Activity'))
 GROUP BY 1, 2`,
  },
};

export const lockWaitsQuery: FamilyQuery = {
  family: 'pg_lock_waits',
  scope: 'instance',
  versions: {
    130000: `SELECT pid, array_to_string(blockers, ',') AS blocking_pids, datname, usename, application_name,
       wait_s, query
  FROM (SELECT pid, pg_blocking_pids(pid) AS blockers, coalesce(datname, '') AS datname,
               coalesce(usename, '') AS usename, coalesce(application_name, '') AS application_name,
               extract(epoch FROM now() - query_start) AS wait_s, left(query, 500) AS query
          FROM pg_stat_activity
         WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()
        OFFSET 0) a
 WHERE cardinality(blockers) > 0`,
  },
};

export const locksQuery: FamilyQuery = {
  family: 'pg_locks',
  scope: 'instance',
  versions: {
    130000: `SELECT coalesce(d.datname, '') AS datname, coalesce(l.locktype, '') AS locktype,
       coalesce(l.mode, '') AS mode,
       count(*) FILTER (WHERE l.granted) AS granted, count(*) FILTER (WHERE NOT l.granted) AS waiting
  FROM pg_locks l LEFT JOIN pg_database d ON d.oid = l.database
 WHERE l.pid IS DISTINCT FROM pg_backend_pid()
 GROUP BY 1, 2, 3`,
  },
};

export const replicationQuery: FamilyQuery = {
  family: 'pg_replication',
  scope: 'instance',
  versions: {
    130000: `SELECT coalesce(r.application_name, '') AS application_name,
       coalesce(host(r.client_addr), '') AS client_addr, r.pid, r.state, r.sync_state,
       pg_wal_lsn_diff(w.lsn, r.sent_lsn) AS sent_lag_bytes,
       pg_wal_lsn_diff(w.lsn, r.write_lsn) AS write_lag_bytes,
       pg_wal_lsn_diff(w.lsn, r.flush_lsn) AS flush_lag_bytes,
       pg_wal_lsn_diff(w.lsn, r.replay_lsn) AS replay_lag_bytes,
       extract(epoch FROM r.write_lag) AS write_lag_s,
       extract(epoch FROM r.flush_lag) AS flush_lag_s,
       extract(epoch FROM r.replay_lag) AS replay_lag_s,
       r.backend_start
  FROM pg_stat_replication r, (SELECT ${currentLsn} AS lsn) w`,
  },
};

export const replicationSlotsQuery: FamilyQuery = {
  family: 'pg_replication_slots',
  scope: 'instance',
  versions: {
    130000: `SELECT s.slot_name, s.slot_type, coalesce(s.database::text, '') AS datname, s.active,
       pg_wal_lsn_diff(w.lsn, s.restart_lsn) AS retained_bytes,
       pg_wal_lsn_diff(w.lsn, s.confirmed_flush_lsn) AS confirmed_flush_lag_bytes,
       s.wal_status, s.safe_wal_size AS safe_wal_size_bytes
  FROM pg_replication_slots s, (SELECT ${currentLsn} AS lsn) w`,
  },
};

export const standbyQuery: FamilyQuery = {
  family: 'pg_standby',
  scope: 'instance',
  versions: {
    // No row on a primary. Replay lag in seconds is 0 when everything received is replayed: on an idle
    // primary the last replayed commit gets old without the standby being behind.
    130000: `SELECT coalesce(r.status, '') AS receiver_status,
       coalesce(r.sender_host || ':' || r.sender_port, '') AS sender,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) AS receive_replay_lag_bytes,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS replay_lag_s,
       pg_last_xact_replay_timestamp() AS last_xact_replay_ts,
       pg_is_wal_replay_paused() AS replay_paused
  FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver r ON true
 WHERE pg_is_in_recovery()`,
  },
};

export const bgwriterQuery: FamilyQuery = {
  family: 'pg_bgwriter',
  scope: 'instance',
  versions: {
    130000: `SELECT checkpoints_timed, checkpoints_req,
       checkpoint_write_time AS checkpoint_write_time_ms, checkpoint_sync_time AS checkpoint_sync_time_ms,
       buffers_checkpoint, buffers_clean, maxwritten_clean, buffers_backend, buffers_backend_fsync,
       buffers_alloc, stats_reset
  FROM pg_stat_bgwriter`,
    // 17 moved checkpoints to pg_stat_checkpointer; backend writes and fsyncs live in pg_stat_io now.
    170000: `SELECT c.num_timed AS checkpoints_timed, c.num_requested AS checkpoints_req,
       c.write_time AS checkpoint_write_time_ms, c.sync_time AS checkpoint_sync_time_ms,
       c.buffers_written AS buffers_checkpoint, b.buffers_clean, b.maxwritten_clean, b.buffers_alloc,
       c.restartpoints_timed, c.restartpoints_req, c.restartpoints_done, c.stats_reset
  FROM pg_stat_checkpointer c, pg_stat_bgwriter b`,
  },
};

const walLsn = `pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                            ELSE pg_current_wal_lsn() END, '0/0') AS lsn_bytes`;

export const walQuery: FamilyQuery = {
  family: 'pg_wal',
  scope: 'instance',
  versions: {
    130000: `SELECT ${walLsn}`,
    140000: `SELECT ${walLsn}, wal_records AS records, wal_fpi AS fpi, wal_bytes AS bytes,
       wal_buffers_full AS buffers_full, wal_write AS writes, wal_sync AS syncs,
       wal_write_time AS write_time_ms, wal_sync_time AS sync_time_ms, stats_reset
  FROM pg_stat_wal`,
    // 18 moved WAL writes, syncs and their timings from pg_stat_wal to pg_stat_io (object 'wal'; the
    // 'normal' context is what pg_stat_wal counted, 'init' is new segment files).
    180000: `SELECT ${walLsn}, w.wal_records AS records, w.wal_fpi AS fpi, w.wal_bytes AS bytes,
       w.wal_buffers_full AS buffers_full, i.writes, i.fsyncs AS syncs,
       i.write_time AS write_time_ms, i.fsync_time AS sync_time_ms, w.stats_reset
  FROM pg_stat_wal w
  LEFT JOIN (SELECT sum(writes) AS writes, sum(fsyncs) AS fsyncs, sum(write_time) AS write_time,
                    sum(fsync_time) AS fsync_time
               FROM pg_stat_io WHERE object = 'wal' AND context = 'normal') i ON true`,
  },
};

export const archiverQuery: FamilyQuery = {
  family: 'pg_archiver',
  scope: 'instance',
  versions: {
    // One row whatever archive_mode is: with archiving off the counters are 0 and the times null, which
    // archive_mode explains. The age is computed here, against the server's clock, as postgres_exporter
    // computes pg_stat_archiver_last_archive_age.
    130000: `SELECT current_setting('archive_mode') AS archive_mode,
       archived_count, failed_count, last_archived_wal, last_archived_time,
       extract(epoch FROM now() - last_archived_time) AS last_archive_age_s,
       last_failed_wal, last_failed_time, stats_reset
  FROM pg_stat_archiver`,
  },
};

/**
 * Logical replication subscriptions (subscriber side). pg_stat_subscription has one row per worker (and one
 * row with a null pid for a subscription without any): the apply worker's row gives the positions and
 * times, the others are counted. Which row is the apply worker: 17+ says so (worker_type); 16 has
 * parallel apply workers, which have a leader_pid; before, the one without a relid (table sync workers
 * have theirs). pg_subscription is read for subenabled and the database only — never subconninfo, which
 * holds the connection string and is not readable by the public anyway.
 */
function subscriptionsSql(o: {
  /** Condition on `a` (a pg_stat_subscription row with a pid) for the leader apply worker. */
  apply: string;
  /** Parallel apply workers among `w`'s rows (16+), or null before they existed. */
  parallel: string | null;
  /** pg_stat_subscription_stats columns (15+) as `st.…`, or null. */
  stats: string | null;
  /** false: pg_subscription was refused; the subscriptions come from pg_stat_subscription alone. */
  catalog: boolean;
}): string {
  const subs = o.catalog
    ? `pg_subscription s LEFT JOIN pg_database d ON d.oid = s.subdbid`
    : // Without the catalog the database is unknown: a name used in two databases is reported once.
      `(SELECT DISTINCT ON (subname) subid AS oid, subname FROM pg_stat_subscription ORDER BY subname, subid) s`;
  return `SELECT s.subname, ${o.catalog ? "coalesce(d.datname, '')" : "''"} AS datname,
       ${o.catalog ? 's.subenabled' : 'NULL::bool'} AS enabled, a.pid::text AS worker_pid,
       coalesce(n.sync_workers, 0) AS sync_workers, ${o.parallel ? 'coalesce(n.parallel_workers, 0)' : 'NULL::int'} AS parallel_workers,
       a.received_lsn::text AS received_lsn, a.latest_end_lsn::text AS latest_end_lsn,
       a.last_msg_send_time, a.last_msg_receipt_time,
       extract(epoch FROM a.last_msg_receipt_time - a.last_msg_send_time) AS msg_lag_s,
       extract(epoch FROM now() - a.last_msg_receipt_time) AS last_msg_age_s,
       a.latest_end_time, extract(epoch FROM now() - a.latest_end_time) AS latest_end_age_s${
         o.stats
           ? `,
       ${o.stats}`
           : ''
       }
  FROM ${subs}
  LEFT JOIN pg_stat_subscription a ON a.subid = s.oid AND a.pid IS NOT NULL AND ${o.apply}
  LEFT JOIN (SELECT subid, count(*) FILTER (WHERE relid IS NOT NULL) AS sync_workers,
                    ${o.parallel ? `count(*) FILTER (WHERE ${o.parallel})` : 'NULL::bigint'} AS parallel_workers
               FROM pg_stat_subscription w WHERE pid IS NOT NULL GROUP BY subid) n ON n.subid = s.oid${o.stats ? ' LEFT JOIN pg_stat_subscription_stats st ON st.subid = s.oid' : ''}
 ORDER BY 1, 2`;
}

const subscriptionStats15 = 'st.apply_error_count, st.sync_error_count, st.stats_reset';
const subscriptionStats18 = `${subscriptionStats15}, st.confl_insert_exists, st.confl_update_origin_differs,
       st.confl_update_exists, st.confl_update_missing, st.confl_delete_origin_differs, st.confl_delete_missing,
       st.confl_multiple_unique_conflicts`;

function subscriptionVersions(catalog: boolean): Record<number, string> {
  return {
    130000: subscriptionsSql({ apply: 'a.relid IS NULL', parallel: null, stats: null, catalog }),
    150000: subscriptionsSql({
      apply: 'a.relid IS NULL',
      parallel: null,
      stats: subscriptionStats15,
      catalog,
    }),
    160000: subscriptionsSql({
      apply: 'a.relid IS NULL AND a.leader_pid IS NULL',
      parallel: 'w.leader_pid IS NOT NULL',
      stats: subscriptionStats15,
      catalog,
    }),
    170000: subscriptionsSql({
      apply: "a.worker_type = 'apply'",
      parallel: "w.worker_type = 'parallel apply'",
      stats: subscriptionStats15,
      catalog,
    }),
    180000: subscriptionsSql({
      apply: "a.worker_type = 'apply'",
      parallel: "w.worker_type = 'parallel apply'",
      stats: subscriptionStats18,
      catalog,
    }),
  };
}

export const subscriptionsQuery: FamilyQuery = {
  family: 'pg_subscriptions',
  scope: 'instance',
  versions: subscriptionVersions(true),
  whenRefused: {
    versions: subscriptionVersions(false),
    missing:
      'pg_subscription (its columns other than subconninfo) is not readable by this role: rows from pg_stat_subscription alone, enabled unknown (null) and datname unknown ("")',
  },
};

/** What every version's pg_stat_progress_vacuum query shares (pg_stat_activity gives start and worker kind). */
const vacuumColumns = `p.pid, p.datname, p.relid::text AS relid,
       CASE WHEN p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
            THEN p.relid::regclass::text END AS relname,
       p.phase, a.backend_type = 'autovacuum worker' AS autovacuum,
       extract(epoch FROM now() - a.xact_start) AS running_s,
       p.heap_blks_total, p.heap_blks_scanned, p.heap_blks_vacuumed,
       round(100.0 * p.heap_blks_scanned / nullif(p.heap_blks_total, 0), 2) AS scanned_pct,
       p.index_vacuum_count`;

export const vacuumProgressQuery: FamilyQuery = {
  family: 'pg_vacuum_progress',
  scope: 'instance',
  versions: {
    // A relid names a table only inside its own database: elsewhere the name stays null, never a guess.
    130000: `SELECT ${vacuumColumns}, p.num_dead_tuples AS dead_items
  FROM pg_stat_progress_vacuum p LEFT JOIN pg_stat_activity a ON a.pid = p.pid`,
    // 17 counts dead items (TID store) instead of tuples, and reports index progress.
    170000: `SELECT ${vacuumColumns}, p.num_dead_item_ids AS dead_items,
       p.indexes_total, p.indexes_processed
  FROM pg_stat_progress_vacuum p LEFT JOIN pg_stat_activity a ON a.pid = p.pid`,
  },
};

export const ioQuery: FamilyQuery = {
  family: 'pg_io',
  scope: 'instance',
  versions: {
    // Rows where a backend type never does an operation are all null: skipped.
    160000: `SELECT backend_type, object, context,
       reads, reads * op_bytes AS read_bytes, read_time AS read_time_ms,
       writes, writes * op_bytes AS write_bytes, write_time AS write_time_ms,
       writebacks, writeback_time AS writeback_time_ms,
       extends, extends * op_bytes AS extend_bytes, extend_time AS extend_time_ms,
       hits, evictions, reuses, fsyncs, fsync_time AS fsync_time_ms
  FROM pg_stat_io
 WHERE coalesce(reads, writes, extends, hits, evictions, fsyncs) IS NOT NULL`,
    // 18 replaced op_bytes with byte counters of its own (WAL I/O has variable sizes).
    180000: `SELECT backend_type, object, context,
       reads, read_bytes, read_time AS read_time_ms,
       writes, write_bytes, write_time AS write_time_ms,
       writebacks, writeback_time AS writeback_time_ms,
       extends, extend_bytes, extend_time AS extend_time_ms,
       hits, evictions, reuses, fsyncs, fsync_time AS fsync_time_ms
  FROM pg_stat_io
 WHERE coalesce(reads, writes, extends, hits, evictions, fsyncs) IS NOT NULL`,
  },
};

export const wraparoundQuery: FamilyQuery = {
  family: 'pg_wraparound',
  scope: 'instance',
  versions: {
    // Every database, templates included: template0 ages too, and nothing else watches it.
    130000: `SELECT datname, age(datfrozenxid) AS xid_age, mxid_age(datminmxid) AS mxid_age,
       round(100.0 * age(datfrozenxid) / 2147483648, 4) AS xid_wraparound_pct,
       round(100.0 * age(datfrozenxid) / current_setting('autovacuum_freeze_max_age')::numeric, 3)
         AS xid_freeze_max_pct,
       round(100.0 * mxid_age(datminmxid) / 2147483648, 4) AS mxid_wraparound_pct
  FROM pg_database`,
  },
};

/**
 * Settings sent even at their default: the checks judge them against the machine ("shared_buffers at its
 * default 128MB on a 64 GB host"). A name missing on a version (reserved_connections before 16) just
 * matches nothing.
 */
export const alwaysSentSettings = [
  'shared_buffers',
  'work_mem',
  'maintenance_work_mem',
  'effective_cache_size',
  'max_wal_size',
  'min_wal_size',
  'checkpoint_timeout',
  'max_connections',
  'superuser_reserved_connections',
  'reserved_connections',
  'autovacuum',
  'track_io_timing',
  'max_slot_wal_keep_size',
  'idle_in_transaction_session_timeout',
  'statement_timeout',
  'random_page_cost',
  'wal_level',
  'max_prepared_transactions',
  'hot_standby_feedback',
] as const;

const alwaysSentList = alwaysSentSettings.map((n) => `'${n}'`).join(', ');

export const settingsQuery: FamilyQuery = {
  family: 'pg_settings',
  scope: 'instance',
  versions: {
    // Our own session's settings (application_name, timeouts: sources client/session) are not the server's.
    // The listed ones our session SETs itself (statement_timeout, idle_in_transaction_session_timeout) are
    // read from reset_val, the value a session of this role and database gets from the server; which level
    // set it is not shown there, so their source is 'default' when it equals the built-in value.
    130000: `SELECT name,
       CASE WHEN source = 'session' THEN reset_val ELSE setting END AS setting,
       coalesce(unit, '') AS unit,
       CASE WHEN source <> 'session' THEN source
            WHEN reset_val = boot_val THEN 'default' ELSE 'configuration' END AS source,
       pending_restart,
       CASE WHEN source = 'session' THEN reset_val = boot_val ELSE source = 'default' END AS is_default
  FROM pg_settings
 WHERE source NOT IN ('default', 'override', 'client', 'session')
    OR (name IN (${alwaysSentList}) AND source <> 'client')
 ORDER BY name`,
  },
};

/** At most this many holders of each kind, the oldest first. */
const xminHoldersPerKind = 5;

export const xminHoldersQuery: FamilyQuery = {
  family: 'pg_xmin_holders',
  scope: 'instance',
  versions: {
    // A session holds the horizon with its snapshot (backend_xmin) or its own transaction id (backend_xid),
    // whichever is older. Walsenders are left to the standby branch (their backend_xmin is the standby's
    // hot_standby_feedback; with a slot it lands in the slot's xmin instead), our own session is left out.
    130000: `(SELECT 'session' AS holder, a.pid::text AS ident,
        greatest(age(a.backend_xmin), age(a.backend_xid)) AS xmin_age,
        extract(epoch FROM now() - a.xact_start) AS age_s,
        coalesce(a.datname, '') AS datname, coalesce(a.usename, '') AS usename, coalesce(a.state, '') AS state,
        coalesce(a.application_name, '') AS application_name, coalesce(host(a.client_addr), '') AS client_addr,
        left(a.query, 500) AS query
   FROM pg_stat_activity a
  WHERE (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL)
    AND a.pid <> pg_backend_pid() AND a.backend_type <> 'walsender'
  ORDER BY 3 DESC, a.pid
  LIMIT ${xminHoldersPerKind})
UNION ALL
(SELECT 'replication_slot', s.slot_name::text,
        greatest(age(s.xmin), age(s.catalog_xmin)), NULL,
        coalesce(s.database::text, ''), coalesce(a.usename, ''),
        CASE WHEN s.active THEN 'active' ELSE 'inactive' END,
        coalesce(a.application_name, ''), coalesce(host(a.client_addr), ''), NULL
   FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
  WHERE s.xmin IS NOT NULL OR s.catalog_xmin IS NOT NULL
  ORDER BY 3 DESC, 2
  LIMIT ${xminHoldersPerKind})
UNION ALL
(SELECT 'standby', coalesce(r.application_name, '') || '/' || r.pid,
        age(r.backend_xmin), NULL,
        '', coalesce(r.usename, ''), coalesce(r.state, ''),
        coalesce(r.application_name, ''), coalesce(host(r.client_addr), ''), NULL
   FROM pg_stat_replication r
  WHERE r.backend_xmin IS NOT NULL
  ORDER BY 3 DESC, 2
  LIMIT ${xminHoldersPerKind})
UNION ALL
(SELECT 'prepared_xact', p.gid,
        age(p.transaction), extract(epoch FROM now() - p.prepared),
        coalesce(p.database::text, ''), coalesce(p.owner::text, ''), '', '', '', NULL
   FROM pg_prepared_xacts p
  ORDER BY 3 DESC, 2
  LIMIT ${xminHoldersPerKind})`,
  },
};

/** Instance-wide families in the order they are collected. */
export const instanceQueries: readonly FamilyQuery[] = [
  databaseQuery,
  activityQuery,
  waitEventsQuery,
  lockWaitsQuery,
  locksQuery,
  replicationQuery,
  replicationSlotsQuery,
  standbyQuery,
  bgwriterQuery,
  walQuery,
  archiverQuery,
  subscriptionsQuery,
  vacuumProgressQuery,
  ioQuery,
  wraparoundQuery,
  xminHoldersQuery,
  settingsQuery,
];

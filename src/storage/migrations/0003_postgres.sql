-- PostgreSQL target families (src/protocol/families/postgres.ts), one wide table each, range-partitioned by
-- day on ts like the host families. Label columns are NOT NULL and part of the primary key.
--
-- pg_statement_texts is the exception: statement texts are sent once per (queryid, dbid, userid), so the
-- table is keyed without ts and not partitioned (retention must not drop texts that rows still refer to).

CREATE TABLE pgvigil.pg_instance (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  up boolean,
  server_version_num integer,
  server_version text,
  in_recovery boolean,
  start_time timestamptz,
  max_connections integer,
  backends integer,
  collect_ms double precision,
  error text,
  PRIMARY KEY (server_id, target_id, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_collector (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  family text NOT NULL,
  datname text NOT NULL,
  ok boolean,
  error text,
  duration_ms double precision,
  rows integer,
  PRIMARY KEY (server_id, target_id, ts, family, datname)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_database (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  datname text NOT NULL,
  numbackends integer,
  xact_commit bigint,
  xact_rollback bigint,
  blks_read bigint,
  blks_hit bigint,
  tup_returned bigint,
  tup_fetched bigint,
  tup_inserted bigint,
  tup_updated bigint,
  tup_deleted bigint,
  conflicts bigint,
  temp_files bigint,
  temp_bytes bigint,
  deadlocks bigint,
  checksum_failures bigint,
  blk_read_time_ms double precision,
  blk_write_time_ms double precision,
  session_time_ms double precision,
  active_time_ms double precision,
  idle_in_transaction_time_ms double precision,
  sessions bigint,
  sessions_abandoned bigint,
  sessions_fatal bigint,
  sessions_killed bigint,
  cache_hit_pct real,
  size_bytes bigint,
  stats_reset timestamptz,
  PRIMARY KEY (server_id, target_id, ts, datname)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_activity (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  datname text NOT NULL,
  usename text NOT NULL,
  application_name text NOT NULL,
  backend_type text NOT NULL,
  state text NOT NULL,
  count integer,
  waiting integer,
  blocked integer,
  max_xact_age_s double precision,
  max_query_age_s double precision,
  max_state_age_s double precision,
  PRIMARY KEY (server_id, target_id, ts, datname, usename, application_name, backend_type, state)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_wait_events (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  wait_event_type text NOT NULL,
  wait_event text NOT NULL,
  count integer,
  PRIMARY KEY (server_id, target_id, ts, wait_event_type, wait_event)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_lock_waits (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  pid integer NOT NULL,
  blocking_pids text,
  datname text,
  usename text,
  application_name text,
  wait_s double precision,
  query text,
  PRIMARY KEY (server_id, target_id, ts, pid)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_locks (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  datname text NOT NULL,
  locktype text NOT NULL,
  mode text NOT NULL,
  granted integer,
  waiting integer,
  PRIMARY KEY (server_id, target_id, ts, datname, locktype, mode)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_tables (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  datname text NOT NULL,
  schemaname text NOT NULL,
  relname text NOT NULL,
  n_live_tup bigint,
  n_dead_tup bigint,
  dead_pct real,
  seq_scan bigint,
  seq_tup_read bigint,
  idx_scan bigint,
  idx_tup_fetch bigint,
  n_tup_ins bigint,
  n_tup_upd bigint,
  n_tup_del bigint,
  n_tup_hot_upd bigint,
  n_mod_since_analyze bigint,
  n_ins_since_vacuum bigint,
  last_vacuum timestamptz,
  last_autovacuum timestamptz,
  last_analyze timestamptz,
  last_autoanalyze timestamptz,
  vacuum_count bigint,
  autovacuum_count bigint,
  analyze_count bigint,
  autoanalyze_count bigint,
  table_bytes bigint,
  toast_bytes bigint,
  indexes_bytes bigint,
  total_bytes bigint,
  PRIMARY KEY (server_id, target_id, ts, datname, schemaname, relname)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_indexes (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  datname text NOT NULL,
  schemaname text NOT NULL,
  relname text NOT NULL,
  indexrelname text NOT NULL,
  idx_scan bigint,
  idx_tup_read bigint,
  idx_tup_fetch bigint,
  size_bytes bigint,
  is_unique boolean,
  is_primary boolean,
  is_valid boolean,
  unused boolean,
  PRIMARY KEY (server_id, target_id, ts, datname, schemaname, relname, indexrelname)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_statio (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  datname text NOT NULL,
  schemaname text NOT NULL,
  relname text NOT NULL,
  heap_blks_read bigint,
  heap_blks_hit bigint,
  idx_blks_read bigint,
  idx_blks_hit bigint,
  toast_blks_read bigint,
  toast_blks_hit bigint,
  tidx_blks_read bigint,
  tidx_blks_hit bigint,
  PRIMARY KEY (server_id, target_id, ts, datname, schemaname, relname)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_replication (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  application_name text NOT NULL,
  client_addr text NOT NULL,
  pid integer NOT NULL,
  state text,
  sync_state text,
  sent_lag_bytes bigint,
  write_lag_bytes bigint,
  flush_lag_bytes bigint,
  replay_lag_bytes bigint,
  write_lag_s double precision,
  flush_lag_s double precision,
  replay_lag_s double precision,
  backend_start timestamptz,
  PRIMARY KEY (server_id, target_id, ts, application_name, client_addr, pid)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_replication_slots (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  slot_name text NOT NULL,
  slot_type text,
  datname text,
  active boolean,
  retained_bytes bigint,
  confirmed_flush_lag_bytes bigint,
  wal_status text,
  safe_wal_size_bytes bigint,
  PRIMARY KEY (server_id, target_id, ts, slot_name)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_standby (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  receiver_status text,
  sender text,
  receive_replay_lag_bytes bigint,
  replay_lag_s double precision,
  last_xact_replay_ts timestamptz,
  replay_paused boolean,
  PRIMARY KEY (server_id, target_id, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_bgwriter (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  checkpoints_timed bigint,
  checkpoints_req bigint,
  checkpoint_write_time_ms double precision,
  checkpoint_sync_time_ms double precision,
  buffers_checkpoint bigint,
  buffers_clean bigint,
  maxwritten_clean bigint,
  buffers_backend bigint,
  buffers_backend_fsync bigint,
  buffers_alloc bigint,
  restartpoints_timed bigint,
  restartpoints_req bigint,
  restartpoints_done bigint,
  stats_reset timestamptz,
  PRIMARY KEY (server_id, target_id, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_wal (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  lsn_bytes bigint,
  records bigint,
  fpi bigint,
  bytes bigint,
  buffers_full bigint,
  writes bigint,
  syncs bigint,
  write_time_ms double precision,
  sync_time_ms double precision,
  stats_reset timestamptz,
  PRIMARY KEY (server_id, target_id, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_io (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  backend_type text NOT NULL,
  object text NOT NULL,
  context text NOT NULL,
  reads bigint,
  read_bytes bigint,
  read_time_ms double precision,
  writes bigint,
  write_bytes bigint,
  write_time_ms double precision,
  writebacks bigint,
  writeback_time_ms double precision,
  extends bigint,
  extend_bytes bigint,
  extend_time_ms double precision,
  hits bigint,
  evictions bigint,
  reuses bigint,
  fsyncs bigint,
  fsync_time_ms double precision,
  PRIMARY KEY (server_id, target_id, ts, backend_type, object, context)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_wraparound (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  datname text NOT NULL,
  xid_age bigint,
  mxid_age bigint,
  xid_wraparound_pct real,
  xid_freeze_max_pct real,
  mxid_wraparound_pct real,
  PRIMARY KEY (server_id, target_id, ts, datname)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_settings (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  name text NOT NULL,
  setting text,
  unit text,
  source text,
  pending_restart boolean,
  PRIMARY KEY (server_id, target_id, ts, name)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_statements (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  queryid bigint NOT NULL,
  dbid bigint NOT NULL,
  userid bigint NOT NULL,
  datname text,
  usename text,
  top_by text,
  interval_s double precision,
  calls bigint,
  plans bigint,
  exec_time_ms double precision,
  plan_time_ms double precision,
  mean_exec_time_ms double precision,
  rows bigint,
  shared_blks_hit bigint,
  shared_blks_read bigint,
  shared_blks_dirtied bigint,
  shared_blks_written bigint,
  local_blks_hit bigint,
  local_blks_read bigint,
  local_blks_written bigint,
  temp_blks_read bigint,
  temp_blks_written bigint,
  blk_read_time_ms double precision,
  blk_write_time_ms double precision,
  wal_records bigint,
  wal_fpi bigint,
  wal_bytes bigint,
  PRIMARY KEY (server_id, target_id, ts, queryid, dbid, userid)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.pg_statement_texts (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  queryid bigint NOT NULL,
  dbid bigint NOT NULL,
  userid bigint NOT NULL,
  query text,
  truncated boolean,
  PRIMARY KEY (server_id, target_id, queryid, dbid, userid)
);

CREATE TABLE pgvigil.pg_statements_info (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  entries integer,
  max integer,
  dealloc bigint,
  stats_reset timestamptz,
  PRIMARY KEY (server_id, target_id, ts)
) PARTITION BY RANGE (ts);

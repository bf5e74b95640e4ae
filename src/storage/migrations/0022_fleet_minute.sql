-- The fleet overview's sparklines, one narrow row per server (host line) or PostgreSQL target and minute,
-- written with the minute tier from its rows (src/storage/queries/fleet.sql.ts, `refreshFleetMinutes`; the
-- rollup job calls it wherever it rolls minutes), so GET /api/v1/fleet reads one small row per line and
-- minute instead of the wide minute rows of four families. Values are the minute tier's own: averages of
-- the minute (weighted by nothing: one minute is one step) and counters' increases summed over databases.
-- Partitioned per day and kept like the minute tier (the partition maintainer goes by the `_minute` suffix).
CREATE TABLE pgvigil.fleet_host_minute (
  server_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  -- host_cpu_minute, cpu = 'total'
  idle_pct double precision,
  iowait_pct double precision,
  -- host_memory_minute
  total_bytes double precision,
  available_bytes double precision,
  PRIMARY KEY (server_id, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.fleet_target_minute (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  -- pg_instance_minute
  backends double precision,
  -- pg_database_minute, summed over databases (null when no database had an increase)
  xact_commit double precision,
  xact_rollback double precision,
  PRIMARY KEY (server_id, target_id, ts)
) PARTITION BY RANGE (ts);

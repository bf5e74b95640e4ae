-- Watched processes and containers (src/protocol/families/process.ts), wide tables range-partitioned by day
-- on ts like the other host families. Label columns are NOT NULL and part of the primary key.

CREATE TABLE pgvigil.host_process (
  server_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  watch text NOT NULL,
  up boolean,
  processes bigint,
  pid bigint,
  state text,
  cpu_pct real,
  rss_bytes bigint,
  fds bigint,
  threads bigint,
  uptime_s double precision,
  PRIMARY KEY (server_id, ts, watch)
) PARTITION BY RANGE (ts);

CREATE TABLE pgvigil.host_container (
  server_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  runtime text NOT NULL,
  id text NOT NULL,
  cgroup text,
  cpu_pct real,
  memory_current_bytes bigint,
  memory_limit_bytes bigint,
  io_read_bytes_per_s double precision,
  io_write_bytes_per_s double precision,
  pids bigint,
  PRIMARY KEY (server_id, ts, runtime, id)
) PARTITION BY RANGE (ts);

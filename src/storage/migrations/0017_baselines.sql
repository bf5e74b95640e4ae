-- Baselines (src/intelligence/baselines.ts): what is normal for each metric of the catalogue
-- (src/intelligence/metrics.ts) per server, target and object, learnt from the hourly rollup tier by the
-- baselines job (src/server/jobs/baselines.ts). One row per series; a refresh of a server replaces all of
-- its rows in one transaction, so readers see the old baseline or the new one, never a mix.
CREATE TABLE pgvigil.baselines (
  server_id bigint NOT NULL REFERENCES pgvigil.servers ON DELETE CASCADE,
  -- NULL for host metrics.
  target_id bigint,
  metric text NOT NULL,
  -- Device, standby, database/schema.table or query:<queryid>; '' when the metric has none.
  object text NOT NULL DEFAULT '',
  -- End of the last hour the baseline includes.
  through timestamptz NOT NULL,
  computed_at timestamptz NOT NULL,
  -- {count, mean, stddev, median, mad, min, max} over the 7 and 30 days before `through`; NULL without data.
  stats_7d jsonb,
  stats_30d jsonb,
  -- 168 slots (Monday 00:00 UTC first, 8 weeks) and 24 slots (30 days): [count, mean, stddev, median, mad]
  -- or null. Arrays rather than rows: a server has ~100 series, 192 slots each, replaced every hour.
  hour_of_week jsonb NOT NULL,
  hour_of_day jsonb NOT NULL,
  FOREIGN KEY (server_id, target_id) REFERENCES pgvigil.targets (server_id, target_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX baselines_series ON pgvigil.baselines (server_id, coalesce(target_id, 0), metric, object);
-- The detector's cache reads what changed since its last read.
CREATE INDEX baselines_computed ON pgvigil.baselines (computed_at);

-- Per server: how far its baselines reach and what the last refresh cost. A server is refreshed again when
-- the hourly tier has rolled an hour past `through` and the server sent data since.
CREATE TABLE pgvigil.baseline_state (
  server_id bigint PRIMARY KEY REFERENCES pgvigil.servers ON DELETE CASCADE,
  through timestamptz NOT NULL,
  refreshed_at timestamptz NOT NULL,
  series integer NOT NULL,
  duration_ms real NOT NULL
);

-- Anomalies are findings of their own kind.
ALTER TABLE pgvigil.findings DROP CONSTRAINT findings_kind_check;
ALTER TABLE pgvigil.findings ADD CONSTRAINT findings_kind_check
  CHECK (kind IN ('alert', 'recommendation', 'anomaly'));

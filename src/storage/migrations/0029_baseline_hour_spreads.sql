-- Within-hour spreads of the baselines' series (src/intelligence/baselines.ts `hourSpread`): per series and
-- hour, the standard deviation of the metric's minute values in that hour, computed by the baselines job
-- from the minute tier once the hour is rolled. The minute tier is kept as long as raw rows (days); the
-- baselines need 8 weeks of these, so they are kept here, one number per series and hour, for 56 days.
CREATE TABLE pgvigil.baseline_hour_spreads (
  server_id bigint NOT NULL REFERENCES pgvigil.servers ON DELETE CASCADE,
  -- 0 for host metrics (part of the key, so not NULL).
  target_id bigint NOT NULL,
  metric text NOT NULL,
  object text NOT NULL DEFAULT '',
  hour timestamptz NOT NULL,
  sd double precision NOT NULL,
  PRIMARY KEY (server_id, target_id, metric, object, hour)
);
-- Pruning and the per-server reads go by server and hour.
CREATE INDEX baseline_hour_spreads_hour ON pgvigil.baseline_hour_spreads (server_id, hour);

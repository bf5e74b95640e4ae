-- How far the minute tier of the running hour is rolled, per server (src/server/jobs/rollups.ts,
-- `rollMinutes`): its minute rows are complete in [since, rolled_to). The ingest writer moves rolled_to back
-- when it writes rows older than it (late rows), so they are rolled again; the hourly roll moves it back to
-- the start of the hour after the one it rolled. Readers (src/storage/series.ts, `tailsFrom`) read minute
-- rows up to rolled_to instead of raw rows from the start of the hour.
CREATE TABLE pgvigil.rollup_minute_marks (
  server_id bigint PRIMARY KEY,
  since timestamptz NOT NULL,
  rolled_to timestamptz NOT NULL,
  CHECK (rolled_to >= since)
);

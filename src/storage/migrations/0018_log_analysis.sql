-- Log analysis (src/server/jobs/log-analysis.ts): message patterns per server, hourly log counts and the
-- hourly counts of the busiest patterns, maintained incrementally from pgvigil.log_entries.

-- One row per (server, fingerprint): a message pattern as seen over time. `level` is the most severe level
-- seen, `sample` the newest message (at most 500 characters), `event` its classified PostgreSQL event.
-- Open while seen; resolved after an hour unseen; reopened (counted) when seen again. The job keeps at most
-- a configured number of patterns per server (hostile logs can produce endless fingerprints): beyond it,
-- resolved patterns are evicted oldest first, and new fingerprints that find no room are counted in
-- log_analysis_state.dropped_* instead. Resolved patterns are deleted 30 days after they were last seen.
CREATE TABLE pgvigil.log_patterns (
  server_id bigint NOT NULL REFERENCES pgvigil.servers ON DELETE CASCADE,
  fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{16}$'),
  source text NOT NULL,
  level text NOT NULL CHECK (level IN ('debug', 'info', 'notice', 'warning', 'error', 'fatal', 'panic')),
  component text NOT NULL DEFAULT '',
  first_seen timestamptz NOT NULL,
  last_seen timestamptz NOT NULL,
  count bigint NOT NULL CHECK (count > 0),
  sample text NOT NULL,
  event text,
  state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
  resolved_at timestamptz,
  reopened_at timestamptz,
  reopen_count integer NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (server_id, fingerprint)
);
-- GET /log-patterns sorts by last_seen or count, fleet-wide or per server, keyset-paginated.
CREATE INDEX log_patterns_last_seen ON pgvigil.log_patterns (last_seen DESC, server_id, fingerprint);
CREATE INDEX log_patterns_count ON pgvigil.log_patterns (count DESC, server_id, fingerprint);
CREATE INDEX log_patterns_server_last_seen ON pgvigil.log_patterns (server_id, last_seen DESC, fingerprint);
CREATE INDEX log_patterns_server_count ON pgvigil.log_patterns (server_id, count DESC, fingerprint);
-- The job's sweep that resolves quiet patterns reads only open ones (eviction and pruning of resolved
-- patterns go through the last_seen indexes above).
CREATE INDEX log_patterns_open ON pgvigil.log_patterns (last_seen) WHERE state = 'open';

-- Per server: how far the job has read log_entries (every entry with ts < watermark is counted) and
-- what the per-server bound on patterns cost.
CREATE TABLE pgvigil.log_analysis_state (
  server_id bigint PRIMARY KEY REFERENCES pgvigil.servers ON DELETE CASCADE,
  watermark timestamptz NOT NULL,
  entries_processed bigint NOT NULL DEFAULT 0,
  -- New fingerprints not tracked because the server had its maximum of patterns, and their entries.
  dropped_patterns bigint NOT NULL DEFAULT 0,
  dropped_entries bigint NOT NULL DEFAULT 0,
  -- Resolved patterns deleted to make room for new ones.
  evicted_patterns bigint NOT NULL DEFAULT 0,
  -- Hours of log_fingerprints_hourly before this are cut to the top fingerprints.
  trimmed_through timestamptz,
  -- When the job last looked for late entries (ts behind the watermark, in the last hours), and what it found.
  reconciled_at timestamptz,
  late_entries bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Log entries per hour by (server, source, level), for trends and the error-spike baseline. Range-
-- partitioned by month like the metric rollups (the name ends in _hourly: the partition maintainer keeps
-- it for the hourly retention, 90 days by default, and drops whole months — no DELETE, no bloat).
CREATE TABLE pgvigil.log_counts_hourly (
  server_id bigint NOT NULL,
  hour timestamptz NOT NULL,
  source text NOT NULL,
  level text NOT NULL,
  count bigint NOT NULL,
  PRIMARY KEY (server_id, hour, source, level)
) PARTITION BY RANGE (hour);

-- Entries per hour of each tracked pattern. While an hour is recent every tracked pattern seen in it has
-- a row (so the busiest can be told exactly); after 48 hours the job keeps the top 20 per server and hour.
CREATE TABLE pgvigil.log_fingerprints_hourly (
  server_id bigint NOT NULL,
  hour timestamptz NOT NULL,
  fingerprint text NOT NULL,
  source text NOT NULL,
  level text NOT NULL,
  count bigint NOT NULL,
  PRIMARY KEY (server_id, hour, fingerprint)
) PARTITION BY RANGE (hour);

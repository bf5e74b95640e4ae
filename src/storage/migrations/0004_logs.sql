-- Log entries shipped by agents (see src/protocol/logs.ts for the row shape).
--
-- Range-partitioned by day on ts like the metric tables, so the partition maintainer creates and drops
-- partitions for it and retention is a DROP, not a DELETE. Log rows have no natural identity, so there is
-- no primary key: duplicates are prevented upstream by the ingest batch ledger (agent id, sequence).
-- Every index leads with server_id so the table can be distributed by server later.

CREATE TABLE pgvigil.log_entries (
  server_id bigint NOT NULL,
  ts timestamptz NOT NULL,
  source text NOT NULL,
  level text NOT NULL CHECK (level IN ('debug', 'info', 'notice', 'warning', 'error', 'fatal', 'panic')),
  component text NOT NULL DEFAULT '',
  message text NOT NULL,
  context jsonb NOT NULL DEFAULT '{}',
  fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{16}$')
) PARTITION BY RANGE (ts);

-- The log view of a server: newest first, optionally per source.
CREATE INDEX log_entries_server_ts ON pgvigil.log_entries (server_id, ts DESC);
CREATE INDEX log_entries_server_source_ts ON pgvigil.log_entries (server_id, source, ts DESC);
-- Pattern analysis and "show me the other occurrences" look entries up by fingerprint.
CREATE INDEX log_entries_fingerprint ON pgvigil.log_entries (server_id, fingerprint, ts DESC);
-- Problems are a small share of all lines; a partial index keeps "errors in the last hour" cheap.
CREATE INDEX log_entries_problems ON pgvigil.log_entries (server_id, ts DESC)
  WHERE level IN ('warning', 'error', 'fatal', 'panic');
-- Classified PostgreSQL events (checkpoints, deadlocks, lock waits…) by kind.
CREATE INDEX log_entries_event ON pgvigil.log_entries (server_id, (context ->> 'event'), ts DESC)
  WHERE context ? 'event';

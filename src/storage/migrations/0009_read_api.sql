-- Indexes for the read API (src/server/routes: servers, nodes, postgres, logs, gaps).
--
-- Latest-value reads of metric families need none: every family's primary key leads with
-- (server_id[, target_id], ts), so "the newest rows of this server" is a backward index scan of the
-- newest partition.

-- Agent silences (GET /gaps): the batches of one agent over a time range, and the last one before it.
-- The ledger's primary key is by seq, and ingest_ledger_received is global (for pruning).
CREATE INDEX ingest_ledger_agent_received ON pgvigil.ingest_ledger (server_id, agent_id, received_at);

-- Log search across all servers (GET /logs without `server`), newest first. Every other log index
-- leads with server_id; without this one a fleet-wide "latest errors" reads the whole range and sorts.
CREATE INDEX log_entries_ts ON pgvigil.log_entries (ts DESC);

-- Families failing now (server status, GET /servers): failures are rare, so this partial index is small
-- and cheap to keep, and finds a target's recent failures without reading its every collection.
CREATE INDEX pg_collector_failing ON pgvigil.pg_collector (server_id, target_id, ts) WHERE ok IS NOT TRUE;

-- Passes over the fleet for the job checks that judge it in slices (src/storage/queries/check-pass.sql.ts):
-- the statement checks (pass 'statements', one row per PostgreSQL target that answered) and the anomaly
-- checks (pass 'anomalies', one row per server with baselines, target 0). Every server instance takes its
-- slices from here (a claim is one UPDATE … FOR UPDATE SKIP LOCKED), so instances share a pass and nothing
-- in it is judged twice. A new pass is listed once the last one is taken. Generalises 0032's
-- statement_pass, whose contents (a pass under way) are not carried over: the next run lists a new one.
CREATE TABLE pgvigil.check_pass (
  pass text NOT NULL,
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  taken_at timestamptz,
  PRIMARY KEY (pass, server_id, target_id)
);
-- The rows not yet taken, in order: a claim reads its slice here, not past the pass's taken rows.
CREATE INDEX check_pass_open ON pgvigil.check_pass (pass, server_id, target_id) WHERE taken_at IS NULL;

-- When each pass began, and how long the last whole one took (its first start to its last claim).
CREATE TABLE pgvigil.check_pass_state (
  pass text PRIMARY KEY,
  started_at timestamptz NOT NULL,
  last_pass_ms float8
);

DROP TABLE pgvigil.statement_pass;
DROP TABLE pgvigil.statement_pass_state;

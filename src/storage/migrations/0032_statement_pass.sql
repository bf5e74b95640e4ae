-- The statement checks' pass over the fleet (src/intelligence/checks/postgres-statements.ts): the targets
-- that answered when the pass began, each marked when a slice of the checks took it. Every server
-- instance takes its slices from here (a claim is one UPDATE … FOR UPDATE SKIP LOCKED), so instances
-- share a pass and no target is judged twice in it. A new pass is listed once the last one is taken.
CREATE TABLE pgvigil.statement_pass (
  server_id bigint NOT NULL,
  target_id bigint NOT NULL,
  taken_at timestamptz,
  PRIMARY KEY (server_id, target_id)
);
-- The targets not yet taken, in order: a claim reads its slice here, not past the pass's taken rows.
CREATE INDEX statement_pass_open ON pgvigil.statement_pass (server_id, target_id) WHERE taken_at IS NULL;

-- When the current pass began, and how long the last whole one took (its first start to its last claim).
CREATE TABLE pgvigil.statement_pass_state (
  id int PRIMARY KEY CHECK (id = 1),
  started_at timestamptz NOT NULL,
  last_pass_ms float8
);

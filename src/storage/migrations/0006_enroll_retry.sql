-- Enrollment retries: the agent picks a random enrollment key before it asks and keeps it until its
-- credential is saved. A retry with the same key (the first answer was lost, or the agent died before
-- saving it) gets a fresh credential for the agent it already created instead of spending another use
-- of the token. Stored as sha256, like every secret.
ALTER TABLE pgvigil.agents
  ADD COLUMN enroll_key_hash bytea,
  ADD COLUMN enroll_token_id bigint REFERENCES pgvigil.enrollment_tokens ON DELETE SET NULL;

CREATE UNIQUE INDEX agents_enroll_key ON pgvigil.agents (enroll_key_hash) WHERE enroll_key_hash IS NOT NULL;

-- The certificate authority that signs agents' client certificates (src/server/auth/ca.ts): one row, made by
-- the first server that starts with an agent port and shared by every server on this store. The private
-- key is sealed with the server's secret key (src/secrets.ts, context 'agent-ca'), which is kept outside
-- the store, so a dump of the store cannot sign certificates.
CREATE TABLE pgvigil.agent_ca (
  ca_id smallint PRIMARY KEY DEFAULT 1 CHECK (ca_id = 1),
  certificate text NOT NULL,
  key_sealed bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

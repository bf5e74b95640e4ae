-- Agent presence for the live feed: online while batches arrive, offline when none came for a while,
-- degraded while the agent reports failing collectors. Kept apart from agents.status, which holds the
-- agent's own latest self-report (replaced whole by the ingest route). The ingest writer sets `online`
-- when a batch arrives from an agent that was offline or unknown; the agent-presence job sets the rest.
ALTER TABLE pgvigil.agents
  ADD COLUMN presence text NOT NULL DEFAULT 'unknown'
    CHECK (presence IN ('unknown', 'online', 'offline', 'degraded')),
  ADD COLUMN presence_since timestamptz,
  ADD COLUMN presence_reason text;


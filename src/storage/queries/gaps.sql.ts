/**
 * Where a server's data is missing: the gaps recorded in `pgvigil.gaps`, and the agents' silences read
 * from the ingest ledger's receive times.
 */
import type { Queryable } from './queryable.js';

export interface RecordedGapRow {
  agent_id: string;
  reason: string;
  from_seq: number | null;
  to_seq: number | null;
  count: number;
  detail: Record<string, unknown>;
  recorded_at: Date;
}

/** Gaps of a server recorded in (from, to], newest first, at most `limit`. */
export async function recordedGaps(
  db: Queryable,
  serverId: number,
  from: Date,
  to: Date,
  limit: number,
): Promise<RecordedGapRow[]> {
  const { rows } = await db.query<RecordedGapRow>(
    `SELECT agent_id, reason, from_seq, to_seq, count, detail, recorded_at FROM pgvigil.gaps
      WHERE server_id = $1 AND recorded_at > $2 AND recorded_at <= $3
      ORDER BY recorded_at DESC LIMIT $4`,
    [serverId, from, to, limit],
  );
  return rows;
}

export interface AgentDeliveryRow {
  agent_id: string;
  enrolled_at: Date;
  revoked_at: Date | null;
  /** The store's clock. */
  now: Date;
  /** Last batch received at or before `from`. */
  before: Date | null;
  /** First and last batch received in (from, to]. */
  first: Date | null;
  last: Date | null;
}

/** Per agent of the server active in the range: its last batch before the range, its first and last in it. */
export async function agentDeliveries(
  db: Queryable,
  serverId: number,
  from: Date,
  to: Date,
): Promise<AgentDeliveryRow[]> {
  const { rows } = await db.query<AgentDeliveryRow>(
    `SELECT a.agent_id, a.enrolled_at, a.revoked_at, now() AS now,
            (SELECT max(l.received_at) FROM pgvigil.ingest_ledger l
              WHERE l.server_id = a.server_id AND l.agent_id = a.agent_id AND l.received_at <= $2) AS before,
            (SELECT min(l.received_at) FROM pgvigil.ingest_ledger l
              WHERE l.server_id = a.server_id AND l.agent_id = a.agent_id
                AND l.received_at > $2 AND l.received_at <= $3) AS first,
            (SELECT max(l.received_at) FROM pgvigil.ingest_ledger l
              WHERE l.server_id = a.server_id AND l.agent_id = a.agent_id
                AND l.received_at > $2 AND l.received_at <= $3) AS last
       FROM pgvigil.agents a
      WHERE a.server_id = $1 AND a.enrolled_at <= $3 AND (a.revoked_at IS NULL OR a.revoked_at > $2)
      ORDER BY a.agent_id`,
    [serverId, from, to],
  );
  return rows;
}

/**
 * Silences longer than `silentAfterS` between two batches of one agent in (from, to], newest first, at
 * most `limit` (a window over the agent's ledger rows in the range, through its index).
 */
export async function interiorSilences(
  db: Queryable,
  serverId: number,
  from: Date,
  to: Date,
  silentAfterS: number,
  limit: number,
): Promise<Array<{ agent_id: string; start: Date; end: Date }>> {
  const { rows } = await db.query<{ agent_id: string; start: Date; end: Date }>(
    `SELECT a.agent_id, w.prev_at AS start, w.received_at AS end
       FROM pgvigil.agents a
       CROSS JOIN LATERAL (
         SELECT l.received_at, lag(l.received_at) OVER (ORDER BY l.received_at) AS prev_at
           FROM pgvigil.ingest_ledger l
          WHERE l.server_id = a.server_id AND l.agent_id = a.agent_id
            AND l.received_at > $2 AND l.received_at <= $3) w
      WHERE a.server_id = $1 AND w.received_at - w.prev_at > make_interval(secs => $4)
      ORDER BY w.received_at DESC LIMIT $5`,
    [serverId, from, to, silentAfterS, limit],
  );
  return rows;
}

/** Whether host or PostgreSQL data of the server with ts inside (start, until) reached the store. */
export async function dataBetween(
  db: Queryable,
  serverId: number,
  start: Date,
  until: Date,
): Promise<boolean> {
  const { rows } = await db.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pgvigil.host_load WHERE server_id = $1 AND ts > $2 AND ts < $3)
         OR EXISTS (SELECT 1 FROM pgvigil.pg_instance WHERE server_id = $1 AND ts > $2 AND ts < $3) AS found`,
    [serverId, start, until],
  );
  return rows[0]?.found === true;
}

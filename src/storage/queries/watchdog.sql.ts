/**
 * What the watchdog checks read (src/intelligence/checks/watchdog.ts): agents with their last batch, the
 * push interval and clock reading from their self-report, failing collectors and refused configuration;
 * the newest PostgreSQL collection per target with its failed families; the server's own jobs.
 */
import type { Queryable } from './queryable.js';

export interface WatchdogAgent {
  serverId: number;
  agentId: string;
  hostname: string;
  revoked: boolean;
  lastSeenAt: Date | null;
  /** status.pushIntervalMs as the agent reported it (any JSON: checked by the check). */
  pushIntervalMs: unknown;
  /** status.serverClockSkewMs: the agent's sealedAt minus the server's receive time of that batch. */
  clockSkewMs: unknown;
  /** status.health.spool.pendingBatches at that batch's seal. */
  pendingBatches: unknown;
  /** Collectors reporting status "failing" (≤ 20): [{name, lastError, failures}]. */
  failing: unknown;
  /** agents.config_status: {etag, applied, error, at}. */
  configStatus: unknown;
}

/** Every agent (revoked ones too: their server is looked at, they are never silent). */
export async function watchdogAgents(db: Queryable): Promise<WatchdogAgent[]> {
  const { rows } = await db.query<WatchdogAgent>(
    `SELECT server_id::int AS "serverId", agent_id::text AS "agentId", left(hostname, 253) AS hostname,
            revoked_at IS NOT NULL AS revoked, last_seen_at AS "lastSeenAt",
            status -> 'pushIntervalMs' AS "pushIntervalMs",
            status -> 'serverClockSkewMs' AS "clockSkewMs",
            status #> '{health,spool,pendingBatches}' AS "pendingBatches",
            (SELECT coalesce(jsonb_agg(jsonb_build_object('name', left(c ->> 'name', 100),
                                                          'lastError', left(c ->> 'lastError', 500),
                                                          'failures', c -> 'failures')), '[]')
               FROM (SELECT c FROM jsonb_array_elements(
                       CASE WHEN jsonb_typeof(status -> 'collectors') = 'array' THEN status -> 'collectors' ELSE '[]' END) c
                      WHERE c ->> 'status' = 'failing' LIMIT 20) f) AS failing,
            config_status AS "configStatus"
       FROM pgvigil.agents
      ORDER BY server_id, agent_id
      LIMIT 100000`,
  );
  return rows;
}

export interface CollectorFailure {
  serverId: number;
  targetId: number;
  target: string;
  family: string;
  datname: string;
  error: string | null;
  ts: Date;
}

/**
 * The (server, target) pairs with a PostgreSQL collection since `since`, and the families that failed in
 * each one's newest collection (≤ 1000).
 */
export async function pgCollectorState(
  db: Queryable,
  since: Date,
): Promise<{ targets: Array<{ serverId: number; targetId: number }>; failures: CollectorFailure[] }> {
  const { rows: targets } = await db.query<{ serverId: number; targetId: number; ts: Date }>(
    `SELECT server_id::int AS "serverId", target_id::int AS "targetId", max(ts) AS ts
       FROM pgvigil.pg_collector WHERE ts >= $1 GROUP BY server_id, target_id LIMIT 10000`,
    [since],
  );
  if (targets.length === 0) return { targets: [], failures: [] };
  const { rows: failures } = await db.query<CollectorFailure>(
    `SELECT c.server_id::int AS "serverId", c.target_id::int AS "targetId", left(t.name, 200) AS target,
            left(c.family, 100) AS family, left(c.datname, 100) AS datname, left(c.error, 500) AS error, c.ts
       FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS l (server_id, target_id, ts)
       JOIN pgvigil.pg_collector c ON c.server_id = l.server_id AND c.target_id = l.target_id AND c.ts = l.ts
       JOIN pgvigil.targets t ON t.server_id = c.server_id AND t.target_id = c.target_id
      WHERE c.ok IS NOT TRUE
      ORDER BY c.server_id, c.target_id, c.family, c.datname
      LIMIT 1000`,
    [targets.map((t) => t.serverId), targets.map((t) => t.targetId), targets.map((t) => t.ts)],
  );
  return { targets: targets.map(({ serverId, targetId }) => ({ serverId, targetId })), failures };
}

export interface JobRunState {
  job: string;
  lastStartedAt: Date | null;
  lastFinishedAt: Date | null;
  lastError: string | null;
  intervalMs: number | null;
  runs: number;
  failures: number;
}

/** The server's own periodic jobs (pgvigil.job_runs). */
export async function jobRunStates(db: Queryable): Promise<JobRunState[]> {
  const { rows } = await db.query<JobRunState>(
    `SELECT left(job, 100) AS job, last_started_at AS "lastStartedAt", last_finished_at AS "lastFinishedAt",
            left(last_error, 500) AS "lastError", interval_ms::float8 AS "intervalMs",
            runs::float8 AS runs, failures::float8 AS failures
       FROM pgvigil.job_runs ORDER BY job LIMIT 1000`,
  );
  return rows;
}

/** The server the store's own findings are filed under: the oldest one (findings belong to a server). */
export async function firstServer(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ id: number }>(
    'SELECT server_id::int AS id FROM pgvigil.servers ORDER BY server_id LIMIT 1',
  );
  return rows[0]?.id ?? null;
}

/** Sets when an agent's last batch came (tests stage a silent agent with it); false without that agent. */
export async function setAgentLastSeen(db: Queryable, agentId: string, at: Date): Promise<boolean> {
  const { rowCount } = await db.query('UPDATE pgvigil.agents SET last_seen_at = $2 WHERE agent_id = $1', [
    agentId,
    at,
  ]);
  return (rowCount ?? 0) > 0;
}

/**
 * Agent presence (agents.presence, migration 0010): the transitions the presence job applies and the one
 * the ingest writer applies when batches arrive. Each is an UPDATE … RETURNING of rows still in the old
 * state that skips rows another transaction holds, so it never waits and is reported once.
 */
import { textArray } from './literals.js';
import type { Queryable } from './queryable.js';

export type PresenceState = 'online' | 'offline' | 'degraded';

/** JSON paths into the agent's self-report ({collectors: [{name, status, …}]}, src/agent/scheduler.ts). */
const failing = `'$.collectors[*] ? (@.status == "failing")'`;
const failingNames = `'$.collectors[*] ? (@.status == "failing").name'`;

/** Transitions as constant SQL: `where` selects the rows to move ($1 = offline after, ms). */
const rules: ReadonlyArray<{ to: PresenceState; where: string; reason: string }> = [
  {
    to: 'offline',
    where: `presence IN ('online', 'degraded')
            AND (last_seen_at IS NULL OR last_seen_at < now() - make_interval(secs => $1::float8 / 1000))`,
    reason: `'no batch for ' || coalesce(round(extract(epoch FROM now() - a.last_seen_at))::text || ' s', 'ever')
             || ' (offline after ' || round($1::float8 / 1000) || ' s)'`,
  },
  {
    to: 'degraded',
    where: `presence = 'online' AND jsonb_path_exists(status, ${failing})`,
    reason: `left('collectors failing: ' || coalesce((
               SELECT string_agg(x #>> '{}', ', ')
                 FROM jsonb_array_elements(jsonb_path_query_array(a.status, ${failingNames})) x), '?'),
             300)`,
  },
  {
    to: 'online',
    where: `presence = 'degraded' AND NOT coalesce(jsonb_path_exists(status, ${failing}), false)`,
    reason: `'collectors recovered'`,
  },
  {
    to: 'online',
    where: `presence IN ('unknown', 'offline') AND revoked_at IS NULL
            AND last_seen_at >= now() - make_interval(secs => $1::float8 / 1000)`,
    reason: `'batches arrive again'`,
  },
];

export interface PresenceMove {
  server_id: number;
  agent_id: string;
  hostname: string;
  previous: PresenceState | 'unknown';
  /** The new state. */
  presence: PresenceState;
  presence_reason: string;
  presence_since: Date;
  last_seen_at: Date | null;
}

/**
 * Applies every presence transition in order (online/degraded → offline after `offlineAfterMs` without a
 * batch; online ↔ degraded by the self-report; unknown/offline → online when batches arrive again).
 */
export async function movePresence(db: Queryable, offlineAfterMs: number): Promise<PresenceMove[]> {
  const out: PresenceMove[] = [];
  for (const rule of rules) {
    const { rows } = await db.query<PresenceMove>(
      `WITH prev AS (
         SELECT agent_id, presence FROM pgvigil.agents WHERE ${rule.where}
          ORDER BY agent_id FOR UPDATE SKIP LOCKED)
       UPDATE pgvigil.agents a
          SET presence = '${rule.to}', presence_since = now(), presence_reason = ${rule.reason}
         FROM prev WHERE a.agent_id = prev.agent_id
       RETURNING a.server_id, a.agent_id, a.hostname, prev.presence AS previous, a.presence, a.presence_reason,
                 a.presence_since, a.last_seen_at`,
      rule.where.includes('$1') ? [offlineAfterMs] : [],
    );
    out.push(...rows);
  }
  return out;
}

export interface OnlineFlip {
  server_id: number;
  agent_id: string;
  hostname: string;
  previous: 'unknown' | 'offline';
  presence_since: Date;
  last_seen_at: Date | null;
}

/** Agents among `agentIds` that were offline or unknown become online (rows held elsewhere are skipped). */
export async function markOnline(db: Queryable, agentIds: readonly string[]): Promise<OnlineFlip[]> {
  const { rows } = await db.query<OnlineFlip>(
    `WITH prev AS (
       SELECT agent_id, presence FROM pgvigil.agents
        WHERE agent_id = ANY($1::uuid[]) AND presence IN ('unknown', 'offline') AND revoked_at IS NULL
        ORDER BY agent_id
        FOR UPDATE SKIP LOCKED)
     UPDATE pgvigil.agents a
        SET presence = 'online', presence_since = now(), presence_reason = 'batch received', last_seen_at = now()
       FROM prev WHERE a.agent_id = prev.agent_id
     RETURNING a.server_id, a.agent_id, a.hostname, prev.presence AS previous, a.presence_since, a.last_seen_at`,
    [agentIds],
  );
  return rows;
}

/**
 * `markOnline` as a statement without parameters (values as literals, ./literals.ts), for a message that
 * carries other statements: the ingest group's COPYs (src/storage/copy-pipeline.ts). Its rows come back as
 * text; `onlineFlipsOf` reads them. Times are returned as epoch milliseconds (truncated, as a Date read
 * from the timestamp is).
 */
export function markOnlineSql(agentIds: readonly string[]): string {
  return `WITH prev AS (
       SELECT agent_id, presence FROM pgvigil.agents
        WHERE agent_id = ANY(${textArray(agentIds, 'uuid')}) AND presence IN ('unknown', 'offline')
          AND revoked_at IS NULL
        ORDER BY agent_id
        FOR UPDATE SKIP LOCKED)
     UPDATE pgvigil.agents a
        SET presence = 'online', presence_since = now(), presence_reason = 'batch received', last_seen_at = now()
       FROM prev WHERE a.agent_id = prev.agent_id
     RETURNING a.server_id, a.agent_id, a.hostname, prev.presence AS previous,
               floor(extract(epoch FROM a.presence_since) * 1000)::bigint AS presence_since_ms,
               floor(extract(epoch FROM a.last_seen_at) * 1000)::bigint AS last_seen_at_ms`;
}

/** The rows of `markOnlineSql`, as text (a simple query's answer). */
export function onlineFlipsOf(rows: ReadonlyArray<ReadonlyArray<string | null>>): OnlineFlip[] {
  return rows.map(([serverId, agentId, hostname, previous, since, lastSeen]) => ({
    server_id: Number(serverId),
    agent_id: agentId!,
    hostname: hostname!,
    previous: previous as OnlineFlip['previous'],
    presence_since: new Date(Number(since)),
    last_seen_at: lastSeen === null || lastSeen === undefined ? null : new Date(Number(lastSeen)),
  }));
}

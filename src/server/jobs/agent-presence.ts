/**
 * The agent-presence job: moves agents between online, offline and degraded (agents.presence, migration
 * 0010) and publishes each transition to the live feed as an `agent_status` message.
 *
 *   online/degraded → offline   no batch for `offlineAfterMs` (agents.last_seen_at)
 *   online → degraded           the agent's self-report (agents.status) names a failing collector
 *   degraded → online           it no longer does
 *   unknown/offline → online    batches arrive again (normally set at once by the ingest writer, see
 *                               live/notify.ts `markAgentsOnline`; this catches any it skipped)
 *
 * Each transition is an UPDATE … RETURNING of rows still in the old state, and its NOTIFY is in the same
 * transaction, so it is published once even when several server instances run the job at the same time.
 * Rows another transaction holds (a batch being written) are skipped until the next round.
 */
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { inTransaction } from '../../storage/tx.js';
import type { AgentPresence, AgentStatusMessage } from '../live/messages.js';
import { publishLive } from '../live/notify.js';
import type { Job } from './runner.js';

/** 6 pushes at the default 10 s interval; the writer refreshes last_seen_at at most every 10 s. */
export const defaultOfflineAfterMs = 60_000;

/**
 * PGVIGIL_AGENT_OFFLINE_AFTER (seconds, default 60). At least 20: agents.last_seen_at trails the newest
 * batch by up to 10 s plus one push interval (10 s by default).
 */
export function presenceOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): PresenceOptions {
  const v = env.PGVIGIL_AGENT_OFFLINE_AFTER;
  if (v === undefined || v === '') return { offlineAfterMs: defaultOfflineAfterMs };
  const n = Number(v);
  if (!Number.isFinite(n) || n < 20 || n > 86_400) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `PGVIGIL_AGENT_OFFLINE_AFTER=${v}: expected seconds from 20 to 86400`,
    );
  }
  return { offlineAfterMs: n * 1000 };
}

export interface PresenceOptions {
  offlineAfterMs: number;
  /** Default: a quarter of offlineAfterMs, between 1 and 10 s. */
  intervalMs?: number;
}

/** JSON paths into the agent's self-report ({collectors: [{name, status, …}]}, src/agent/scheduler.ts). */
const failing = `'$.collectors[*] ? (@.status == "failing")'`;
const failingNames = `'$.collectors[*] ? (@.status == "failing").name'`;

/** Transitions as constant SQL: `prev` selects the rows to move ($1 = offline after, ms). */
const rules: ReadonlyArray<{ to: AgentPresence; where: string; reason: string }> = [
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

interface Moved {
  server_id: number;
  agent_id: string;
  hostname: string;
  previous: AgentPresence | 'unknown';
  presence_reason: string;
  presence_since: Date;
  last_seen_at: Date | null;
}

/** Applies every transition in one transaction and publishes them; returns what was published. */
export async function updateAgentPresence(
  pool: pg.Pool,
  offlineAfterMs: number,
): Promise<AgentStatusMessage[]> {
  return inTransaction(pool, async (client) => {
    const out: AgentStatusMessage[] = [];
    for (const rule of rules) {
      const { rows } = await client.query<Moved>(
        `WITH prev AS (
           SELECT agent_id, presence FROM pgvigil.agents WHERE ${rule.where}
            ORDER BY agent_id FOR UPDATE SKIP LOCKED)
         UPDATE pgvigil.agents a
            SET presence = '${rule.to}', presence_since = now(), presence_reason = ${rule.reason}
           FROM prev WHERE a.agent_id = prev.agent_id
         RETURNING a.server_id, a.agent_id, a.hostname, prev.presence AS previous, a.presence_reason,
                   a.presence_since, a.last_seen_at`,
        rule.where.includes('$1') ? [offlineAfterMs] : [],
      );
      for (const r of rows) {
        out.push({
          type: 'agent_status',
          serverId: Number(r.server_id),
          agentId: r.agent_id,
          hostname: r.hostname,
          status: rule.to,
          previous: r.previous,
          reason: r.presence_reason,
          ts: r.presence_since.getTime(),
          lastSeenAt: r.last_seen_at?.getTime() ?? null,
        });
      }
    }
    await publishLive(client, out);
    return out;
  });
}

export function agentPresenceJob(opts: PresenceOptions): Job {
  return {
    name: 'agent-presence',
    intervalMs: opts.intervalMs ?? Math.min(10_000, Math.max(1000, Math.round(opts.offlineAfterMs / 4))),
    run: async ({ pool, log }) => {
      const moved = await updateAgentPresence(pool, opts.offlineAfterMs);
      for (const m of moved) {
        log.info(
          { agentId: m.agentId, status: m.status, previous: m.previous, reason: m.reason },
          'agent status',
        );
      }
    },
  };
}

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
 * Each transition is an update … returning of rows still in the old state, and its NOTIFY is in the same
 * transaction, so it is published once even when several server instances run the job at the same time.
 * Rows another transaction holds (a batch being written) are skipped until the next round.
 */
import type pg from 'pg';
import { movePresence } from '../../storage/queries/presence.sql.js';
import { inTransaction } from '../../storage/tx.js';
import { numberFromEnv } from '../env.js';
import type { AgentStatusMessage } from '../live/messages.js';
import { publishLive } from '../live/notify.js';
import type { Job } from './runner.js';

/** 6 pushes at the default 10 s interval; the writer refreshes last_seen_at at most every 10 s. */
export const defaultOfflineAfterMs = 60_000;

/**
 * PGVIGIL_AGENT_OFFLINE_AFTER (seconds, default 60). At least 20: agents.last_seen_at trails the newest
 * batch by up to 10 s plus one push interval (10 s by default).
 */
export function presenceOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): PresenceOptions {
  const s = numberFromEnv(env, 'PGVIGIL_AGENT_OFFLINE_AFTER', {
    min: 20,
    max: 86_400,
    whole: false,
    unit: 'seconds',
  });
  return { offlineAfterMs: s === undefined ? defaultOfflineAfterMs : s * 1000 };
}

export interface PresenceOptions {
  offlineAfterMs: number;
  /** Default: a quarter of offlineAfterMs, between 1 and 10 s. */
  intervalMs?: number;
}

/** Applies every transition in one transaction and publishes them; returns what was published. */
export async function updateAgentPresence(
  pool: pg.Pool,
  offlineAfterMs: number,
): Promise<AgentStatusMessage[]> {
  return inTransaction(pool, async (client) => {
    const out: AgentStatusMessage[] = (await movePresence(client, offlineAfterMs)).map((r) => ({
      type: 'agent_status',
      serverId: Number(r.server_id),
      agentId: r.agent_id,
      hostname: r.hostname,
      status: r.presence,
      previous: r.previous,
      reason: r.presence_reason,
      ts: r.presence_since.getTime(),
      lastSeenAt: r.last_seen_at?.getTime() ?? null,
    }));
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

/**
 * Publishing to the live feed: a PostgreSQL NOTIFY on the channel `pgvigil_live`, which every server
 * instance LISTENs to (hub.ts) and delivers to its own subscribed clients.
 *
 * Issued inside the transaction that made the news (the ingest group commit, the presence job, later the
 * alert engine), a notification is delivered only if and after that transaction commits: a client never
 * hears of rows that were rolled back. Payloads stay under `maxNotifyBytes` (PostgreSQL refuses 8000 bytes
 * and more).
 *
 * NOTIFY must never cost ingest its data: a full notification queue (PostgreSQL's limit, reached only if
 * some listener stops reading) would fail the COMMIT, so nothing is published while the queue is over
 * half full, and that is counted in pgvigil_live_notify_errors_total.
 */
import type pg from 'pg';
import { notifyLive, notifyLiveSql, notifySent } from '../../storage/queries/live.sql.js';
import {
  markOnline,
  markOnlineSql,
  type OnlineFlip,
  onlineFlipsOf,
} from '../../storage/queries/presence.sql.js';
import type { Queryable } from '../../storage/queries/queryable.js';
import type { Announcer } from '../ingest/writer.js';
import type { AgentStatusMessage, LiveMessage } from './messages.js';
import type { LiveMetrics } from './metrics.js';
import { maxNotifyBytes } from './summary.js';

/** The JSON of a message, with `type` and `serverId` first (the hub reads them without parsing the rest). */
export function serializeLiveMessage(m: LiveMessage): string {
  const { type, serverId, ...rest } = m;
  return JSON.stringify({ type, serverId, ...rest });
}

/**
 * Publishes messages to every server instance's live clients; inside a transaction, on commit. Throws
 * when a message is too large for NOTIFY (shorten its text fields).
 */
export async function publishLive(
  db: Queryable,
  message: LiveMessage | readonly LiveMessage[],
): Promise<void> {
  const list = (Array.isArray(message) ? message : [message]) as readonly LiveMessage[];
  const payloads = list.map(serializeLiveMessage);
  for (const p of payloads) {
    const bytes = Buffer.byteLength(p);
    if (bytes > maxNotifyBytes) {
      throw new Error(`live message of ${bytes} bytes exceeds the ${maxNotifyBytes}-byte NOTIFY budget`);
    }
  }
  if (!(await notifyPayloads(db, payloads))) throw new Error('the NOTIFY queue is over half full');
}

/** Returns false when nothing was sent because the notification queue is over half full. */
async function notifyPayloads(db: Queryable, payloads: readonly string[]): Promise<boolean> {
  if (payloads.length === 0) return true;
  return notifyLive(db, payloads);
}

/**
 * Agents among `agentIds` that were offline or unknown become online, in the caller's transaction; returns
 * their transitions. Rows another transaction holds are skipped (that transaction carries a batch of the
 * same agent and flips it itself; the presence job reconciles anything missed), so this never waits.
 */
export async function markAgentsOnline(
  client: pg.ClientBase,
  agentIds: readonly string[],
): Promise<AgentStatusMessage[]> {
  if (agentIds.length === 0) return [];
  return agentStatusMessages(await markOnline(client, agentIds));
}

function agentStatusMessages(rows: readonly OnlineFlip[]): AgentStatusMessage[] {
  return rows.map((r) => ({
    type: 'agent_status',
    serverId: Number(r.server_id),
    agentId: r.agent_id,
    hostname: r.hostname,
    status: 'online',
    previous: r.previous,
    reason: r.previous === 'unknown' ? 'first batch received' : 'batches arrive again',
    ts: r.presence_since.getTime(),
    lastSeenAt: r.last_seen_at?.getTime() ?? null,
  }));
}

/**
 * The ingest writer's hook (WriterOptions.announce): inside each group transaction, flips agents that
 * come back to online and publishes their transitions and one `sample` per batch written. The flip is a
 * statement of the group's COPY message (its rows come back with that message's answer); the NOTIFY,
 * whose payloads depend on those rows, goes with the COMMIT.
 */
export function announceWritten(metrics: LiveMetrics): Announcer {
  return {
    statement: (written) => markOnlineSql([...new Set(written.map((i) => i.agentId))].sort()),
    beforeCommit: (written, rows) => {
      const payloads: string[] = [];
      const transitions = agentStatusMessages(onlineFlipsOf(rows));
      for (const p of [...transitions.map(serializeLiveMessage), ...written.map((i) => i.live)]) {
        if (p === undefined) continue;
        // A payload over the limit would fail the whole ingest transaction: leave it out and count it.
        if (Buffer.byteLength(p) > maxNotifyBytes) metrics.notifyErrors.inc({ reason: 'too-large' });
        else payloads.push(p);
      }
      if (payloads.length === 0) return null;
      return {
        sql: notifyLiveSql(payloads),
        answered: (answer) => {
          if (!notifySent(answer)) metrics.notifyErrors.inc({ reason: 'queue-full' }, payloads.length);
        },
      };
    },
  };
}

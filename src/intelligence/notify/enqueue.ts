/**
 * Routing finding events to channels: the engine calls `enqueueDeliveries` inside the transaction that
 * opens or resolves findings, so a delivery is queued if and only if the change is committed (the outbox
 * pattern), and then kicks the worker.
 */
import {
  channelsThatFired,
  enabledChannels,
  insertDeliveries,
  type NewDelivery,
  serverLabels,
} from '../../storage/queries/notifications.sql.js';
import type { Queryable } from '../../storage/queries/queryable.js';
import type { FindingEvent } from '../model.js';
import { type ChannelRouting, routeMatches, type ServerFacts } from './channels.js';

/**
 * Queues one pending delivery per (enabled channel whose routing matches, event); the number queued.
 * A resolution also goes to every channel that was sent (or is sending) the finding's alert, even if the
 * routing no longer matches (its severity went down, the channel's filters changed): an alert that was
 * raised somewhere is always cleared there.
 */
export async function enqueueDeliveries(db: Queryable, events: FindingEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const channels = await enabledChannels(db);
  if (channels.length === 0) return 0;
  const serverIds = [...new Set(events.map((e) => e.finding.serverId))];
  const servers = new Map<number, ServerFacts>(
    (await serverLabels(db, serverIds)).map((s) => [Number(s.server_id), { name: s.name, labels: s.labels }]),
  );
  const resolvedKeys = events.filter((e) => e.event === 'resolved').map((e) => e.finding.key);
  const fired = new Set(
    resolvedKeys.length === 0
      ? []
      : (await channelsThatFired(db, resolvedKeys)).map((r) => `${r.channel_id}\n${r.finding_key}`),
  );
  const out: NewDelivery[] = [];
  for (const e of events) {
    for (const c of channels) {
      const matches =
        routeMatches(c.routing as ChannelRouting, e.finding, servers.get(e.finding.serverId)) ||
        (e.event === 'resolved' && fired.has(`${c.channel_id}\n${e.finding.key}`));
      if (!matches) continue;
      out.push({
        channelId: c.channel_id,
        findingId: e.finding.id,
        findingKey: e.finding.key,
        event: e.event,
        payload: e,
      });
    }
  }
  return insertDeliveries(db, out);
}

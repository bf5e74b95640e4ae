/** The live feed's metrics in the server registry (labels fixed by code). */
import type { Registry } from '../../telemetry/metrics.js';

export function liveMetrics(registry: Registry) {
  return {
    clients: registry.gauge(
      'pgvigil_live_clients',
      'Live feed WebSocket clients connected to this instance.',
    ),
    messages: registry.counter(
      'pgvigil_live_messages_total',
      'Messages sent to live feed clients, by type (one per client it reached).',
    ),
    dropped: registry.counter(
      'pgvigil_live_dropped_clients_total',
      'Live feed clients closed by the server, by reason (slow-consumer, unresponsive, too-many-clients, protocol).',
    ),
    notifyErrors: registry.counter(
      'pgvigil_live_notify_errors_total',
      'Live feed notifications not published or not received, by reason (queue-full, too-large, listen-lost, bad-payload).',
    ),
  };
}

export type LiveMetrics = ReturnType<typeof liveMetrics>;

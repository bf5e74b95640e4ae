/**
 * The live feed's messages (GET /api/v1/live, documented in docs/api.md under "Live feed"): JSON text
 * frames. What the server publishes through PostgreSQL NOTIFY is the same JSON it sends to clients, so
 * every instance can deliver any message to its own clients.
 *
 * Times are milliseconds since the epoch, as in the batch wire format. A value the batch did not carry is
 * null, never 0.
 */
import { bodyShapeLimits, checkJsonShape } from '../../protocol/json-guard.js';

/** Host figures from the newest rows of one batch. */
export interface NodeSummary {
  /** Newest ts among the host rows summarised. */
  ts: number;
  /** 100 − idle − iowait of the "total" CPU row, %. */
  cpuBusyPct: number | null;
  /** used_bytes / total_bytes, %. */
  memoryUsedPct: number | null;
  load1: number | null;
  load5: number | null;
  load15: number | null;
}

/** PostgreSQL target figures from the newest rows of one batch. */
export interface TargetSummary {
  targetId: number;
  /** The target's name (cut to 200 characters; targetId is what identifies it). */
  name: string;
  /** Newest ts among the target's rows in the batch. */
  ts: number;
  /** pg_instance.up: the agent could query the instance. */
  up: boolean | null;
  /** pg_instance.backends: server processes of any kind. */
  backends: number | null;
  /** pg_activity: processes in state "active". */
  activeBackends: number | null;
  /**
   * pg_activity: processes waiting for a lock, of those the agent's role may see (the activity summary's
   * `hidden` counts the others, whose waits are unknown).
   */
  waitingBackends: number | null;
  /** From pg_database rows; null when the batch had none for this target. */
  transactions: TransactionSummary | null;
}

export interface TransactionSummary {
  /** ts of the newest pg_database rows. */
  ts: number;
  /** xact_commit + xact_rollback over all databases at `ts` (a cumulative counter). */
  total: number;
  /**
   * Transactions per second: from two pg_database samples of the same batch, or else from this target's
   * previous sample seen by the delivering server instance; null after a counter reset, across a gap of
   * more than 10 minutes, or with one sample only.
   */
  perSec: number | null;
}

export interface SampleMessage {
  type: 'sample';
  serverId: number;
  agentId: string;
  seq: number;
  /** Newest row ts in the batch. */
  ts: number;
  /** Rows written. */
  rows: number;
  /** Tables that received rows (metric family names, and `log_entries` for logs). */
  families: string[];
  /** null when the batch held no host_cpu, host_memory or host_load rows. */
  node: NodeSummary | null;
  targets: TargetSummary[];
  /** Target summaries left out to keep the message under PostgreSQL's NOTIFY size limit. */
  targetsOmitted?: number;
}

export type AgentPresence = 'online' | 'offline' | 'degraded';

export interface AgentStatusMessage {
  type: 'agent_status';
  serverId: number;
  agentId: string;
  hostname: string;
  status: AgentPresence;
  previous: AgentPresence | 'unknown';
  reason: string;
  /** When the transition happened. */
  ts: number;
  /** The newest batch seen from the agent, if any. */
  lastSeenAt: number | null;
}

export type AlertSeverity = 'info' | 'warning' | 'critical';

/** Published by the alert engine through `publishLive` (src/server/live/notify.ts). */
export interface AlertFiredMessage {
  type: 'alert_fired';
  alertId: string;
  serverId: number;
  targetId: number | null;
  rule: string;
  severity: AlertSeverity;
  summary: string;
  /** The value that crossed the threshold, when the rule has one. */
  value: number | null;
  ts: number;
}

export interface AlertResolvedMessage {
  type: 'alert_resolved';
  alertId: string;
  serverId: number;
  targetId: number | null;
  rule: string;
  ts: number;
}

/**
 * A message pattern never seen before on this server appeared at level error or worse (published by the
 * log-analysis job, src/server/jobs/log-analysis.ts, when it first records the pattern).
 */
export interface LogPatternNewMessage {
  type: 'log_pattern_new';
  serverId: number;
  fingerprint: string;
  source: string;
  level: string;
  /** The newest message of the pattern (≤ 300 characters). */
  sample: string;
  /** Entries in the first run that saw it. */
  count: number;
  /** The first entry's time. */
  firstSeen: number;
  ts: number;
}

/** Published by the incidents job (src/server/jobs/incidents.ts) when findings become an incident. */
export interface IncidentOpenedMessage {
  type: 'incident_opened';
  incidentId: string;
  serverId: number;
  severity: AlertSeverity;
  title: string;
  /** The named cause's confidence, null when no chain explains the incident. */
  confidence: number | null;
  ts: number;
}

export interface IncidentResolvedMessage {
  type: 'incident_resolved';
  incidentId: string;
  serverId: number;
  title: string;
  ts: number;
}

/** Messages that travel through NOTIFY and are routed to the clients subscribed to their server or target. */
export type LiveMessage =
  | SampleMessage
  | AgentStatusMessage
  | AlertFiredMessage
  | AlertResolvedMessage
  | LogPatternNewMessage
  | IncidentOpenedMessage
  | IncidentResolvedMessage;

/** Answers to one client. */
export interface SubscribedMessage {
  type: 'subscribed';
  /** Echo of the request's id. */
  id?: string | number;
  /** Everything this connection is subscribed to now. */
  servers: number[];
  targets: number[];
}

export interface ErrorMessage {
  type: 'error';
  id?: string | number;
  /** A code of src/errors.ts. */
  code: string;
  message: string;
}

/**
 * The server's connection to the store's notifications was lost (`lost`) or is back (`restored`):
 * messages published between `since` and the restore may never arrive. Reload current state through the
 * REST API after `restored`.
 */
export interface ResyncMessage {
  type: 'resync';
  state: 'lost' | 'restored';
  since: number;
  reason: string;
}

export type ServerMessage = LiveMessage | SubscribedMessage | ErrorMessage | ResyncMessage;

export interface SubscribeRequest {
  type: 'subscribe' | 'unsubscribe';
  id?: string | number;
  servers: number[];
  targets: number[];
}

export type ClientMessageParse = { ok: true; request: SubscribeRequest } | { ok: false; message: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function idList(v: unknown, field: string, max: number): number[] | string {
  if (v === undefined) return [];
  if (!Array.isArray(v)) return `"${field}" must be an array of ids`;
  if (v.length > max) return `"${field}" lists more than ${max} ids`;
  for (const x of v) {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 1)
      return `"${field}" must hold positive integer ids`;
  }
  return v as number[];
}

/** Checks one client frame; the message of a failure names what is wrong. */
export function parseClientMessage(text: string, maxIds: number): ClientMessageParse {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, message: 'not JSON: send {"type":"subscribe","servers":[ids],"targets":[ids]}' };
  }
  // Before anything walks it: the message below quotes `type`, and quoting a value nested thousands deep
  // overflows the stack.
  const shape = checkJsonShape(v, bodyShapeLimits);
  if (!shape.ok) return { ok: false, message: `${shape.path || 'the message'}: ${shape.message}` };
  if (!isObject(v)) return { ok: false, message: 'expected a JSON object' };
  if (v.type !== 'subscribe' && v.type !== 'unsubscribe') {
    return {
      ok: false,
      message: `unknown type ${JSON.stringify(v.type)?.slice(0, 60)}; expected subscribe or unsubscribe`,
    };
  }
  const id = v.id;
  if (
    id !== undefined &&
    !(typeof id === 'string' && id.length <= 64) &&
    !(typeof id === 'number' && Number.isSafeInteger(id))
  ) {
    return { ok: false, message: '"id" must be a string of at most 64 characters or an integer' };
  }
  for (const k of Object.keys(v)) {
    if (k !== 'type' && k !== 'id' && k !== 'servers' && k !== 'targets')
      return { ok: false, message: `unknown field "${k.slice(0, 40)}"` };
  }
  const servers = idList(v.servers, 'servers', maxIds);
  if (typeof servers === 'string') return { ok: false, message: servers };
  const targets = idList(v.targets, 'targets', maxIds);
  if (typeof targets === 'string') return { ok: false, message: targets };
  return {
    ok: true,
    request: { type: v.type, ...(id !== undefined ? { id } : {}), servers, targets },
  };
}

const liveTypes = new Set([
  'sample',
  'agent_status',
  'alert_fired',
  'alert_resolved',
  'log_pattern_new',
  'incident_opened',
  'incident_resolved',
]);

/**
 * Reads a NOTIFY payload. The store is trusted, but a payload from an older or newer server version (or
 * typed by hand) must not break delivery: anything without a known type and a server id is refused.
 */
export function parseLiveMessage(payload: string): LiveMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (!isObject(v) || typeof v.type !== 'string' || !liveTypes.has(v.type)) return undefined;
  if (typeof v.serverId !== 'number' || !Number.isSafeInteger(v.serverId)) return undefined;
  if (v.type === 'sample' && !Array.isArray(v.targets)) return undefined;
  return v as unknown as LiveMessage;
}

/** Target ids a message concerns (routing for target subscriptions). */
export function messageTargets(m: LiveMessage): number[] {
  if (m.type === 'sample') return m.targets.map((t) => t.targetId);
  if (m.type === 'alert_fired' || m.type === 'alert_resolved') return m.targetId === null ? [] : [m.targetId];
  return [];
}

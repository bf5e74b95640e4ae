/**
 * The finding model: one shape for everything the intelligence layer says — alerts (something is wrong
 * now), recommendations (something to change) and, later, anomalies and incidents.
 *
 * A check evaluates rows and returns observations: "this holds now, for this object, with this evidence".
 * The lifecycle (./lifecycle.ts) turns observations into findings: it de-duplicates them by key, opens,
 * updates, resolves (when the check no longer holds for N evaluations, or has not been evaluated for a
 * while) and damps flapping. Findings are stored (src/storage/queries/findings.sql.ts) with their history,
 * published to the live feed and handed to delivery (./notify/).
 */
import type { JsonValue } from '../protocol/logs.js';
import type { FindingRow } from '../storage/queries/findings.sql.js';

export type Severity = 'info' | 'warning' | 'critical';
export const severities: readonly Severity[] = ['info', 'warning', 'critical'];
export const severityRank: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export type FindingKind = 'alert' | 'recommendation' | 'anomaly';
export const findingKinds: readonly FindingKind[] = ['alert', 'recommendation', 'anomaly'];

export type FindingState = 'open' | 'acknowledged' | 'silenced' | 'resolved';
export const findingStates: readonly FindingState[] = ['open', 'acknowledged', 'silenced', 'resolved'];

export type Evidence = { [key: string]: JsonValue };

/** What one check says holds right now for one object. */
export interface Observation {
  /** Check id, e.g. `pg.connections` (the catalogue in ./checks/index.ts). */
  check: string;
  serverId: number;
  /** The PostgreSQL target, or null for host-level findings. */
  targetId: number | null;
  /** What it is about inside the server/target: `public.orders`, `slot:x`, `/var`, `203.0.113.7`; '' for none. */
  object: string;
  kind: FindingKind;
  severity: Severity;
  title: string;
  /** Plain words: what is wrong and why it matters. */
  explanation: string;
  /** The values, times, objects, statements, pids, IPs that show it. */
  evidence: Evidence;
  /** The exact SQL or shell command that fixes it (or the first diagnostic step). */
  action: string;
  /** The number that crossed the threshold, when there is one. */
  value?: number | null;
}

/** The stable identity of a finding: check, server, target, object. */
export function findingKey(o: Pick<Observation, 'check' | 'serverId' | 'targetId' | 'object'>): string {
  return `${o.check}|${o.serverId}|${o.targetId ?? ''}|${o.object}`;
}

/** A finding as the API, the live feed and delivery see it (as the store reads it back). */
export type Finding = FindingRow;

/** What delivery is asked to send: a finding that fired (opened, reopened, escalated) or resolved. */
export interface FindingEvent {
  event: 'fired' | 'resolved';
  finding: Finding;
  /** ISO 8601: when it happened. */
  at: string;
}

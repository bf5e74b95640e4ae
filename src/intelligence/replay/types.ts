/**
 * What a replay reads and what it returns. A replayed host is plain data: minute series of the metric
 * catalogue (./../metrics.ts ids), error counts per log source, SSH attempts, filesystem usage, the
 * snapshot rows of the session and slot families, silences of its agent and its SLOs. A scenario
 * (test/scenarios/) builds these from a seeded generator and states its ground truth beside them.
 *
 * Minute `m` of a host covers [start + m min, start + (m + 1) min).
 */
import type { SloDefinition } from '../slo.js';

export const minuteMs = 60_000;
export const hourMs = 3_600_000;
/** The findings job's cadence, which is the replay's step: one evaluation per simulated minute. */
export const evaluationIntervalMs = 60_000;

/** One metric of the catalogue for one object, a value per minute (NaN: no point that minute). */
export interface ReplaySeries {
  metric: string;
  /** '' for metrics without an object; `sda`, `standby1`, `app/public.orders`, `query:101`… */
  object: string;
  values: Float64Array;
}

/** Error-or-worse log entries of one source, per minute, with the message that dominates each stretch. */
export interface ReplayLogSource {
  source: string;
  errors: Uint16Array;
  /** The message of the errors in [from, to) minutes; `sample` elsewhere. */
  stretches: ReadonlyArray<{ from: number; to: number; sample: string; fingerprint: string }>;
  sample: string;
}

export interface ReplaySshAttempts {
  minute: number;
  ip: string;
  user: string;
  count: number;
}

export interface ReplayFilesystem {
  mountpoint: string;
  device: string;
  fstype: string;
  sizeBytes: number;
  /** Used bytes per minute. */
  used: Float64Array;
}

/** An SLO on one replayed series (the definition's family/metric/labels are words for its findings). */
export interface ReplaySlo {
  definition: SloDefinition;
  metric: string;
  object: string;
}

export type SnapshotRow = Record<string, unknown>;

export interface ReplayHost {
  serverId: number;
  targetId: number;
  hostname: string;
  agentId: string;
  /** ms, on an hour boundary. */
  start: number;
  minutes: number;
  /**
   * The first minute evaluated. Minutes before it are history only: they feed the baselines (hourly
   * aggregates), the log-count baseline and the SLO window, as the store's tiers would.
   */
  evalFrom: number;
  series: ReplaySeries[];
  logs: ReplayLogSource[];
  ssh: ReplaySshAttempts[];
  /** [from, to) minute ranges in which the agent sent nothing. */
  silent: ReadonlyArray<readonly [number, number]>;
  filesystems: ReplayFilesystem[];
  /** pg_instance extras (max_connections, backends) and snapshot families' rows at a minute. */
  snapshot(minute: number): { instance: SnapshotRow; families: Record<string, SnapshotRow[]> };
  /** pg_settings as the target reports them (name → setting). */
  settings: Record<string, string>;
  cores: number;
  slos: ReplaySlo[];
  /** Large tables (for pg.missing_index): their seq scans are the `pg.seq_scans_per_s` series of `object`. */
  tables?: ReplayTable[];
  /** Statement texts (for pg.missing_index): calls and mean time from the statement series of `query:<id>`. */
  statements?: ReplayStatement[];
}

export interface ReplayTable {
  datname: string;
  schemaname: string;
  relname: string;
  nLiveTup: number;
  tableBytes: number;
}

export interface ReplayStatement {
  queryid: string;
  datname: string;
  query: string;
}

/** A finding firing or resolving during the replay. */
export interface ReplayEvent {
  t: number;
  type: 'fired' | 'escalated' | 'resolved';
  check: string;
  kind: string;
  object: string;
  severity: string;
  title: string;
  /** Whether delivery would have sent it (flap damping can keep a reopening quiet). */
  notify: boolean;
}

export interface ReplayIncident {
  id: string;
  openedAt: number;
  resolvedAt: number | null;
  title: string;
  /** The chain named when it opened, and the latest one if later members changed it. */
  chainAtOpen: string | null;
  chain: string | null;
  confidence: number | null;
  /** Every chain it was explained by over its life, with when it was first named so. */
  chainTimes: Array<{ chain: string; t: number }>;
  members: Array<{ check: string; object: string; openedAt: number; role: string }>;
}

export interface ReplayResult {
  serverId: number;
  events: ReplayEvent[];
  incidents: ReplayIncident[];
  /** Minutes evaluated (from evalFrom). */
  evaluatedMinutes: number;
}

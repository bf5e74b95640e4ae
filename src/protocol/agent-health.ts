/**
 * The agent's report on itself: what it lost, what it retried, how full its spool is. The agent serves it
 * on its `/metrics` (as `pgvigil_agent_*`) and sends it in every batch as `status.health`; the server keeps
 * the latest per agent and returns it with the agent (GET /servers/:id), where a watchdog can alert on it.
 *
 * Counters are totals since the agent (or, for the spool's batch counts, the spool) started; a restart
 * resets those kept in memory, as Prometheus counters do. `readAgentHealth` is how the server reads a
 * stored report: what came from an agent is input, so only known fields of the right type are kept.
 */
import { type GapReason, gapReasons } from './batch.js';

/** Why log entries were lost: a spool gap reason, or a volume limit of their source. */
export type LogDropReason = GapReason | 'volume-cap' | 'volume-flood';
export const logDropReasons: readonly LogDropReason[] = [...gapReasons, 'volume-cap', 'volume-flood'];

export interface AgentHealth {
  spool: {
    bytes: number;
    segments: number;
    /** Batches waiting to be delivered (on disk and in memory). */
    pendingBatches: number;
    /** Batches held in memory because the disk cannot be written. */
    memoryBatches: number;
    /** disk-full, read-only or io-error while the spool cannot write; null when it can. */
    degraded: string | null;
    corruptRecords: number;
    /** Batches lost, by reason (persisted by the spool across restarts). */
    droppedBatches: Record<GapReason, number>;
    /** Metric rows in those batches (known for batches sealed since the agent started). */
    droppedRows: Record<GapReason, number>;
  };
  shipper: {
    sentBatches: number;
    duplicateBatches: number;
    /** Failed push attempts by HTTP status ("503") or "network". */
    failures: Record<string, number>;
    /** Push attempts repeated after a failure, by the status of the failure. */
    retries: Record<string, number>;
    /** ISO time of the last batch the server took; null before the first. */
    lastSuccessAt: string | null;
    state: string;
  };
  logs: {
    /** Log entries lost, by reason: spool gaps (entries of dropped batches) and volume limits. */
    droppedEntries: Record<LogDropReason, number>;
    /**
     * True while the log sources stop reading because the spool's disk is full (backpressure: the lines
     * stay in their files). False when the agent does not pause, or has nothing to pause.
     */
    pausedDiskFull: boolean;
    /** How often the log sources were paused for that reason (kept across restarts). */
    pauses: number;
  };
  config: {
    /** Server-pushed configurations applied, refused, and pulls that failed (each SIGHUP pulls). */
    reloads: { applied: number; rejected: number; failed: number };
  };
}

export const configReloadResults = ['applied', 'rejected', 'failed'] as const;

/** Keys a by-status record may have: an HTTP status or "network". */
const statusKey = /^(?:[1-5]\d\d|0|network)$/;
/** More distinct statuses than this is not a real agent's report. */
const maxStatusKeys = 40;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function own(o: Record<string, unknown>, k: string): unknown {
  return Object.hasOwn(o, k) ? o[k] : undefined;
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

function section(o: Record<string, unknown>, k: string): Record<string, unknown> {
  const v = own(o, k);
  return isObject(v) ? v : {};
}

function byKeys<K extends string>(v: unknown, keys: readonly K[]): Record<K, number> {
  const o = isObject(v) ? v : {};
  const out = {} as Record<K, number>;
  for (const k of keys) out[k] = count(own(o, k));
  return out;
}

function byStatus(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!isObject(v)) return out;
  let n = 0;
  for (const k of Object.keys(v)) {
    if (!statusKey.test(k)) continue;
    if (++n > maxStatusKeys) break;
    out[k] = count(v[k]);
  }
  return out;
}

function text(v: unknown, max = 100): string | null {
  return typeof v === 'string' ? v.slice(0, max) : null;
}

/** A stored `status.health` as the API returns it: known fields only, counts finite and ≥ 0; null without one. */
export function readAgentHealth(status: unknown): AgentHealth | null {
  if (!isObject(status)) return null;
  const h = own(status, 'health');
  if (!isObject(h)) return null;
  const spool = section(h, 'spool');
  const shipper = section(h, 'shipper');
  const logs = section(h, 'logs');
  const config = section(h, 'config');
  return {
    spool: {
      bytes: count(own(spool, 'bytes')),
      segments: count(own(spool, 'segments')),
      pendingBatches: count(own(spool, 'pendingBatches')),
      memoryBatches: count(own(spool, 'memoryBatches')),
      degraded: text(own(spool, 'degraded')),
      corruptRecords: count(own(spool, 'corruptRecords')),
      droppedBatches: byKeys(own(spool, 'droppedBatches'), gapReasons),
      droppedRows: byKeys(own(spool, 'droppedRows'), gapReasons),
    },
    shipper: {
      sentBatches: count(own(shipper, 'sentBatches')),
      duplicateBatches: count(own(shipper, 'duplicateBatches')),
      failures: byStatus(own(shipper, 'failures')),
      retries: byStatus(own(shipper, 'retries')),
      lastSuccessAt: text(own(shipper, 'lastSuccessAt'), 40),
      state: text(own(shipper, 'state'), 40) ?? 'unknown',
    },
    logs: {
      droppedEntries: byKeys(own(logs, 'droppedEntries'), logDropReasons),
      pausedDiskFull: own(logs, 'pausedDiskFull') === true,
      pauses: count(own(logs, 'pauses')),
    },
    config: { reloads: byKeys(own(config, 'reloads'), configReloadResults) },
  };
}

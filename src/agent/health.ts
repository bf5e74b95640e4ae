/**
 * The agent's report on itself (src/protocol/agent-health.ts): gathered from the spool's stats, the
 * shipper's counters, the log volume limits and the config client, and rendered as `pgvigil_agent_*`
 * metrics for `/metrics`. The same report goes into every batch's status.
 */
import {
  type AgentHealth,
  configReloadResults,
  type LogDropReason,
  logDropReasons,
} from '../protocol/agent-health.js';
import { gapReasons, type WireGap } from '../protocol/batch.js';
import type { ExposedMetric } from './collectors/types.js';
import type { ShipperStats } from './shipper.js';
import type { SpoolStats } from './spool/spool.js';

export type { AgentHealth };

function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of keys) out[k] = 0;
  return out;
}

/**
 * What the batches the spool dropped held. The spool sees only opaque payloads and counts batches; this
 * remembers the rows and log entries of each batch sealed by this process until it is delivered, and
 * adds them up when its seq shows up in a gap. Bounded: beyond `maxTracked` undelivered batches the
 * oldest are forgotten (their loss is then counted in batches only).
 */
export class DroppedContents {
  readonly #sizes = new Map<number, { rows: number; logs: number }>();
  readonly rows = zeros(gapReasons);
  readonly logs = zeros(gapReasons);

  constructor(private readonly maxTracked = 100_000) {}

  sealed(seq: number, rows: number, logs: number): void {
    this.#sizes.set(seq, { rows, logs });
    if (this.#sizes.size > this.maxTracked) {
      const oldest = this.#sizes.keys().next().value;
      if (oldest !== undefined) this.#sizes.delete(oldest);
    }
  }

  /**
   * Counts the contents of the seqs in `gaps` (each seq once, however often its gap is reported), then
   * forgets every seq up to `doneThrough` (delivered or lost). Gaps first: a dropped seq is also "done".
   */
  settle(gaps: readonly WireGap[], doneThrough: number): void {
    for (const g of gaps) {
      for (const [seq, size] of this.#sizes) {
        if (seq < g.fromSeq || seq > g.toSeq) continue;
        this.rows[g.reason] += size.rows;
        this.logs[g.reason] += size.logs;
        this.#sizes.delete(seq);
      }
    }
    for (const seq of this.#sizes.keys()) {
      if (seq > doneThrough) break;
      this.#sizes.delete(seq);
    }
  }
}

export interface HealthInputs {
  spool: SpoolStats;
  shipper: ShipperStats;
  dropped: DroppedContents;
  /** Log entries the volume limits dropped. */
  volume: { cap: number; flood: number };
  configReloads: AgentHealth['config']['reloads'];
}

export function buildAgentHealth(i: HealthInputs): AgentHealth {
  const droppedEntries = zeros(logDropReasons);
  for (const r of gapReasons) droppedEntries[r] = i.dropped.logs[r];
  droppedEntries['volume-cap'] = i.volume.cap;
  droppedEntries['volume-flood'] = i.volume.flood;
  return {
    spool: {
      bytes: i.spool.bytesOnDisk,
      segments: i.spool.segments,
      pendingBatches: i.spool.pendingRecords,
      memoryBatches: i.spool.memoryRecords,
      degraded: i.spool.degraded?.kind ?? null,
      corruptRecords: i.spool.corruptRecords,
      droppedBatches: { ...i.spool.dropped },
      droppedRows: { ...i.dropped.rows },
    },
    shipper: {
      sentBatches: i.shipper.sent,
      duplicateBatches: i.shipper.duplicates,
      failures: { ...i.shipper.failuresByStatus },
      retries: { ...i.shipper.retriesByStatus },
      lastSuccessAt:
        i.shipper.lastSuccessAt === null ? null : new Date(i.shipper.lastSuccessAt).toISOString(),
      state: i.shipper.state,
    },
    logs: { droppedEntries, pausedDiskFull: i.spool.logsPaused, pauses: i.spool.logPauses },
    config: { reloads: { ...i.configReloads } },
  };
}

function metric(
  name: string,
  help: string,
  type: 'counter' | 'gauge',
  samples: ExposedMetric['samples'],
): ExposedMetric {
  return { name, help, type, samples };
}

function labelled(label: string, values: Record<string, number>): ExposedMetric['samples'] {
  return Object.entries(values).map(([k, value]) => ({ labels: { [label]: k }, value }));
}

const degradedKinds = ['disk-full', 'read-only', 'io-error'] as const;

/** The report as `pgvigil_agent_*` metrics (base units; counters end in `_total`). */
export function agentHealthExposition(h: AgentHealth): ExposedMetric[] {
  const out: ExposedMetric[] = [
    metric('pgvigil_agent_spool_bytes', 'Size of the spool segment files.', 'gauge', [
      { value: h.spool.bytes },
    ]),
    metric('pgvigil_agent_spool_segments', 'Spool segment files.', 'gauge', [{ value: h.spool.segments }]),
    metric('pgvigil_agent_spool_pending_batches', 'Batches waiting to be delivered.', 'gauge', [
      { value: h.spool.pendingBatches },
    ]),
    metric(
      'pgvigil_agent_spool_memory_batches',
      'Batches held in memory because the spool cannot write to disk.',
      'gauge',
      [{ value: h.spool.memoryBatches }],
    ),
    metric(
      'pgvigil_agent_spool_degraded',
      'Whether the spool cannot write to disk (1), by kind of trouble.',
      'gauge',
      degradedKinds.map((kind) => ({ labels: { kind }, value: h.spool.degraded === kind ? 1 : 0 })),
    ),
    metric(
      'pgvigil_agent_spool_corrupt_records_total',
      'Damaged spool records found and moved aside.',
      'counter',
      [{ value: h.spool.corruptRecords }],
    ),
    metric(
      'pgvigil_agent_dropped_batches_total',
      'Batches that will never reach the server, by reason.',
      'counter',
      labelled('reason', h.spool.droppedBatches),
    ),
    metric(
      'pgvigil_agent_dropped_rows_total',
      'Metric rows in dropped batches, by reason (batches sealed since the agent started).',
      'counter',
      labelled('reason', h.spool.droppedRows),
    ),
    metric(
      'pgvigil_agent_dropped_log_entries_total',
      'Log entries lost, by reason: in dropped batches, or over a volume limit of their source.',
      'counter',
      labelled('reason', h.logs.droppedEntries satisfies Record<LogDropReason, number>),
    ),
    metric(
      'pgvigil_agent_logs_paused',
      'Whether the log sources stopped reading because the spool disk is full (1).',
      'gauge',
      [{ value: h.logs.pausedDiskFull ? 1 : 0 }],
    ),
    metric(
      'pgvigil_agent_log_pauses_total',
      'Times the log sources stopped reading because the spool disk was full.',
      'counter',
      [{ value: h.logs.pauses }],
    ),
    metric('pgvigil_agent_pushed_batches_total', 'Batches the server took.', 'counter', [
      { value: h.shipper.sentBatches },
    ]),
    metric(
      'pgvigil_agent_duplicate_batches_total',
      'Batches the server already had (a retry after a lost answer).',
      'counter',
      [{ value: h.shipper.duplicateBatches }],
    ),
    metric(
      'pgvigil_agent_push_failures_total',
      'Failed push attempts, by HTTP status or "network".',
      'counter',
      labelled('status', h.shipper.failures),
    ),
    metric(
      'pgvigil_agent_push_retries_total',
      'Push attempts repeated after a failure, by the status of the failure.',
      'counter',
      labelled('status', h.shipper.retries),
    ),
    metric(
      'pgvigil_agent_config_reloads_total',
      'Server-pushed configurations applied or refused, and config pulls that failed.',
      'counter',
      configReloadResults.map((result) => ({ labels: { result }, value: h.config.reloads[result] })),
    ),
  ];
  if (h.shipper.lastSuccessAt !== null) {
    out.push(
      metric(
        'pgvigil_agent_last_push_timestamp_seconds',
        'When the server last took a batch (Unix time).',
        'gauge',
        [{ value: Date.parse(h.shipper.lastSuccessAt) / 1000 }],
      ),
    );
  }
  return out;
}

/**
 * The collector contract (model: node_exporter's collector/). One collector per file exports a named
 * `Collector`; `index.ts` lists them. `collect()` does the I/O through the injected roots and returns
 * rows of protocol families; parsing lives in pure exported functions tested on fixtures.
 *
 * A collector's failure is data, not a crash: the scheduler wraps each call in a timeout and try/catch
 * and records success and duration. Throw `NotApplicableError` for "this host has no such thing"
 * (kernel without PSI, no cgroups); it is reported once at debug level.
 */
import type { Logger } from '../../log.js';

/** A row of a family: column name → value, in the family's columns (see src/protocol/families). */
export type Row = Record<string, string | number | boolean | null>;

export interface FamilyRows {
  family: string;
  /** Sample time, ms since the epoch (wall clock). */
  ts: number;
  rows: Row[];
}

/**
 * One metric of the agent's Prometheus exposition (`/metrics`): raw values as the kernel counts them
 * (counters stay counters; Prometheus computes rates), while the stored families carry rates.
 */
export interface ExposedMetric {
  /** Prometheus metric name, base units, `_total` for counters (node_exporter's name where one exists). */
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: ExposedSample[];
}

export interface ExposedSample {
  labels?: Record<string, string>;
  value: number;
}

export interface CollectContext {
  procRoot: string;
  sysRoot: string;
  /**
   * Where the host's root filesystem is seen (node_exporter's --path.rootfs), for statfs of its mounts
   * when the agent runs in a container. Absent means "/".
   */
  rootFs?: string;
  /** Wall-clock now, ms. */
  now(): number;
  /** Monotonic clock, ms: elapsed time for rates never jumps with clock changes. */
  monotonic(): number;
  log: Logger;
  signal: AbortSignal;
  /**
   * Hands the exporter this run's raw metrics; the latest call per collector is what `/metrics` serves.
   * Absent when nothing exports (e.g. `pgvigil collect`); collectors without an exposition never call it.
   */
  expose?(metrics: ExposedMetric[]): void;
}

export interface Collector {
  name: string;
  defaultEnabled: boolean;
  intervalMs: number;
  /** Runs on its own `intervalMs` whatever the agent's --interval is (a scrape target's interval). */
  ownInterval?: true;
  collect(ctx: CollectContext): Promise<FamilyRows[]>;
  /** Releases what the collector holds between runs (connections); called once when it is retired. */
  close?(): Promise<void>;
}

export class NotApplicableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotApplicableError';
  }
}

/**
 * Runs each collector on its own interval and keeps the agent's own health.
 *
 * Guarantees:
 * - A collector's failure is data, not a crash: every run is wrapped in try/catch and a timeout; a
 *   failing, hung or not-applicable collector never stops the others.
 * - A run that is still going when its next one is due is not doubled up (the due run is skipped and
 *   counted), so a hung file system cannot pile up calls.
 * - Each state change is logged once: failing (warn, with the error), not applicable (debug, as the
 *   collector contract says), recovered (info). Repeats of the same state are silent. A file the
 *   collector cannot open (missing or not readable, as in a container with a partial procfs) is one
 *   line naming the file: a stack trace would say nothing more.
 * - Per collector: status, runs, failures, skipped runs, last duration, last error, last success — shown
 *   in /metrics as pgvigil_collector_* and in `pgvigil collect` output.
 * - The exposition of a collector is its last successful run's; a failed run withdraws it, so /metrics
 *   never serves numbers that are no longer being read.
 * - Runs are aligned to the interval on the monotonic clock (no drift from run durations).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { errnoCode } from './collectors/proc.js';
import {
  type CollectContext,
  type Collector,
  type ExposedMetric,
  type FamilyRows,
  NotApplicableError,
} from './collectors/types.js';

export type CollectorStatus = 'pending' | 'ok' | 'failing' | 'not_applicable';
export const collectorStatuses: CollectorStatus[] = ['pending', 'ok', 'failing', 'not_applicable'];

export interface CollectorHealth {
  name: string;
  status: CollectorStatus;
  intervalMs: number;
  runs: number;
  failures: number;
  /** Runs not started because the previous one had not finished. */
  skipped: number;
  lastDurationMs: number | null;
  lastError: string | null;
  /** Wall clock, ms since the epoch. */
  lastSuccessAt: number | null;
}

/** Where collected rows go (the exporter needs none; the shipper to a server will be one). */
export type RowsSink = (collector: string, rows: FamilyRows[]) => void;

export interface SchedulerOptions {
  collectors: Collector[];
  procRoot: string;
  sysRoot: string;
  rootFs?: string;
  log: Logger;
  /** Overrides every collector's own interval. */
  intervalMs?: number;
  /** Longest a run may take; default: the interval, at most 30 s. */
  timeoutMs?: number;
  onRows?: RowsSink;
  now?: () => number;
  monotonic?: () => number;
}

interface Entry {
  collector: Collector;
  intervalMs: number;
  health: CollectorHealth;
  exposition: ExposedMetric[];
  inFlight: Promise<void> | undefined;
  timer: NodeJS.Timeout | undefined;
  lastRows: FamilyRows[];
}

/** Errors of opening or reading a file that say all there is to say in their message. */
const fileErrors = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'EISDIR']);

export class CollectTimeoutError extends Error {
  constructor(ms: number) {
    super(`did not finish within ${ms} ms`);
    this.name = 'CollectTimeoutError';
  }
}

export class Scheduler {
  readonly #entries: Entry[];
  readonly #options: SchedulerOptions;
  readonly #now: () => number;
  readonly #monotonic: () => number;
  #running = false;
  #startedAt = 0;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#monotonic = options.monotonic ?? (() => performance.now());
    const names = new Set<string>();
    this.#entries = options.collectors.map((collector) => {
      if (names.has(collector.name)) throw new Error(`two collectors are named ${collector.name}`);
      names.add(collector.name);
      const intervalMs = collector.ownInterval
        ? collector.intervalMs
        : (options.intervalMs ?? collector.intervalMs);
      return {
        collector,
        intervalMs,
        health: {
          name: collector.name,
          status: 'pending',
          intervalMs,
          runs: 0,
          failures: 0,
          skipped: 0,
          lastDurationMs: null,
          lastError: null,
          lastSuccessAt: null,
        },
        exposition: [],
        inFlight: undefined,
        timer: undefined,
        lastRows: [],
      };
    });
  }

  /**
   * Starts every collector now and then on its interval. Resolves when each has finished its first run
   * (successfully or not), so a caller can announce readiness with data in place.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#startedAt = this.#monotonic();
    await Promise.all(this.#entries.map((entry) => this.#tick(entry, 0)));
  }

  /** Stops scheduling and waits for runs in flight (bounded by their timeouts). */
  async stop(): Promise<void> {
    this.#running = false;
    for (const entry of this.#entries) clearTimeout(entry.timer);
    await Promise.all(this.#entries.map((e) => e.inFlight));
  }

  /** Runs every collector once (concurrently) and returns each one's rows; for `pgvigil collect`. */
  async runOnce(): Promise<Map<string, FamilyRows[]>> {
    await Promise.all(this.#entries.map((e) => this.#run(e)));
    return new Map(this.#entries.map((e) => [e.collector.name, e.lastRows]));
  }

  health(): CollectorHealth[] {
    return this.#entries.map((e) => ({ ...e.health }));
  }

  /** The latest raw metrics of every collector plus the collectors' own health. */
  exposition(): ExposedMetric[] {
    const out: ExposedMetric[] = [];
    for (const e of this.#entries) out.push(...e.exposition);
    out.push(...healthExposition(this.health()));
    return out;
  }

  #tick(entry: Entry, k: number): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return this.#run(entry).finally(() => {
      if (!this.#running) return;
      // Next slot on the grid start + n·interval that is still ahead (skipping slots a slow run overran).
      const elapsed = this.#monotonic() - this.#startedAt;
      const next = Math.max(k + 1, Math.floor(elapsed / entry.intervalMs) + 1);
      const delay = Math.max(0, this.#startedAt + next * entry.intervalMs - this.#monotonic());
      entry.timer = setTimeout(() => void this.#tick(entry, next), delay);
    });
  }

  async #run(entry: Entry): Promise<void> {
    if (entry.inFlight) {
      entry.health.skipped++;
      return;
    }
    const timeoutMs = this.#options.timeoutMs ?? Math.min(entry.intervalMs, 30_000);
    const controller = new AbortController();
    let exposed: ExposedMetric[] | undefined;
    const ctx: CollectContext = {
      procRoot: this.#options.procRoot,
      sysRoot: this.#options.sysRoot,
      rootFs: this.#options.rootFs,
      now: this.#now,
      monotonic: this.#monotonic,
      log: this.#options.log,
      signal: controller.signal,
      expose: (metrics) => {
        exposed = metrics;
      },
    };
    const started = performance.now();
    let work: Promise<FamilyRows[]>;
    try {
      work = entry.collector.collect(ctx);
    } catch (err) {
      // A collector that throws before returning its promise fails like any other.
      work = Promise.reject(err);
    }
    // After a timeout the collector's own promise decides when the next run may start.
    const settled: Promise<void> = work.then(
      () => undefined,
      () => undefined,
    );
    entry.inFlight = settled;
    void settled.then(() => {
      if (entry.inFlight === settled) entry.inFlight = undefined;
    });
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
        reject(new CollectTimeoutError(timeoutMs));
      }, timeoutMs);
    });
    try {
      const rows = await Promise.race([work, timeout]);
      this.#succeeded(entry, rows, exposed ?? [], performance.now() - started);
    } catch (err) {
      this.#failed(entry, err, performance.now() - started);
    } finally {
      clearTimeout(timer);
      // Not timed out: the collector's promise has settled, so the next run may start right away.
      if (!timedOut) entry.inFlight = undefined;
    }
  }

  #succeeded(entry: Entry, rows: FamilyRows[], exposition: ExposedMetric[], ms: number): void {
    const h = entry.health;
    if (h.status === 'failing' || h.status === 'not_applicable') {
      this.#options.log.info({ collector: h.name, was: h.status }, 'collector recovered');
    }
    h.status = 'ok';
    h.runs++;
    h.lastDurationMs = ms;
    h.lastError = null;
    h.lastSuccessAt = this.#now();
    entry.exposition = exposition;
    entry.lastRows = rows;
    this.#options.onRows?.(h.name, rows);
  }

  #failed(entry: Entry, err: unknown, ms: number): void {
    const h = entry.health;
    const message = err instanceof Error ? err.message : String(err);
    const status: CollectorStatus = err instanceof NotApplicableError ? 'not_applicable' : 'failing';
    if (h.status !== status) {
      if (status === 'not_applicable') {
        this.#options.log.debug(
          { collector: h.name, reason: message },
          'collector not applicable on this host',
        );
      } else if (fileErrors.has(errnoCode(err) ?? '')) {
        this.#options.log.warn(
          { collector: h.name, code: errnoCode(err), reason: message },
          'collector failing: cannot read its file',
        );
      } else {
        this.#options.log.warn({ collector: h.name, err }, 'collector failing');
      }
    }
    h.status = status;
    h.runs++;
    if (status === 'failing') h.failures++;
    h.lastDurationMs = ms;
    h.lastError = message;
    entry.exposition = [];
    entry.lastRows = [];
  }
}

/** The collectors' health as metrics (pgvigil_collector_*). */
export function healthExposition(health: CollectorHealth[]): ExposedMetric[] {
  const gauge = (name: string, help: string): ExposedMetric => ({ name, help, type: 'gauge', samples: [] });
  const counter = (name: string, help: string): ExposedMetric => ({
    name,
    help,
    type: 'counter',
    samples: [],
  });
  const up = gauge('pgvigil_collector_up', "Whether the collector's last run succeeded (1) or not (0).");
  const status = gauge(
    'pgvigil_collector_status',
    "The collector's state: 1 for the current one of pending, ok, failing, not_applicable.",
  );
  const duration = gauge('pgvigil_collector_duration_seconds', "How long the collector's last run took.");
  const runs = counter('pgvigil_collector_runs_total', 'Runs of the collector.');
  const failures = counter(
    'pgvigil_collector_failures_total',
    'Runs of the collector that failed (not applicable not counted).',
  );
  const skipped = counter(
    'pgvigil_collector_skipped_runs_total',
    'Runs not started because the previous one was still going.',
  );
  const lastSuccess = gauge(
    'pgvigil_collector_last_success_timestamp_seconds',
    'When the collector last succeeded.',
  );
  for (const h of health) {
    const labels = { collector: h.name };
    up.samples.push({ labels, value: h.status === 'ok' ? 1 : 0 });
    for (const s of collectorStatuses) {
      status.samples.push({ labels: { collector: h.name, status: s }, value: h.status === s ? 1 : 0 });
    }
    if (h.lastDurationMs !== null) duration.samples.push({ labels, value: h.lastDurationMs / 1000 });
    runs.samples.push({ labels, value: h.runs });
    failures.samples.push({ labels, value: h.failures });
    skipped.samples.push({ labels, value: h.skipped });
    if (h.lastSuccessAt !== null) lastSuccess.samples.push({ labels, value: h.lastSuccessAt / 1000 });
  }
  return [up, status, duration, runs, failures, skipped, lastSuccess].filter((m) => m.samples.length > 0);
}

/**
 * The spool's degraded mode: what it does while the disk cannot be written (ENOSPC/EDQUOT →
 * 'disk-full', EROFS/EACCES/EPERM → 'read-only', anything else → 'io-error').
 *
 * - Log reading pauses (backpressure): `acceptsLogs()` is false, the log sources are not read, and
 *   their lines wait in the source files. No log position can move past a batch held only in memory,
 *   because positions are the checkpoints of records on disk.
 * - Other batches (metric rows) are kept in memory up to `memoryLimitBytes`; beyond it the oldest are
 *   dropped as Gap 'memory-full' — batches without log lines first, since the lines of a log batch
 *   cannot be read again until the agent restarts. Lines in a dropped batch are counted as lines.
 * - The condition is logged once when it starts (then at most once a minute when it flaps), counted
 *   (`logPauses`), and shows in stats until a write succeeds again.
 */
import type { Logger } from '../../log.js';
import { errCode } from './io.js';
import type { Entry } from './types.js';

export type DegradedKind = 'disk-full' | 'read-only' | 'io-error';

export interface SpoolDegraded {
  kind: DegradedKind;
  message: string;
  /** ISO time the condition started. */
  since: string;
}

export function classifyDiskError(err: unknown): DegradedKind {
  const code = errCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'disk-full';
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return 'read-only';
  return 'io-error';
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const WARN_AGAIN_AFTER_MS = 60_000;

export class DiskTrouble {
  #current: SpoolDegraded | null = null;
  #lastWarnAt = Number.NEGATIVE_INFINITY;
  #memoryDropLogged = false;

  constructor(
    private readonly log: Logger,
    /** Called each time the condition starts (log reading pauses). */
    private readonly onPause: () => void,
  ) {}

  get current(): SpoolDegraded | null {
    return this.#current;
  }

  /** A disk operation failed: enter (or change) the degraded condition. */
  failed(err: unknown, during: string): void {
    const kind = classifyDiskError(err);
    if (this.#current?.kind === kind) return;
    const starting = this.#current === null;
    this.#current = { kind, message: `${during}: ${message(err)}`, since: new Date().toISOString() };
    if (starting) this.onPause();
    const now = Date.now();
    const msg =
      'spool cannot write to disk: log sources paused (their lines wait in the files); other batches are kept in memory until it can (bounded by memoryLimitBytes)';
    if (now - this.#lastWarnAt >= WARN_AGAIN_AFTER_MS) {
      this.#lastWarnAt = now;
      this.log.warn({ err, kind, during }, msg);
    } else {
      this.log.debug({ err, kind, during }, msg);
    }
  }

  /** A write succeeded: the condition is over. */
  recovered(droppedInMemory: number): void {
    if (this.#current === null) return;
    this.log.info(
      { was: this.#current.kind, since: this.#current.since, droppedInMemory },
      'spool writes to disk again: log sources resume',
    );
    this.#current = null;
    this.#memoryDropLogged = false;
  }

  /** Which in-memory entry to drop for the memory bound (`memory`: oldest first). */
  memoryVictim(memory: readonly Entry[], memoryLimitBytes: number): Entry | undefined {
    const victim = memory.find((e) => e.logLines === 0) ?? memory[0];
    if (victim !== undefined && !this.#memoryDropLogged) {
      this.#memoryDropLogged = true;
      this.log.warn(
        { memoryLimitBytes, seq: victim.seq },
        'spool memory bound reached while the disk cannot be written: dropping the oldest batches',
      );
    }
    return victim;
  }
}

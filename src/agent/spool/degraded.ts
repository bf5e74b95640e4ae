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
 * - A small reserve file keeps room for the state file (`StateReserve`), so acknowledgements can still
 *   be recorded — and acknowledged segments deleted — on a disk that is completely full.
 * - The condition is logged once when it starts (then at most once a minute when it flaps), counted
 *   (`logPauses`), and shows in stats until a write succeeds again.
 */
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { errCode, writeFully } from './io.js';
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

export const RESERVE_FILE = 'reserve';

/**
 * Space set aside in the spool directory (a file of zeros) so that the state file can still be replaced
 * when the disk is full: without it, an ack on a full disk could not record itself, so no acknowledged
 * segment could be deleted and the disk would never free up. Released when a state write meets a full
 * disk, put back once segments were deleted.
 */
export class StateReserve {
  #present = false;
  #spent = false;

  constructor(
    private readonly dir: string,
    private readonly bytes: number,
  ) {}

  /** Creates the reserve if it is missing; a disk that cannot take it now is tried again later. */
  async ensure(): Promise<void> {
    if (this.#present) return;
    const path = join(this.dir, RESERVE_FILE);
    try {
      const fh = await open(path, 'w');
      try {
        await writeFully(fh, Buffer.alloc(this.bytes), 0);
      } finally {
        await fh.close();
      }
      this.#present = true;
      this.#spent = false;
    } catch {
      await unlink(path).catch(() => undefined);
    }
  }

  /**
   * Released for a state write and not put back yet: the room it left is for state writes only, so
   * records are not written (they stay in memory) until it is back.
   */
  get spent(): boolean {
    return this.#spent;
  }

  /** Frees the reserve; false when there was none to free. */
  async release(): Promise<boolean> {
    if (!this.#present) return false;
    this.#present = false;
    this.#spent = true;
    try {
      await unlink(join(this.dir, RESERVE_FILE));
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * The agent's spool: a durable, size-capped queue of sealed batches between the batcher (which
 * appends one batch per push interval) and the shipper (which sends the oldest unacknowledged batch
 * and acknowledges it once the server has committed it). Model: vector's disk_v2 buffer. It is what
 * makes "no gaps after a network or server outage or an agent restart" true, and where that cannot
 * be true (a full cap, a broken disk, damaged bytes) it says exactly which seqs were lost.
 *
 * ## Files in `dir`
 *
 *   segment-<seq, 16 digits>.log   append-only data files, named after the seq of their first record
 *   state.json                     acknowledged position, seq floor, unreported gaps, counters and
 *                                  already-handled damage; replaced atomically (temp, fsync, rename,
 *                                  fsync dir — see state.ts)
 *   corrupt/<segment>@<offset>.bad bytes that were not a valid record, moved aside for inspection
 *   dead-letter/<seq>.batch, .json payloads the server refused for good, with the reason
 *
 * Code: recovery.ts (open, scan, damage), degraded.ts (disk trouble: memory, backpressure),
 * dead-letter.ts (what is kept aside), record.ts (bytes), state.ts (state file); this file holds the
 * index and the operations.
 *
 * ## Record layout (little-endian; 20-byte header, then the body)
 *
 *   offset size
 *    0      4   magic "PVS1" (version 1) or "PVS2" (version 2): lets recovery find the next good
 *               record after damage
 *    4      4   body length
 *    8      4   CRC32 (zlib.crc32) of the length, seq and body fields
 *   12      8   seq (1, 2, 3, … per agent; the server's idempotency key with the agent id)
 *   20      n   body. Version 1: the payload, opaque bytes (a gzip-compressed batch). Version 2: u32
 *               metadata length m, m bytes of JSON metadata `{ checkpoints, logLines }` (the log
 *               checkpoints of the batch — per source, where its reading stands once these entries are
 *               in — and how many log lines it holds), then the payload.
 *
 * A batch without log checkpoints is written as version 1; version-1 records of an older agent are
 * read and shipped as before.
 *
 * ## Log checkpoints: the spool is the truth for log positions
 *
 * A log line's position moves only with the record that holds the line: `checkpoints()` is, per source,
 * the newest checkpoint of a record written to disk (never one held in memory). At open it comes from
 * the state file and then every record found, newest seq winning per source. The state file carries the
 * checkpoints known when it is written, and it is always written before a segment is deleted, so they
 * survive when every record holding them was acknowledged and deleted.
 *
 * ## Segments
 *
 * Records are appended to one active segment with positioned writes. When the next record would
 * take it past `segmentBytes` a new segment is started, named after that record's seq — so the name
 * bounds the seqs of a damaged file. Each open starts a new segment rather than appending behind
 * whatever the last run left. An index of every unacknowledged record (segment, offset, length) is
 * kept in memory, so `peek` is one positioned read and draining a backlog never rescans files.
 *
 * ## When a segment is deleted
 *
 * Only when every record in it is done (acknowledged, dead-lettered, dropped or found corrupt), the
 * state file saying so has been written, and it is not the segment being written. Writing the state
 * first means the seq floor survives even when every segment is gone.
 *
 * Beyond `maxBytes` the OLDEST whole segments are deleted before a write (never the active one);
 * their unacknowledged seqs become a Gap 'spool-full' and are counted. Gaps are persisted before the
 * deletion, so a drop is never silent.
 *
 * ## Recovery at open (never a crash loop: damage is counted, moved aside and skipped)
 *
 * - Every segment is read and checked record by record (magic, length, CRC, rising seq). After a bad
 *   record the scanner searches for the next magic that starts a fully valid record.
 * - Bad bytes are copied to corrupt/ and noted in the state (so a restart does not count them twice),
 *   then tails are truncated. Middle regions stay in the file (it is append-only) and are skipped.
 * - A bad tail of the newest segment is a torn write: the append never resolved, so its seq was never
 *   handed out and is reused; no gap. Damage anywhere else loses seqs that had been handed out: they
 *   are bounded by the good records around it, or by the segment names, and reported as a Gap
 *   'corrupt' (seqs already acknowledged, or already in a gap, are left out).
 * - A valid record whose seq is not above the previous one (a write that failed, was retried
 *   elsewhere, but had landed) is skipped as a duplicate.
 * - nextSeq = max(state.nextSeq, acknowledged + 1, last record + 1, newest segment name): seqs are
 *   never reused, also after every segment was deleted.
 * - Batches that lived only in memory when the state was last written (disk trouble, then a crash)
 *   are reported as a Gap 'memory-full' rather than having their seqs reused.
 *
 * ## Disk trouble on append (ENOSPC/EDQUOT → 'disk-full', EROFS/EACCES/EPERM → 'read-only', else
 * 'io-error'; see degraded.ts)
 *
 * Backpressure for logs: while the disk cannot be written, `acceptsLogs()` is false and the agent does
 * not read its log sources, so lines wait in their files instead of in memory (stats().logsPaused, a
 * `logPauses` counter, one warning). Other batches are kept in memory (up to `memoryLimitBytes`; beyond
 * it the oldest in-memory batches — those without log lines first — are dropped as Gap 'memory-full';
 * their log lines are counted in `droppedLogLines`). A failed segment is abandoned (truncated back when
 * possible). Every later append (or `retryDisk`) first tries to write the in-memory batches out, oldest
 * first, so seq order holds on disk and for peek/ack; the shipper can also ship in-memory batches
 * directly. The first successful write ends the degraded state and log reading resumes.
 *
 * ## Cost
 *
 * An append is one positioned write (+ fdatasync under 'seal'). A peek of a disk record is one
 * positioned read of exactly that record, verified. An ack is one state-file replace (two fsyncs
 * under 'seal'/'interval'): measured here at ~0.4 ms without and ~1 ms with fsync, so a backlog of
 * 10,000 records drains in seconds on the spool's side, well under the HTTP round trips it needs.
 *
 * ## Guarantees
 *
 * - Seqs are assigned in append order, strictly rising, never reused.
 * - With fsync 'seal' (default), `append` resolves only after the record is fsynced (and, for a new
 *   segment, the directory); a resolved append survives kill -9 and power loss. 'interval' fsyncs
 *   every `fsyncIntervalMs`, 'never' leaves it to the OS: both survive kill -9 (the page cache
 *   survives a process) but a power loss can lose the last records, whose seqs may then be reused.
 * - `ack` resolves after the new position is in the state file: after a kill -9 at any moment, at
 *   most the one record whose ack was in flight is sent again (the server deduplicates it), and no
 *   unacknowledged record is lost.
 * - peek/ack see records in seq order, whether they are on disk or in memory.
 * - Gaps are persisted and reported until an append that carries them is durable (or, from memory,
 *   acknowledged). A crash between that append and the state write can report a gap twice, never
 *   zero times; the server should treat gaps as idempotent by range.
 * - In-memory batches (disk trouble) are lost if the process dies before the disk works again; log
 *   lines in them are not, as no checkpoint moved past them: they are read again from their files.
 * - `checkpoints()` never names a position past a line whose record is not on disk.
 *
 * One process per directory: the spool takes no lock; the agent must not run twice on one dir.
 */
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { componentLogger, type Logger } from '../../log.js';
import type { GapReason } from '../../protocol/batch.js';
import type { SourceCheckpoint } from '../logs/positions.js';
import { keepCorrupt, keepDeadLetter } from './dead-letter.js';
import {
  classifyDiskError,
  type DegradedKind,
  DiskTrouble,
  type SpoolDegraded,
  StateReserve,
} from './degraded.js';
import { errCode, readFully, writeFully } from './io.js';
import { decodeRecordAt, encodeRecord, HEADER_BYTES, MAX_PAYLOAD_BYTES } from './record.js';
import {
  encodeRecordMeta,
  mergeCheckpoints,
  type RecoveryContext,
  recoverSpool,
  truncateTails,
} from './recovery.js';
import {
  type Checkpoints,
  emptyCheckpoints,
  emptyCounters,
  type PersistedGap,
  type QuarantinedRegion,
  type SpoolCounters,
  type SpoolState,
  syncDir,
  writeStateAtomically,
} from './state.js';
import { type Entry, type Gap, type GapEntry, newSegment, type Segment, segmentFileName } from './types.js';

export type { DegradedKind, Gap, GapReason, SpoolDegraded };
export { segmentFileName };

export type FsyncPolicy = 'seal' | 'interval' | 'never';

export interface SpoolOptions {
  dir: string;
  /** Cap on the segment files' total size; beyond it the oldest segments are dropped. Default 256 MiB. */
  maxBytes?: number;
  /** Size at which a new segment is started. Default 8 MiB, at most a quarter of maxBytes. */
  segmentBytes?: number;
  /** Default 'seal': fsync after each append. */
  fsync?: FsyncPolicy;
  /** For fsync 'interval'. Default 1000 ms. */
  fsyncIntervalMs?: number;
  /** Bound on batches kept in memory while the disk cannot be written. Default 64 MiB. */
  memoryLimitBytes?: number;
  log: Logger;
}

export interface SpoolRecord {
  seq: number;
  payload: Buffer;
}

export interface SpoolStats {
  /** Size of the segment files. */
  bytesOnDisk: number;
  segments: number;
  /** Unacknowledged records, on disk and in memory. */
  pendingRecords: number;
  memoryRecords: number;
  memoryBytes: number;
  nextSeq: number;
  /** Every seq up to this one is done (acknowledged, dropped, dead-lettered or lost). */
  ackedSeq: number;
  /** Batches lost, by reason, since the spool was created. */
  dropped: Record<GapReason, number>;
  /** Bad records or regions found (torn tails included). */
  corruptRecords: number;
  deadLettered: number;
  degraded: SpoolDegraded | null;
  /** True while log sources must not be read (the disk cannot be written): backpressure. */
  logsPaused: boolean;
  /** Times log reading was paused, since the spool was created. */
  logPauses: number;
  /** Log lines in dropped batches (spool-full, memory-full, dead-letter, corrupt when known). */
  droppedLogLines: number;
}

export interface AppendOptions {
  /** How many of pendingGaps() (oldest first) the payload reports. */
  gapsIncluded?: number;
  /** Per source, where its reading stands once this batch's log entries are in (record version 2). */
  checkpoints?: Readonly<Record<string, SourceCheckpoint>>;
  /** Log lines in the batch (counted if the batch is ever dropped). */
  logLines?: number;
}

const MiB = 1024 * 1024;
/** Parts of [from, to] not covered by any of `covered`. */
function uncoveredRanges(from: number, to: number, covered: readonly Gap[]): Array<[number, number]> {
  const sorted = covered
    .filter((g) => g.toSeq >= from && g.fromSeq <= to)
    .sort((a, b) => a.fromSeq - b.fromSeq);
  const out: Array<[number, number]> = [];
  let cursor = from;
  for (const g of sorted) {
    if (g.fromSeq > cursor) out.push([cursor, Math.min(to, g.fromSeq - 1)]);
    cursor = Math.max(cursor, g.toSeq + 1);
    if (cursor > to) break;
  }
  if (cursor <= to) out.push([cursor, to]);
  return out;
}

export class Spool {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #segmentBytes: number;
  readonly #fsync: FsyncPolicy;
  readonly #memoryLimitBytes: number;
  readonly #log: Logger;

  #segments: Segment[] = [];
  #active: Segment | null = null;
  /** Unacknowledged records in seq order: disk records first, then (during disk trouble) memory ones. */
  #entries: Entry[] = [];
  #head = 0;
  #memoryCount = 0;
  #memoryBytes = 0;

  #nextSeq = 1;
  #ackedThrough = 0;
  /** ackedThrough as last written to the state file: segments are deleted only behind it. */
  #savedAckedThrough = 0;
  #gaps: GapEntry[] = [];
  #counters: SpoolCounters = emptyCounters();
  #quarantined: QuarantinedRegion[] = [];
  /** Per source, the newest log checkpoint of a record on disk. */
  #checkpoints: Checkpoints = emptyCheckpoints();
  /** Of the in-memory records, how many carry log lines. */
  #memoryLogRecords = 0;

  readonly #trouble: DiskTrouble;
  readonly #reserve: StateReserve;
  #stateDirty = false;
  #peeked: SpoolRecord | null = null;
  #lock: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  private constructor(opts: SpoolOptions) {
    for (const key of ['maxBytes', 'segmentBytes', 'fsyncIntervalMs', 'memoryLimitBytes'] as const) {
      const v = opts[key];
      if (v !== undefined && !(Number.isFinite(v) && v > 0))
        throw new RangeError(`spool ${key} must be a positive number`);
    }
    this.#dir = opts.dir;
    this.#maxBytes = opts.maxBytes ?? 256 * MiB;
    // A segment is the unit the cap drops; keeping it to a quarter of the cap bounds how much one
    // drop throws away.
    const quarter = Math.max(Math.floor(this.#maxBytes / 4), HEADER_BYTES + 1);
    this.#segmentBytes = Math.min(opts.segmentBytes ?? 8 * MiB, quarter);
    this.#fsync = opts.fsync ?? 'seal';
    this.#memoryLimitBytes = opts.memoryLimitBytes ?? 64 * MiB;
    this.#log = componentLogger(opts.log, 'spool', { dir: opts.dir });
    this.#trouble = new DiskTrouble(this.#log, () => {
      this.#counters.logPauses++;
    });
    this.#reserve = new StateReserve(
      this.#dir,
      Math.max(4096, Math.min(64 * 1024, Math.floor(this.#maxBytes / 16))),
    );
    if (this.#fsync === 'interval') {
      const every = opts.fsyncIntervalMs ?? 1000;
      this.#timer = setInterval(() => {
        this.#run(() => this.#syncDirty()).catch(() => undefined);
      }, every);
      this.#timer.unref();
    }
  }

  /** Opens (creating if needed) the spool in `opts.dir`, recovering whatever the last run left. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    const spool = new Spool(opts);
    await spool.#run(() => spool.#recover());
    return spool;
  }

  /** The seq the next append will get. */
  nextSeq(): number {
    return this.#nextSeq;
  }

  /**
   * Appends one sealed batch and resolves with its seq once it is durable per the fsync policy (or
   * held in memory when the disk cannot be written; see stats().degraded). `gapsIncluded`: how many
   * of pendingGaps() (oldest first) the payload reports; they are cleared once this record is durable.
   * `checkpoints` count in checkpoints() once the record is on disk, not before.
   */
  append(payload: Buffer, opts?: AppendOptions): Promise<number> {
    return this.#run(async () => {
      this.#assertOpen();
      if (!Buffer.isBuffer(payload)) throw new TypeError('payload must be a Buffer');
      if (payload.length > MAX_PAYLOAD_BYTES || HEADER_BYTES + payload.length > this.#maxBytes) {
        throw new RangeError(`payload of ${payload.length} bytes can never fit in the spool`);
      }
      const unclaimed = this.#gaps.filter((g) => g.carrier === null);
      const k = opts?.gapsIncluded ?? 0;
      if (!Number.isInteger(k) || k < 0 || k > unclaimed.length) {
        throw new RangeError(`gapsIncluded ${k} but ${unclaimed.length} gaps are pending`);
      }
      const logLines = opts?.logLines ?? 0;
      if (!Number.isSafeInteger(logLines) || logLines < 0) throw new RangeError(`logLines ${logLines}`);
      const checkpoints = opts?.checkpoints;
      const meta =
        checkpoints !== undefined && Object.keys(checkpoints).length > 0
          ? { checkpoints: Object.assign(emptyCheckpoints(), checkpoints), logLines }
          : null;
      const seq = this.#nextSeq++;
      const claimed = unclaimed.slice(0, k);
      for (const g of claimed) g.carrier = seq;
      const entry: Entry = {
        seq,
        seg: null,
        offset: 0,
        length: payload.length,
        payload: null,
        carried: null,
        logLines,
        checkpoints: meta?.checkpoints ?? null,
      };

      let at: { seg: Segment; offset: number; length: number } | null = null;
      const hadMemory = this.#memoryCount > 0;
      if ((await this.#reserveBack()) && (!hadMemory || (await this.#flushMemory()))) {
        try {
          at = await this.#writeRecord(seq, payload, entry.checkpoints, logLines);
        } catch (err) {
          this.#failed(err, 'append');
        }
      }
      if (at !== null) {
        entry.length = at.length;
        this.#place(entry, at.seg, at.offset);
        this.#entries.push(entry);
        if (claimed.length > 0) this.#settleCarried(entry, true);
        this.#recovered();
        // hadMemory: the state may still name seqs as memory-only; now they are on disk.
        if (claimed.length > 0 || this.#stateDirty || hadMemory) await this.#saveState();
        await this.#collectGarbage();
        return seq;
      }
      entry.payload = Buffer.from(payload);
      this.#entries.push(entry);
      this.#memoryCount++;
      this.#memoryBytes += payload.length;
      if (logLines > 0) this.#memoryLogRecords++;
      this.#enforceMemoryLimit();
      // Usually fails too, but when a small file still fits, the seq floor and memory range survive
      // a crash, so in-memory seqs are reported as lost instead of being reused.
      await this.#saveState(false);
      return seq;
    });
  }

  /** The oldest unacknowledged record, from disk or memory; the same record until it is acknowledged. */
  peek(): Promise<SpoolRecord | undefined> {
    return this.#run(async () => {
      this.#assertOpen();
      for (;;) {
        const e = this.#entries[this.#head];
        if (e === undefined) return undefined;
        if (this.#peeked?.seq === e.seq) return { seq: e.seq, payload: this.#peeked.payload };
        if (e.payload !== null) {
          this.#peeked = { seq: e.seq, payload: e.payload };
          return { seq: e.seq, payload: e.payload };
        }
        const payload = await this.#readPayload(e);
        if (payload !== null) {
          this.#peeked = { seq: e.seq, payload };
          return { seq: e.seq, payload };
        }
        // Damaged since it was indexed: moved aside and skipped, the next record is tried.
      }
    });
  }

  /**
   * The server acknowledged `seq` — and, as acks arrive in order, everything before it. Resolves once
   * that is in the state file; then deletes segments that hold nothing unacknowledged.
   */
  ack(seq: number): Promise<void> {
    return this.#run(async () => {
      this.#assertOpen();
      if (!Number.isSafeInteger(seq) || seq < 1 || seq >= this.#nextSeq) {
        throw new RangeError(`ack of seq ${seq}, which was never appended (next is ${this.#nextSeq})`);
      }
      if (seq <= this.#ackedThrough) {
        if (this.#stateDirty) await this.#saveState();
        return;
      }
      for (
        let e = this.#entries[this.#head];
        e !== undefined && e.seq <= seq;
        e = this.#entries[this.#head]
      ) {
        this.#popHead();
        // Delivered: whatever gaps it carried reached the server.
        this.#settleCarried(e, false);
      }
      this.#ackedThrough = seq;
      await this.#saveState();
      await this.#collectGarbage();
    });
  }

  /**
   * The server refused `seq` for good: its payload goes to dead-letter/ with the reason, it is
   * counted and reported as a gap, and from now on treated as acknowledged.
   */
  deadLetter(seq: number, reason: string): Promise<void> {
    return this.#run(async () => {
      this.#assertOpen();
      const idx = this.#indexOf(seq);
      if (idx === -1) {
        if (Number.isSafeInteger(seq) && seq >= 1 && seq < this.#nextSeq) return; // already done or dropped
        throw new RangeError(`dead-letter of seq ${seq}, which was never appended`);
      }
      const e = this.#entries[idx] as Entry;
      const payload = e.payload ?? (await this.#readPayload(e));
      if (payload === null) return; // it turned out corrupt: already moved aside and reported as such
      try {
        await keepDeadLetter(this.#dir, seq, payload, reason, this.#fsync !== 'never');
      } catch (err) {
        this.#failed(err, 'dead-letter');
        this.#log.error({ err, seq, reason }, 'could not keep a dead-lettered batch on disk; it is dropped');
      }
      this.#log.warn(
        { seq, reason, bytes: payload.length },
        'batch dead-lettered: the server refused it for good',
      );
      this.#counters.deadLettered++;
      this.#counters.dropped['dead-letter']++;
      this.#counters.droppedLogLines += e.logLines;
      this.#addGap('dead-letter', seq, seq, 1);
      if (idx === this.#head) {
        this.#popHead();
        this.#ackedThrough = Math.max(this.#ackedThrough, seq);
      } else {
        // Out of order (a shipper that pipelines): take it out of the queue; the position moves past
        // it with the next ack. After a restart before that, it would be sent (and refused) again.
        this.#removeAt(idx);
      }
      // Refused, so whatever gaps it reported did not arrive either: pending again.
      this.#settleCarried(e, false, true);
      await this.#saveState();
      await this.#collectGarbage();
    });
  }

  /**
   * Per source, the newest log checkpoint of a record on disk: where reading resumes after a restart.
   * Never a position past a line held only in memory.
   */
  checkpoints(): Checkpoints {
    return Object.assign(emptyCheckpoints(), this.#checkpoints);
  }

  /**
   * False while the disk cannot be written or a batch with log lines waits in memory: the agent must
   * not read its log sources then (backpressure), so lines wait in their files.
   */
  acceptsLogs(): boolean {
    return this.#trouble.current === null && this.#memoryLogRecords === 0;
  }

  /**
   * While the disk cannot be written: tries to write the in-memory batches out (or, with none, the
   * state file), so that reading can resume without waiting for the next append. True when it can.
   */
  retryDisk(): Promise<boolean> {
    return this.#run(async () => {
      this.#assertOpen();
      if (this.#trouble.current === null) return true;
      if (!(await this.#reserveBack())) return false;
      const hadMemory = this.#memoryCount > 0;
      if (hadMemory && !(await this.#flushMemory())) return false;
      if (!(await this.#saveState())) return false;
      this.#recovered();
      await this.#collectGarbage();
      return true;
    });
  }

  /** Dropped batches not yet reported to the server, oldest first. */
  pendingGaps(): Gap[] {
    return this.#gaps
      .filter((g) => g.carrier === null)
      .map((g) => ({ fromSeq: g.fromSeq, toSeq: g.toSeq, count: g.count, reason: g.reason }));
  }

  stats(): SpoolStats {
    let bytes = 0;
    for (const s of this.#segments) bytes += s.size;
    return {
      bytesOnDisk: bytes,
      segments: this.#segments.length,
      pendingRecords: this.#entries.length - this.#head,
      memoryRecords: this.#memoryCount,
      memoryBytes: this.#memoryBytes,
      nextSeq: this.#nextSeq,
      ackedSeq: this.#ackedThrough,
      dropped: { ...this.#counters.dropped },
      corruptRecords: this.#counters.corruptRecords,
      deadLettered: this.#counters.deadLettered,
      degraded: this.#trouble.current === null ? null : { ...this.#trouble.current },
      logsPaused: !this.acceptsLogs(),
      logPauses: this.#counters.logPauses,
      droppedLogLines: this.#counters.droppedLogLines,
    };
  }

  /**
   * Writes out what it can (in-memory batches, pending fsyncs, the state) and closes the files.
   * Batches that still cannot be written are lost and recorded as a gap.
   */
  close(): Promise<void> {
    return this.#run(async () => {
      if (this.#closed) return;
      this.#closed = true;
      if (this.#timer !== null) clearInterval(this.#timer);
      if (this.#memoryCount > 0 && !(await this.#flushMemory())) {
        const lost = this.#memoryEntries();
        this.#log.error(
          { records: lost.length, fromSeq: lost[0]?.seq, toSeq: lost[lost.length - 1]?.seq },
          'closing with batches that could not be written to disk: they are lost',
        );
        for (const e of lost) this.#dropMemoryEntry(e, false);
      }
      await this.#syncDirty();
      await this.#saveState();
      for (const s of this.#segments) await this.#closeHandle(s);
    });
  }

  // ── serialisation ──────────────────────────────────────────────────────────────────────────────

  /** Every operation runs alone: appends, acks and drops all move the same index and files. */
  #run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#lock.then(() => fn());
    this.#lock = result.catch(() => undefined);
    return result;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('spool is closed');
  }

  // ── recovery ───────────────────────────────────────────────────────────────────────────────────

  #recoveryContext(): RecoveryContext {
    return {
      dir: this.#dir,
      durable: this.#fsync !== 'never',
      log: this.#log,
      failed: (err, during) => this.#failed(err, during),
    };
  }

  async #recover(): Promise<void> {
    const ctx = this.#recoveryContext();
    const r = await recoverSpool(ctx);
    const { state } = r;
    const corruptBefore = state.counters.corruptRecords - r.corruptFound;
    this.#ackedThrough = state.ackedThrough;
    this.#savedAckedThrough = state.ackedThrough;
    this.#counters = state.counters;
    this.#gaps = state.gaps.map((g) => ({ ...g, carrier: null }));
    this.#segments = r.segments;
    this.#entries = r.entries;
    this.#checkpoints = r.checkpoints;

    this.#nextSeq = state.gaps.reduce(
      (n, g) => Math.max(n, g.toSeq + 1),
      Math.max(state.nextSeq, this.#ackedThrough + 1, r.lastGood + 1, r.newestFirstSeq ?? 1),
    );
    for (const [from, to] of r.lostRanges) {
      this.#addLost('corrupt', Math.max(from, this.#ackedThrough + 1), to);
    }
    if (state.memoryFrom !== null) {
      const from = Math.max(state.memoryFrom, this.#ackedThrough + 1, r.lastGood + 1);
      const lost = this.#addLost('memory-full', from, state.nextSeq - 1);
      if (lost > 0) {
        this.#log.warn(
          { records: lost },
          'batches held in memory during disk trouble were lost when the agent stopped (their log lines are read again)',
        );
      }
    }
    this.#quarantined = r.quarantined;
    // State before truncation: once the damage is recorded as handled, cutting it off cannot lead to
    // counting it twice, and a crash in between finds it known.
    await this.#saveState();
    await truncateTails(r.truncations, ctx);
    await this.#collectGarbage();
    await this.#reserve.ensure();
    const pending = this.#entries.length;
    if (pending > 0 || this.#counters.corruptRecords > corruptBefore) {
      this.#log.info({ pending, segments: this.#segments.length, nextSeq: this.#nextSeq }, 'spool recovered');
    }
  }

  /** Records [from, to] as lost for `reason`, leaving out seqs already in a gap; returns the count. */
  #addLost(reason: GapReason, from: number, to: number): number {
    if (to < from) return 0;
    let n = 0;
    for (const [a, b] of uncoveredRanges(from, to, this.#gaps)) {
      this.#addGap(reason, a, b, b - a + 1);
      this.#counters.dropped[reason] += b - a + 1;
      n += b - a + 1;
    }
    return n;
  }

  // ── state ──────────────────────────────────────────────────────────────────────────────────────

  /**
   * `useReserve`: on a full disk, release the reserve to get this state written (saves that let
   * acknowledged segments be deleted; not the degraded append's own).
   */
  async #saveState(useReserve = true): Promise<boolean> {
    const firstMemory = this.#memoryEntries()[0];
    const state: SpoolState = {
      version: 1,
      ackedThrough: this.#ackedThrough,
      nextSeq: this.#nextSeq,
      memoryFrom: firstMemory?.seq ?? null,
      gaps: this.#gaps.map(
        (g): PersistedGap => ({ fromSeq: g.fromSeq, toSeq: g.toSeq, count: g.count, reason: g.reason }),
      ),
      counters: this.#counters,
      quarantined: this.#quarantined,
      checkpoints: this.#checkpoints,
    };
    const durable = this.#fsync !== 'never';
    try {
      try {
        await writeStateAtomically(this.#dir, state, durable);
      } catch (err) {
        if (!useReserve || classifyDiskError(err) !== 'disk-full' || !(await this.#reserve.release()))
          throw err;
        this.#log.info('disk full: the spool released its reserve to record its state');
        await writeStateAtomically(this.#dir, state, durable);
      }
      this.#savedAckedThrough = state.ackedThrough;
      this.#stateDirty = false;
      return true;
    } catch (err) {
      this.#stateDirty = true;
      this.#failed(err, 'state');
      return false;
    }
  }

  // ── degraded mode ──────────────────────────────────────────────────────────────────────────────

  #failed(err: unknown, during: string): void {
    this.#trouble.failed(err, during);
  }

  /** False while the reserve was spent on a state write and cannot be put back yet (see StateReserve). */
  async #reserveBack(): Promise<boolean> {
    if (!this.#reserve.spent) return true;
    await this.#reserve.ensure();
    if (!this.#reserve.spent) return true;
    this.#failed(Object.assign(new Error('the state reserve is in use'), { code: 'ENOSPC' }), 'append');
    return false;
  }

  #recovered(): void {
    this.#trouble.recovered(this.#counters.dropped['memory-full']);
  }

  #memoryEntries(): Entry[] {
    const out: Entry[] = [];
    for (let i = this.#entries.length - 1; i >= this.#head; i--) {
      const e = this.#entries[i] as Entry;
      if (e.seg !== null) break;
      out.push(e);
    }
    return out.reverse();
  }

  /** Writes in-memory records out, oldest first; true when none is left in memory. */
  async #flushMemory(): Promise<boolean> {
    for (const e of this.#memoryEntries()) {
      const payload = e.payload as Buffer;
      try {
        const at = await this.#writeRecord(e.seq, payload, e.checkpoints, e.logLines);
        this.#memoryCount--;
        this.#memoryBytes -= e.length;
        if (e.logLines > 0) this.#memoryLogRecords--;
        e.payload = null;
        e.checkpoints = null;
        e.length = at.length;
        this.#place(e, at.seg, at.offset);
        this.#settleCarried(e, true);
      } catch (err) {
        this.#failed(err, 'append');
        return false;
      }
    }
    return true;
  }

  #enforceMemoryLimit(): void {
    while (this.#memoryBytes > this.#memoryLimitBytes) {
      const victim = this.#trouble.memoryVictim(this.#memoryEntries(), this.#memoryLimitBytes);
      if (victim === undefined) break;
      this.#dropMemoryEntry(victim);
    }
  }

  /** `linesLost` false: the agent stops, and no checkpoint moved past the lines, so they are read again. */
  #dropMemoryEntry(e: Entry, linesLost = true): void {
    const idx = this.#indexOf(e.seq);
    if (idx !== -1) this.#removeAt(idx);
    this.#counters.dropped['memory-full']++;
    if (linesLost) this.#counters.droppedLogLines += e.logLines;
    this.#addGap('memory-full', e.seq, e.seq, 1);
    this.#settleCarried(e, false, true);
  }

  // ── the index ──────────────────────────────────────────────────────────────────────────────────

  #place(e: Entry, seg: Segment, offset: number): void {
    e.seg = seg;
    e.offset = offset;
    seg.pending++;
  }

  /** Binary search over the pending entries (they are in seq order). */
  #indexOf(seq: number): number {
    let lo = this.#head;
    let hi = this.#entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = (this.#entries[mid] as Entry).seq;
      if (s === seq) return mid;
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  #release(e: Entry): void {
    if (this.#peeked?.seq === e.seq) this.#peeked = null;
    if (e.seg === null) {
      this.#memoryCount--;
      this.#memoryBytes -= e.length;
      if (e.logLines > 0) this.#memoryLogRecords--;
      e.payload = null;
      e.checkpoints = null;
      return;
    }
    e.seg.pending--;
  }

  #popHead(): Entry | undefined {
    const e = this.#entries[this.#head];
    if (e === undefined) return undefined;
    this.#release(e);
    this.#head++;
    // Compact now and then so a long-lived spool does not keep every entry it ever had.
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    return e;
  }

  #removeAt(idx: number): void {
    const e = this.#entries[idx] as Entry;
    this.#release(e);
    this.#entries.splice(idx, 1);
  }

  // ── gaps ───────────────────────────────────────────────────────────────────────────────────────

  #addGap(reason: GapReason, fromSeq: number, toSeq: number, count: number): void {
    const last = this.#gaps[this.#gaps.length - 1];
    if (last !== undefined && last.carrier === null && last.reason === reason && last.toSeq + 1 === fromSeq) {
      last.toSeq = toSeq;
      last.count += count;
      return;
    }
    this.#insertGap({ fromSeq, toSeq, count, reason, carrier: null });
  }

  #insertGap(g: GapEntry): void {
    let i = this.#gaps.length;
    while (i > 0 && (this.#gaps[i - 1] as GapEntry).fromSeq > g.fromSeq) i--;
    this.#gaps.splice(i, 0, g);
  }

  /**
   * Settles the gaps an entry reports. `durable`: the entry just reached disk (the gaps leave the
   * pending list but are remembered, in case the record is dropped before delivery). Otherwise the
   * entry was delivered (`lost` false: the gaps are done) or lost (`lost` true: they are pending again).
   */
  #settleCarried(e: Entry, durable: boolean, lost = false): void {
    if (durable) {
      const carried = this.#gaps.filter((g) => g.carrier === e.seq);
      if (carried.length === 0) return;
      this.#gaps = this.#gaps.filter((g) => g.carrier !== e.seq);
      e.carried = carried;
      return;
    }
    if (lost) {
      for (const g of this.#gaps) if (g.carrier === e.seq) g.carrier = null;
      for (const g of e.carried ?? []) {
        g.carrier = null;
        this.#insertGap(g);
      }
    } else {
      this.#gaps = this.#gaps.filter((g) => g.carrier !== e.seq);
    }
    e.carried = null;
  }

  // ── segments ───────────────────────────────────────────────────────────────────────────────────

  #diskBytes(): number {
    let n = 0;
    for (const s of this.#segments) n += s.size;
    return n;
  }

  /**
   * Writes one record (version 2 when it carries checkpoints); once it is durable per the policy, its
   * checkpoints count as the sources' positions.
   */
  async #writeRecord(
    seq: number,
    payload: Buffer,
    checkpoints: Checkpoints | null,
    logLines: number,
  ): Promise<{ seg: Segment; offset: number; length: number }> {
    const record =
      checkpoints === null
        ? encodeRecord(seq, payload)
        : encodeRecord(seq, payload, encodeRecordMeta({ checkpoints, logLines }));
    const seg = await this.#segmentFor(seq, record.length);
    const offset = seg.size;
    try {
      await writeFully(seg.fh as FileHandle, record, offset);
      if (this.#fsync === 'seal') await (seg.fh as FileHandle).datasync();
      else if (this.#fsync === 'interval') seg.dirty = true;
    } catch (err) {
      await this.#abandon(seg, offset);
      throw err;
    }
    seg.size += record.length;
    seg.lastSeq = seq;
    if (checkpoints !== null) mergeCheckpoints(this.#checkpoints, checkpoints);
    return { seg, offset, length: record.length - HEADER_BYTES };
  }

  /** The segment the next record goes to: rotating, enforcing the cap and creating as needed. */
  async #segmentFor(seq: number, recordBytes: number): Promise<Segment> {
    const active = this.#active;
    if (active !== null && active.size > 0 && active.size + recordBytes > this.#segmentBytes) {
      await this.#sealActive();
    }
    while (this.#diskBytes() + recordBytes > this.#maxBytes) {
      const oldest = this.#segments[0];
      if (oldest === undefined || oldest === this.#active) break;
      if (!(await this.#dropOldest(oldest))) break;
    }
    return this.#active ?? (await this.#createSegment(seq));
  }

  async #createSegment(firstSeq: number): Promise<Segment> {
    const name = segmentFileName(firstSeq);
    const same = this.#segments.findIndex((s) => s.name === name);
    if (same !== -1) {
      // Left by a write that failed before any record landed in it: reused (and emptied) by name.
      const old = this.#segments[same] as Segment;
      if (old.lastSeq >= old.firstSeq || old.pending > 0)
        throw new Error(`segment ${name} already holds records`);
      await this.#closeHandle(old);
      this.#segments.splice(same, 1);
    }
    // Every failed attempt during a long outage would otherwise leave one more empty file behind.
    for (const old of [...this.#segments]) {
      if (old.lastSeq < old.firstSeq && old.pending === 0 && old !== this.#active)
        await this.#deleteSegment(old);
    }
    const path = join(this.#dir, name);
    // The directory may have been removed, or never created when open() found the disk unusable.
    await mkdir(this.#dir, { recursive: true });
    const fh = await open(path, 'w+');
    const seg = newSegment(name, path, firstSeq, 0);
    seg.fh = fh;
    this.#segments.push(seg);
    this.#segments.sort((a, b) => a.firstSeq - b.firstSeq);
    this.#quarantined = this.#quarantined.filter((q) => q.segment !== name);
    this.#active = seg;
    if (this.#fsync !== 'never') {
      try {
        await syncDir(this.#dir);
      } catch (err) {
        await this.#abandon(seg, 0);
        throw err;
      }
    }
    return seg;
  }

  async #sealActive(): Promise<void> {
    const seg = this.#active;
    if (seg === null) return;
    this.#active = null;
    if (seg.dirty && this.#fsync !== 'never') {
      try {
        await seg.fh?.datasync();
        seg.dirty = false;
      } catch (err) {
        this.#failed(err, 'fsync');
      }
    }
    // Reads reopen it read-only when the shipper gets there; one fewer open file meanwhile.
    if (!seg.dirty) await this.#closeHandle(seg);
  }

  /** After a failed write: stop writing to `seg` and cut it back to its good content if possible. */
  async #abandon(seg: Segment, goodSize: number): Promise<void> {
    if (this.#active === seg) this.#active = null;
    try {
      await seg.fh?.truncate(goodSize);
      seg.needsTruncate = false;
    } catch {
      seg.needsTruncate = true;
    }
    seg.size = goodSize;
    await this.#closeHandle(seg);
  }

  async #closeHandle(seg: Segment): Promise<void> {
    const fh = seg.fh;
    seg.fh = null;
    try {
      await fh?.close();
    } catch {
      // Closing cannot make anything better or worse here: the data was fsynced or abandoned.
    }
  }

  /** Drops the oldest segment for the cap; false when it could not be freed. */
  async #dropOldest(seg: Segment): Promise<boolean> {
    const dropped: Entry[] = [];
    for (let e = this.#entries[this.#head]; e !== undefined && e.seg === seg; e = this.#entries[this.#head]) {
      this.#popHead();
      dropped.push(e);
    }
    if (dropped.length > 0) {
      let runStart = (dropped[0] as Entry).seq;
      let prev = runStart - 1;
      for (const e of dropped) {
        if (e.seq !== prev + 1) {
          this.#addGap('spool-full', runStart, prev, prev - runStart + 1);
          runStart = e.seq;
        }
        prev = e.seq;
        this.#settleCarried(e, false, true);
      }
      this.#addGap('spool-full', runStart, prev, prev - runStart + 1);
      this.#counters.dropped['spool-full'] += dropped.length;
      for (const e of dropped) this.#counters.droppedLogLines += e.logLines;
      this.#log.warn(
        {
          segment: seg.name,
          records: dropped.length,
          fromSeq: dropped[0]?.seq,
          toSeq: prev,
          maxBytes: this.#maxBytes,
        },
        'spool is over its size cap: dropped the oldest unacknowledged batches',
      );
    }
    this.#ackedThrough = Math.max(this.#ackedThrough, seg.lastSeq);
    // The gap and the new position must be on disk before the data goes.
    if (!(await this.#saveState())) return false;
    return this.#deleteSegment(seg);
  }

  async #deleteSegment(seg: Segment): Promise<boolean> {
    await this.#closeHandle(seg);
    try {
      await unlink(seg.path);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') {
        this.#failed(err, 'delete');
        return false;
      }
    }
    this.#segments = this.#segments.filter((s) => s !== seg);
    this.#quarantined = this.#quarantined.filter((q) => q.segment !== seg.name);
    return true;
  }

  /** Deletes segments that hold nothing unacknowledged, and cuts back those a failed write left long. */
  async #collectGarbage(): Promise<void> {
    let freed = false;
    const active = this.#active;
    // On a disk in trouble, an active segment whose records are all acknowledged is let go of too: on a
    // disk smaller than a segment it would otherwise only be freed by the next failed write.
    if (
      active !== null &&
      this.#trouble.current !== null &&
      active.pending === 0 &&
      active.lastSeq >= active.firstSeq &&
      active.lastSeq <= this.#savedAckedThrough
    ) {
      await this.#sealActive();
    }
    for (const seg of [...this.#segments]) {
      if (seg === this.#active) continue;
      if (seg.pending === 0 && seg.lastSeq <= this.#savedAckedThrough) {
        if (!(await this.#deleteSegment(seg))) return;
        freed = true;
        continue;
      }
      if (seg.pending === 0 && seg.fh !== null) await this.#closeHandle(seg);
      if (seg.needsTruncate) {
        try {
          const fh = await open(seg.path, 'r+');
          try {
            await fh.truncate(seg.size);
          } finally {
            await fh.close();
          }
          seg.needsTruncate = false;
        } catch {
          // Still failing: the next open treats the leftover as a damaged tail, bounded by names.
        }
      }
    }
    if (freed) await this.#reserve.ensure();
  }

  async #syncDirty(): Promise<void> {
    for (const seg of this.#segments) {
      if (!seg.dirty || seg.fh === null) continue;
      try {
        await seg.fh.datasync();
        seg.dirty = false;
      } catch (err) {
        this.#failed(err, 'fsync');
      }
    }
  }

  // ── reading ────────────────────────────────────────────────────────────────────────────────────

  /**
   * Reads and verifies the head record's payload. A record damaged since it was indexed is moved
   * aside, counted, reported as a corrupt gap and skipped (null). I/O errors are thrown: the shipper
   * retries later.
   */
  async #readPayload(e: Entry): Promise<Buffer | null> {
    const seg = e.seg as Segment;
    const bytes = await this.#readRecordBytes(seg, e);
    const rec = decodeRecordAt(bytes, 0);
    if (rec.ok && rec.seq === e.seq && rec.end === HEADER_BYTES + e.length)
      return bytes.subarray(rec.payloadOffset);
    const reason = rec.ok ? 'index mismatch' : rec.reason;
    this.#log.warn(
      { segment: seg.name, offset: e.offset, seq: e.seq, reason },
      'corrupt record in the spool: moved aside and skipped',
    );
    this.#counters.corruptRecords++;
    try {
      await keepCorrupt(this.#dir, [{ file: `${seg.name}@${e.offset}.bad`, bytes }], this.#fsync !== 'never');
    } catch (err) {
      this.#failed(err, 'corrupt');
    }
    this.#quarantined.push({ segment: seg.name, offset: e.offset });
    const wasAcked = e.seq <= this.#ackedThrough;
    const idx = this.#indexOf(e.seq);
    if (idx === this.#head) {
      this.#popHead();
      this.#ackedThrough = Math.max(this.#ackedThrough, e.seq);
    } else if (idx !== -1) {
      this.#removeAt(idx);
    }
    if (!wasAcked) {
      this.#counters.dropped.corrupt++;
      this.#counters.droppedLogLines += e.logLines;
      this.#addGap('corrupt', e.seq, e.seq, 1);
    }
    this.#settleCarried(e, false, true);
    await this.#saveState();
    await this.#collectGarbage();
    return null;
  }

  async #readRecordBytes(seg: Segment, e: Entry): Promise<Buffer> {
    if (seg.fh === null) {
      try {
        seg.fh = await open(seg.path, 'r');
      } catch (err) {
        // Deleted behind our back: its records are as lost as damaged ones, and must not stall the queue.
        if (errCode(err) === 'ENOENT') return Buffer.alloc(0);
        throw err;
      }
    }
    return readFully(seg.fh, HEADER_BYTES + e.length, e.offset);
  }
}

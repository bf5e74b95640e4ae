/**
 * A log source as the agent runs it: read (tail files or journald) → parse → assemble → classify →
 * fingerprint → volume control, in batches.
 *
 * The durability contract:
 * - `read()` returns a batch `{ entries, checkpoint, commit }`. The caller writes `entries` and
 *   `checkpoint` to its durable spool in one record. In the agent that record is the spool record of the
 *   sealed batch (record version 2, spool.ts): the spool is the truth for positions, and a position
 *   moves only with a record on disk. `commit()` is for callers that keep positions apart (a
 *   `PositionStore`, as the tests' stand-in spool does): it saves the checkpoint there and moves the
 *   point `rewind()` returns to. Nothing saves a position before the entries are durable.
 * - The checkpoint of a file source never points past a line that is not in an emitted entry: an entry
 *   still waiting for continuation lines holds the position at its first line.
 * - On start, pass the newest checkpoint of this source found in the spool as `recovered`; the newer of
 *   it and the positions file (an older agent's, or the caller's store) is used (positions.ts). A crash
 *   after the spool write therefore repeats nothing, and a crash before it loses nothing.
 * - Checkpoint seqs only grow per source (they continue from the recovered one), so "newer" is
 *   well-defined across restarts.
 * - After a batch that could not be made durable, call `rewind()`: reading restarts from the last
 *   committed checkpoint.
 */
import type { LogEntry } from '../../protocol/logs.js';
import { EntryAssembler } from './assemble.js';
import { readJournal } from './journald.js';
import { parsers } from './parsers/index.js';
import {
  type FilePosition,
  newerCheckpoint,
  type PositionStore,
  type SourceCheckpoint,
} from './positions.js';
import type { FileSourceConfig, JournaldSourceConfig, LogSourceConfig } from './sources.js';
import { FileTailer, type TailerOptions } from './tailer.js';
import { VolumeLimiter, type VolumeStats } from './volume.js';

export interface LogBatch {
  source: string;
  entries: LogEntry[];
  checkpoint: SourceCheckpoint;
  /** Saves the checkpoint; call only once the entries are durable. */
  commit(): Promise<void>;
  /** The read stopped at its byte budget: more can be read at once (a backlog, a flood). */
  more?: boolean;
}

export interface LogSource {
  readonly name: string;
  read(): Promise<LogBatch>;
  rewind(): Promise<void>;
  close(): Promise<void>;
  volumeStats(): VolumeStats;
}

export interface SourceRuntimeOptions {
  /** Where positions are saved by `commit()` and read at start; absent: the spool alone holds them. */
  store?: PositionStore;
  /** The last checkpoint of this source found in the spool. */
  recovered?: SourceCheckpoint;
  /** An entry waiting for continuation lines is emitted after this long without new lines (default 1 s). */
  flushAfterMs?: number;
  now?: () => number;
  /** Tailer settings (tests shorten the rotate wait). */
  tailer?: Omit<TailerOptions, 'paths' | 'readFrom' | 'now'>;
  journalctl?: string;
}

/**
 * What file and journald sources share: where they resume, the checkpoint sequence, volume control and
 * the one batch-commit path.
 */
abstract class CheckpointedSource {
  readonly name: string;
  protected committed: SourceCheckpoint | undefined;
  private seq: number;
  protected readonly volume: VolumeLimiter;
  protected readonly now: () => number;

  protected constructor(
    cfg: LogSourceConfig,
    protected readonly opts: SourceRuntimeOptions,
  ) {
    this.name = cfg.name;
    this.now = opts.now ?? Date.now;
    this.committed = newerCheckpoint(opts.store?.get(cfg.name), opts.recovered);
    this.seq = this.committed?.seq ?? 0;
    this.volume = new VolumeLimiter(cfg.name, cfg.volume);
  }

  protected nextCheckpointSeq(): number {
    return ++this.seq;
  }

  /** A batch of entries (volume control applied) and the checkpoint that follows them. */
  protected batch(entries: LogEntry[], checkpoint: SourceCheckpoint): LogBatch {
    return {
      source: this.name,
      entries: this.volume.apply(entries, this.now()),
      checkpoint,
      commit: async () => {
        await this.opts.store?.save(this.name, checkpoint);
        this.committed = newerCheckpoint(this.committed, checkpoint);
      },
    };
  }

  volumeStats(): VolumeStats {
    return this.volume.stats();
  }
}

export class FileLogSource extends CheckpointedSource implements LogSource {
  private tailer: FileTailer;
  private assemblers = new Map<number, EntryAssembler<number>>();
  private lastActivity = new Map<number, number>();
  private readonly flushAfterMs: number;

  constructor(
    private readonly cfg: FileSourceConfig,
    opts: SourceRuntimeOptions,
  ) {
    super(cfg, opts);
    this.flushAfterMs = opts.flushAfterMs ?? 1000;
    this.tailer = this.newTailer();
  }

  private newTailer(initial?: FilePosition[]): FileTailer {
    const saved = this.committed?.kind === 'file' ? this.committed.files : initial;
    return new FileTailer(
      { ...this.opts.tailer, paths: this.cfg.paths, readFrom: this.cfg.readFrom, now: this.now },
      saved,
    );
  }

  private assembler(fileId: number): EntryAssembler<number> {
    let a = this.assemblers.get(fileId);
    if (!a) {
      const spec = parsers[this.cfg.parser]!;
      a = new EntryAssembler<number>(spec, {
        source: this.cfg.name,
        prefix: this.cfg.prefix,
        timezone: this.cfg.timezone,
      });
      this.assemblers.set(fileId, a);
    }
    return a;
  }

  async read(): Promise<LogBatch> {
    const now = this.now();
    const lines = await this.tailer.poll();
    const entries: LogEntry[] = [];
    // An entry waiting for continuation lines is emitted once its file has been idle for flushAfterMs;
    // checking when the lines move on to another file keeps entries in file order where possible.
    const maybeFlush = (id: number) => {
      const a = this.assemblers.get(id);
      if (a && a.pendingMark !== undefined && now - (this.lastActivity.get(id) ?? 0) >= this.flushAfterMs)
        entries.push(...a.flush());
    };
    let current = -1;
    for (const line of lines) {
      if (line.fileId !== current) {
        if (current >= 0) maybeFlush(current);
        current = line.fileId;
      }
      const e = this.assembler(line.fileId).push(line.text, now, line.start);
      if (e) entries.push(e);
      this.lastActivity.set(line.fileId, now);
    }
    for (const id of this.tailer.finished) {
      const a = this.assemblers.get(id);
      if (a) entries.push(...a.flush());
      this.assemblers.delete(id);
      this.lastActivity.delete(id);
    }
    for (const id of this.assemblers.keys()) maybeFlush(id);
    const files = this.tailer.files().map(({ id, position }) => {
      const pending = this.assemblers.get(id)?.pendingMark;
      return pending === undefined ? position : { ...position, offset: pending };
    });
    const checkpoint: SourceCheckpoint = { kind: 'file', seq: this.nextCheckpointSeq(), files };
    return { ...this.batch(entries, checkpoint), more: this.tailer.backlog };
  }

  async rewind(): Promise<void> {
    // Nothing committed yet: back to where the first read started (not to "the end" again).
    const initial = this.tailer.initial;
    await this.tailer.close();
    this.assemblers.clear();
    this.lastActivity.clear();
    this.tailer = this.newTailer(initial);
  }

  async close(): Promise<void> {
    await this.tailer.close();
  }
}

export class JournaldLogSource extends CheckpointedSource implements LogSource {
  private cursor: string | undefined;

  constructor(
    private readonly cfg: JournaldSourceConfig,
    opts: SourceRuntimeOptions,
  ) {
    super(cfg, opts);
    this.cursor = this.committed?.kind === 'journald' ? this.committed.cursor : undefined;
  }

  async read(): Promise<LogBatch> {
    const r = await readJournal(
      {
        source: this.cfg.name,
        units: this.cfg.units,
        extraArgs: this.cfg.extraArgs,
        firstRunLines: this.cfg.firstRunLines,
        timezone: this.cfg.timezone,
        journalctl: this.opts.journalctl,
      },
      this.cursor,
    );
    this.cursor = r.cursor;
    const checkpoint: SourceCheckpoint = {
      kind: 'journald',
      seq: this.nextCheckpointSeq(),
      cursor: r.cursor,
    };
    return this.batch(r.entries, checkpoint);
  }

  async rewind(): Promise<void> {
    this.cursor = this.committed?.kind === 'journald' ? this.committed.cursor : undefined;
  }

  async close(): Promise<void> {}
}

export function openLogSource(cfg: LogSourceConfig, opts: SourceRuntimeOptions): LogSource {
  return cfg.kind === 'file' ? new FileLogSource(cfg, opts) : new JournaldLogSource(cfg, opts);
}

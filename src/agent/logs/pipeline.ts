/**
 * A log source as the agent runs it: read (tail files or journald) → parse → assemble → classify →
 * fingerprint → volume control, in batches.
 *
 * The durability contract (the spool comes in a later issue; tests use a file-backed stand-in):
 * - `read()` returns a batch `{ entries, checkpoint, commit }`. The caller writes `entries` and
 *   `checkpoint` to its durable spool in one record, then calls `commit()`, which saves the checkpoint to
 *   the positions file. Nothing saves a position before that.
 * - The checkpoint of a file source never points past a line that is not in an emitted entry: an entry
 *   still waiting for continuation lines holds the position at its first line.
 * - On start, pass the last checkpoint found in the spool as `recovered`; the newer of it and the
 *   positions file is used (positions.ts). A crash between the spool write and `commit()` therefore
 *   repeats nothing, and a crash before the spool write loses nothing.
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
}

export interface LogSource {
  readonly name: string;
  read(): Promise<LogBatch>;
  rewind(): Promise<void>;
  close(): Promise<void>;
  volumeStats(): VolumeStats;
}

export interface SourceRuntimeOptions {
  store: PositionStore;
  /** The last checkpoint of this source found in the spool. */
  recovered?: SourceCheckpoint;
  /** An entry waiting for continuation lines is emitted after this long without new lines (default 1 s). */
  flushAfterMs?: number;
  now?: () => number;
  /** Tailer settings (tests shorten the rotate wait). */
  tailer?: Omit<TailerOptions, 'paths' | 'readFrom' | 'now'>;
  journalctl?: string;
}

export class FileLogSource implements LogSource {
  readonly name: string;
  private tailer: FileTailer;
  private assemblers = new Map<number, EntryAssembler<number>>();
  private lastActivity = new Map<number, number>();
  private readonly volume: VolumeLimiter;
  private seq: number;
  private committed: SourceCheckpoint | undefined;
  private readonly now: () => number;
  private readonly flushAfterMs: number;

  constructor(
    private readonly cfg: FileSourceConfig,
    private readonly opts: SourceRuntimeOptions,
  ) {
    this.name = cfg.name;
    this.now = opts.now ?? Date.now;
    this.flushAfterMs = opts.flushAfterMs ?? 1000;
    this.committed = newerCheckpoint(opts.store.get(cfg.name), opts.recovered);
    this.seq = this.committed?.seq ?? 0;
    this.volume = new VolumeLimiter(cfg.name, cfg.volume);
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
    const checkpoint: SourceCheckpoint = { kind: 'file', seq: ++this.seq, files };
    return this.batch(this.volume.apply(entries, now), checkpoint);
  }

  private batch(entries: LogEntry[], checkpoint: SourceCheckpoint): LogBatch {
    return {
      source: this.name,
      entries,
      checkpoint,
      commit: async () => {
        await this.opts.store.save(this.name, checkpoint);
        this.committed = newerCheckpoint(this.committed, checkpoint);
      },
    };
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

  volumeStats(): VolumeStats {
    return this.volume.stats();
  }
}

export class JournaldLogSource implements LogSource {
  readonly name: string;
  private cursor: string | undefined;
  private committed: SourceCheckpoint | undefined;
  private seq: number;
  private readonly volume: VolumeLimiter;
  private readonly now: () => number;

  constructor(
    private readonly cfg: JournaldSourceConfig,
    private readonly opts: SourceRuntimeOptions,
  ) {
    this.name = cfg.name;
    this.now = opts.now ?? Date.now;
    this.committed = newerCheckpoint(opts.store.get(cfg.name), opts.recovered);
    this.seq = this.committed?.seq ?? 0;
    this.cursor = this.committed?.kind === 'journald' ? this.committed.cursor : undefined;
    this.volume = new VolumeLimiter(cfg.name, cfg.volume);
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
    const checkpoint: SourceCheckpoint = { kind: 'journald', seq: ++this.seq, cursor: r.cursor };
    const entries = this.volume.apply(r.entries, this.now());
    return {
      source: this.name,
      entries,
      checkpoint,
      commit: async () => {
        await this.opts.store.save(this.name, checkpoint);
        this.committed = newerCheckpoint(this.committed, checkpoint);
      },
    };
  }

  async rewind(): Promise<void> {
    this.cursor = this.committed?.kind === 'journald' ? this.committed.cursor : undefined;
  }

  async close(): Promise<void> {}

  volumeStats(): VolumeStats {
    return this.volume.stats();
  }
}

export function openLogSource(cfg: LogSourceConfig, opts: SourceRuntimeOptions): LogSource {
  return cfg.kind === 'file' ? new FileLogSource(cfg, opts) : new JournaldLogSource(cfg, opts);
}

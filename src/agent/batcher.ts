/**
 * The batcher: gathers what the collectors and log sources produced since the last seal and seals it
 * into one batch every push interval. The batch gets its seq from the spool at sealing and is written
 * there together with the log checkpoints of the lines it holds (one record), so a log position moves
 * exactly when the lines before it are on disk — a crash neither loses nor doubles them.
 */
import { gzipSync } from 'node:zlib';
import type { Logger } from '../log.js';
import type { BatchV1, WireGap, WireTable } from '../protocol/batch.js';
import { families, wireColumns } from '../protocol/families/index.js';
import { type LogEntry, logEntryColumns } from '../protocol/logs.js';
import type { FamilyRows } from './collectors/types.js';
import type { SourceCheckpoint } from './logs/positions.js';
import { currentMemoryBounds } from './memory.js';

/** What the batcher needs of the spool. */
export interface BatcherSpool {
  nextSeq(): number;
  pendingGaps(): WireGap[];
  append(
    payload: Buffer,
    opts?: {
      gapsIncluded?: number;
      checkpoints?: Readonly<Record<string, SourceCheckpoint>>;
      logLines?: number;
    },
  ): Promise<number>;
}

export interface SealedBatch {
  seq: number;
  rows: number;
  logs: number;
  bytes: number;
}

export class Batcher {
  private tables = new Map<string, WireTable>();
  private logs: unknown[][] = [];
  /** Per log source, where its reading stands after the entries added so far. */
  private checkpoints = new Map<string, SourceCheckpoint>();
  private rows = 0;

  constructor(
    private readonly agentId: () => string,
    private readonly spool: BatcherSpool,
    private readonly log: Logger,
    /** Most rows held before an early seal; keeps a batch well under the server's limits. */
    private readonly maxRows = 50_000,
    /** The PostgreSQL target name for target families whose rows do not carry one. */
    private readonly defaultTarget = 'local',
    /**
     * Most log entries held before an early seal: log rows are the large ones (message, context), so
     * under the agent's memory budget they get their own, lower bound.
     */
    private readonly maxLogs = currentMemoryBounds().maxBatchLogs,
  ) {}

  get pendingRows(): number {
    return this.rows + this.logs.length;
  }

  /**
   * Adds one collector run's rows (`target`: the PostgreSQL target they describe, for target families).
   * Unknown families are dropped with a warning (a programming error).
   */
  addRows(batches: FamilyRows[], target?: string): void {
    for (const fr of batches) {
      const spec = families[fr.family];
      if (!spec) {
        this.log.warn({ family: fr.family }, 'collector produced an unknown family; rows dropped');
        continue;
      }
      let t = this.tables.get(fr.family);
      if (!t) {
        t = { columns: wireColumns(spec), rows: [] };
        this.tables.set(fr.family, t);
      }
      const cols = spec.columns;
      for (const row of fr.rows) {
        const out: unknown[] = [fr.ts];
        if (spec.scope === 'target') out.push(target ?? this.defaultTarget);
        for (const c of cols) out.push(row[c.name] ?? null);
        t.rows.push(out);
      }
      this.rows += fr.rows.length;
    }
  }

  /**
   * Adds parsed log entries of `source` and the checkpoint after them; the checkpoint goes into the
   * same spool record as the entries.
   */
  addLogs(entries: LogEntry[], source: string, checkpoint: SourceCheckpoint): void {
    for (const e of entries) this.logs.push(logEntryColumns.map((c) => e[c.name as keyof LogEntry] ?? null));
    this.checkpoints.set(source, checkpoint);
  }

  /** Seals what is pending into one batch; undefined when there was nothing (and no gap to report). */
  async seal(status?: Record<string, unknown>): Promise<SealedBatch | undefined> {
    const gaps = this.spool.pendingGaps();
    if (this.rows === 0 && this.logs.length === 0 && gaps.length === 0 && this.checkpoints.size === 0) {
      return undefined;
    }
    const seq = this.spool.nextSeq();
    const batch: BatchV1 = {
      v: 1,
      agentId: this.agentId(),
      seq,
      sealedAt: Date.now(),
      families: Object.fromEntries(this.tables),
      ...(this.logs.length > 0
        ? { logs: { columns: logEntryColumns.map((c) => c.name), rows: this.logs } }
        : {}),
      ...(gaps.length > 0 ? { gaps } : {}),
      ...(status ? { status } : {}),
    };
    const payload = gzipSync(JSON.stringify(batch));
    const rows = this.rows;
    const logs = this.logs.length;
    const checkpoints = this.checkpoints.size > 0 ? Object.fromEntries(this.checkpoints) : undefined;
    this.tables = new Map();
    this.logs = [];
    this.checkpoints = new Map();
    this.rows = 0;
    const got = await this.spool.append(payload, { gapsIncluded: gaps.length, checkpoints, logLines: logs });
    if (got !== seq) this.log.warn({ expected: seq, got }, 'spool assigned another seq than announced');
    return { seq: got, rows, logs, bytes: payload.length };
  }

  /** True when enough rows (or log entries) are pending that the batch should be sealed before the interval ends. */
  full(): boolean {
    return this.pendingRows >= this.maxRows || this.logs.length >= this.maxLogs;
  }
}

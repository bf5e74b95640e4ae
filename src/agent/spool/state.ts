/**
 * The spool's small state file (`state.json`): how far the server has acknowledged, the seq floor,
 * gaps not yet reported, counters, already-handled damage and the newest log checkpoints of records
 * written so far (so they survive when every segment holding them was acknowledged and deleted). Replaced atomically (write a temp
 * file, rename over the old one, fsync the directory), so a kill at any moment leaves either the old
 * or the new state, never a mix.
 */
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { type GapReason, gapReasons } from '../../protocol/batch.js';
import { parseCheckpoint, type SourceCheckpoint } from '../logs/positions.js';

export const STATE_FILE = 'state.json';
const STATE_TMP = 'state.json.tmp';

/** Bounds what a damaged state file can make the parser build. */
const MAX_SOURCES = 10_000;

/** Log checkpoints by source name (a null-prototype object: names come from config). */
export type Checkpoints = Record<string, SourceCheckpoint>;

export function emptyCheckpoints(): Checkpoints {
  return Object.create(null) as Checkpoints;
}

/** Checkpoints as read back from disk: every one checked, anything else left out. */
export function parseCheckpoints(v: unknown): Checkpoints {
  const out = emptyCheckpoints();
  if (!isRecord(v)) return out;
  const names = Object.keys(v);
  if (names.length > MAX_SOURCES) return out;
  for (const name of names) {
    const c = parseCheckpoint(v[name]);
    if (c !== undefined) out[name] = c;
  }
  return out;
}

export interface PersistedGap {
  fromSeq: number;
  toSeq: number;
  count: number;
  reason: GapReason;
}

/** A bad region already counted, moved aside and reported: skipped silently when seen again. */
export interface QuarantinedRegion {
  segment: string;
  offset: number;
}

export interface SpoolCounters {
  dropped: Record<GapReason, number>;
  corruptRecords: number;
  deadLettered: number;
  /** Log lines in batches that were dropped (any reason whose batch size is known). */
  droppedLogLines: number;
  /** Times log reading was paused because the disk could not be written. */
  logPauses: number;
}

export interface SpoolState {
  version: 1;
  /** Every seq up to and including this one is done: acknowledged, dropped, dead-lettered or lost. */
  ackedThrough: number;
  /** The seq the next append gets; never lower than any seq handed out before the write. */
  nextSeq: number;
  /** Lowest seq that lived only in memory when this was written (null: none). */
  memoryFrom: number | null;
  gaps: PersistedGap[];
  counters: SpoolCounters;
  quarantined: QuarantinedRegion[];
  /** Newest log checkpoint per source of the records written so far (absent before version 2 records). */
  checkpoints?: Checkpoints;
}

export function emptyCounters(): SpoolCounters {
  return {
    dropped: { 'spool-full': 0, corrupt: 0, 'memory-full': 0, 'dead-letter': 0 },
    corruptRecords: 0,
    deadLettered: 0,
    droppedLogLines: 0,
    logPauses: 0,
  };
}

export function initialState(): SpoolState {
  return {
    version: 1,
    ackedThrough: 0,
    nextSeq: 1,
    memoryFrom: null,
    gaps: [],
    counters: emptyCounters(),
    quarantined: [],
  };
}

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isGapReason(v: unknown): v is GapReason {
  return typeof v === 'string' && (gapReasons as readonly string[]).includes(v);
}

/** Parses and validates a state file; throws on anything it did not write. */
export function parseState(text: string): SpoolState {
  const raw: unknown = JSON.parse(text);
  if (!isRecord(raw) || raw.version !== 1) throw new Error('unknown spool state version');
  const { ackedThrough, nextSeq, memoryFrom, gaps, counters, quarantined } = raw;
  if (!isSeq(ackedThrough) || !isSeq(nextSeq) || nextSeq < 1)
    throw new Error('bad seq fields in spool state');
  if (memoryFrom !== null && !isSeq(memoryFrom)) throw new Error('bad memoryFrom in spool state');
  if (!Array.isArray(gaps) || !Array.isArray(quarantined) || !isRecord(counters)) {
    throw new Error('bad lists in spool state');
  }
  const parsedGaps: PersistedGap[] = gaps.map((g: unknown) => {
    if (!isRecord(g) || !isSeq(g.fromSeq) || !isSeq(g.toSeq) || !isSeq(g.count) || !isGapReason(g.reason)) {
      throw new Error('bad gap in spool state');
    }
    return { fromSeq: g.fromSeq, toSeq: g.toSeq, count: g.count, reason: g.reason };
  });
  const parsedQuarantine: QuarantinedRegion[] = quarantined.map((q: unknown) => {
    if (!isRecord(q) || typeof q.segment !== 'string' || !isSeq(q.offset)) {
      throw new Error('bad quarantined region in spool state');
    }
    return { segment: q.segment, offset: q.offset };
  });
  const c = emptyCounters();
  const dropped = counters.dropped;
  if (isRecord(dropped)) {
    for (const r of gapReasons) {
      const n = dropped[r];
      if (isSeq(n)) c.dropped[r] = n;
    }
  }
  if (isSeq(counters.corruptRecords)) c.corruptRecords = counters.corruptRecords;
  if (isSeq(counters.deadLettered)) c.deadLettered = counters.deadLettered;
  if (isSeq(counters.droppedLogLines)) c.droppedLogLines = counters.droppedLogLines;
  if (isSeq(counters.logPauses)) c.logPauses = counters.logPauses;
  return {
    version: 1,
    ackedThrough,
    nextSeq,
    memoryFrom,
    gaps: parsedGaps,
    counters: c,
    quarantined: parsedQuarantine,
    checkpoints: parseCheckpoints(raw.checkpoints),
  };
}

/** fsync a directory so that creations, renames and deletions in it survive a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces the state file atomically. With `durable`, the temp file is fsynced before the rename
 * (so a power loss cannot leave an empty file under the real name) and the directory after it.
 */
export async function writeStateAtomically(dir: string, state: SpoolState, durable: boolean): Promise<void> {
  const tmp = join(dir, STATE_TMP);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(`${JSON.stringify(state)}\n`);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, STATE_FILE));
  if (durable) await syncDir(dir);
}

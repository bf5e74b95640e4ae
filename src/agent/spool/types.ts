/** The spool's in-memory index: segments, the entries pointing into them (or holding memory-only payloads), gaps. */
import type { FileHandle } from 'node:fs/promises';
import type { WireGap } from '../../protocol/batch.js';
import type { Checkpoints } from './state.js';

/**
 * Seqs that will never reach the server, to be reported to it so that it can show the hole: the wire
 * format's gap record. `count` can be less than the range when part of it was delivered.
 */
export type Gap = WireGap;

export interface Segment {
  name: string;
  path: string;
  firstSeq: number;
  /** Highest good seq in the file; firstSeq - 1 while it has none. */
  lastSeq: number;
  /** Bytes of good content: where the next record goes, and what counts against the cap. */
  size: number;
  /** Unacknowledged index entries pointing into this file. */
  pending: number;
  fh: FileHandle | null;
  /** Written since the last fsync (policies 'interval' and 'never'). */
  dirty: boolean;
  /** A failed write may have left bytes beyond `size` that could not be cut off yet. */
  needsTruncate: boolean;
}

export interface GapEntry extends Gap {
  /** Seq of an in-memory append that carries this gap; hidden from pendingGaps() meanwhile. */
  carrier: number | null;
}

export interface Entry {
  seq: number;
  /** null while the record lives only in memory. */
  seg: Segment | null;
  offset: number;
  /** Body length on disk (header excluded), or payload length while in memory. */
  length: number;
  payload: Buffer | null;
  /** Gaps this record reports; put back as pending if the record is lost before delivery. */
  carried: GapEntry[] | null;
  /** Log lines in the batch (0: none, or not known for a version-1 record). */
  logLines: number;
  /** While in memory: the log checkpoints the record will carry; they count once it is on disk. */
  checkpoints: Checkpoints | null;
}

export const SEGMENT_NAME = /^segment-(\d{16})\.log$/;

export function segmentFileName(firstSeq: number): string {
  return `segment-${String(firstSeq).padStart(16, '0')}.log`;
}

export function newSegment(name: string, path: string, firstSeq: number, size: number): Segment {
  return {
    name,
    path,
    firstSeq,
    lastSeq: firstSeq - 1,
    size,
    pending: 0,
    fh: null,
    dirty: false,
    needsTruncate: false,
  };
}

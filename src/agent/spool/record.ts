/**
 * The spool's on-disk record format and the scanner that finds records (and the damage between
 * them) in a segment file. Pure functions over Buffers, so recovery can be tested byte by byte;
 * the layout is described in spool.ts.
 */
import { crc32 } from 'node:zlib';

/** Marks the start of every record, so the scanner can find the next good record after damage. */
export const RECORD_MAGIC = Buffer.from('PVS1', 'latin1');
export const HEADER_BYTES = 20;
/**
 * No batch is anywhere near this; it bounds what a damaged length field can make the scanner
 * believe, and it is what `append` refuses beyond.
 */
export const MAX_PAYLOAD_BYTES = 1 << 30;

const OFF_LENGTH = 4;
const OFF_CRC = 8;
const OFF_SEQ = 12;

/**
 * CRC32 over length, seq and payload of the record `view` starts with (the CRC field itself
 * excluded): a flipped bit in any of them is caught, not only in the payload.
 */
function recordChecksum(view: Buffer): number {
  let c = crc32(view.subarray(OFF_LENGTH, OFF_CRC));
  c = crc32(view.subarray(OFF_SEQ, HEADER_BYTES), c);
  return crc32(view.subarray(HEADER_BYTES), c);
}

/** One record as bytes: magic, payload length, CRC32, seq, payload. */
export function encodeRecord(seq: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  RECORD_MAGIC.copy(out, 0);
  out.writeUInt32LE(payload.length, OFF_LENGTH);
  out.writeBigUInt64LE(BigInt(seq), OFF_SEQ);
  payload.copy(out, HEADER_BYTES);
  out.writeUInt32LE(recordChecksum(out), OFF_CRC);
  return out;
}

export type DecodeFailure = 'short' | 'magic' | 'length' | 'checksum' | 'seq';

export type DecodedRecord =
  | { ok: true; seq: number; payloadOffset: number; payloadLength: number; end: number }
  | { ok: false; reason: DecodeFailure };

/** Decodes the record that should start at `offset` of `buf`, verifying everything it can. */
export function decodeRecordAt(buf: Buffer, offset: number): DecodedRecord {
  if (buf.length - offset < HEADER_BYTES) return { ok: false, reason: 'short' };
  if (buf.compare(RECORD_MAGIC, 0, RECORD_MAGIC.length, offset, offset + RECORD_MAGIC.length) !== 0) {
    return { ok: false, reason: 'magic' };
  }
  const payloadLength = buf.readUInt32LE(offset + OFF_LENGTH);
  if (payloadLength > MAX_PAYLOAD_BYTES) return { ok: false, reason: 'length' };
  const end = offset + HEADER_BYTES + payloadLength;
  if (end > buf.length) return { ok: false, reason: 'short' };
  const view = buf.subarray(offset, end);
  if (recordChecksum(view) !== view.readUInt32LE(OFF_CRC)) {
    return { ok: false, reason: 'checksum' };
  }
  const seq = view.readBigUInt64LE(OFF_SEQ);
  // A checksum-valid record with a seq outside the safe range was not written by us.
  if (seq < 1n || seq > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'seq' };
  return { ok: true, seq: Number(seq), payloadOffset: offset + HEADER_BYTES, payloadLength, end };
}

export interface ScannedRecord {
  seq: number;
  offset: number;
  payloadLength: number;
}

/** Bytes between good records (or up to the end of the file) that are not a valid record. */
export interface BadRegion {
  offset: number;
  end: number;
  reason: DecodeFailure;
  /** No good record follows in this file: a torn tail when this is the newest segment. */
  toEof: boolean;
  /** Last good seq before the region in this file (undefined when the region starts the file). */
  seqBefore: number | undefined;
  /** First good seq after the region in this file (undefined when toEof). */
  seqAfter: number | undefined;
}

export interface SegmentScan {
  records: ScannedRecord[];
  bad: BadRegion[];
  /** Valid records whose seq was not above the last accepted one (a retried write that did land). */
  duplicates: number;
}

/**
 * Walks a whole segment. Records must have seqs above `lastSeqBefore` and rising; a valid record
 * that does not is a duplicate and skipped. After damage, the next good record is found by
 * searching for the magic and verifying a full record there, so one bad record costs only itself.
 */
export function scanSegment(buf: Buffer, lastSeqBefore: number): SegmentScan {
  const records: ScannedRecord[] = [];
  const bad: BadRegion[] = [];
  let duplicates = 0;
  let last = lastSeqBefore;
  let lastInFile: number | undefined;
  let pos = 0;
  while (pos < buf.length) {
    const rec = decodeRecordAt(buf, pos);
    if (rec.ok) {
      if (rec.seq > last) {
        records.push({ seq: rec.seq, offset: pos, payloadLength: rec.payloadLength });
        last = rec.seq;
        lastInFile = rec.seq;
      } else {
        duplicates++;
      }
      pos = rec.end;
      continue;
    }
    let next = buf.indexOf(RECORD_MAGIC, pos + 1);
    let after: number | undefined;
    while (next !== -1) {
      const candidate = decodeRecordAt(buf, next);
      if (candidate.ok) {
        after = candidate.seq;
        break;
      }
      next = buf.indexOf(RECORD_MAGIC, next + 1);
    }
    const end = next === -1 ? buf.length : next;
    bad.push({
      offset: pos,
      end,
      reason: rec.reason,
      toEof: next === -1,
      seqBefore: lastInFile,
      seqAfter: after,
    });
    pos = end;
  }
  return { records, bad, duplicates };
}

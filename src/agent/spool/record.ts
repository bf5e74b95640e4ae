/**
 * The spool's on-disk record format and the scanner that finds records (and the damage between
 * them) in a segment file. Pure functions over Buffers, so recovery can be tested byte by byte;
 * the layout is described in spool.ts.
 *
 * Two versions share the header: version 1 ("PVS1") holds the payload alone; version 2 ("PVS2")
 * starts its body with a metadata block (u32 length + JSON: the log checkpoints of the batch), then
 * the payload. A record without metadata is still written as version 1, so its size stays header +
 * payload; both are read.
 */
import { crc32 } from 'node:zlib';

/** Marks the start of every version-1 record, so the scanner can find the next good record after damage. */
export const RECORD_MAGIC = Buffer.from('PVS1', 'latin1');
/** Version 2: the body starts with a metadata block. */
export const RECORD_MAGIC_V2 = Buffer.from('PVS2', 'latin1');
/** What both magics start with: the scanner searches for it, then verifies a whole record. */
const MAGIC_PREFIX = RECORD_MAGIC.subarray(0, 3);
export const HEADER_BYTES = 20;
/** Bounds what a damaged or hostile metadata length can make the decoder parse. */
export const MAX_META_BYTES = 1 << 20;
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

/**
 * One record as bytes: magic, body length, CRC32, seq, body. Without `meta` the body is the payload
 * (version 1); with it, a version-2 body: u32 metadata length, the metadata, the payload.
 */
export function encodeRecord(seq: number, payload: Buffer, meta?: Buffer): Buffer {
  if (meta !== undefined && meta.length > MAX_META_BYTES) {
    throw new RangeError(`record metadata of ${meta.length} bytes is over ${MAX_META_BYTES}`);
  }
  const metaBlock = meta === undefined ? 0 : 4 + meta.length;
  const body = metaBlock + payload.length;
  const out = Buffer.allocUnsafe(HEADER_BYTES + body);
  (meta === undefined ? RECORD_MAGIC : RECORD_MAGIC_V2).copy(out, 0);
  out.writeUInt32LE(body, OFF_LENGTH);
  out.writeBigUInt64LE(BigInt(seq), OFF_SEQ);
  if (meta !== undefined) {
    out.writeUInt32LE(meta.length, HEADER_BYTES);
    meta.copy(out, HEADER_BYTES + 4);
  }
  payload.copy(out, HEADER_BYTES + metaBlock);
  out.writeUInt32LE(recordChecksum(out), OFF_CRC);
  return out;
}

export type DecodeFailure = 'short' | 'magic' | 'length' | 'checksum' | 'seq' | 'meta';

export type DecodedRecord =
  | {
      ok: true;
      version: 1 | 2;
      seq: number;
      /** The metadata block's JSON bytes (version 2; empty range for version 1). */
      metaOffset: number;
      metaLength: number;
      payloadOffset: number;
      payloadLength: number;
      end: number;
    }
  | { ok: false; reason: DecodeFailure };

function magicVersion(buf: Buffer, offset: number): 1 | 2 | 0 {
  if (buf.compare(RECORD_MAGIC, 0, RECORD_MAGIC.length, offset, offset + RECORD_MAGIC.length) === 0) return 1;
  if (buf.compare(RECORD_MAGIC_V2, 0, RECORD_MAGIC_V2.length, offset, offset + RECORD_MAGIC_V2.length) === 0)
    return 2;
  return 0;
}

/** Decodes the record that should start at `offset` of `buf`, verifying everything it can. */
export function decodeRecordAt(buf: Buffer, offset: number): DecodedRecord {
  if (buf.length - offset < HEADER_BYTES) return { ok: false, reason: 'short' };
  const version = magicVersion(buf, offset);
  if (version === 0) return { ok: false, reason: 'magic' };
  const bodyLength = buf.readUInt32LE(offset + OFF_LENGTH);
  if (bodyLength > MAX_PAYLOAD_BYTES + (version === 2 ? 4 + MAX_META_BYTES : 0)) {
    return { ok: false, reason: 'length' };
  }
  const end = offset + HEADER_BYTES + bodyLength;
  if (end > buf.length) return { ok: false, reason: 'short' };
  const view = buf.subarray(offset, end);
  if (recordChecksum(view) !== view.readUInt32LE(OFF_CRC)) {
    return { ok: false, reason: 'checksum' };
  }
  const seq = view.readBigUInt64LE(OFF_SEQ);
  // A checksum-valid record with a seq outside the safe range was not written by us.
  if (seq < 1n || seq > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'seq' };
  const bodyOffset = offset + HEADER_BYTES;
  if (version === 1) {
    return {
      ok: true,
      version,
      seq: Number(seq),
      metaOffset: bodyOffset,
      metaLength: 0,
      payloadOffset: bodyOffset,
      payloadLength: bodyLength,
      end,
    };
  }
  if (bodyLength < 4) return { ok: false, reason: 'meta' };
  const metaLength = buf.readUInt32LE(bodyOffset);
  if (metaLength > MAX_META_BYTES || 4 + metaLength > bodyLength) return { ok: false, reason: 'meta' };
  return {
    ok: true,
    version,
    seq: Number(seq),
    metaOffset: bodyOffset + 4,
    metaLength,
    payloadOffset: bodyOffset + 4 + metaLength,
    payloadLength: bodyLength - 4 - metaLength,
    end,
  };
}

export interface ScannedRecord {
  seq: number;
  offset: number;
  /** Length of the record's body (payload, and for version 2 the metadata block before it). */
  bodyLength: number;
  payloadOffset: number;
  payloadLength: number;
  /** Version 2: the metadata bytes (a view into the scanned buffer). */
  meta: Buffer | undefined;
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
        records.push({
          seq: rec.seq,
          offset: pos,
          bodyLength: rec.end - pos - HEADER_BYTES,
          payloadOffset: rec.payloadOffset,
          payloadLength: rec.payloadLength,
          meta: rec.version === 2 ? buf.subarray(rec.metaOffset, rec.metaOffset + rec.metaLength) : undefined,
        });
        last = rec.seq;
        lastInFile = rec.seq;
      } else {
        duplicates++;
      }
      pos = rec.end;
      continue;
    }
    let next = buf.indexOf(MAGIC_PREFIX, pos + 1);
    let after: number | undefined;
    while (next !== -1) {
      const candidate = decodeRecordAt(buf, next);
      if (candidate.ok) {
        after = candidate.seq;
        break;
      }
      next = buf.indexOf(MAGIC_PREFIX, next + 1);
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

/**
 * Decoding an ingest request body: bytes in, a valid batch or a coded error out. Pure apart from the
 * clock, so every refusal is testable without a server.
 *
 * Cheapest refusal first: content type → content encoding → gunzip with an output cap (a decompression
 * bomb stops there) → JSON → the shape guard (depth, keys, string length, value count — before anything
 * walks the value, since `JSON.stringify` or a recursive walk of a value nested thousands deep overflows
 * the stack) → full validation against the family registry.
 *
 * The digest identifies the batch's content for the ledger: SHA-256 of the decompressed body. The agent
 * seals a batch once and keeps those bytes (gzip-compressed) in its spool, so a retry is byte-identical,
 * and hashing bytes we already hold costs a fraction of what re-serialising a canonical form would; the
 * decompressed rather than the compressed bytes, so a change of compression level is not a conflict.
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { PgvigilError } from '../../errors.js';
import {
  type BatchLimits,
  batchMediaType,
  defaultBatchLimits,
  supportedBatchMediaTypes,
  type ValidBatch,
  validateBatch,
} from '../../protocol/batch.js';
import { batchShapeLimits, checkJsonShape, type JsonShapeLimits } from '../../protocol/json-guard.js';

export interface DecodeLimits {
  /** Decompressed body, bytes. */
  maxDecompressedBytes: number;
  /** Rows older than this are refused (raw retention). */
  maxAgeMs: number;
  shape?: JsonShapeLimits;
  batch?: Partial<BatchLimits>;
}

export interface DecodeInput {
  contentType: string | undefined;
  contentEncoding: string | undefined;
  body: Buffer;
}

export interface DecodedBatch {
  ok: true;
  batch: ValidBatch;
  /** SHA-256 of the decompressed body (32 bytes). */
  digest: Buffer;
  /** The agent's self-report, serialised (safe: the shape guard bounded it). */
  status?: string;
  /** Seconds spent in gunzip + JSON + guard, and in validation. */
  seconds: { decode: number; validate: number };
}

/** Why a body was refused (the `reason` label of pgvigil_ingest_rejected_batches_total) and the error. */
export interface RefusedBatch {
  ok: false;
  reason: string;
  error: PgvigilError;
}

const refused = (reason: string, error: PgvigilError): RefusedBatch => ({ ok: false, reason, error });

/** The media type without parameters, lower case ('' when absent). */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

export function decodeBatch(
  input: DecodeInput,
  limits: DecodeLimits,
  now = Date.now(),
): DecodedBatch | RefusedBatch {
  const type = mediaType(input.contentType);
  if (type !== batchMediaType) {
    return refused(
      'media-type',
      new PgvigilError(
        'UNSUPPORTED_MEDIA_TYPE',
        `content type "${type.slice(0, 100) || '(none)'}" is not supported; supported: ${supportedBatchMediaTypes.join(', ')}`,
      ),
    );
  }
  const t0 = performance.now();
  let text: Buffer = input.body;
  const encoding = (input.contentEncoding ?? 'identity').trim().toLowerCase();
  if (encoding === 'gzip') {
    try {
      // Synchronous: a batch inflates in well under a millisecond, less than a thread-pool round trip
      // costs under load; the output cap bounds the worst case.
      text = gunzipSync(input.body, { maxOutputLength: limits.maxDecompressedBytes });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        return refused(
          'too-large',
          new PgvigilError(
            'BATCH_TOO_LARGE',
            `decompressed body exceeds ${limits.maxDecompressedBytes} bytes`,
          ),
        );
      }
      return refused(
        'bad-gzip',
        new PgvigilError('BATCH_INVALID', `body is not valid gzip: ${(err as Error).message}`),
      );
    }
  } else if (encoding !== 'identity') {
    return refused(
      'encoding',
      new PgvigilError(
        'UNSUPPORTED_MEDIA_TYPE',
        `content encoding "${encoding.slice(0, 100)}" is not supported; use gzip`,
      ),
    );
  } else if (input.body.length > limits.maxDecompressedBytes) {
    return refused('too-large', new PgvigilError('BATCH_TOO_LARGE'));
  }
  let body: unknown;
  try {
    body = JSON.parse(text.toString('utf8'));
  } catch (err) {
    return refused(
      'bad-json',
      new PgvigilError('BATCH_INVALID', `body is not valid JSON: ${(err as Error).message}`),
    );
  }
  const shape = checkJsonShape(body, limits.shape ?? batchShapeLimits);
  if (!shape.ok) {
    const where = shape.path === '' ? '(the body)' : shape.path;
    return shape.kind === 'too-large'
      ? refused('too-large', new PgvigilError('BATCH_TOO_LARGE', `${where}: ${shape.message}`))
      : refused('shape', new PgvigilError('BATCH_INVALID', `${where}: ${shape.message}`));
  }
  const t1 = performance.now();
  const v = validateBatch(body, { ...defaultBatchLimits, ...limits.batch, maxAgeMs: limits.maxAgeMs }, now);
  const t2 = performance.now();
  if (!v.ok) {
    if (v.kind === 'version')
      return refused('version', new PgvigilError('UNSUPPORTED_MEDIA_TYPE', v.message));
    if (v.kind === 'too-large') {
      return refused('too-large', new PgvigilError('BATCH_TOO_LARGE', `${v.path}: ${v.message}`));
    }
    return refused('invalid', new PgvigilError('BATCH_INVALID', `${v.path}: ${v.message}`));
  }
  return {
    ok: true,
    batch: v.batch,
    digest: createHash('sha256').update(text).digest(),
    // The server's own reading of the agent's clock rides with the self-report it keeps per agent: sealedAt
    // minus the receive time (a fresh batch's is the clock skew; a late one's adds its delay, negative).
    status:
      v.batch.status === undefined
        ? undefined
        : JSON.stringify({ ...v.batch.status, serverClockSkewMs: Math.round(v.batch.sealedAt - now) }),
    seconds: { decode: (t1 - t0) / 1000, validate: (t2 - t1) / 1000 },
  };
}

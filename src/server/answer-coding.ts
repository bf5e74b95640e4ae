/**
 * Compression of the large JSON answers that routes encode themselves (a chart's series, the fleet's shared
 * answer): brotli at quality 1 for clients that accept it (browsers do), gzip otherwise.
 *
 * Why brotli at quality 1: it is both cheaper and smaller than gzip at level 1 on these answers. A 24 h
 * chart of 10 series as [t, v] pairs (496 kB): 0.8 ms and 36 kB against 5.1 ms and 194 kB, because
 * brotli's window (4 MB) reaches the time stamps that every series repeats (gzip's reaches back 32 kB,
 * less than one series); on values without repeats, 2.5 ms and 175 kB against 5.2 ms and 192 kB. The
 * measurements are in bench/RESULTS.md ("Time-series queries").
 */
import { promisify } from 'node:util';
import { brotliCompress, brotliCompressSync, constants, gzip, gzipSync } from 'node:zlib';
import { chooseCoding } from './web.js';

export type AnswerCoding = 'br' | 'gzip' | 'identity';

/** Answers smaller than this go uncompressed, from every route (the compression plugin's threshold too). */
export const compressFrom = 1024;

const brOrGzip: ReadonlySet<'br' | 'gzip'> = new Set(['br', 'gzip']);

/** How to send an answer to a client with this Accept-Encoding: br, else gzip, else as it is. */
export function answerCoding(acceptEncoding: string | undefined): AnswerCoding {
  return chooseCoding(acceptEncoding, brOrGzip);
}

/**
 * Answers up to this size (a 24 h chart of 10 series is 290–500 kB) are compressed on the event loop: a few
 * milliseconds of CPU at most, less than what a trip to the thread pool costs in waiting when the cores are
 * busy. Larger ones go to the thread pool, so that a chart of many series does not hold the loop.
 */
export const compressOnLoopUpTo = 1024 * 1024;

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

/** Brotli's settings for answers (also the compression plugin's, src/server/app.ts): quality 1, text. */
export const answerBrotliParams: Readonly<Record<number, number>> = {
  [constants.BROTLI_PARAM_QUALITY]: 1,
  [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
};

function brotliOptions(text: string, chunkSize?: number) {
  return {
    ...(chunkSize ? { chunkSize } : {}),
    params: { ...answerBrotliParams, [constants.BROTLI_PARAM_SIZE_HINT]: text.length },
  };
}

/**
 * `text` compressed with `coding` (gzip at `gzipLevel`, 1 unless given), on the event loop or (over
 * `compressOnLoopUpTo`) on the thread pool in one piece: zlib's convenience calls work through their output
 * 16 kB at a time, one trip to the pool and back to the loop for each (under load each waits for a core:
 * 3–13 ms at the median for what takes ~1 ms in one piece), so the output buffer is made large enough for
 * the whole answer.
 */
export function compressInOnePiece(
  text: string,
  coding: 'br' | 'gzip',
  gzipLevel = 1,
): Buffer | Promise<Buffer> {
  if (text.length <= compressOnLoopUpTo) {
    return coding === 'br'
      ? brotliCompressSync(text, brotliOptions(text))
      : gzipSync(text, { level: gzipLevel });
  }
  // Neither format grows its input by more than a fraction of a per cent plus a few bytes; the margin keeps
  // the output one piece.
  const chunkSize = Math.max(64 * 1024, Math.ceil(text.length * 1.01) + 1024);
  return coding === 'br'
    ? brotliAsync(text, brotliOptions(text, chunkSize))
    : gzipAsync(text, { level: gzipLevel, chunkSize });
}

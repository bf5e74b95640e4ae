/**
 * What the spool keeps aside for inspection: batches the server refused for good (`dead-letter/`,
 * payload + a JSON note with the reason) and bytes that were not a valid record (`corrupt/`).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurably } from './io.js';
import { syncDir } from './state.js';

export const CORRUPT_DIR = 'corrupt';
export const DEAD_LETTER_DIR = 'dead-letter';

/** Writes `dead-letter/<seq>.batch` and its `.json` note; throws when the disk refuses. */
export async function keepDeadLetter(
  spoolDir: string,
  seq: number,
  payload: Buffer,
  reason: string,
  durable: boolean,
): Promise<void> {
  const name = String(seq).padStart(16, '0');
  const dir = join(spoolDir, DEAD_LETTER_DIR);
  await mkdir(dir, { recursive: true });
  await writeFileDurably(join(dir, `${name}.batch`), payload, durable);
  const meta = { seq, reason, bytes: payload.length, at: new Date().toISOString() };
  await writeFileDurably(join(dir, `${name}.json`), `${JSON.stringify(meta)}\n`, durable);
  if (durable) await syncDir(dir);
}

/** Copies damaged bytes to `corrupt/<file>`; throws when the disk refuses. */
export async function keepCorrupt(
  spoolDir: string,
  copies: ReadonlyArray<{ file: string; bytes: Buffer }>,
  durable: boolean,
): Promise<void> {
  if (copies.length === 0) return;
  const dir = join(spoolDir, CORRUPT_DIR);
  await mkdir(dir, { recursive: true });
  for (const c of copies) await writeFileDurably(join(dir, c.file), c.bytes, durable);
  if (durable) await syncDir(dir);
}

/**
 * Where each log source stopped reading, kept in one JSON file beside the agent's spool.
 *
 * Guarantees:
 * - A save is atomic and durable: written to a temporary file, fsynced, renamed over the old one, and the
 *   directory fsynced. A crash leaves either the old or the new state, never a torn file.
 * - Saves are serialised, so concurrent commits from several sources never lose one another's update.
 * - Each checkpoint carries a sequence number that only grows per source. The spool stores the checkpoint
 *   of a batch together with its entries; on start the newer of the spool's and this file's checkpoint
 *   wins (`newerCheckpoint`), so a crash between the spool write and the position save neither loses nor
 *   repeats lines.
 */
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** One file's position: identity (device, inode, hash of its first bytes) and the next byte to read. */
export interface FilePosition {
  dev: string;
  ino: string;
  /** sha256 (hex) of the file's first `fpLen` bytes. */
  fp: string;
  fpLen: number;
  offset: number;
  /** Where the file was last seen (to find it again after a rename while the agent was stopped). */
  path: string;
}

export type SourceCheckpoint =
  | { kind: 'file'; seq: number; files: FilePosition[] }
  | { kind: 'journald'; seq: number; cursor: string | undefined };

interface PositionsFile {
  version: 1;
  sources: Record<string, SourceCheckpoint>;
}

const MAX_FILES_PER_CHECKPOINT = 100_000;

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseFilePosition(v: unknown): FilePosition | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const f = v as Record<string, unknown>;
  if (typeof f.dev !== 'string' || typeof f.ino !== 'string' || typeof f.fp !== 'string') return undefined;
  if (typeof f.path !== 'string' || !Number.isSafeInteger(f.fpLen) || !isCount(f.offset)) return undefined;
  return { dev: f.dev, ino: f.ino, fp: f.fp, fpLen: f.fpLen as number, offset: f.offset, path: f.path };
}

/**
 * A checkpoint read back from disk (a spool record or state file), checked field by field; undefined
 * for anything this code did not write.
 */
export function parseCheckpoint(v: unknown): SourceCheckpoint | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const c = v as Record<string, unknown>;
  if (!isCount(c.seq)) return undefined;
  if (c.kind === 'journald') {
    if (c.cursor !== undefined && typeof c.cursor !== 'string') return undefined;
    return { kind: 'journald', seq: c.seq, cursor: c.cursor };
  }
  if (c.kind !== 'file' || !Array.isArray(c.files) || c.files.length > MAX_FILES_PER_CHECKPOINT)
    return undefined;
  const files: FilePosition[] = [];
  for (const f of c.files) {
    const pos = parseFilePosition(f);
    if (pos === undefined) return undefined;
    files.push(pos);
  }
  return { kind: 'file', seq: c.seq, files };
}

/** The checkpoint to resume from: the one with the higher sequence number. */
export function newerCheckpoint(
  a: SourceCheckpoint | undefined,
  b: SourceCheckpoint | undefined,
): SourceCheckpoint | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.seq > a.seq ? b : a;
}

async function fsyncPath(path: string, flags: string): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class PositionStore {
  private state: PositionsFile;
  private chain: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    state: PositionsFile,
  ) {
    this.state = state;
  }

  /** Opens the store; a missing file is an empty store, an unreadable one is reported. */
  static async open(path: string): Promise<PositionStore> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return new PositionStore(path, { version: 1, sources: {} });
      }
      throw err;
    }
    const parsed = JSON.parse(text) as PositionsFile;
    if (parsed.version !== 1 || typeof parsed.sources !== 'object') {
      throw new Error(`${path} is not a pgvigil positions file (version ${String(parsed.version)})`);
    }
    return new PositionStore(path, parsed);
  }

  get(source: string): SourceCheckpoint | undefined {
    return this.state.sources[source];
  }

  /** Records a source's checkpoint durably; older sequence numbers than the stored one are ignored. */
  save(source: string, checkpoint: SourceCheckpoint): Promise<void> {
    const run = async () => {
      const prior = this.state.sources[source];
      if (prior && prior.seq > checkpoint.seq) return;
      this.state = { ...this.state, sources: { ...this.state.sources, [source]: checkpoint } };
      const tmp = `${this.path}.tmp`;
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(JSON.stringify(this.state));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
      await fsyncPath(dirname(this.path), 'r');
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => {});
    return next;
  }
}

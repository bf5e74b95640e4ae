/**
 * Follows the files of one log source (paths or globs) and returns their new complete lines.
 *
 * Identity: a file is its device + inode + sha256 of its first bytes (up to `fingerprintBytes`). The hash
 * tells a reused inode (file deleted, another created with the same number) from the file we were reading.
 *
 * Guarantees:
 * - Only complete lines are returned. A partial last line is left for the next poll and its bytes are never
 *   counted in a position, except in a file that has been rotated away or deleted and stayed idle for
 *   `rotateWaitMs`: nothing will complete it, so it is returned as it is.
 * - Rename-and-create rotation: the old file stays open and is drained before the new one is read (lines
 *   of a poll are ordered rotated files first, then live files oldest first). Late writes to the old file
 *   within `rotateWaitMs` are still read.
 * - Copy-and-truncate: a file that shrank is read again from the start; before that, the rest of the copy
 *   (a sibling file whose first bytes match ours) is read from our offset, so lines written between our
 *   last read and the copy are not lost.
 * - Across restarts (`saved` positions): a file found again by identity resumes at its offset; one found
 *   shorter than its offset or with other first bytes was truncated or replaced while we were stopped and
 *   is read from the start; one renamed away while we were stopped is found in its old directory and
 *   drained; files that appeared while we were stopped are read from the start. Files present at the very
 *   first start are read from their end unless `readFrom: 'beginning'`.
 * - Deletion: an open deleted file is drained and then closed. Idle live files (no growth for
 *   `closeIdleMs`) are closed and reopened when they grow, so a directory of daily logs holds no fds.
 *
 * The tailer never saves anything: its caller decides, from `files()`, which positions are durable.
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { type FileHandle, open, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { currentMemoryBounds } from '../memory.js';
import { expandGlob } from './glob.js';
import type { FilePosition } from './positions.js';

export interface TailerOptions {
  /** Files or glob patterns. */
  paths: string[];
  /** Files present at the very first start (no saved positions): from their end (default) or beginning. */
  readFrom?: 'beginning' | 'end';
  /** Bytes read per file per poll (default: the agent's memory budget's, 4 MiB without one). */
  maxReadBytes?: number;
  /** A line longer than this is returned in pieces of this size (default 1 MiB). */
  maxLineBytes?: number;
  /** How long a rotated-away or deleted file is kept open for late writes (default 5 s). */
  rotateWaitMs?: number;
  /** Live files idle this long are closed until they grow again (default 5 min). */
  closeIdleMs?: number;
  fingerprintBytes?: number;
  now?: () => number;
}

export interface TailLine {
  fileId: number;
  text: string;
  /** Byte offset of the line's first byte. */
  start: number;
  /** Byte offset just past its newline. */
  end: number;
}

interface Tracked {
  id: number;
  dev: string;
  ino: string;
  path: string;
  fh: FileHandle | undefined;
  offset: number;
  fp: string;
  fpLen: number;
  /** Still at a path the patterns match; false once rotated away or deleted. */
  live: boolean;
  lastSize: number;
  lastMtimeNs: bigint;
  lastGrowth: number;
}

const hashOf = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

export class FileTailer {
  private readonly opts: Required<Omit<TailerOptions, 'now'>>;
  private readonly now: () => number;
  private readonly tracked = new Map<string, Tracked>();
  /** Files drained and let go of, by device:inode, in case one shows up again under a matching name. */
  private readonly retired = new Map<string, FilePosition>();
  private saved: FilePosition[] | undefined;
  private started = false;
  private nextId = 1;
  private readonly buf: Buffer;
  /** Files drained and closed during the last poll (their ids). */
  finished: number[] = [];
  /** The last poll stopped at the read budget in some file: more is there to read right away. */
  backlog = false;
  /** Where reading started at the first poll, before anything was read (to rewind to). */
  initial: FilePosition[] | undefined;

  constructor(opts: TailerOptions, saved?: FilePosition[]) {
    this.opts = {
      paths: opts.paths,
      readFrom: opts.readFrom ?? 'end',
      maxReadBytes: opts.maxReadBytes ?? currentMemoryBounds().maxReadBytes,
      maxLineBytes: opts.maxLineBytes ?? 1024 * 1024,
      rotateWaitMs: opts.rotateWaitMs ?? 5000,
      closeIdleMs: opts.closeIdleMs ?? 300_000,
      fingerprintBytes: opts.fingerprintBytes ?? 1024,
    };
    this.now = opts.now ?? Date.now;
    this.saved = saved;
    this.buf = Buffer.allocUnsafe(this.opts.maxLineBytes);
  }

  /** The positions of every tracked file as read so far (complete lines only). */
  files(): Array<{ id: number; position: FilePosition }> {
    return [...this.tracked.values()].map((t) => ({
      id: t.id,
      position: { dev: t.dev, ino: t.ino, fp: t.fp, fpLen: t.fpLen, offset: t.offset, path: t.path },
    }));
  }

  async close(): Promise<void> {
    for (const t of this.tracked.values()) await t.fh?.close().catch(() => {});
    this.tracked.clear();
  }

  /** Reads what is new in every file; see the module header for the order and the guarantees. */
  async poll(): Promise<TailLine[]> {
    const now = this.now();
    this.finished = [];
    this.backlog = false;
    const first = !this.started;
    this.started = true;
    const matched = new Map<string, { path: string; st: BigIntStats }>();
    for (const pattern of this.opts.paths) {
      for (const path of await expandGlob(pattern)) {
        const st = await stat(path, { bigint: true }).catch(() => undefined);
        if (!st?.isFile()) continue;
        const key = `${st.dev}:${st.ino}`;
        if (!matched.has(key)) matched.set(key, { path, st });
      }
    }
    for (const [key, t] of this.tracked) {
      const m = matched.get(key);
      if (m) {
        // Matched again (a rename seen mid-way by an earlier poll's readdir/stat makes a file vanish
        // for one poll): it is live, not rotated away.
        t.path = m.path;
        t.live = true;
      } else if (t.live) {
        t.live = false;
        t.lastGrowth = now; // the rotate wait starts now
      }
    }
    const out: TailLine[] = [];
    if (first && this.saved) await this.restore(this.saved, matched, now, out);
    const hadSaved = this.saved !== undefined;
    this.saved = undefined;
    for (const [key, m] of matched) {
      if (this.tracked.has(key)) continue;
      const done = this.retired.get(key);
      if (done && (await this.contentAt(m.path, done)) === 'same') {
        // A file we let go of (or could not find at start) is back under a matching name: resume it.
        if (await this.track(m.path, m.st, done.offset, true, now, { ...done, path: m.path })) {
          this.retired.delete(key);
        }
        continue;
      }
      const offset =
        first && !hadSaved && this.opts.readFrom === 'end' ? await this.endOfLastLine(m.path) : 0;
      await this.track(m.path, m.st, offset, true, now);
    }
    if (first) this.initial = this.files().map((f) => f.position);
    const order = [...this.tracked.values()].sort((a, b) =>
      a.live !== b.live
        ? a.live
          ? 1
          : -1
        : a.lastMtimeNs < b.lastMtimeNs
          ? -1
          : a.lastMtimeNs > b.lastMtimeNs
            ? 1
            : a.id - b.id,
    );
    for (const t of order) await this.pollFile(t, matched.get(`${t.dev}:${t.ino}`)?.st, now, out);
    return out;
  }

  private async restore(
    saved: FilePosition[],
    matched: Map<string, { path: string; st: BigIntStats }>,
    now: number,
    out: TailLine[],
  ): Promise<void> {
    for (const pos of saved) {
      const key = `${pos.dev}:${pos.ino}`;
      const m = matched.get(key);
      const at = m ? await this.contentAt(m.path, pos) : 'moved';
      if (m && at === 'same') {
        const t = await this.track(m.path, m.st, 0, true, now, pos);
        if (!t) {
          this.retired.set(key, pos);
        } else if (Number(m.st.size) < pos.offset) {
          // Truncated while we were stopped: finish the copy, then start over.
          await this.drainCopy(t, now, out);
          t.offset = 0;
        } else {
          t.offset = pos.offset;
        }
        continue;
      }
      if (m && at === 'different') {
        // Same inode, other content: replaced (or the inode reused) while we were stopped. The old
        // content may survive as a copy (copytruncate); the new file is read from its start.
        await this.drainCopyOf({ ...pos }, now, out);
        continue;
      }
      // Gone from the patterns, or renamed between our directory listing and now: rotated away? Look for
      // it beside its old path.
      const found = await this.findInDir(dirname(pos.path), (st) => `${st.dev}:${st.ino}` === key);
      if (
        found &&
        (await this.contentAt(found.path, pos)) === 'same' &&
        Number(found.st.size) >= pos.offset
      ) {
        const t = await this.track(found.path, found.st, pos.offset, false, now, pos);
        if (t) {
          t.lastGrowth = now;
          continue;
        }
      }
      // Not found right now: if it shows up under a matching name later, resume it rather than re-read.
      this.retired.set(key, pos);
    }
  }

  /**
   * Starts following a file: opens it (the handle is what we read from, so a rename or deletion later does
   * not matter) and checks it is still the inode `st` describes; undefined when the path moved on since.
   */
  private async track(
    path: string,
    st: BigIntStats,
    offset: number,
    live: boolean,
    now: number,
    pos?: FilePosition,
  ): Promise<Tracked | undefined> {
    const fh = await openAs(path, String(st.dev), String(st.ino));
    if (!fh) return undefined;
    const t: Tracked = {
      id: this.nextId++,
      dev: String(st.dev),
      ino: String(st.ino),
      path,
      fh,
      offset,
      fp: pos?.fp ?? '',
      fpLen: pos?.fpLen ?? -1,
      live,
      lastSize: -1, // unknown until first read, so the first poll always looks at the file
      lastMtimeNs: st.mtimeNs,
      lastGrowth: now,
    };
    if (!pos) await this.refreshFingerprint(t);
    this.tracked.set(`${t.dev}:${t.ino}`, t);
    return t;
  }

  /**
   * Is the file at `path` still the inode of `pos`, and do its first `pos.fpLen` bytes hash to `pos.fp`?
   * Read through a handle checked against the inode, so a rename racing with us is seen as such.
   */
  private async contentAt(path: string, pos: FilePosition): Promise<'same' | 'different' | 'moved'> {
    const fh = await openAs(path, pos.dev, pos.ino);
    if (!fh) return 'moved';
    try {
      const head = await readAt(fh, pos.fpLen, 0);
      return head !== undefined && head.length === pos.fpLen && hashOf(head) === pos.fp
        ? 'same'
        : 'different';
    } finally {
      await fh.close().catch(() => {});
    }
  }

  private async refreshFingerprint(t: Tracked): Promise<void> {
    if (!t.fh) return;
    const head = await readAt(t.fh, this.opts.fingerprintBytes, 0);
    if (!head) return;
    t.fp = hashOf(head);
    t.fpLen = head.length;
  }

  private async findInDir(
    dir: string,
    test: (st: BigIntStats) => boolean,
  ): Promise<{ path: string; st: BigIntStats } | undefined> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return undefined;
    }
    for (const n of names) {
      const p = join(dir, n);
      const st = await stat(p, { bigint: true }).catch(() => undefined);
      if (st?.isFile() && test(st)) return { path: p, st };
    }
    return undefined;
  }

  /** copytruncate: the copy starts with our first bytes and holds what we had not read yet. */
  private async drainCopy(t: Tracked, now: number, out: TailLine[]): Promise<void> {
    await this.drainCopyOf(
      { dev: t.dev, ino: t.ino, fp: t.fp, fpLen: t.fpLen, offset: t.offset, path: t.path },
      now,
      out,
    );
  }

  private async drainCopyOf(pos: FilePosition, now: number, out: TailLine[]): Promise<void> {
    if (pos.offset <= 0 || pos.fpLen <= 0) return;
    const candidates: Array<{ path: string; st: BigIntStats }> = [];
    let names: string[] = [];
    try {
      names = await readdir(dirname(pos.path));
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dirname(pos.path), n);
      const st = await stat(p, { bigint: true }).catch(() => undefined);
      if (!st?.isFile() || this.tracked.has(`${st.dev}:${st.ino}`)) continue;
      if (`${st.dev}:${st.ino}` === `${pos.dev}:${pos.ino}`) continue;
      if (Number(st.size) < pos.offset) continue;
      candidates.push({ path: p, st });
    }
    for (const c of candidates) {
      const cand = { ...pos, dev: String(c.st.dev), ino: String(c.st.ino), path: c.path };
      if ((await this.contentAt(c.path, cand)) !== 'same') continue;
      const copy = await this.track(c.path, c.st, pos.offset, false, now, cand);
      if (!copy) continue;
      copy.lastGrowth = now - this.opts.rotateWaitMs; // a finished copy: no late writes to wait for
      await this.pollFile(copy, undefined, now, out);
      return;
    }
  }

  private async endOfLastLine(path: string): Promise<number> {
    const st = await stat(path).catch(() => undefined);
    if (!st || st.size === 0) return 0;
    const fh = await open(path, 'r').catch(() => undefined);
    if (!fh) return 0;
    try {
      let end = st.size;
      while (end > 0) {
        const len = Math.min(65536, end);
        const b = await readAt(fh, len, end - len);
        if (!b) return 0;
        const nl = b.lastIndexOf(10);
        if (nl >= 0) return end - len + nl + 1;
        end -= len;
      }
      return 0;
    } finally {
      await fh.close();
    }
  }

  private async ensureOpen(t: Tracked): Promise<boolean> {
    if (t.fh) return true;
    const fh = await open(t.path, 'r').catch(() => undefined);
    if (!fh) return false;
    const st = await fh.stat({ bigint: true });
    if (String(st.dev) !== t.dev || String(st.ino) !== t.ino) {
      await fh.close();
      return false;
    }
    t.fh = fh;
    return true;
  }

  private async forget(t: Tracked): Promise<void> {
    await t.fh?.close().catch(() => {});
    const key = `${t.dev}:${t.ino}`;
    this.tracked.delete(key);
    this.finished.push(t.id);
    if (this.retired.size >= 1000) this.retired.clear();
    this.retired.set(key, {
      dev: t.dev,
      ino: t.ino,
      fp: t.fp,
      fpLen: t.fpLen,
      offset: t.offset,
      path: t.path,
    });
  }

  private async pollFile(t: Tracked, pathStat: BigIntStats | undefined, now: number, out: TailLine[]) {
    if (!t.fh) {
      // Not open: new, or dormant (closed while idle) and reopened only when the file changed.
      if (
        t.live &&
        t.lastSize >= 0 &&
        pathStat &&
        Number(pathStat.size) === t.lastSize &&
        pathStat.mtimeNs === t.lastMtimeNs
      )
        return;
      if (!(await this.ensureOpen(t))) {
        if (!t.live) await this.forget(t);
        return;
      }
    }
    const fh = t.fh!;
    let st: BigIntStats;
    try {
      st = await fh.stat({ bigint: true });
    } catch {
      await this.forget(t);
      return;
    }
    const size = Number(st.size);
    const changed = size !== t.lastSize || st.mtimeNs !== t.lastMtimeNs;
    if (size < t.offset || (changed && t.fpLen > 0 && !(await this.headMatches(t)))) {
      // Truncated (copytruncate) or rewritten in place: finish the copy, then start over.
      await this.drainCopy(t, now, out);
      t.offset = 0;
      await this.refreshFingerprint(t);
    } else if (t.fpLen < this.opts.fingerprintBytes && size > t.fpLen) {
      await this.refreshFingerprint(t);
    }
    if (size !== t.lastSize) t.lastGrowth = now;
    t.lastSize = size;
    t.lastMtimeNs = st.mtimeNs;
    const drained = await this.readLines(t, size, out);
    if (!drained) this.backlog = true;
    const idle = now - t.lastGrowth;
    if (!t.live) {
      // Not drained: the read budget ran out (a backlog, e.g. after log reading was paused); the rest
      // comes with the next polls before the file is let go of.
      if (idle >= this.opts.rotateWaitMs && drained) {
        if (t.offset < size) await this.readRest(t, size, out); // a last line nothing will complete
        await this.forget(t);
      }
      return;
    }
    if (idle >= this.opts.closeIdleMs && t.offset >= size) {
      await fh.close().catch(() => {});
      t.fh = undefined;
    }
  }

  private async headMatches(t: Tracked): Promise<boolean> {
    const head = await readAt(t.fh!, t.fpLen, 0);
    return head !== undefined && head.length === t.fpLen && hashOf(head) === t.fp;
  }

  /** Reads complete lines within the budget; false when the budget ran out before the end. */
  private async readLines(t: Tracked, size: number, out: TailLine[]): Promise<boolean> {
    const buf = this.buf;
    let pos = t.offset;
    let budget = this.opts.maxReadBytes;
    while (pos < size && budget > 0) {
      const want = Math.min(size - pos, buf.length);
      const { bytesRead } = await t.fh!.read(buf, 0, want, pos);
      if (bytesRead === 0) break;
      let ls = 0;
      for (let nl = buf.indexOf(10, 0); nl >= 0 && nl < bytesRead; nl = buf.indexOf(10, ls)) {
        const end = nl > ls && buf[nl - 1] === 13 ? nl - 1 : nl;
        out.push({ fileId: t.id, text: buf.toString('utf8', ls, end), start: pos + ls, end: pos + nl + 1 });
        ls = nl + 1;
      }
      if (ls === 0) {
        if (bytesRead < buf.length) break; // a partial last line: wait for the rest
        // No newline in maxLineBytes: return the piece, so one huge line cannot stall the file.
        out.push({
          fileId: t.id,
          text: buf.toString('utf8', 0, bytesRead),
          start: pos,
          end: pos + bytesRead,
        });
        ls = bytesRead;
      }
      pos += ls;
      budget -= ls;
    }
    t.offset = pos;
    return budget > 0 || pos >= size;
  }

  private async readRest(t: Tracked, size: number, out: TailLine[]): Promise<void> {
    const b = await readAt(t.fh!, Math.min(size - t.offset, this.buf.length), t.offset);
    if (!b || b.length === 0) return;
    out.push({ fileId: t.id, text: b.toString('utf8'), start: t.offset, end: t.offset + b.length });
    t.offset += b.length;
  }
}

/** Opens `path` if it is still the inode `dev`:`ino` (a rename may have put another file there). */
async function openAs(path: string, dev: string, ino: string): Promise<FileHandle | undefined> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return undefined;
  const st = await fh.stat({ bigint: true }).catch(() => undefined);
  if (st && String(st.dev) === dev && String(st.ino) === ino) return fh;
  await fh.close().catch(() => {});
  return undefined;
}

async function readAt(fh: FileHandle, len: number, position: number): Promise<Buffer | undefined> {
  try {
    const b = Buffer.alloc(len);
    const { bytesRead } = await fh.read(b, 0, len, position);
    return b.subarray(0, bytesRead);
  } catch {
    return undefined;
  }
}

/**
 * Recovery at open: reads the state file and every segment, record by record, and rebuilds what the
 * spool keeps in memory — the index of unacknowledged records, the seqs lost to damage, and the newest
 * log checkpoints found (state file first, then every record in seq order; per source the higher
 * checkpoint seq wins). Damage is copied aside here; the spool then records it as handled in its state
 * before cutting torn tails off (`truncateTails`), so a crash in between never counts it twice.
 */
import { mkdir, open, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { newerCheckpoint } from '../logs/positions.js';
import { CORRUPT_DIR, keepCorrupt } from './dead-letter.js';
import { errCode } from './io.js';
import { type ScannedRecord, scanSegment } from './record.js';
import {
  type Checkpoints,
  emptyCheckpoints,
  initialState,
  parseCheckpoints,
  parseState,
  type QuarantinedRegion,
  type SpoolState,
  STATE_FILE,
} from './state.js';
import { type Entry, newSegment, SEGMENT_NAME, type Segment } from './types.js';

export interface RecoveryContext {
  dir: string;
  /** fsync copies of damaged bytes (policy other than 'never'). */
  durable: boolean;
  log: Logger;
  /** Reports a disk operation that failed (the spool's degraded mode). */
  failed(err: unknown, during: string): void;
}

export interface Recovered {
  /** As loaded; its counters already include damage found now. */
  state: SpoolState;
  segments: Segment[];
  /** Unacknowledged records, in seq order. */
  entries: Entry[];
  /** Highest good seq found in any segment (0: none). */
  lastGood: number;
  newestFirstSeq: number | undefined;
  /** Seqs handed out before and lost to damage (to be reported as Gap 'corrupt'). */
  lostRanges: Array<[number, number]>;
  quarantined: QuarantinedRegion[];
  truncations: Array<{ seg: Segment; to: number }>;
  corruptFound: number;
  checkpoints: Checkpoints;
}

/** The metadata of a version-2 record: its batch's log checkpoints and how many log lines it holds. */
export interface RecordMeta {
  checkpoints: Checkpoints;
  logLines: number;
}

export function encodeRecordMeta(meta: RecordMeta): Buffer {
  return Buffer.from(JSON.stringify(meta));
}

/** Reads a record's metadata; what does not parse counts as none (the payload is still shipped). */
export function decodeRecordMeta(bytes: Buffer | undefined): RecordMeta {
  if (bytes === undefined || bytes.length === 0) return { checkpoints: emptyCheckpoints(), logLines: 0 };
  try {
    const raw: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof raw !== 'object' || raw === null) throw new Error('not an object');
    const r = raw as Record<string, unknown>;
    const lines = r.logLines;
    return {
      checkpoints: parseCheckpoints(r.checkpoints),
      logLines: typeof lines === 'number' && Number.isSafeInteger(lines) && lines >= 0 ? lines : 0,
    };
  } catch {
    return { checkpoints: emptyCheckpoints(), logLines: 0 };
  }
}

/** Folds `next` into `into`: per source, the checkpoint with the higher seq stays. */
export function mergeCheckpoints(into: Checkpoints, next: Checkpoints): void {
  for (const name of Object.keys(next)) {
    const c = newerCheckpoint(into[name], next[name]);
    if (c !== undefined) into[name] = c;
  }
}

async function loadState(ctx: RecoveryContext): Promise<SpoolState> {
  const path = join(ctx.dir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (errCode(err) !== 'ENOENT') {
      ctx.failed(err, 'open');
      ctx.log.error({ err }, 'spool state cannot be read; starting from what the segments show');
    }
    return initialState();
  }
  try {
    return parseState(text);
  } catch (err) {
    // Without it, everything on disk is sent again (the server deduplicates) and the seq floor comes
    // from the segments; the damaged file is kept for inspection.
    ctx.log.error({ err }, 'spool state is damaged; starting from what the segments show');
    try {
      await mkdir(join(ctx.dir, CORRUPT_DIR), { recursive: true });
      await rename(path, join(ctx.dir, CORRUPT_DIR, `state-${Date.now()}.json`));
    } catch (moveErr) {
      ctx.failed(moveErr, 'recover');
    }
    return initialState();
  }
}

async function segmentNames(ctx: RecoveryContext): Promise<Array<{ name: string; firstSeq: number }>> {
  try {
    return (await readdir(ctx.dir, { withFileTypes: true }))
      .flatMap((d) => {
        // Regular files only: whatever else sits under a segment's name is not ours to read.
        const m = d.isFile() ? SEGMENT_NAME.exec(d.name) : null;
        return m?.[1] === undefined ? [] : [{ name: d.name, firstSeq: Number(m[1]) }];
      })
      .sort((a, b) => a.firstSeq - b.firstSeq);
  } catch (err) {
    ctx.failed(err, 'open');
    return [];
  }
}

function indexEntry(r: ScannedRecord, seg: Segment, logLines: number): Entry {
  return {
    seq: r.seq,
    seg,
    offset: r.offset,
    length: r.bodyLength,
    payload: null,
    carried: null,
    logLines,
    checkpoints: null,
  };
}

/** Reads the state and every segment; see the module header. */
export async function recoverSpool(ctx: RecoveryContext): Promise<Recovered> {
  try {
    await mkdir(ctx.dir, { recursive: true });
  } catch (err) {
    // Not fatal: what can be read is still recovered, and appends keep batches in memory (and retry
    // the directory) until it can be written.
    ctx.failed(err, 'open');
  }
  const state = await loadState(ctx);
  const checkpoints = emptyCheckpoints();
  mergeCheckpoints(checkpoints, state.checkpoints ?? emptyCheckpoints());
  const names = await segmentNames(ctx);
  const known = new Set(state.quarantined.map((q) => `${q.segment}@${q.offset}`));
  const out: Recovered = {
    state,
    segments: [],
    entries: [],
    lastGood: 0,
    newestFirstSeq: names[names.length - 1]?.firstSeq,
    lostRanges: [],
    quarantined: [],
    truncations: [],
    corruptFound: 0,
    checkpoints,
  };
  const copies: Array<{ file: string; bytes: Buffer }> = [];

  for (let i = 0; i < names.length; i++) {
    const { name, firstSeq } = names[i] as { name: string; firstSeq: number };
    const path = join(ctx.dir, name);
    let buf: Buffer;
    try {
      buf = await readFile(path);
    } catch (err) {
      // An unreadable file is left alone (nothing is deleted on a guess); the next open tries again.
      ctx.failed(err, 'read');
      ctx.log.error({ err, segment: name }, 'spool segment cannot be read; skipped');
      continue;
    }
    const newest = i === names.length - 1;
    const nextFirst = names[i + 1]?.firstSeq;
    const lastBeforeFile = out.lastGood;
    const scan = scanSegment(buf, out.lastGood);
    const seg = newSegment(name, path, firstSeq, buf.length);
    for (const r of scan.records) {
      seg.lastSeq = r.seq;
      out.lastGood = r.seq;
      const meta = decodeRecordMeta(r.meta);
      // Acknowledged records count too: their lines are on the server.
      mergeCheckpoints(checkpoints, meta.checkpoints);
      if (r.seq > state.ackedThrough) {
        out.entries.push(indexEntry(r, seg, meta.logLines));
        seg.pending++;
      }
    }
    if (scan.duplicates > 0) {
      ctx.log.warn({ segment: name, records: scan.duplicates }, 'skipped records whose seq was already seen');
    }
    for (const bad of scan.bad) {
      if (bad.toEof) {
        out.truncations.push({ seg, to: bad.offset });
        seg.size = bad.offset;
      }
      const key = `${name}@${bad.offset}`;
      out.quarantined.push({ segment: name, offset: bad.offset });
      if (known.has(key)) continue; // counted and reported by an earlier run
      out.corruptFound++;
      state.counters.corruptRecords++;
      copies.push({ file: `${key}.bad`, bytes: buf.subarray(bad.offset, bad.end) });
      const torn = bad.toEof && newest;
      // Lost seqs lie between the good record before the damage (or this file's name) and the good
      // record after it (or the next file's name). A torn newest tail lost nothing handed out.
      const from = bad.seqBefore !== undefined ? bad.seqBefore + 1 : Math.max(firstSeq, lastBeforeFile + 1);
      let to: number | undefined;
      if (bad.seqAfter !== undefined) to = bad.seqAfter - 1;
      else if (!torn && nextFirst !== undefined) to = nextFirst - 1;
      if (to !== undefined && to >= from) out.lostRanges.push([from, to]);
      ctx.log.warn(
        {
          segment: name,
          offset: bad.offset,
          bytes: bad.end - bad.offset,
          reason: bad.reason,
          torn,
          lostFrom: from,
          lostTo: to,
        },
        torn
          ? 'torn last record in the spool: moved aside and skipped'
          : 'corrupt bytes in the spool: moved aside and skipped',
      );
    }
    out.segments.push(seg);
  }
  const present = new Set(out.segments.map((s) => s.name));
  out.quarantined = out.quarantined.filter((q) => present.has(q.segment));
  try {
    await keepCorrupt(ctx.dir, copies, ctx.durable);
  } catch (err) {
    ctx.failed(err, 'recover');
    ctx.log.error({ err }, 'could not copy corrupt spool bytes aside; they are skipped anyway');
  }
  return out;
}

/** Cuts torn tails off (after the state recorded them as handled). */
export async function truncateTails(
  truncations: ReadonlyArray<{ seg: Segment; to: number }>,
  ctx: RecoveryContext,
): Promise<void> {
  for (const t of truncations) {
    try {
      const fh = await open(t.seg.path, 'r+');
      try {
        await fh.truncate(t.to);
        if (ctx.durable) await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      t.seg.needsTruncate = true;
      ctx.failed(err, 'recover');
    }
  }
}

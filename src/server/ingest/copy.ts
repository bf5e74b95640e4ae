/**
 * COPY binary-format encoding of validated batch tables. Pure: a table plus the ids the server resolved
 * becomes the column list and the tuples that `COPY … FROM STDIN (FORMAT binary)` reads (the stream's
 * header and trailer are added once per COPY: src/storage/queries/ingest.sql.ts, `copyTables`).
 *
 * Why binary: numbers go out as their 4 or 8 bytes instead of being formatted as decimal text by the server
 * and parsed back by PostgreSQL (the largest part of both sides' encoding work), and the tuples are written
 * straight into one reused buffer — no string per value, line or table on the heap. What is stored is what
 * the text format stored: the same columns and types (`src/storage/ddl.ts` maps the registry's column
 * types onto the tables' types, and a test checks every table against it), timestamps at millisecond
 * precision, -0 stored as 0 as its text form `0` was.
 */
import type { ValidTable } from '../../protocol/batch.js';
import { type ColumnType, families } from '../../protocol/families/index.js';

/** PostgreSQL's epoch (2000-01-01) in ms since 1970. */
const pgEpochMs = 946_684_800_000;
const two32 = 4_294_967_296;

/**
 * The last timestamp a column encoded, as the two halves of its int64 microseconds: the rows of a batch
 * table nearly always share one `ts`. One per column, so that a row's other timestamps do not evict it.
 */
interface TimestampMemo {
  ms: number;
  hi: number;
  lo: number;
}

/**
 * One growing buffer for every table encoded in this process (the event loop runs one at a time); each
 * table's tuples are copied out at their exact size. A buffer grown past `keepBytes` by a huge table is
 * dropped after it, so one hostile batch does not keep its memory.
 */
const keepBytes = 4 * 1024 * 1024;
let scratch: Buffer = Buffer.allocUnsafe(256 * 1024);
/**
 * The same bytes for the fixed-width writes: DataView's big-endian setters compile to a store each, where
 * Buffer's `write*BE` methods check their arguments and store byte by byte.
 */
let view = viewOf(scratch);
let o = 0;

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.length);
}

function setScratch(b: Buffer): void {
  scratch = b;
  view = viewOf(b);
}

function ensure(n: number): void {
  if (o + n <= scratch.length) return;
  const next = Buffer.allocUnsafe(Math.max(scratch.length * 2, o + n));
  scratch.copy(next, 0, 0, o);
  setScratch(next);
}

function int64(v: number): void {
  // A safe integer: the high half by division, the low half (0 … 2^32-1) what remains.
  const hi = Math.floor(v / two32);
  view.setInt32(o, hi);
  view.setUint32(o + 4, v - hi * two32);
  o += 8;
}

function text(s: string): void {
  ensure(4 + s.length * 3);
  const n = scratch.write(s, o + 4, 'utf8');
  view.setInt32(o, n);
  o += 4 + n;
}

function timestamp(v: unknown, memo: TimestampMemo): void {
  const ms = typeof v === 'number' ? v : Date.parse(v as string);
  if (ms !== memo.ms) {
    // As Date (and the text format's ISO string) had it: whole milliseconds.
    const us = (BigInt(Math.trunc(ms)) - BigInt(pgEpochMs)) * 1000n;
    memo.hi = Number(BigInt.asIntN(32, us >> 32n));
    memo.lo = Number(BigInt.asUintN(32, us));
    memo.ms = ms;
  }
  view.setInt32(o, 8);
  view.setInt32(o + 4, memo.hi);
  view.setUint32(o + 8, memo.lo);
  o += 12;
}

function value(v: unknown, type: ColumnType, memo: TimestampMemo): void {
  if (v === null || v === undefined) {
    ensure(4);
    view.setInt32(o, -1);
    o += 4;
    return;
  }
  switch (type) {
    case 'text':
      text(v as string);
      return;
    case 'jsonb': {
      const s = JSON.stringify(v);
      ensure(5 + s.length * 3);
      scratch[o + 4] = 1; // jsonb binary format version
      const n = scratch.write(s, o + 5, 'utf8');
      view.setInt32(o, n + 1);
      o += 5 + n;
      return;
    }
  }
  ensure(12);
  switch (type) {
    case 'timestamptz':
      timestamp(v, memo);
      return;
    case 'float8':
      view.setInt32(o, 8);
      // -0 as 0: the text format wrote it as `0`.
      view.setFloat64(o + 4, (v as number) === 0 ? 0 : (v as number));
      o += 12;
      return;
    case 'float4':
      view.setInt32(o, 4);
      view.setFloat32(o + 4, (v as number) === 0 ? 0 : (v as number));
      o += 8;
      return;
    case 'int4':
      view.setInt32(o, 4);
      view.setInt32(o + 4, v as number);
      o += 8;
      return;
    case 'int8':
      view.setInt32(o, 8);
      o += 4;
      // Beyond 2^53 (query ids) the wire carries decimal text, validated as a 64-bit integer.
      if (typeof v === 'string') {
        view.setBigInt64(o, BigInt(v));
        o += 8;
      } else int64(v as number);
      return;
    case 'bool':
      view.setInt32(o, 1);
      scratch[o + 4] = v ? 1 : 0;
      o += 5;
      return;
  }
}

const hourMs = 3_600_000;

export interface CopyChunk {
  table: string;
  /** Rows already stored are kept (family `once`): written through a temporary table with ON CONFLICT. */
  once: boolean;
  /** Database columns in COPY order. */
  columns: string[];
  /** The rows as binary COPY tuples (no header or trailer). */
  tuples: Buffer;
  rows: number;
  /** Distinct hours the rows fall in (ms since the epoch, hour starts): the rollup buckets they touch. */
  hours: number[];
  /** The oldest row's ts (ms; +Infinity without rows). */
  minTs: number;
}

/**
 * Tuples for one table of one batch. `targetIds` maps target names to ids for target families; the
 * wire's `target` column becomes `target_id` in the database.
 */
export function encodeTable(t: ValidTable, serverId: number, targetIds?: Map<string, number>): CopyChunk {
  const dbColumns = ['server_id'];
  if (t.targetIndex >= 0) dbColumns.push('target_id');
  const order: number[] = [];
  t.columns.forEach((c, i) => {
    if (i !== t.targetIndex) {
      dbColumns.push(c);
      order.push(i);
    }
  });
  const memos: TimestampMemo[] = order.map(() => ({ ms: Number.NaN, hi: 0, lo: 0 }));
  const fields = dbColumns.length;
  const hours = new Set<number>();
  let lastHour = Number.NaN;
  let minTs = Number.POSITIVE_INFINITY;
  o = 0;
  for (const row of t.rows) {
    const ts = row[t.tsIndex] as number;
    if (ts < minTs) minTs = ts;
    const hour = Math.floor(ts / hourMs) * hourMs;
    if (hour !== lastHour) {
      hours.add(hour);
      lastHour = hour;
    }
    ensure(2 + 12 + 12);
    view.setInt16(o, fields);
    o += 2;
    view.setInt32(o, 8);
    o += 4;
    int64(serverId);
    if (t.targetIndex >= 0) {
      const id = targetIds?.get(row[t.targetIndex] as string);
      if (id === undefined) {
        view.setInt32(o, -1);
        o += 4;
      } else {
        view.setInt32(o, 8);
        o += 4;
        int64(id);
      }
    }
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!;
      value(row[i], t.types[i]!, memos[k]!);
    }
  }
  const tuples = Buffer.allocUnsafe(o);
  scratch.copy(tuples, 0, 0, o);
  if (scratch.length > keepBytes) setScratch(Buffer.allocUnsafe(256 * 1024));
  o = 0;
  return {
    table: t.table,
    once: families[t.table]?.once === true,
    columns: dbColumns,
    tuples,
    rows: t.rows.length,
    hours: [...hours],
    minTs,
  };
}

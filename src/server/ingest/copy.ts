/**
 * COPY text-format encoding of validated batch tables. Pure: a table plus the ids the server resolved
 * becomes the column list and lines that `COPY … FROM STDIN` reads.
 */
import type { ValidTable } from '../../protocol/batch.js';
import { type ColumnType, families } from '../../protocol/families/index.js';

/** Escapes a value for COPY's text format: backslash, tab, newline and carriage return. */
export function copyEscape(s: string): string {
  // Fast path: most values (names, labels) need no escaping.
  if (!/[\\\t\n\r]/.test(s)) return s;
  return s.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

/**
 * The last timestamp a column encoded and its text: the rows of a batch table nearly always share one
 * `ts`, and formatting a date was the largest part of encoding under load (one Date and one string per
 * row). One per column, so that a row's other timestamps (last vacuum…) do not evict its `ts`.
 */
interface TimestampMemo {
  ms: number;
  text: string;
}

function encodeTimestamp(v: unknown, memo: TimestampMemo): string {
  const ms = typeof v === 'number' ? v : Date.parse(v as string);
  if (ms !== memo.ms) {
    memo.text = new Date(ms).toISOString();
    memo.ms = ms;
  }
  return memo.text;
}

function encodeValue(v: unknown, type: ColumnType, memo: TimestampMemo): string {
  if (v === null || v === undefined) return '\\N';
  switch (type) {
    case 'text':
      return copyEscape(v as string);
    case 'timestamptz':
      return encodeTimestamp(v, memo);
    case 'bool':
      return v ? 't' : 'f';
    case 'jsonb':
      return copyEscape(JSON.stringify(v));
    default:
      return String(v);
  }
}

const hourMs = 3_600_000;

export interface CopyChunk {
  table: string;
  /** Rows already stored are kept (family `once`): written through a temporary table with ON CONFLICT. */
  once: boolean;
  /** Database columns in COPY order. */
  columns: string[];
  /**
   * The lines as UTF-8 bytes: made at once, so that the many small strings a table's lines are built of
   * die young instead of living in the heap until the group transaction (and the bytes are what the
   * socket takes).
   */
  lines: Buffer;
  rows: number;
  /** Distinct hours the rows fall in (ms since the epoch, hour starts): the rollup buckets they touch. */
  hours: number[];
  /** The oldest row's ts (ms; +Infinity without rows). */
  minTs: number;
}

/**
 * Lines for one table of one batch. `targetIds` maps target names to ids for target families; the wire's
 * `target` column becomes `target_id` in the database.
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
  const memos: TimestampMemo[] = order.map(() => ({ ms: Number.NaN, text: '' }));
  const prefix = `${serverId}\t`;
  let out = '';
  const hours = new Set<number>();
  let lastHour = Number.NaN;
  let minTs = Number.POSITIVE_INFINITY;
  for (const row of t.rows) {
    const ts = row[t.tsIndex] as number;
    if (ts < minTs) minTs = ts;
    const hour = Math.floor(ts / hourMs) * hourMs;
    if (hour !== lastHour) {
      hours.add(hour);
      lastHour = hour;
    }
    let line = prefix;
    if (t.targetIndex >= 0) line += `${targetIds?.get(row[t.targetIndex] as string) ?? '\\N'}\t`;
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!;
      if (k > 0) line += '\t';
      line += encodeValue(row[i], t.types[i]!, memos[k]!);
    }
    out += `${line}\n`;
  }
  return {
    table: t.table,
    once: families[t.table]?.once === true,
    columns: dbColumns,
    lines: Buffer.from(out, 'utf8'),
    rows: t.rows.length,
    hours: [...hours],
    minTs,
  };
}

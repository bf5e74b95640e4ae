/**
 * PostgreSQL csvlog (`log_destination = 'csvlog'`), columns as of PostgreSQL 13–18 (older files with
 * fewer trailing columns read the same). A record whose quoted field holds newlines spans several physical
 * lines; `quoteOpenAfter` lets the assembler join them first. A malformed record keeps its text as message.
 */
import type { LogContext } from '../../../protocol/logs.js';
import { parseIsoTimestamp } from '../time.js';
import {
  defineParser,
  type LineParser,
  type ParsedRecord,
  type ParserOptions,
  unparsedRecord,
} from '../types.js';
import { levelFromPostgresSeverity, setIfPresent, setNumberIfPresent, setRemote } from './postgres-fields.js';

/** Splits one CSV record (RFC 4180: quoted fields, "" for a quote inside). Never throws. */
export function splitCsvRecord(text: string): string[] {
  const out: string[] = [];
  const n = text.length;
  let i = 0;
  for (;;) {
    if (i < n && text.charCodeAt(i) === 34) {
      let value = '';
      let from = i + 1;
      let j = from;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) {
          value += text.slice(from);
          i = n;
          break;
        }
        if (text.charCodeAt(q + 1) === 34) {
          value += text.slice(from, q + 1);
          j = q + 2;
          from = j;
          continue;
        }
        value += text.slice(from, q);
        i = q + 1;
        break;
      }
      out.push(value);
      // Skip to the separator (garbage after a closing quote is dropped).
      const comma = text.indexOf(',', i);
      if (comma < 0) return out;
      i = comma + 1;
    } else {
      const comma = text.indexOf(',', i);
      if (comma < 0) {
        out.push(text.slice(i));
        return out;
      }
      out.push(text.slice(i, comma));
      i = comma + 1;
    }
  }
}

export function csvQuoteOpenAfter(line: string, openBefore: boolean): boolean {
  let open = openBefore;
  let i = line.indexOf('"');
  while (i >= 0) {
    open = !open;
    i = line.indexOf('"', i + 1);
  }
  return open;
}

/** csvlog's columns in order, by the names PostgreSQL's documentation (and CloudNativePG's JSON) gives them. */
export const csvColumns = [
  'log_time',
  'user_name',
  'database_name',
  'process_id',
  'connection_from',
  'session_id',
  'session_line_num',
  'command_tag',
  'session_start_time',
  'virtual_transaction_id',
  'transaction_id',
  'error_severity',
  'sql_state_code',
  'message',
  'detail',
  'hint',
  'internal_query',
  'internal_query_pos',
  'context',
  'query',
  'query_pos',
  'location',
  'application_name',
  'backend_type',
  'leader_pid',
  'query_id',
] as const;

/** A csvlog record's fields (in csvColumns order) as a record; undefined without a time and a severity. */
export function recordFromCsvFields(
  f: readonly (string | undefined)[],
  tz: string | undefined,
): ParsedRecord | undefined {
  const t = parseIsoTimestamp(f[0] ?? '', 0, tz, true);
  const level = levelFromPostgresSeverity(f[11] ?? '');
  if (!t || !level) return undefined;
  const ctx: LogContext = {};
  setIfPresent(ctx, 'user', f[1]);
  setIfPresent(ctx, 'database', f[2]);
  setNumberIfPresent(ctx, 'pid', f[3]);
  setRemote(ctx, f[4]);
  setIfPresent(ctx, 'session_id', f[5]);
  setNumberIfPresent(ctx, 'line_num', f[6]);
  setIfPresent(ctx, 'command_tag', f[7]);
  setIfPresent(ctx, 'session_start', f[8]);
  setIfPresent(ctx, 'vxid', f[9]);
  if (f[10] !== '0') setNumberIfPresent(ctx, 'xid', f[10]);
  setIfPresent(ctx, 'sqlstate', f[12]);
  setIfPresent(ctx, 'detail', f[14]);
  setIfPresent(ctx, 'hint', f[15]);
  setIfPresent(ctx, 'query', f[16]);
  setIfPresent(ctx, 'context', f[18]);
  setIfPresent(ctx, 'statement', f[19]);
  setIfPresent(ctx, 'location', f[21]);
  setIfPresent(ctx, 'application', f[22]);
  setIfPresent(ctx, 'backend_type', f[23]);
  setNumberIfPresent(ctx, 'leader_pid', f[24]);
  if (f[25] !== '0') setNumberIfPresent(ctx, 'query_id', f[25]);
  return {
    ts: t.ts,
    level,
    component: f[23] || 'postgres',
    message: f[13] ?? '',
    context: ctx,
  };
}

export function createPostgresCsvParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  return (line: string): ParsedRecord => {
    const f = splitCsvRecord(line);
    const rec = f.length < 14 ? undefined : recordFromCsvFields(f, tz);
    if (!rec) return unparsedRecord(line, 'postgres', parseIsoTimestamp(f[0] ?? '', 0, tz, true)?.ts);
    return rec;
  };
}

export const postgresCsvParser = defineParser({
  name: 'postgresql_csv',
  component: 'postgres',
  description: 'PostgreSQL csvlog',
  create: createPostgresCsvParser,
  postgres: true,
  quoteOpenAfter: csvQuoteOpenAfter,
});

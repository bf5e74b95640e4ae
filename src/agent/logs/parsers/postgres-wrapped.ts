/**
 * What the wrapped PostgreSQL formats share (syslog, managed services' JSON exports, Heroku, Azure): each
 * peels its own envelope off and hands PostgreSQL's text — log_line_prefix, severity, message — to the
 * stderr parser, so that classification and fields are the stderr parser's, never a second copy of them.
 *
 * Guarantees for hostile input: a line is cut to `maxWrappedLineChars` before any work; JSON is parsed
 * only when its nesting stays within `maxJsonDepth` (checked by one scan, so JSON.parse never recurses
 * deeper); fields are read as own properties only; an embedded text of several lines is folded with the
 * assembler's rules, at most `maxFoldedLines` of them.
 */
import type { LogContext } from '../../../protocol/logs.js';
import { jsonObjectOf, type LineParser, type ParsedRecord } from '../types.js';
import { csvColumns, recordFromCsvFields } from './postgres-csv.js';

/** Longer lines are cut here: every envelope we read sits at the start, and the tailer caps lines at 1 MiB. */
export const maxWrappedLineChars = 1024 * 1024;
export const maxJsonDepth = 32;
export const maxFoldedLines = 10_000;

export function boundLine(line: string): string {
  return line.length > maxWrappedLineChars ? line.slice(0, maxWrappedLineChars) : line;
}

/** Whether `[`/`{` nesting (outside strings) stays within `max`; one pass, no recursion. */
export function jsonDepthWithin(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return false;
    } else if (c === 125 || c === 93) depth--;
  }
  return true;
}

/** A bounded line as a JSON object, or undefined (not JSON, not an object, too deep). */
export function boundedJsonObject(line: string): Record<string, unknown> | undefined {
  if (line.length > maxWrappedLineChars || !jsonDepthWithin(line, maxJsonDepth)) return undefined;
  return jsonObjectOf(line);
}

/** An own property of a parsed object (never one inherited from Object.prototype). */
export function own(o: unknown, key: string): unknown {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return undefined;
  return Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined;
}

export function ownString(o: unknown, key: string): string | undefined {
  const v = own(o, key);
  return typeof v === 'string' ? v : undefined;
}

/** An own property that is an object (not an array), or undefined. */
export function ownObject(o: unknown, key: string): Record<string, unknown> | undefined {
  const v = own(o, key);
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/**
 * Parses text that may hold several lines (a JSON field with PostgreSQL's whole multi-line message, as
 * stderr would have written it) into one record: the first line starts it, later lines are folded in as
 * the assembler folds continuation lines (DETAIL into `detail`, tab-indented lines into the field before).
 */
export function parseFolded(parse: LineParser, text: string, now: number): ParsedRecord {
  const nl = text.indexOf('\n');
  if (nl < 0) return parse(text, now);
  const lines = text.split('\n', maxFoldedLines);
  // A first line that is itself a continuation (a STATEMENT with its tab-indented lines) stays one: the
  // lines after it join its message, which the assembler then folds into the record before.
  const first = parse(lines[0]!, now);
  let lastField = 'message';
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const rec = parse(line, now);
    const kind = rec.continues ?? 'text';
    if (kind === 'text') {
      // A line that is neither a continuation nor tab-indented still belongs to this one message.
      const piece = rec.continues ? rec.message : line;
      if (lastField === 'message') first.message += `\n${piece}`;
      else appendField(first.context, lastField, piece);
      continue;
    }
    appendField(first.context, kind, rec.message);
    lastField = kind;
  }
  return first;
}

function appendField(ctx: LogContext, key: string, text: string): void {
  const prev = ctx[key];
  ctx[key] = typeof prev === 'string' ? `${prev}\n${text}` : text;
}

/**
 * An object holding csvlog's columns by name (CloudNativePG's `record`, a structured export) as a record;
 * undefined without a time and a severity. Strings and numbers are read, anything else is ignored.
 */
export function recordFromNamedColumns(
  o: Record<string, unknown>,
  tz: string | undefined,
): ParsedRecord | undefined {
  const f = csvColumns.map((name) => {
    const v = own(o, name);
    if (typeof v === 'string') return v;
    return typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
  });
  return recordFromCsvFields(f, tz);
}

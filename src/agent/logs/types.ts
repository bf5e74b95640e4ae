/**
 * The parser contract. A parser turns one physical line into a record; it is a pure function of the line,
 * the reference time and the options it was created with, and it never throws: a line it does not
 * understand becomes a record that keeps the whole line as its message (level guessed from its words).
 * Parsers are declared with `defineParser`, the one place where a parser that fails on a line (a bug, or
 * input nobody foresaw) is caught: the line becomes an unparsed record instead.
 *
 * Records that continue the previous one (PostgreSQL DETAIL/HINT/STATEMENT lines, tab-indented lines of a
 * multi-line message, tracebacks) say so in `continues`; the assembler (assemble.ts) folds them into the
 * record they belong to. Formats whose records may span lines inside quotes (csvlog) say how to tell that
 * a quote is still open, and the assembler joins the physical lines before parsing.
 */
import type { LogContext, LogLevel } from '../../protocol/logs.js';

export type ContinuationKind = 'detail' | 'hint' | 'context' | 'statement' | 'query' | 'location' | 'text';

export interface ParsedRecord {
  /** ms since the epoch; undefined when the line carries no usable time. */
  ts: number | undefined;
  level: LogLevel;
  component: string;
  message: string;
  context: LogContext;
  /** Set when this line continues the previous record instead of starting one. */
  continues?: ContinuationKind;
}

export interface ParserOptions {
  /** IANA time zone for timestamps written without one; default: this process's local zone. */
  timezone?: string;
  /** PostgreSQL `log_line_prefix` (stderr parser only). */
  prefix?: string;
}

/**
 * Where a line starts in the bytes it was decoded from, when those bytes are all ASCII (one character per
 * byte, so the line's characters are `bytes[at]`…`bytes[at + line.length - 1]`). A parser may read them
 * instead of the string's characters (faster); it must give the same record either way.
 */
export interface AsciiSpan {
  bytes: Uint8Array;
  at: number;
}

/**
 * Parses one line (no trailing newline). `now` (ms) anchors formats that omit the year. `continuing` says
 * a record is pending that a continuation would be folded into: only a continuation's `continues` and
 * `message` are then used, before the next line is parsed, and a parser may leave the rest of such a
 * record unfilled and return the same object for each of them (it must fill a record of its own when
 * `continuing` is false or absent: an orphan continuation becomes an entry of its own).
 */
export type LineParser = (line: string, now: number, continuing?: boolean, ascii?: AsciiSpan) => ParsedRecord;

export interface LogParserSpec {
  name: string;
  description: string;
  /** Compiles whatever the options need (e.g. the prefix regex) once. */
  create(opts: ParserOptions): LineParser;
  /** PostgreSQL formats: the assembler runs event classification on finished records. */
  postgres?: true;
  /**
   * For formats with quoted fields that may hold newlines: given whether a quote was open before this
   * physical line, is one open after it? The assembler joins lines until none is.
   */
  quoteOpenAfter?(line: string, openBefore: boolean): boolean;
}

/** The record a parser starts from: the whole line as message, level info, no time yet. */
export function lineRecord(line: string, component: string): ParsedRecord {
  return { ts: undefined, level: 'info', component, message: line, context: {} };
}

/** What a parser returns for a line it cannot read: kept whole, at level info, marked unparsed. */
export function unparsedRecord(line: string, component: string, ts?: number): ParsedRecord {
  return { ts, level: 'info', component, message: line, context: { unparsed: true } };
}

/** A line of a JSON-lines format (jsonlog, journald) as an object; undefined when it is not one. */
export function jsonObjectOf(line: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

export interface ParserDefinition extends Omit<LogParserSpec, 'create'> {
  /** Component of the unparsed record for a line the parser failed on. */
  component: string;
  /** The line parser; it may throw on a line, which then becomes an unparsed record. */
  create(opts: ParserOptions): LineParser;
}

/** A parser spec whose line parser never throws (`create` itself may: a bad option is the caller's error). */
export function defineParser({ component, create, ...spec }: ParserDefinition): LogParserSpec {
  return {
    ...spec,
    create(opts: ParserOptions): LineParser {
      const parse = create(opts);
      return (line, now, continuing, ascii) => {
        try {
          return parse(line, now, continuing, ascii);
        } catch {
          return unparsedRecord(line, component);
        }
      };
    },
  };
}

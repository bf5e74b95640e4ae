/**
 * PostgreSQL through syslog (`log_destination = 'syslog'`), as rsyslog writes it: RFC 3164 with or without
 * `<PRI>` (`Dec  3 07:45:49 host postgres[2045]: [4-2] …`), RFC 5424 (`<172>1 2026-12-03T07:45:49.94+00:00
 * host postgres 2045 - -  [4-2] …`) and rsyslog's ISO-timestamped file format.
 *
 * PostgreSQL sends each line of a message (the message, its DETAIL/STATEMENT lines, the tab-indented later
 * lines of a multi-line statement) as its own syslog record numbered `[seq-chunk]` (`syslog_sequence_numbers`,
 * on by default), and cuts lines longer than 900 bytes at a space into further chunks
 * (`syslog_split_messages`). rsyslog writes control characters as `#` and three octal digits (a tab is
 * `#011`). This parser reads the syslog header (syslog.ts), drops the `[seq-chunk]` number, restores the
 * escaped characters and hands the rest — log_line_prefix, severity, message — to the stderr parser:
 * events and fields are exactly the stderr parser's. A later chunk that neither starts a prefixed line
 * nor is tab-indented is the rest of a cut line, and is returned as a continuation. The header's time is
 * used when the prefix has none, its pid when the prefix has none; the syslog host is `syslog_host`
 * (`host` is PostgreSQL's client host, as in the other formats).
 *
 * Known limit: the assembler joins continuation lines with a newline, so a line PostgreSQL cut at 900
 * bytes comes back with a newline where the cut was (the text is otherwise whole).
 */
import type { JsonValue } from '../../../protocol/logs.js';
import { defineParser, type LineParser, type ParsedRecord, type ParserOptions } from '../types.js';
import { createPostgresStderrParser } from './postgres.js';
import { boundLine } from './postgres-wrapped.js';
import { createSyslogParser } from './syslog.js';

export const seqChunk = /^\[(\d+)(?:-(\d+))?\] /;
const octalEscape = /#([0-3][0-7][0-7])/g;

/** rsyslog's `#ooo` escapes of control characters back to the characters (only those it escapes). */
export function unescapeRsyslog(text: string): string {
  if (!text.includes('#')) return text;
  return text.replace(octalEscape, (whole, oct: string) => {
    const code = Number.parseInt(oct, 8);
    return code < 32 || code === 127 ? String.fromCharCode(code) : whole;
  });
}

export interface PeeledSyslog {
  /** PostgreSQL's text after the header and the `[seq-chunk]` number, escapes restored. */
  text: string;
  ts: number | undefined;
  pid: number | undefined;
  host: string | undefined;
  /** The chunk number (1 for the first line of a message); undefined without numbering. */
  chunk: number | undefined;
}

/** Reads the syslog header of a line; undefined when the line has none. */
export function createSyslogPeeler(
  opts: ParserOptions,
): (line: string, now: number) => PeeledSyslog | undefined {
  const header = createSyslogParser({ timezone: opts.timezone });
  return (line, now) => {
    const h = header(line, now);
    if (h.context.unparsed || (h.ts === undefined && h.component === '')) return undefined;
    let msg = h.message;
    // RFC 5424 as rsyslog writes it keeps the space after the tag: "- -  [4-2] …".
    if (msg.charCodeAt(0) === 32) msg = msg.slice(1);
    let chunk: number | undefined;
    const n = seqChunk.exec(msg);
    if (n) {
      chunk = n[2] === undefined ? 1 : Number(n[2]);
      msg = msg.slice(n[0].length);
    }
    const pid = h.context.pid;
    const host = h.context.host;
    return {
      text: unescapeRsyslog(msg),
      ts: h.ts,
      pid: typeof pid === 'number' ? pid : undefined,
      host: typeof host === 'string' ? host : undefined,
      chunk,
    };
  };
}

/** Fills what PostgreSQL's own text did not carry from the envelope around it. */
export function addEnvelope(
  rec: ParsedRecord,
  env: { ts?: number | undefined; pid?: number | undefined },
  extra: Record<string, JsonValue | undefined>,
): ParsedRecord {
  if (rec.continues) return rec;
  if (rec.ts === undefined && env.ts !== undefined) rec.ts = env.ts;
  if (rec.context.pid === undefined && env.pid !== undefined) rec.context.pid = env.pid;
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined && rec.context[key] === undefined) rec.context[key] = value;
  }
  return rec;
}

/**
 * One `[seq-chunk]` piece of PostgreSQL's text: a later chunk that the stderr parser cannot read as a line
 * of its own (no prefix and severity, no tab indent) is the rest of a line cut at 900 bytes.
 */
export function parseChunk(
  inner: LineParser,
  text: string,
  chunk: number | undefined,
  now: number,
): ParsedRecord {
  const rec = inner(text, now);
  if (chunk !== undefined && chunk > 1 && !rec.continues && rec.context.unparsed) {
    return {
      ts: undefined,
      level: 'info',
      component: 'postgres',
      message: text,
      context: {},
      continues: 'text',
    };
  }
  return rec;
}

export function createPostgresSyslogParser(opts: ParserOptions): LineParser {
  const peel = createSyslogPeeler(opts);
  const inner = createPostgresStderrParser(opts);
  return (raw: string, now: number): ParsedRecord => {
    const line = boundLine(raw);
    const p = peel(line, now);
    if (!p) return inner(line, now);
    return addEnvelope(parseChunk(inner, p.text, p.chunk, now), p, { syslog_host: p.host });
  };
}

export const postgresSyslogParser = defineParser({
  name: 'postgresql_syslog',
  component: 'postgres',
  description:
    "PostgreSQL through syslog (RFC 3164/5424, rsyslog files; [seq-chunk] lines joined; --prefix, default '%m [%p] %q%u@%d ')",
  create: createPostgresSyslogParser,
  postgres: true,
});

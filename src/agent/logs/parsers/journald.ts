/**
 * journald entries as `journalctl -o json` prints them, one JSON object per line. MESSAGE may be a string
 * or, when it holds bytes that are not valid UTF-8 or control characters such as ANSI colours, an array of
 * byte values; both are decoded and ANSI escapes stripped. The level comes from PRIORITY; a message in
 * Rust `tracing` format ("2024-01-02T03:04:05Z  INFO module::path: text") gives its own level and module.
 */
import type { LogContext } from '../../../protocol/logs.js';
import { levelFromSyslogPriority, levelFromWord } from '../levels.js';
import { parseIsoTimestamp } from '../time.js';
import {
  defineParser,
  jsonObjectOf,
  type LineParser,
  type ParsedRecord,
  type ParserOptions,
  unparsedRecord,
} from '../types.js';

// CSI sequences (colours, cursor moves), OSC sequences, and lone two-character escapes. Built from a
// string because the escape character is exactly what this pattern is for.
const esc = String.fromCharCode(27);
const bel = String.fromCharCode(7);
const ansi = new RegExp(
  `${esc}\\[[0-?]*[ -/]*[@-~]|${esc}\\][^${bel}${esc}]*(?:${bel}|${esc}\\\\)|${esc}[@-Z\\\\-_]`,
  'g',
);

export function stripAnsi(text: string): string {
  return text.includes(esc) ? text.replace(ansi, '') : text;
}

/** MESSAGE as journalctl gives it: string, byte array, or null. */
export function decodeJournalField(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const bytes = value.filter((b): b is number => typeof b === 'number' && b >= 0 && b <= 255);
    return Buffer.from(bytes).toString('utf8');
  }
  return undefined;
}

const tracing = /^(\S+)\s+(TRACE|DEBUG|INFO|WARN|ERROR)\s+([\w:]+(?:\{[^}]*\})?): (.*)$/s;

function asString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return decodeJournalField(v);
  return undefined;
}

export function createJournaldParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  return (line: string): ParsedRecord => {
    const o = jsonObjectOf(line);
    if (!o) return unparsedRecord(stripAnsi(line), '');
    const ctx: LogContext = {};
    let message = stripAnsi(decodeJournalField(o.MESSAGE) ?? '');
    const us = asString(o.__REALTIME_TIMESTAMP);
    let ts = us && /^\d+$/.test(us) ? Math.floor(Number(us) / 1000) : undefined;
    const priority = Number(asString(o.PRIORITY) ?? '6');
    let level = levelFromSyslogPriority(Number.isInteger(priority) ? priority : 6);
    const unit = asString(o._SYSTEMD_UNIT);
    let component = asString(o.SYSLOG_IDENTIFIER) ?? unit ?? asString(o._COMM) ?? '';
    if (unit) ctx.unit = unit;
    const pid = asString(o._PID) ?? asString(o.SYSLOG_PID);
    if (pid && /^\d+$/.test(pid)) ctx.pid = Number(pid);
    const host = asString(o._HOSTNAME);
    if (host) ctx.host = host;
    const cursor = asString(o.__CURSOR);
    if (cursor) ctx.cursor = cursor;
    const tr = tracing.exec(message);
    if (tr) {
      const t = parseIsoTimestamp(tr[1]!, 0, tz);
      if (t) ts = t.ts;
      level = levelFromWord(tr[2]!) ?? level;
      component = tr[3]!;
      message = tr[4]!;
    }
    return { ts, level, component, message, context: ctx };
  };
}

export const journaldParser = defineParser({
  name: 'journald',
  component: '',
  description: 'journald entries as printed by `journalctl -o json`',
  create: createJournaldParser,
});

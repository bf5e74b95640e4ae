/**
 * nginx error log: `2024/01/02 03:04:05 [error] 1234#5678: *9 message, client: 1.2.3.4, server: x,
 * request: "GET / HTTP/1.1", upstream: "…", host: "…"`. Times are local (the configured zone). The
 * trailing key: value pairs nginx appends become context fields.
 */
import { levelFromText, levelFromWord } from '../levels.js';
import { parseIsoTimestamp } from '../time.js';
import {
  defineParser,
  type LineParser,
  lineRecord,
  type ParsedRecord,
  type ParserOptions,
} from '../types.js';

const head = /^ \[(\w+)\] (\d+)#(\d+): (?:\*(\d+) )?/;
const trailer = /, (client|server|request|upstream|host|referrer): ("(?:[^"\\]|\\.)*"|[^,]*)/g;

export function createNginxErrorParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  return (line: string): ParsedRecord => {
    const rec = lineRecord(line, 'nginx');
    const t = parseIsoTimestamp(line, 0, tz);
    const m = t ? head.exec(line.slice(t.end)) : null;
    if (!t || !m) {
      rec.continues = 'text';
      rec.level = levelFromText(line);
      return rec;
    }
    rec.ts = t.ts;
    rec.level = levelFromWord(m[1]!) ?? 'info';
    rec.context.pid = Number(m[2]);
    rec.context.tid = Number(m[3]);
    if (m[4]) rec.context.connection = Number(m[4]);
    let message = line.slice(t.end + m[0].length);
    const first = message.search(trailer);
    if (first >= 0) {
      for (const kv of message.slice(first).matchAll(trailer)) {
        let v = kv[2]!;
        if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
        rec.context[kv[1]!] = v;
      }
      message = message.slice(0, first);
    }
    rec.message = message;
    return rec;
  };
}

export const nginxErrorParser = defineParser({
  name: 'nginx_error',
  component: 'nginx',
  description: 'nginx error log',
  create: createNginxErrorParser,
});

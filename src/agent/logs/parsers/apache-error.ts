/**
 * Apache httpd error log: `[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 43286] [client
 * 1.2.3.4:50504] AH00037: message` (2.4) and `[Wed Oct 11 14:32:52 2000] [error] [client 1.2.3.4] message`
 * (2.2). Times are local to the server (the configured zone). Lines without the leading time continue the
 * previous entry (CGI stderr, stack traces).
 */
import { levelFromText, levelFromWord } from '../levels.js';
import { digitsAt, monthFromName, wallClockToEpoch } from '../time.js';
import {
  defineParser,
  type LineParser,
  lineRecord,
  type ParsedRecord,
  type ParserOptions,
} from '../types.js';

const header = /^\[(?:\w{3}) (\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? (\d{4})\] /;
const bracket = /^\[([^\]]*)\] ?/;

export function createApacheErrorParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  return (line: string): ParsedRecord => {
    const rec = lineRecord(line, 'apache');
    const m = header.exec(line);
    if (!m) {
      rec.continues = 'text';
      rec.level = levelFromText(line);
      return rec;
    }
    const month = monthFromName(m[1]!) ?? 1;
    const frac = m[6] ? Math.floor(Number(`0.${m[6]}`) * 1000) : 0;
    rec.ts = wallClockToEpoch(
      Number(m[7]),
      month,
      Number(m[2]),
      digitsAt(m[3]!, 0, 2),
      digitsAt(m[4]!, 0, 2),
      digitsAt(m[5]!, 0, 2),
      frac,
      tz,
    );
    let rest = line.slice(m[0].length);
    let levelSeen = false;
    for (let k = 0; k < 4; k++) {
      const b = bracket.exec(rest);
      if (!b) break;
      const inner = b[1]!;
      if (!levelSeen) {
        const colon = inner.indexOf(':');
        const word = colon >= 0 ? inner.slice(colon + 1) : inner;
        const level = levelFromWord(word);
        if (level) {
          rec.level = level;
          if (colon >= 0) rec.component = inner.slice(0, colon);
          levelSeen = true;
          rest = rest.slice(b[0].length);
          continue;
        }
      }
      if (inner.startsWith('pid ')) {
        const p = /^pid (\d+)(?::tid (\d+))?/.exec(inner);
        if (p) {
          rec.context.pid = Number(p[1]);
          if (p[2]) rec.context.tid = p[2];
        }
      } else if (inner.startsWith('client ')) {
        const c = inner.slice(7);
        const port = /^(.*):(\d+)$/.exec(c);
        rec.context.client = port ? port[1]! : c;
      } else if (inner.startsWith('remote ')) {
        rec.context.remote = inner.slice(7);
      } else {
        break;
      }
      rest = rest.slice(b[0].length);
    }
    const code = /^(AH\d{5}): /.exec(rest);
    if (code) rec.context.code = code[1]!;
    rec.message = rest;
    if (!levelSeen) rec.level = levelFromText(rest);
    return rec;
  };
}

export const apacheErrorParser = defineParser({
  name: 'apache_error',
  component: 'apache',
  description: 'Apache httpd error log (2.2 and 2.4 formats)',
  create: createApacheErrorParser,
});

/**
 * Let's Encrypt certbot log: `2024-01-02 03:04:05,678:DEBUG:certbot._internal.main:message`. Python
 * tracebacks that follow (lines without the time) continue the entry.
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

export function createCertbotParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  return (line: string): ParsedRecord => {
    const rec = lineRecord(line, 'certbot');
    const t = parseIsoTimestamp(line, 0, tz);
    if (!t || line.charCodeAt(t.end) !== 58) {
      rec.continues = 'text';
      rec.level = levelFromText(line);
      return rec;
    }
    rec.ts = t.ts;
    const a = line.indexOf(':', t.end + 1);
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (a < 0 || b < 0) {
      rec.message = line.slice(t.end + 1);
      rec.level = levelFromText(rec.message);
      return rec;
    }
    rec.level = levelFromWord(line.slice(t.end + 1, a)) ?? 'info';
    rec.component = line.slice(a + 1, b);
    rec.message = line.slice(b + 1);
    if (/certificate.*(?:renewed|obtained|deployed)|Congratulations/i.test(rec.message))
      rec.context.event = 'certificate_renewed';
    else if (/renewal.*fail|Failed to renew|Challenge failed/i.test(rec.message))
      rec.context.event = 'certificate_renewal_failed';
    return rec;
  };
}

export const certbotParser = defineParser({
  name: 'certbot',
  component: 'certbot',
  description: "Let's Encrypt certbot log",
  create: createCertbotParser,
});

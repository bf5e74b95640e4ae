/**
 * Application logs that start with a timestamp: `[2024-01-02 03:04:05] message`, `2024-01-02 03:04:05
 * message`, ISO 8601 with a zone. A level word right after the time (`ERROR`, `[warn]`, `level=info`) is
 * used; otherwise the level is guessed from the message. Lines without a leading time continue the entry.
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

const levelToken = /^(?:\[([A-Za-z]+)\]|level=([A-Za-z]+)|([A-Za-z]+):?)(?:\s+|$)/;

export function createSimpleTimestampParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  return (line: string): ParsedRecord => {
    const rec = lineRecord(line, '');
    const bracketed = line.charCodeAt(0) === 91;
    const t = parseIsoTimestamp(line, bracketed ? 1 : 0, tz, true);
    if (!t || (bracketed && line.charCodeAt(t.end) !== 93)) {
      rec.continues = 'text';
      rec.level = levelFromText(line);
      return rec;
    }
    rec.ts = t.ts;
    let rest = line.slice(t.end + (bracketed ? 1 : 0)).replace(/^[\s:|-]+/, '');
    const lv = levelToken.exec(rest);
    const word = lv ? (lv[1] ?? lv[2] ?? lv[3]) : undefined;
    const level = word ? levelFromWord(word) : undefined;
    if (lv && level) {
      rec.level = level;
      rest = rest.slice(lv[0].length);
    } else {
      rec.level = levelFromText(rest);
    }
    rec.message = rest;
    return rec;
  };
}

export const simpleTimestampParser = defineParser({
  name: 'simple_timestamp',
  component: '',
  description: 'lines that start with a timestamp, optionally followed by a level word',
  create: createSimpleTimestampParser,
});

/**
 * Fingerprints group log messages that differ only in their values. `normaliseMessage` replaces, in one
 * pass over the text: quoted literals ('…' and "…") with <S>, UUIDs with <UUID>, IPv4/IPv6 addresses with
 * <IP>, hex values (0x… or 8+ hex digits holding a digit) with <HEX>, numbers with <N>, absolute paths with
 * <PATH>, WAL locations (0/1A2B3C4) with <LSN>, and runs of whitespace with one space. Digits inside
 * identifiers (`table1`, `pg_stat_io`) are kept: they name things, they are not values.
 *
 * fingerprint = first 16 hex digits of sha256(source|level|normalised). The hash of a normalised text is
 * cached (bounded), since a handful of templates make up most lines of a busy log.
 */
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { currentMemoryBounds } from '../memory.js';

const maxNormalised = 4096;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}
/** ASCII word characters (letters, digits, _) by code: one load instead of five comparisons. */
const asciiWord = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  asciiWord[c] = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 ? 1 : 0;
}
/** Letters, digits, _ and every non-ASCII character; false for 0 (past the end). */
function isWordChar(c: number): boolean {
  return c >= 128 || (c >= 0 && asciiWord[c] === 1);
}
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}
function isPathChar(c: number): boolean {
  return isWordChar(c) || c === 47 || c === 46 || c === 45 || c === 126 || c === 43 || c === 64;
}

/**
 * The normaliser reads code units from this array, not from the string: a string's charCodeAt in optimised
 * code dispatches on how the string is stored (a slice of a chunk, a concatenation…) at every read site, and
 * with thirty sites that made the normaliser the optimising compiler's largest job of a run. Past the end
 * it holds 0 (twice), which every test below reads as no match (as it reads a NUL inside the text; charCodeAt's
 * NaN there deoptimised it).
 */
const codeBuffer = new Uint16Array(maxNormalised + 2);
/** The same memory as bytes: the text's UTF-16 code units are copied in natively (little-endian). */
const codeBytes = Buffer.from(codeBuffer.buffer, codeBuffer.byteOffset, codeBuffer.byteLength);
const littleEndian = endianness() === 'LE';

function codesOf(s: string): Uint16Array {
  const codes = codeBuffer;
  const n = s.length;
  // One native copy instead of a charCodeAt per character on a string that is mostly a slice of a chunk
  // (5.6% fewer instructions over a run on a log of statement durations).
  if (littleEndian) codeBytes.write(s, 0, 'utf16le');
  else for (let i = 0; i < n; i++) codes[i] = s.charCodeAt(i);
  codes[n] = 0;
  codes[n + 1] = 0;
  return codes;
}

const uuidShape = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const ipv4Shape = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d+)?$/;
const timeShape = /^\d{1,2}:\d{2}:\d{2}$/;

/** Classifies a token made of hex digits, dots, colons and dashes that starts at a word boundary. */
function classifyToken(tok: string): string | undefined {
  const len = tok.length;
  if (len === 36 && uuidShape.test(tok)) return '<UUID>';
  let digits = 0;
  let letters = 0;
  let dots = 0;
  let colons = 0;
  let dashes = 0;
  for (let i = 0; i < len; i++) {
    const c = tok.charCodeAt(i);
    if (isDigit(c)) digits++;
    else if (c === 46) dots++;
    else if (c === 58) colons++;
    else if (c === 45) dashes++;
    else letters++;
  }
  if (colons >= 2 && dots === 0 && dashes === 0 && (digits > 0 || tok.includes('::'))) {
    return timeShape.test(tok) ? '<N>' : '<IP>';
  }
  if (dots === 3 && colons <= 1 && letters === 0 && ipv4Shape.test(tok)) return '<IP>';
  if (letters === 0 && digits > 0) return '<N>';
  if (colons === 0 && dashes === 0 && dots === 0 && len >= 8 && digits > 0) return '<HEX>';
  return undefined;
}

/** The message with values replaced by placeholders (see the module header). */
export function normaliseMessage(message: string): string {
  const s = message.length > maxNormalised ? message.slice(0, maxNormalised) : message;
  const n = s.length;
  const codes = codesOf(s);
  let out = '';
  let copyFrom = 0;
  let i = 0;
  let prev = 32; // the character before i, as seen by the boundary checks
  while (i < n) {
    const c = codes[i]!;
    if (isWordChar(c) && isWordChar(prev)) {
      // Inside a word: nothing to replace until it ends (most characters of a message take this path).
      let j = i + 1;
      while (j < n && isWordChar(codes[j]!)) j++;
      prev = codes[j - 1]!;
      i = j;
      continue;
    }
    if (c === 39 || c === 34) {
      // Quoted literal; doubled quotes inside ('it''s') stay inside. Unterminated: leave as is.
      let j = i + 1;
      while (j < n) {
        if (codes[j]! === c) {
          if (codes[j + 1]! === c) {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      if (j < n) {
        out += `${s.slice(copyFrom, i)}<S>`;
        i = j + 1;
        copyFrom = i;
        prev = c;
        continue;
      }
    } else if (isSpace(c)) {
      let j = i + 1;
      while (j < n && isSpace(codes[j]!)) j++;
      if (j - i > 1 || c !== 32) {
        out += `${s.slice(copyFrom, i)} `;
        copyFrom = j;
      }
      i = j;
      prev = 32;
      continue;
    } else if (c === 47 && !isWordChar(prev) && prev !== 47 && i + 1 < n && isPathChar(codes[i + 1]!)) {
      // An absolute path: at least two segments, so "a / b" and "/ 2" stay as they are.
      let j = i + 1;
      let slashes = 1;
      while (j < n && isPathChar(codes[j]!)) {
        if (codes[j]! === 47) slashes++;
        j++;
      }
      if (slashes >= 2) {
        out += `${s.slice(copyFrom, i)}<PATH>`;
        i = j;
        copyFrom = i;
        prev = 47;
        continue;
      }
    } else if ((isHex(c) || (c === 58 && codes[i + 1]! === 58)) && !isWordChar(prev)) {
      // A token of hex digits, dots, colons, dashes starting at a word boundary: maybe a value.
      if (c === 48 && (codes[i + 1]! === 120 || codes[i + 1]! === 88) && isHex(codes[i + 2]!)) {
        let j = i + 2;
        while (j < n && isHex(codes[j]!)) j++;
        if (j >= n || !isWordChar(codes[j]!)) {
          out += `${s.slice(copyFrom, i)}<HEX>`;
          i = j;
          copyFrom = i;
          prev = 48;
          continue;
        }
      }
      let j = i;
      while (j < n) {
        const d = codes[j]!;
        if (isHex(d) || d === 46 || d === 58 || d === 45) j++;
        else break;
      }
      // Trailing punctuation belongs to the sentence, not the value ("at 0/1A2B.", "port 5432:").
      let end = j;
      while (end > i) {
        const d = codes[end - 1]!;
        if (d === 46 || d === 58 || d === 45) end--;
        else break;
      }
      const next = codes[end]!;
      if (next === 47 && end === j && isHex(codes[end + 1]!) && /^[0-9A-Fa-f]+$/.test(s.slice(i, end))) {
        // A WAL location (LSN) such as 0/1A2B3C4.
        let k = end + 1;
        while (k < n && isHex(codes[k]!)) k++;
        if (k >= n || !isWordChar(codes[k]!)) {
          out += `${s.slice(copyFrom, i)}<LSN>`;
          i = k;
          copyFrom = i;
          prev = 48;
          continue;
        }
      }
      const boundary = end >= n || !isWordChar(next) || isDigitSuffix(codes, n, i, end);
      if (boundary && end > i) {
        const placeholder = classifyToken(s.slice(i, end));
        if (placeholder) {
          out += s.slice(copyFrom, i) + placeholder;
          i = end;
          copyFrom = i;
          prev = 48;
          continue;
        }
      }
      // Not a value: skip the rest of this word so its inner digits are not taken for numbers.
      let k = i + 1;
      while (k < n && isWordChar(codes[k]!)) k++;
      prev = codes[k - 1]!;
      i = k;
      continue;
    }
    prev = c;
    i++;
  }
  return copyFrom === 0 ? s : out + s.slice(copyFrom);
}

/**
 * Every branch of the normaliser taken a few times when the module loads (microseconds): the optimising
 * compiler otherwise compiles it from the first messages of a log, which rarely hold every kind of value,
 * and throws that code away (and compiles again, ~90 ms of a core each time) at the first value of a
 * kind not yet seen — twice per run on an event-rich log.
 */
const warmUpText =
  "duration: 12.5 ms  at 0/1A2B3C4, from 192.168.0.1:5432 or ::1 and fe80::1, id 123e4567-e89b-12d3-a456-426614174000, 0x1F2e 0xzz deadbeef12 12:30:45 4kB 10.0.0.1. 'it''s' \"q\" 'open\t/var/lib/postgresql/18/main x/y / 2 table1 42abc 1-2-3 00ff:";
for (let i = 0; i < 4; i++) normaliseMessage(warmUpText);

/** "12ms", "4kB": a number directly followed by a unit still counts as a number. */
function isDigitSuffix(codes: Uint16Array, n: number, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (!isDigit(codes[i]!)) return false;
  let j = end;
  while (j < n && isWordChar(codes[j]!)) {
    const c = codes[j]!;
    if (isDigit(c)) return false;
    j++;
  }
  return j - end <= 3;
}

/**
 * Per source, per level: the "source|level|" text hashed before the message and its normalised texts →
 * fingerprints; bounded (the agent's memory budget), cleared when full. Looked up by the source and level
 * strings themselves, so that no key string is built per entry.
 */
interface Group {
  prefix: string;
  byText: Map<string, string>;
}
const groups = new Map<string, Map<string, Group>>();
let cached = 0;

function groupOf(source: string, level: string): Group {
  let byLevel = groups.get(source);
  if (!byLevel) {
    byLevel = new Map();
    groups.set(source, byLevel);
  }
  let g = byLevel.get(level);
  if (!g) {
    g = { prefix: `${source}|${level}|`, byText: new Map() };
    byLevel.set(level, g);
  }
  return g;
}

/** First 16 hex digits of sha256(source|level|normalised message). */
export function fingerprintOf(source: string, level: string, message: string): string {
  let g = groupOf(source, level);
  const normalised = normaliseMessage(message);
  const hit = g.byText.get(normalised);
  if (hit !== undefined) return hit;
  // Flattened: a 16-character slice would otherwise keep the whole 64-character digest alive in the
  // cache and in every counter keyed by it.
  const fp = createHash('sha256')
    .update(g.prefix + normalised)
    .digest()
    .toString('hex', 0, 8);
  if (cached >= currentMemoryBounds().fingerprintCache) {
    groups.clear();
    cached = 0;
    g = groupOf(source, level);
  }
  g.byText.set(normalised, fp);
  cached++;
  return fp;
}

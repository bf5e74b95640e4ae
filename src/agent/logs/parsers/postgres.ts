/**
 * PostgreSQL's stderr log (the default `log_destination`), under any `log_line_prefix`.
 *
 * The prefix is compiled once into an anchored regular expression: each escape (%m %t %n %p %c %l %s %v %x
 * %u %d %a %h %r %b %i %e %P %Q %L, with optional padding such as %-10u) becomes a group, everything after
 * %q is optional (PostgreSQL omits it for background processes), other text is literal. A line the prefix
 * does not fit is still read: a severity word followed by two spaces anywhere in it is enough, and a
 * timestamp at its start is used. Lines starting with a tab continue the previous message (PostgreSQL
 * indents the later lines of multi-line messages so); DETAIL/HINT/CONTEXT/STATEMENT/QUERY/LOCATION lines
 * are returned as continuations of their kind.
 */
import type { LogContext } from '../../../protocol/logs.js';
import { levelFromText } from '../levels.js';
import { parseIsoTimestamp } from '../time.js';
import {
  type AsciiSpan,
  defineParser,
  type LineParser,
  lineRecord,
  type ParsedRecord,
  type ParserOptions,
} from '../types.js';
import {
  continuationOf,
  levelFromPostgresSeverity,
  setIfPresent,
  setNumberIfPresent,
  setRemote,
} from './postgres-fields.js';

/** Debian's default; it also fits lines written under PostgreSQL's own default '%m [%p] '. */
export const defaultLogLinePrefix = '%m [%p] %q%u@%d ';

const severities =
  'DEBUG[1-5]|INFO|NOTICE|WARNING|ERROR|LOG|FATAL|PANIC|DETAIL|HINT|QUERY|CONTEXT|STATEMENT|LOCATION';
// The zone is matched lazily: under RDS's '%t:%r:…' a greedy zone would swallow the ':' and an IPv6 client.
const timestampPattern = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?(?: [A-Za-z0-9+:-]{1,40}?)?';
// Free-text fields are bounded: PostgreSQL cuts names at 63 bytes and host names stop at 255, and lazy
// fields without a bound let a prefix with three of them (RDS's) take cubic time on a hostile line that
// almost fits (seconds for 2,000 characters); bounded, the regex's work per line is small and fixed.
const field = '.{0,255}?';

type FieldKind =
  | 'ts'
  | 'epoch'
  | 'pid'
  | 'session_id'
  | 'line_num'
  | 'session_start'
  | 'vxid'
  | 'xid'
  | 'user'
  | 'database'
  | 'application'
  | 'host'
  | 'remote'
  | 'backend_type'
  | 'command_tag'
  | 'sqlstate'
  | 'leader_pid'
  | 'query_id'
  | 'local_address';

const escapes: Record<string, { kind: FieldKind; pattern: string }> = {
  m: { kind: 'ts', pattern: timestampPattern },
  t: { kind: 'ts', pattern: timestampPattern },
  n: { kind: 'epoch', pattern: '\\d+(?:\\.\\d+)?' },
  p: { kind: 'pid', pattern: '\\d+' },
  c: { kind: 'session_id', pattern: '[0-9a-f]+\\.[0-9a-f]+' },
  l: { kind: 'line_num', pattern: '\\d+' },
  s: { kind: 'session_start', pattern: timestampPattern },
  v: { kind: 'vxid', pattern: '(?:-?\\d+/\\d+)?' },
  x: { kind: 'xid', pattern: '\\d*' },
  u: { kind: 'user', pattern: field },
  d: { kind: 'database', pattern: field },
  a: { kind: 'application', pattern: field },
  h: { kind: 'host', pattern: field },
  // host(port), [local] or nothing (PostgreSQL prints the port whenever there is one): an IPv6 address's
  // colons cannot be taken for the prefix's own (RDS's '%t:%r:%u@%d:[%p]:'), as the port ends the field.
  r: { kind: 'remote', pattern: '\\[local\\]|[^\\s()]{1,255}\\(\\d{1,5}\\)|' },
  b: { kind: 'backend_type', pattern: field },
  i: { kind: 'command_tag', pattern: field },
  e: { kind: 'sqlstate', pattern: '[0-9A-Z]{5}' },
  P: { kind: 'leader_pid', pattern: '\\d*' },
  Q: { kind: 'query_id', pattern: '-?\\d+' },
  L: { kind: 'local_address', pattern: field },
};

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface CompiledPrefix {
  regex: RegExp;
  fields: FieldKind[];
}

/** Compiles a log_line_prefix into a regex matching prefix + severity + the two spaces after it. */
export function compileLogLinePrefix(prefix: string): CompiledPrefix {
  let pattern = '^';
  const fields: FieldKind[] = [];
  let optionalOpen = false;
  let literal = '';
  const flush = () => {
    pattern += escapeRegex(literal);
    literal = '';
  };
  for (let i = 0; i < prefix.length; i++) {
    const ch = prefix[i]!;
    if (ch !== '%' || i === prefix.length - 1) {
      literal += ch;
      continue;
    }
    // Padding: %-10u / %10u pads the value with spaces to that width.
    let j = i + 1;
    let padded = false;
    while (j < prefix.length && /[-0-9]/.test(prefix[j]!)) {
      padded = true;
      j++;
    }
    const esc = prefix[j];
    i = j;
    if (esc === '%') {
      literal += '%';
      continue;
    }
    if (esc === 'q') {
      flush();
      if (!optionalOpen) {
        pattern += '(?:';
        optionalOpen = true;
      }
      continue;
    }
    const spec = esc === undefined ? undefined : escapes[esc];
    if (!spec) continue; // PostgreSQL prints nothing for an unknown escape
    flush();
    fields.push(spec.kind);
    pattern += padded ? ` *(${spec.pattern}) *` : `(${spec.pattern})`;
  }
  flush();
  if (optionalOpen) pattern += ')?';
  pattern += `(${severities}):  `;
  return { regex: new RegExp(pattern), fields };
}

const fallbackSeverity = new RegExp(`(?:^|[^A-Za-z0-9_])(${severities}):  `);
const fallbackPid = /\[(\d+)\]/;

/**
 * Timestamps of consecutive lines share their second and zone: the epoch of "YYYY-MM-DD HH:MM:SS zone" is
 * cached and only the fraction is added (parsing the full text per line was a twentieth of the parser).
 * The cache is a memo: the result is the same function of the text as without it.
 */
interface TsCache {
  /** "YYYY-MM-DD HH:MM:SS" of the cached second, and the zone text after the fraction. */
  second: string;
  zone: string;
  base: number;
  /** The same second and zone as bytes (for `timestampOfBytes`), the zone's length; -1 when not set. */
  bytes: Uint8Array;
  bytesZone: number;
}

/** The time of `value`'s first `end` characters (the whole of it by default). */
function timestampOf(
  value: string,
  tz: string | undefined,
  cache: TsCache,
  end = value.length,
): number | undefined {
  let j = 19;
  let ms = 0;
  if (value.charCodeAt(19) === 46) {
    j = 20;
    let scale = 100;
    while (j < end) {
      const d = value.charCodeAt(j) - 48;
      if (d < 0 || d > 9) break;
      ms += d * scale;
      scale /= 10;
      j++;
    }
  }
  // Compared in place, without building a key string per line.
  if (
    end - j === cache.zone.length &&
    value.startsWith(cache.second) &&
    (cache.zone === '' || value.endsWith(cache.zone, end))
  ) {
    return cache.base + Math.floor(ms);
  }
  const second = value.slice(0, 19);
  const zone = value.slice(j, end);
  const t = parseIsoTimestamp(second + zone, 0, tz, true);
  if (!t) return undefined;
  cache.second = second;
  cache.zone = zone;
  cache.base = t.ts;
  cache.bytesZone = -1;
  return t.ts + Math.floor(ms);
}

/**
 * `timestampOf(line, tz, cache, tsEnd)` for a line whose bytes are ASCII: the cached second and zone are
 * compared as bytes (a string's startsWith with a text known only at run time costs a call per line).
 */
function timestampOfBytes(
  line: string,
  span: AsciiSpan,
  tsEnd: number,
  tz: string | undefined,
  cache: TsCache,
): number | undefined {
  const b = span.bytes;
  const o = span.at;
  let j = 19;
  let ms = 0;
  if (b[o + 19] === 46) {
    j = 20;
    let scale = 100;
    while (j < tsEnd) {
      const d = b[o + j]! - 48;
      if (d < 0 || d > 9) break;
      ms += d * scale;
      scale /= 10;
      j++;
    }
  }
  const zone = tsEnd - j;
  const cached = cache.bytes;
  if (zone === cache.bytesZone) {
    let same = true;
    for (let i = 0; i < 19; i++) {
      if (b[o + i] !== cached[i]) {
        same = false;
        break;
      }
    }
    for (let i = 0; same && i < zone; i++) if (b[o + j + i] !== cached[19 + i]) same = false;
    if (same) return cache.base + Math.floor(ms);
  }
  const t = timestampOf(line, tz, cache, tsEnd);
  // Found, the cache holds this line's second and zone: so do the bytes.
  if (t !== undefined && 19 + zone <= cached.length) {
    for (let i = 0; i < 19; i++) cached[i] = b[o + i]!;
    for (let i = 0; i < zone; i++) cached[19 + i] = b[o + j + i]!;
    cache.bytesZone = zone;
  }
  return t;
}

function applyField(
  ctx: LogContext,
  kind: FieldKind,
  value: string | undefined,
  rec: ParsedRecord,
  tz: string | undefined,
  cache: TsCache,
) {
  if (value === undefined) return;
  switch (kind) {
    case 'ts': {
      const ts = timestampOf(value, tz, cache);
      if (ts !== undefined) rec.ts = ts;
      return;
    }
    case 'epoch': {
      const n = Number(value);
      if (Number.isFinite(n)) rec.ts = Math.round(n * 1000);
      return;
    }
    case 'pid':
    case 'line_num':
    case 'xid':
    case 'leader_pid':
    case 'query_id':
      if (kind === 'xid' && value === '0') return;
      setNumberIfPresent(ctx, kind, value);
      return;
    case 'remote':
      setRemote(ctx, value);
      return;
    case 'backend_type':
      if (value) rec.component = value;
      setIfPresent(ctx, kind, value);
      return;
    default:
      setIfPresent(ctx, kind, value.trim());
  }
}

const verboseState = /^([0-9A-Z]{5}): /;

function finish(rec: ParsedRecord, severity: string, message: string): ParsedRecord {
  const cont = continuationOf(severity);
  if (cont) {
    rec.continues = cont;
    rec.message = message;
    return rec;
  }
  rec.level = levelFromPostgresSeverity(severity) ?? 'info';
  // log_error_verbosity = verbose puts the SQLSTATE before the message.
  const v = message.charCodeAt(5) === 58 ? verboseState.exec(message) : null;
  if (v) {
    rec.context.sqlstate = v[1]!;
    rec.message = message.slice(7);
  } else {
    rec.message = message;
  }
  return rec;
}

/** The severity word starting at `at` when ":  " follows it, else undefined (the regex's alternatives). */
function severityAt(line: string, at: number): string | undefined {
  let sev: string;
  switch (line.charCodeAt(at)) {
    case 76: // L
      sev = line.startsWith('LOG', at) ? 'LOG' : 'LOCATION';
      break;
    case 69: // E
      sev = 'ERROR';
      break;
    case 83: // S
      sev = 'STATEMENT';
      break;
    case 68: // D
      if (line.startsWith('DETAIL', at)) sev = 'DETAIL';
      else {
        const d = line.charCodeAt(at + 5);
        if (!line.startsWith('DEBUG', at) || d < 49 || d > 53) return undefined;
        sev = line.slice(at, at + 6);
      }
      break;
    case 67: // C
      sev = 'CONTEXT';
      break;
    case 72: // H
      sev = 'HINT';
      break;
    case 87: // W
      sev = 'WARNING';
      break;
    case 70: // F
      sev = 'FATAL';
      break;
    case 73: // I
      sev = 'INFO';
      break;
    case 78: // N
      sev = 'NOTICE';
      break;
    case 80: // P
      sev = 'PANIC';
      break;
    case 81: // Q
      sev = 'QUERY';
      break;
    default:
      return undefined;
  }
  const end = at + sev.length;
  return line.startsWith(sev, at) &&
    line.charCodeAt(end) === 58 &&
    line.charCodeAt(end + 1) === 32 &&
    line.charCodeAt(end + 2) === 32
    ? sev
    : undefined;
}

function isDigitCode(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Whether code `c` fits place `i` of "YYYY-MM-DD HH:MM:SS" (the prefix's time, read from a string or bytes). */
function fitsDateTime(c: number, i: number): boolean {
  if (i === 4 || i === 7) return c === 45;
  if (i === 10) return c === 32;
  if (i === 13 || i === 16) return c === 58;
  return isDigitCode(c);
}

/** [A-Za-z0-9+:-], the characters of a zone name in the timestamp pattern. */
function isZoneCode(c: number): boolean {
  return (c >= 48 && c <= 58) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 43 || c === 45;
}

/** What `matchDefaultPrefix` found: the ends of the timestamp and user@database, the pid, the severity. */
interface DefaultPrefixMatch {
  tsEnd: number;
  pid: number;
  /** -1 when the line has no user@database (a background process). */
  userFrom: number;
  userTo: number;
  databaseTo: number;
  severity: string;
}

/**
 * The default prefix ('%m [%p] %q%u@%d ') read by hand on the lines whose match is plain: the offset of
 * the message, or -1 to let the regex decide. Where it answers, it answers what the regex would (the
 * same groups, the same alternative first): the timestamp's fraction and zone and the pid are runs with one
 * possible end; user and database are the regex's first try (up to the first '@', then the first space)
 * and are taken only when the severity follows; a line with no '@' after the pid cannot match the
 * optional group, so the severity must follow the pid. Anything else (a '@' in a background process's
 * message, a user with a space, a line terminator in a field, a field over 255 characters) goes to the
 * regex. It saves the regex's captures and match array: a fifth of the line parser.
 */
function matchDefaultPrefix(line: string, out: DefaultPrefixMatch): number {
  const n = line.length;
  if (n < 30) return -1;
  for (let i = 0; i < 19; i++) if (!fitsDateTime(line.charCodeAt(i), i)) return -1;
  let p = 19;
  if (line.charCodeAt(p) === 46) {
    p++;
    const from = p;
    while (p < n && isDigitCode(line.charCodeAt(p))) p++;
    if (p === from) return -1;
  }
  if (line.charCodeAt(p) !== 32) return -1;
  if (line.charCodeAt(p + 1) !== 91) {
    const from = p + 1;
    let q = from;
    while (q < n && isZoneCode(line.charCodeAt(q))) q++;
    if (q === from || q - from > 40 || line.charCodeAt(q) !== 32 || line.charCodeAt(q + 1) !== 91) return -1;
    p = q;
  }
  out.tsEnd = p;
  p += 2;
  let pid = 0;
  const pidFrom = p;
  while (p < n && isDigitCode(line.charCodeAt(p))) pid = pid * 10 + (line.charCodeAt(p++) - 48);
  if (p === pidFrom || p - pidFrom > 15 || line.charCodeAt(p) !== 93 || line.charCodeAt(p + 1) !== 32) {
    return -1;
  }
  out.pid = pid;
  p += 2;
  const at = line.indexOf('@', p);
  if (at < 0) {
    const severity = severityAt(line, p);
    if (severity === undefined) return -1;
    out.userFrom = -1;
    out.severity = severity;
    return p + severity.length + 3;
  }
  const space = line.indexOf(' ', at + 1);
  if (space < 0 || at - p > 255 || space - at - 1 > 255) return -1;
  for (let i = p; i < space; i++) {
    const c = line.charCodeAt(i);
    if (c === 13 || c === 0x2028 || c === 0x2029) return -1;
  }
  const severity = severityAt(line, space + 1);
  if (severity === undefined) return -1;
  out.userFrom = p;
  out.userTo = at;
  out.databaseTo = space;
  out.severity = severity;
  return space + 1 + severity.length + 3;
}

/** The severity literals with their ":  ", as bytes, by the first letter's code (A–Z). */
const severityBytes: Array<Array<[Uint8Array, string]> | undefined> = new Array(91).fill(undefined);
for (const sev of severities.split('|')) {
  if (sev.startsWith('DEBUG')) continue;
  const first = sev.charCodeAt(0);
  const list = severityBytes[first] ?? [];
  list.push([Uint8Array.from(`${sev}:  `, (c) => c.charCodeAt(0)), sev]);
  severityBytes[first] = list;
}
const debugSeverities = ['DEBUG1', 'DEBUG2', 'DEBUG3', 'DEBUG4', 'DEBUG5'];

function bytesAre(b: Uint8Array, at: number, end: number, literal: Uint8Array): boolean {
  if (at + literal.length > end) return false;
  for (let i = 0; i < literal.length; i++) if (b[at + i] !== literal[i]) return false;
  return true;
}

/** severityAt over ASCII bytes: the same answer for the same characters. */
function severityAtBytes(b: Uint8Array, at: number, end: number): string | undefined {
  const first = b[at]!;
  if (first === 68 && b[at + 1] === 69 && b[at + 2] === 66) {
    // DEBUGn:  (after DETAIL, which starts with "DE" too, did not match: it cannot start with "DEB")
    if (at + 9 > end) return undefined;
    const d = b[at + 5]!;
    if (
      b[at + 3] !== 85 ||
      b[at + 4] !== 71 ||
      d < 49 ||
      d > 53 ||
      b[at + 6] !== 58 ||
      b[at + 7] !== 32 ||
      b[at + 8] !== 32
    ) {
      return undefined;
    }
    return debugSeverities[d - 49];
  }
  const list = first < 91 ? severityBytes[first] : undefined;
  if (list === undefined) return undefined;
  for (let i = 0; i < list.length; i++) {
    const entry = list[i]!;
    if (bytesAre(b, at, end, entry[0])) return entry[1];
  }
  return undefined;
}

/**
 * `matchDefaultPrefix` over the bytes of the line when they are ASCII (`span`; `n` the line's length):
 * the same checks in the same order, read from bytes (a byte is read several times faster than a
 * character of a string sliced from a chunk, which is what a line is).
 */
function matchDefaultPrefixBytes(span: AsciiSpan, n: number, out: DefaultPrefixMatch): number {
  if (n < 30) return -1;
  const b = span.bytes;
  const o = span.at;
  const end = o + n;
  for (let i = 0; i < 19; i++) if (!fitsDateTime(b[o + i]!, i)) return -1;
  let p = o + 19;
  if (b[p] === 46) {
    p++;
    const from = p;
    while (p < end && isDigitCode(b[p]!)) p++;
    if (p === from) return -1;
  }
  if (p >= end || b[p] !== 32) return -1;
  if (p + 1 >= end || b[p + 1] !== 91) {
    const from = p + 1;
    let q = from;
    while (q < end && isZoneCode(b[q]!)) q++;
    if (q === from || q - from > 40 || q + 1 >= end || b[q] !== 32 || b[q + 1] !== 91) return -1;
    p = q;
  }
  out.tsEnd = p - o;
  p += 2;
  let pid = 0;
  const pidFrom = p;
  while (p < end && isDigitCode(b[p]!)) pid = pid * 10 + (b[p++]! - 48);
  if (p === pidFrom || p - pidFrom > 15 || p + 1 >= end || b[p] !== 93 || b[p + 1] !== 32) return -1;
  out.pid = pid;
  p += 2;
  let at = p;
  while (at < end && b[at] !== 64) at++;
  if (at === end) {
    const severity = severityAtBytes(b, p, end);
    if (severity === undefined) return -1;
    out.userFrom = -1;
    out.severity = severity;
    return p - o + severity.length + 3;
  }
  let space = at + 1;
  while (space < end && b[space] !== 32) space++;
  if (space === end || at - p > 255 || space - at - 1 > 255) return -1;
  // ASCII: no U+2028/U+2029 to look for, only CR.
  for (let i = p; i < space; i++) if (b[i] === 13) return -1;
  const severity = severityAtBytes(b, space + 1, end);
  if (severity === undefined) return -1;
  out.userFrom = p - o;
  out.userTo = at - o;
  out.databaseTo = space - o;
  out.severity = severity;
  return space - o + 1 + severity.length + 3;
}

/** A name field's value, the last one kept: the same user and database come line after line. */
interface NameMemo {
  raw: string;
  value: string;
  /** `raw` as bytes, and its length; -1 when not set. */
  bytes: Uint8Array;
  bytesLength: number;
}

function newNameMemo(): NameMemo {
  return { raw: '', value: '', bytes: new Uint8Array(256), bytesLength: -1 };
}

/** `nameAt` for a line whose bytes are ASCII, the last raw text compared as bytes. */
function nameAtBytes(line: string, span: AsciiSpan, from: number, to: number, memo: NameMemo): string {
  const b = span.bytes;
  const o = span.at + from;
  const length = to - from;
  const m = memo.bytes;
  if (length === memo.bytesLength) {
    let i = 0;
    while (i < length && b[o + i] === m[i]) i++;
    if (i === length) return memo.value;
  }
  const value = nameAt(line, from, to, memo);
  // memo.raw is now this text.
  if (length <= m.length) {
    for (let i = 0; i < length; i++) m[i] = b[o + i]!;
    memo.bytesLength = length;
  } else memo.bytesLength = -1;
  return value;
}

function nameAt(line: string, from: number, to: number, memo: NameMemo): string {
  if (to - from === memo.raw.length && line.startsWith(memo.raw, from)) return memo.value;
  memo.raw = line.slice(from, to);
  memo.value = memo.raw.trim();
  memo.bytesLength = -1;
  return memo.value;
}

export function createPostgresStderrParser(opts: ParserOptions): LineParser {
  const prefix = opts.prefix ?? defaultLogLinePrefix;
  const { regex, fields } = compileLogLinePrefix(prefix);
  const byHand = prefix === defaultLogLinePrefix;
  const found: DefaultPrefixMatch = {
    tsEnd: 0,
    pid: 0,
    userFrom: -1,
    userTo: 0,
    databaseTo: 0,
    severity: '',
  };
  const user = newNameMemo();
  const database = newNameMemo();
  const tz = opts.timezone;
  const cache: TsCache = { second: '\u0000', zone: '', base: 0, bytes: new Uint8Array(64), bytesZone: -1 };
  // The record returned for a line folded into a pending entry: only its kind and text are read, and it
  // is not kept (see LineParser), so one object serves them all.
  const folded: ParsedRecord = lineRecord('', 'postgres');
  return (line: string, _now: number, continuing?: boolean, ascii?: AsciiSpan): ParsedRecord => {
    if (line.charCodeAt(0) === 9) {
      const rec = continuing ? folded : lineRecord(line, 'postgres');
      rec.continues = 'text';
      rec.message = line.slice(1);
      return rec;
    }
    const start = !byHand
      ? -1
      : ascii !== undefined
        ? matchDefaultPrefixBytes(ascii, line.length, found)
        : matchDefaultPrefix(line, found);
    if (start >= 0) {
      const severity = found.severity;
      if (continuing) {
        const cont = continuationOf(severity);
        if (cont) {
          folded.continues = cont;
          folded.message = line.slice(start);
          return folded;
        }
      }
      const rec = lineRecord(line, 'postgres');
      const ts =
        ascii !== undefined
          ? timestampOfBytes(line, ascii, found.tsEnd, tz, cache)
          : timestampOf(line, tz, cache, found.tsEnd);
      if (ts !== undefined) rec.ts = ts;
      rec.context.pid = found.pid;
      if (found.userFrom >= 0) {
        const u = found.userFrom;
        const d = found.userTo + 1;
        setIfPresent(
          rec.context,
          'user',
          ascii !== undefined
            ? nameAtBytes(line, ascii, u, found.userTo, user)
            : nameAt(line, u, found.userTo, user),
        );
        setIfPresent(
          rec.context,
          'database',
          ascii !== undefined
            ? nameAtBytes(line, ascii, d, found.databaseTo, database)
            : nameAt(line, d, found.databaseTo, database),
        );
      }
      return finish(rec, severity, line.slice(start));
    }
    const m = regex.exec(line);
    if (m) {
      const severity = m[fields.length + 1]!;
      // A DETAIL/STATEMENT/CONTEXT… line folded into the pending entry gives it only its text: its own
      // prefix fields (time, pid, user…) would be dropped, so they are not read (half the lines of an
      // event-rich log).
      if (continuing) {
        const cont = continuationOf(severity);
        if (cont) {
          folded.continues = cont;
          folded.message = line.slice(m[0].length);
          return folded;
        }
      }
      const rec = lineRecord(line, 'postgres');
      for (let i = 0; i < fields.length; i++) applyField(rec.context, fields[i]!, m[i + 1], rec, tz, cache);
      return finish(rec, severity, line.slice(m[0].length));
    }
    const rec = lineRecord(line, 'postgres');
    // The prefix does not fit (changed log_line_prefix, a foreign line): salvage what we can.
    const s = fallbackSeverity.exec(line);
    const t = parseIsoTimestamp(line, 0, tz, true);
    if (t) rec.ts = t.ts;
    if (s) {
      const before = line.slice(0, s.index);
      const pid = fallbackPid.exec(before);
      if (pid) rec.context.pid = Number(pid[1]);
      return finish(rec, s[1]!, line.slice(s.index + s[0].length));
    }
    rec.level = levelFromText(line);
    rec.context.unparsed = true;
    return rec;
  };
}

export const postgresStderrParser = defineParser({
  name: 'postgresql',
  component: 'postgres',
  description: "PostgreSQL stderr log under any log_line_prefix (--prefix, default '%m [%p] %q%u@%d ')",
  create: createPostgresStderrParser,
  postgres: true,
});

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
}

function timestampOf(value: string, tz: string | undefined, cache: TsCache): number | undefined {
  let j = 19;
  let ms = 0;
  if (value.charCodeAt(19) === 46) {
    j = 20;
    let scale = 100;
    while (j < value.length) {
      const d = value.charCodeAt(j) - 48;
      if (d < 0 || d > 9) break;
      ms += d * scale;
      scale /= 10;
      j++;
    }
  }
  // Compared in place, without building a key string per line.
  if (
    value.length - j === cache.zone.length &&
    value.startsWith(cache.second) &&
    (cache.zone === '' || value.endsWith(cache.zone))
  ) {
    return cache.base + Math.floor(ms);
  }
  const second = value.slice(0, 19);
  const zone = value.slice(j);
  const t = parseIsoTimestamp(second + zone, 0, tz, true);
  if (!t) return undefined;
  cache.second = second;
  cache.zone = zone;
  cache.base = t.ts;
  return t.ts + Math.floor(ms);
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

export function createPostgresStderrParser(opts: ParserOptions): LineParser {
  const { regex, fields } = compileLogLinePrefix(opts.prefix ?? defaultLogLinePrefix);
  const tz = opts.timezone;
  const cache: TsCache = { second: '\u0000', zone: '', base: 0 };
  return (line: string, _now: number, continuing?: boolean): ParsedRecord => {
    const rec = lineRecord(line, 'postgres');
    if (line.charCodeAt(0) === 9) {
      rec.continues = 'text';
      rec.message = line.slice(1);
      return rec;
    }
    const m = regex.exec(line);
    if (m) {
      const severity = m[fields.length + 1]!;
      // A DETAIL/STATEMENT/CONTEXT… line folded into the pending entry gives it only its text: its own
      // prefix fields (time, pid, user…) would be dropped, so they are not read (half the lines of an
      // event-rich log).
      if (!(continuing && continuationOf(severity))) {
        for (let i = 0; i < fields.length; i++) applyField(rec.context, fields[i]!, m[i + 1], rec, tz, cache);
      }
      return finish(rec, severity, line.slice(m[0].length));
    }
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

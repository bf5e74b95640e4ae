/**
 * `--parser auto`: picks a parser from the first lines of a log (at most `detectMaxLines` non-empty lines
 * and `detectMaxBytes` of text). Each line votes for the most specific format it fits — a JSON shape by
 * its own keys, a syslog frame by its tag and PostgreSQL's `[seq-chunk]`, a managed service's fixed
 * log_line_prefix — and the format with most votes wins (ties: the more specific). Pure: the same lines
 * always give the same answer, and the answer says why, so the caller can tell the user what it chose.
 */
import { compileLogLinePrefix, defaultLogLinePrefix } from './postgres.js';
import { azureLogLinePrefix } from './postgres-azure.js';
import { splitCsvRecord } from './postgres-csv.js';
import { levelFromPostgresSeverity } from './postgres-fields.js';
import { rdsLogLinePrefix } from './postgres-rds.js';
import { seqChunk } from './postgres-syslog.js';
import { boundedJsonObject, own, ownObject } from './postgres-wrapped.js';

export const detectMaxLines = 20;
export const detectMaxBytes = 64 * 1024;

/** Candidates, most specific first (the order breaks ties). */
const order = [
  'postgresql_cnpg',
  'postgresql_cloudsql',
  'postgresql_azure',
  'postgresql_json',
  'journald',
  'postgresql_heroku',
  'postgresql_syslog',
  'postgresql_rds',
  'postgresql_csv',
  'postgresql',
  'syslog',
] as const;

export type DetectedParser = (typeof order)[number];

export interface Detection {
  parser: DetectedParser;
  /** How many of the lines looked at voted for it, of how many. */
  votes: number;
  lines: number;
  /** One sentence for the user. */
  reason: string;
}

const rdsPrefix = compileLogLinePrefix(rdsLogLinePrefix).regex;
const azurePrefix = compileLogLinePrefix(azureLogLinePrefix).regex;
const stderrPrefix = compileLogLinePrefix(defaultLogLinePrefix).regex;
const herokuFrame = /^(?:<\d{1,3}>1 \S+ \S+ \S+ postgres\.\d+ |\S+ app\[postgres\.\d+\]: )/;
const syslog3164 = /^(?:<\d{1,3}>)?[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ ([^\s:[]+)(?:\[\d+\])?: ?(.*)$/;
const syslog5424 = /^<\d{1,3}>1 \S+ \S+ (\S+) \S+ \S+ (?:-|\[.*?\]) ?(.*)$/;
const syslogIso =
  /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d) \S+ ([^\s:[]+)(?:\[\d+\])?: ?(.*)$/;
const pgSeverity =
  /(?:^|\s|:)(?:LOG|ERROR|FATAL|PANIC|WARNING|NOTICE|INFO|DEBUG[1-5]|DETAIL|HINT|STATEMENT|CONTEXT|QUERY): {2}/;
const leadingTimestamp = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/;

/** The format one line fits best, or undefined. */
export function classifyLine(line: string): DetectedParser | undefined {
  if (line.charCodeAt(0) === 123) {
    const o = boundedJsonObject(line);
    if (!o) return undefined;
    if (own(o, 'logger') !== undefined && own(o, 'msg') !== undefined) return 'postgresql_cnpg';
    if (own(o, 'textPayload') !== undefined || ownObject(o, 'jsonPayload')) return 'postgresql_cloudsql';
    if (own(ownObject(o, 'properties'), 'message') !== undefined) return 'postgresql_azure';
    if (own(o, 'error_severity') !== undefined) return 'postgresql_json';
    if (own(o, '__REALTIME_TIMESTAMP') !== undefined || own(o, 'MESSAGE') !== undefined) return 'journald';
    return undefined;
  }
  if (herokuFrame.test(line)) return 'postgresql_heroku';
  const s = syslog5424.exec(line) ?? syslog3164.exec(line) ?? syslogIso.exec(line);
  if (s) {
    const msg = s[2]!.replace(/^ /, '');
    const pg = s[1]!.startsWith('postgres') || (seqChunk.test(msg) && pgSeverity.test(msg));
    return pg ? 'postgresql_syslog' : 'syslog';
  }
  if (rdsPrefix.test(line)) return 'postgresql_rds';
  if (azurePrefix.test(line)) return 'postgresql_azure';
  if (leadingTimestamp.test(line) && line.includes(',')) {
    const f = splitCsvRecord(line);
    if (f.length >= 22 && levelFromPostgresSeverity(f[11] ?? '')) return 'postgresql_csv';
  }
  if (stderrPrefix.test(line) || (leadingTimestamp.test(line) && pgSeverity.test(line))) return 'postgresql';
  return undefined;
}

const names: Record<DetectedParser, string> = {
  postgresql_cnpg: 'CloudNativePG JSON',
  postgresql_cloudsql: 'Cloud SQL log entries',
  postgresql_azure: 'Azure Database for PostgreSQL',
  postgresql_json: 'PostgreSQL jsonlog',
  journald: 'journalctl JSON',
  postgresql_heroku: 'Heroku Postgres',
  postgresql_syslog: 'PostgreSQL through syslog',
  postgresql_rds: 'Amazon RDS PostgreSQL',
  postgresql_csv: 'PostgreSQL csvlog',
  postgresql: 'PostgreSQL stderr',
  syslog: 'syslog',
};

/** Picks a parser for these first lines (blank lines and lines past the limits are not looked at). */
export function detectParser(lines: readonly string[]): Detection {
  const votes = new Map<DetectedParser, number>();
  let looked = 0;
  let bytes = 0;
  for (const line of lines) {
    if (looked >= detectMaxLines || bytes >= detectMaxBytes) break;
    if (line.trim() === '') continue;
    looked++;
    bytes += line.length + 1;
    // Tab-indented continuation lines of stderr say nothing.
    if (line.charCodeAt(0) === 9) {
      looked--;
      continue;
    }
    const kind = classifyLine(line.length > detectMaxBytes ? line.slice(0, detectMaxBytes) : line);
    if (kind) votes.set(kind, (votes.get(kind) ?? 0) + 1);
  }
  let best: DetectedParser | undefined;
  for (const kind of order) {
    const n = votes.get(kind) ?? 0;
    if (n > 0 && (best === undefined || n > (votes.get(best) ?? 0))) best = kind;
  }
  if (!best) {
    return {
      parser: 'postgresql',
      votes: 0,
      lines: looked,
      reason: `no known format in the first ${looked} line(s); reading them as PostgreSQL stderr`,
    };
  }
  const n = votes.get(best)!;
  return {
    parser: best,
    votes: n,
    lines: looked,
    reason: `${n} of the first ${looked} line(s) look like ${names[best]}`,
  };
}

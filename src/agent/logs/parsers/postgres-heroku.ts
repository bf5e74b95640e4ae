/**
 * Heroku Postgres logs: through a logplex syslog drain (RFC 5424 frames, `<134>1 2026-12-03T07:50:00+00:00
 * host app postgres.2046 - [DATABASE] [2-1] sql_error_code = 22012 ERROR:  division by zero`) or as
 * `heroku logs` prints them (`2026-12-03T07:50:00+00:00 app[postgres.2046]: [DATABASE] [2-1] …`). The
 * add-on's tag (`[DATABASE]`, `[HEROKU_POSTGRESQL_RED]`) becomes `addon`; the `[seq-chunk]` numbering and
 * the lines of one message are handled as for syslog; the text goes to the stderr parser under Heroku's
 * log_line_prefix `sql_error_code = %e ` (`--prefix` overrides it; a longer prefix is still read by its
 * severity word). The frame's time and pid are used, as the prefix carries neither.
 */
import { parseIsoTimestamp } from '../time.js';
import { defineParser, type LineParser, type ParsedRecord, type ParserOptions } from '../types.js';
import { createPostgresStderrParser } from './postgres.js';
import { addEnvelope, parseChunk, seqChunk, unescapeRsyslog } from './postgres-syslog.js';
import { boundLine } from './postgres-wrapped.js';

export const herokuLogLinePrefix = 'sql_error_code = %e ';

/** RFC 5424 frame from logplex, or `heroku logs` output: time, pid, the rest. */
const frame5424 = /^(?:<\d{1,3}>1 )?(\S+) \S+ \S+ postgres\.(\d+) \S+ (.*)$/;
const frameCli = /^(\S+) app\[postgres\.(\d+)\]: (.*)$/;
const addonTag = /^\[([A-Z][A-Z0-9_]*)\] /;

export function createPostgresHerokuParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  const inner = createPostgresStderrParser({ ...opts, prefix: opts.prefix ?? herokuLogLinePrefix });
  return (raw: string, now: number): ParsedRecord => {
    const line = boundLine(raw);
    const m = frame5424.exec(line) ?? frameCli.exec(line);
    if (!m) return inner(line, now);
    const ts = parseIsoTimestamp(m[1]!, 0, tz)?.ts;
    let msg = m[3]!;
    let addon: string | undefined;
    const a = addonTag.exec(msg);
    if (a) {
      addon = a[1]!;
      msg = msg.slice(a[0].length);
    }
    let chunk: number | undefined;
    const n = seqChunk.exec(msg);
    if (n) {
      chunk = n[2] === undefined ? 1 : Number(n[2]);
      msg = msg.slice(n[0].length);
    }
    const rec = parseChunk(inner, unescapeRsyslog(msg), chunk, now);
    return addEnvelope(rec, { ts, pid: Number(m[2]) }, { addon });
  };
}

export const postgresHerokuParser = defineParser({
  name: 'postgresql_heroku',
  component: 'postgres',
  description: 'Heroku Postgres logs (logplex syslog drain or `heroku logs`)',
  create: createPostgresHerokuParser,
  postgres: true,
});

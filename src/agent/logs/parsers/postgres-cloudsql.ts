/**
 * Google Cloud SQL for PostgreSQL logs as Cloud Logging exports them (`gcloud logging read --format=json`
 * flattened to one entry per line, a Pub/Sub or storage sink): a LogEntry with PostgreSQL's stderr text in
 * `textPayload`, or in `jsonPayload.message`; a `jsonPayload` holding csvlog's columns by name is read as
 * csvlog. The text goes to the stderr parser under Cloud SQL's log_line_prefix
 * (`%m [%p]: [%l-1] db=%d,user=%u `, `--prefix` overrides it; a line the prefix does not fit is still read
 * by severity word). The entry's `timestamp` is used when the text has no time; the instance
 * (`resource.labels.database_id`) is `instance`.
 */
import { parseIsoTimestamp } from '../time.js';
import {
  defineParser,
  type LineParser,
  type ParsedRecord,
  type ParserOptions,
  unparsedRecord,
} from '../types.js';
import { createPostgresStderrParser } from './postgres.js';
import { addEnvelope } from './postgres-syslog.js';
import {
  boundedJsonObject,
  boundLine,
  ownObject,
  ownString,
  parseFolded,
  recordFromNamedColumns,
} from './postgres-wrapped.js';

export const cloudSqlLogLinePrefix = '%m [%p]: [%l-1] db=%d,user=%u ';

export function createPostgresCloudSqlParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  const inner = createPostgresStderrParser({ ...opts, prefix: opts.prefix ?? cloudSqlLogLinePrefix });
  return (raw: string, now: number): ParsedRecord => {
    const line = boundLine(raw);
    const o = boundedJsonObject(line);
    if (!o) return unparsedRecord(line, 'postgres');
    const stamp = ownString(o, 'timestamp');
    const ts = stamp ? parseIsoTimestamp(stamp, 0, tz, true)?.ts : undefined;
    const instance = ownString(ownObject(ownObject(o, 'resource'), 'labels'), 'database_id');
    const payload = ownObject(o, 'jsonPayload');
    const text = ownString(o, 'textPayload') ?? ownString(payload, 'message');
    let rec: ParsedRecord | undefined;
    if (text !== undefined) rec = parseFolded(inner, text, now);
    else if (payload) rec = recordFromNamedColumns(payload, tz);
    if (!rec) return unparsedRecord(line, 'postgres', ts);
    return addEnvelope(rec, { ts }, { instance });
  };
}

export const postgresCloudSqlParser = defineParser({
  name: 'postgresql_cloudsql',
  component: 'postgres',
  description: 'Google Cloud SQL for PostgreSQL log entries (Cloud Logging JSON: textPayload or jsonPayload)',
  create: createPostgresCloudSqlParser,
  postgres: true,
});

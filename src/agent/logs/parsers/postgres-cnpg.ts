/**
 * CloudNativePG pod logs (`kubectl logs` of an instance pod, or what a cluster log shipper collects from
 * it): one JSON object per line, `{"level", "ts", "logger", "msg", "logging_pod", "record"}`. PostgreSQL's
 * own lines have logger "postgres" and msg "record", with csvlog's columns by name under `record`
 * (log_time, user_name, database_name, process_id, error_severity, sql_state_code, message, detail, query,
 * …); they become the record the csvlog parser makes of the same columns. A "postgres" line whose msg is
 * PostgreSQL's plain text (before the instance manager reads csvlog) goes to the stderr parser. Other
 * loggers (instance-manager, pg_controldata, pgaudit, …) are kept as entries of that component with their
 * msg and level. The time is log_time, else `ts` (an ISO string, or epoch seconds in older versions).
 */
import { levelFromText } from '../levels.js';
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
  own,
  ownObject,
  ownString,
  recordFromNamedColumns,
} from './postgres-wrapped.js';

function tsOf(v: unknown, tz: string | undefined): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.round(v * 1000);
  if (typeof v === 'string') return parseIsoTimestamp(v, 0, tz, true)?.ts;
  return undefined;
}

export function createPostgresCnpgParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  const inner = createPostgresStderrParser(opts);
  return (raw: string, now: number): ParsedRecord => {
    const line = boundLine(raw);
    const o = boundedJsonObject(line);
    if (!o) return unparsedRecord(line, 'postgres');
    const logger = ownString(o, 'logger') ?? '';
    const msg = ownString(o, 'msg') ?? '';
    const ts = tsOf(own(o, 'ts'), tz);
    const pod = ownString(o, 'logging_pod');
    const record = ownObject(o, 'record');
    if (logger === 'postgres') {
      const rec = record
        ? recordFromNamedColumns(record, tz)
        : msg !== 'record' && msg !== ''
          ? inner(msg, now)
          : undefined;
      if (rec) return addEnvelope(rec, { ts }, { pod });
    }
    const rec: ParsedRecord = {
      ts,
      level: levelFromText(ownString(o, 'level') ?? msg),
      component: logger || 'cloudnative-pg',
      message: msg || line,
      context: {},
    };
    if (!msg) rec.context.unparsed = true;
    return addEnvelope(rec, {}, { pod });
  };
}

export const postgresCnpgParser = defineParser({
  name: 'postgresql_cnpg',
  component: 'postgres',
  description: 'CloudNativePG pod logs (JSON; PostgreSQL records under "record")',
  create: createPostgresCnpgParser,
  postgres: true,
});

/**
 * Azure Database for PostgreSQL: the server log files (log_line_prefix `%t-%c-`, e.g.
 * `2026-12-03 07:50:05 UTC-6740a1b2.7fe-ERROR:  division by zero`) and the diagnostic-settings export
 * (category PostgreSQLLogs, one JSON object per line, the server's line in `properties.message`, the pid
 * in `properties.processId`). Both go to the stderr parser under that prefix (`--prefix` overrides it);
 * the JSON's own time (`properties.timestamp`, else `time`) is used when the line has none.
 */
import { parseIsoTimestamp } from '../time.js';
import { defineParser, type LineParser, type ParsedRecord, type ParserOptions } from '../types.js';
import { createPostgresStderrParser } from './postgres.js';
import { addEnvelope } from './postgres-syslog.js';
import { boundedJsonObject, boundLine, own, ownObject, ownString, parseFolded } from './postgres-wrapped.js';

export const azureLogLinePrefix = '%t-%c-';

export function createPostgresAzureParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  const inner = createPostgresStderrParser({ ...opts, prefix: opts.prefix ?? azureLogLinePrefix });
  return (raw: string, now: number): ParsedRecord => {
    const line = boundLine(raw);
    if (line.charCodeAt(0) !== 123) return inner(line, now);
    const o = boundedJsonObject(line);
    const props = ownObject(o, 'properties');
    const text = ownString(props, 'message');
    if (!o || text === undefined) return inner(line, now);
    const stamp = ownString(props, 'timestamp') ?? ownString(o, 'time');
    const ts = stamp ? parseIsoTimestamp(stamp, 0, tz, true)?.ts : undefined;
    const pidValue = own(props, 'processId');
    const pid = typeof pidValue === 'number' && Number.isInteger(pidValue) ? pidValue : undefined;
    return addEnvelope(parseFolded(inner, text, now), { ts, pid }, {});
  };
}

export const postgresAzureParser = defineParser({
  name: 'postgresql_azure',
  component: 'postgres',
  description: "Azure Database for PostgreSQL (log_line_prefix '%t-%c-' files, diagnostic-settings JSON)",
  create: createPostgresAzureParser,
  postgres: true,
});

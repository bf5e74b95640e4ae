/**
 * PostgreSQL jsonlog (`log_destination = 'jsonlog'`, PostgreSQL 15+): one JSON object per line with the
 * keys PostgreSQL documents (timestamp, user, dbname, pid, remote_host, …). A line that is not such an
 * object keeps its text as message.
 */
import type { LogContext } from '../../../protocol/logs.js';
import { parseIsoTimestamp } from '../time.js';
import {
  defineParser,
  jsonObjectOf,
  type LineParser,
  type ParsedRecord,
  type ParserOptions,
  unparsedRecord,
} from '../types.js';
import { levelFromPostgresSeverity } from './postgres-fields.js';

const keyMap: Record<string, string> = {
  user: 'user',
  dbname: 'database',
  pid: 'pid',
  remote_host: 'host',
  remote_port: 'port',
  session_id: 'session_id',
  line_num: 'line_num',
  ps: 'command_tag',
  session_start: 'session_start',
  vxid: 'vxid',
  txid: 'xid',
  state_code: 'sqlstate',
  detail: 'detail',
  hint: 'hint',
  internal_query: 'query',
  internal_position: 'query_position',
  context: 'context',
  statement: 'statement',
  cursor_position: 'statement_position',
  func_name: 'function',
  file_name: 'file',
  file_line_num: 'file_line',
  application_name: 'application',
  backend_type: 'backend_type',
  leader_pid: 'leader_pid',
  query_id: 'query_id',
};

export function createPostgresJsonParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  return (line: string): ParsedRecord => {
    const o = jsonObjectOf(line);
    if (!o) return unparsedRecord(line, 'postgres');
    const ctx: LogContext = {};
    for (const key in o) {
      const name = keyMap[key];
      const v = o[key];
      if (name === undefined || v === null || v === '' || v === '[unknown]') continue;
      if ((key === 'txid' || key === 'query_id') && v === 0) continue;
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') ctx[name] = v;
    }
    if (typeof ctx.port === 'string' && /^\d+$/.test(ctx.port)) ctx.port = Number(ctx.port);
    const t = typeof o.timestamp === 'string' ? parseIsoTimestamp(o.timestamp, 0, tz, true) : undefined;
    const severity = typeof o.error_severity === 'string' ? o.error_severity : '';
    return {
      ts: t?.ts,
      level: levelFromPostgresSeverity(severity) ?? 'info',
      component: typeof o.backend_type === 'string' && o.backend_type ? o.backend_type : 'postgres',
      message: typeof o.message === 'string' ? o.message : line,
      context: ctx,
    };
  };
}

export const postgresJsonParser = defineParser({
  name: 'postgresql_json',
  component: 'postgres',
  description: 'PostgreSQL jsonlog (PostgreSQL 15+)',
  create: createPostgresJsonParser,
  postgres: true,
});

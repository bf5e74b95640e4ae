/**
 * Log entries: what the agent's log pipeline produces and the server stores in `pgvigil.log_entries`.
 *
 * Guarantees:
 * - `level` is always one of `logLevels` (every source's own words are mapped onto these seven).
 * - `ts` is an ISO 8601 instant in UTC; entries whose line carried no time get the time they were read.
 * - `context` holds only JSON values, so it goes into a jsonb column unchanged; PostgreSQL events carry
 *   `context.event` (e.g. `checkpoint_complete`) and the structured fields of that event.
 * - `fingerprint` is the first 16 hex digits of sha256(source|level|normalised message), so entries that
 *   differ only in numbers, addresses, identifiers, literals or paths share it (see agent/logs/fingerprint).
 */
import type { ColumnSpec } from './families/types.js';

export const logLevels = ['debug', 'info', 'notice', 'warning', 'error', 'fatal', 'panic'] as const;
export type LogLevel = (typeof logLevels)[number];

/** Severity order, for "at least warning" filters. */
export const logLevelRank: Record<LogLevel, number> = {
  debug: 0,
  info: 1,
  notice: 2,
  warning: 3,
  error: 4,
  fatal: 5,
  panic: 6,
};

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type LogContext = { [key: string]: JsonValue };

export interface LogEntry {
  /** ISO 8601, UTC. */
  ts: string;
  /** The configured source name (e.g. `postgresql`, `auth`, `nginx_error`). */
  source: string;
  level: LogLevel;
  /** What wrote the line: a PostgreSQL backend type, a syslog program, an Apache module… */
  component: string;
  message: string;
  context: LogContext;
  fingerprint: string;
}

/**
 * The columns of `pgvigil.log_entries` after `server_id`, in wire order. Not a metric family (log rows have
 * no series identity); the batch format carries them under this column list like any family.
 */
export const logEntryColumns: readonly ColumnSpec[] = [
  { name: 'ts', type: 'timestamptz', help: 'when the line was written (read time when it carried none)' },
  { name: 'source', type: 'text', help: 'configured source name' },
  { name: 'level', type: 'text', help: 'debug, info, notice, warning, error, fatal or panic' },
  { name: 'component', type: 'text', help: 'backend type, program or module that wrote the line' },
  { name: 'message', type: 'text', help: 'the message, continuation lines folded into context' },
  { name: 'context', type: 'jsonb', help: 'structured fields: event, duration_ms, user, database, …' },
  { name: 'fingerprint', type: 'text', help: '16 hex digits grouping messages that differ only in values' },
];

export function isLogLevel(value: string): value is LogLevel {
  return (logLevels as readonly string[]).includes(value);
}

/**
 * What the three PostgreSQL formats (stderr, csvlog, jsonlog) share: severity words, the context field
 * names a record's prefix or columns map to, and the split of "host(port)" / "host:port".
 */
import type { LogContext, LogLevel } from '../../../protocol/logs.js';
import type { ContinuationKind } from '../types.js';

/** PostgreSQL severities → protocol levels. LOG is the server's "noteworthy" channel, shown as info. */
export function levelFromPostgresSeverity(severity: string): LogLevel | undefined {
  switch (severity) {
    case 'LOG':
    case 'INFO':
      return 'info';
    case 'ERROR':
      return 'error';
    case 'WARNING':
      return 'warning';
    case 'FATAL':
      return 'fatal';
    case 'PANIC':
      return 'panic';
    case 'NOTICE':
      return 'notice';
    case 'DEBUG':
    case 'DEBUG1':
    case 'DEBUG2':
    case 'DEBUG3':
    case 'DEBUG4':
    case 'DEBUG5':
      return 'debug';
    default:
      return undefined;
  }
}

/** Lines that belong to the message before them, by their severity word. */
export function continuationOf(severity: string): ContinuationKind | undefined {
  switch (severity) {
    case 'DETAIL':
      return 'detail';
    case 'HINT':
      return 'hint';
    case 'CONTEXT':
      return 'context';
    case 'STATEMENT':
      return 'statement';
    case 'QUERY':
      return 'query';
    case 'LOCATION':
      return 'location';
    default:
      return undefined;
  }
}

/** Sets `key` only for a value that says something (PostgreSQL prints "" or "[unknown]" for none). */
export function setIfPresent(ctx: LogContext, key: string, value: string | undefined): void {
  if (value === undefined || value === '' || value === '[unknown]') return;
  ctx[key] = value;
}

/** Numeric fields become numbers (pid, line numbers, xids) so they can be compared and summed. */
export function setNumberIfPresent(ctx: LogContext, key: string, value: string | undefined): void {
  if (value === undefined || value === '') return;
  const n = Number(value);
  if (Number.isFinite(n)) ctx[key] = n;
}

/** `10.0.0.1(54321)` (%r), `10.0.0.1:54321` (csvlog), `[local]` → host and port. */
export function setRemote(ctx: LogContext, remote: string | undefined): void {
  if (!remote || remote === '[unknown]') return;
  let m = /^(.*)\((\d+)\)$/.exec(remote);
  if (!m) m = /^(.*):(\d+)$/.exec(remote);
  if (m) {
    ctx.host = m[1]!;
    ctx.port = Number(m[2]);
  } else {
    ctx.host = remote;
  }
}

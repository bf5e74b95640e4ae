import { PgvigilError } from '../errors.js';

/** What a PostgreSQL URL names, for messages: never the password. */
export interface ConnectionTarget {
  host: string;
  port: number;
  user: string;
  database: string;
}

/** Parses and checks a `postgres://` URL; the error names what is wrong without echoing the password. */
export function parseDatabaseUrl(raw: string): ConnectionTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PgvigilError(
      'STORE_URL_INVALID',
      'DATABASE_URL is not a URL; expected postgres://user:password@host:5432/database (over a Unix socket: postgres://user:password@%2Fvar%2Frun%2Fpostgresql/database or postgres:///database?host=/var/run/postgresql)',
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new PgvigilError(
      'STORE_URL_INVALID',
      `DATABASE_URL has scheme "${url.protocol.replace(/:$/, '')}"; expected postgres:// or postgresql://`,
    );
  }
  const port = url.port === '' ? 5432 : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new PgvigilError('STORE_URL_INVALID', `DATABASE_URL has an invalid port "${url.port}"`);
  }
  const hostParam = url.searchParams.get('host');
  // A socket directory in the host part is percent-encoded (%2Fvar%2Frun%2Fpostgresql), as libpq reads it.
  const host =
    url.hostname !== '' ? safeDecode(url.hostname.replace(/^\[|\]$/g, '')) : (hostParam ?? 'localhost');
  const database = safeDecode(url.pathname.replace(/^\//, '')) || safeDecode(url.username) || 'postgres';
  return { host, port, user: safeDecode(url.username) || 'postgres', database };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Where a target is, for messages: host:port, or the socket file when the host is a directory. */
function whereOf(target: ConnectionTarget): string {
  return target.host.startsWith('/')
    ? `${target.host.replace(/\/$/, '')}/.s.PGSQL.${target.port}`
    : `${target.host}:${target.port}`;
}

/** The URL with its password replaced, safe to log or show. */
export function redactDatabaseUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password !== '') url.password = '***';
    for (const key of ['password', 'sslpassword'])
      if (url.searchParams.has(key)) url.searchParams.set(key, '***');
    return url.toString();
  } catch {
    return '[unparseable URL]';
  }
}

interface PgLikeError {
  code?: string;
  message?: string;
  errno?: number;
}

/**
 * Turns a connection failure into one line a person can act on: which host, which user, which database.
 * Unknown failures keep PostgreSQL's own message, which never contains the password.
 */
export function describeConnectError(err: unknown, target: ConnectionTarget): PgvigilError {
  const e = (err ?? {}) as PgLikeError;
  const where = whereOf(target);
  switch (e.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new PgvigilError('STORE_HOST_UNKNOWN', `cannot resolve the store host "${target.host}"`);
    case 'ECONNREFUSED':
      return new PgvigilError('STORE_UNREACHABLE', `no PostgreSQL listens at ${where} (connection refused)`);
    case 'ENOENT':
      // A socket directory without PostgreSQL's socket file in it.
      return new PgvigilError('STORE_UNREACHABLE', `no PostgreSQL listens at ${where} (no such socket file)`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new PgvigilError('STORE_UNREACHABLE', `the store host ${where} is unreachable`);
    case 'ETIMEDOUT':
      return new PgvigilError('STORE_UNREACHABLE', `no answer from ${where} (timed out)`);
    case '28P01':
    case '28000':
      return new PgvigilError(
        'STORE_AUTH_FAILED',
        `PostgreSQL at ${where} rejected user "${target.user}": ${e.message ?? 'authentication failed'}`,
      );
    case '3D000':
      return new PgvigilError(
        'STORE_DATABASE_MISSING',
        `database "${target.database}" does not exist on ${where}; create it with: createdb -h ${target.host} -p ${target.port} ${target.database}`,
      );
    default:
      if (/timeout/i.test(e.message ?? '')) {
        return new PgvigilError('STORE_UNREACHABLE', `no answer from ${where} (timed out)`);
      }
      return new PgvigilError('STORE_UNREACHABLE', `cannot connect to ${where}: ${e.message ?? String(err)}`);
  }
}

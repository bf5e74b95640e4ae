/**
 * Connections of the PostgreSQL collector to its target: how a session is opened (read-only, timeouts
 * set at start), how errors are told apart and described, and the main connection's reconnect back-off.
 *
 * Guarantees: an idle connection that dies never crashes the agent (its 'error' is taken and the session
 * marked broken); the password of the target URL never appears in a message or log line made here
 * (messages name host, port, user and database, and any other text is scrubbed); reconnects to a target
 * that is down wait 1 s doubling to `maxBackoffMs`, and a down target is logged when its reason changes,
 * not at every attempt.
 */
import pg from 'pg';
import type { Logger } from '../../../log.js';

export interface Session {
  broken: boolean;
  database: string;
  /**
   * Runs a statement once every statement asked for before it on this session has ended. Two parts of a
   * collection share the main session (the instance-wide families and the visit of its own database): they
   * take turns here rather than in node-postgres' own queue, which is deprecated (pg 9 drops it).
   */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(
    q: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  /** Closes the connection (never throws). */
  end(): Promise<void>;
}

export interface SessionSettings {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  connectTimeoutMs: number;
  /**
   * TLS for the sessions, given apart from the URL (which then carries no ssl parameters): the server's
   * agentless poller passes a CA bundle held in memory, which a URL could only name as a file.
   */
  ssl?: pg.ClientConfig['ssl'];
}

/** TLS verification failures by Node's error code: the certificate, not the network, is the problem. */
const tlsCertificateCodes =
  /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID|CERT_SIGNATURE_FAILURE)$/;

/** Host, port, user and database of a target URL: what messages may name. */
interface TargetParts {
  host: string;
  port: string;
  user: string;
  database: string;
  password: string;
}

function targetParts(url: string): TargetParts {
  try {
    const u = new URL(url);
    // Without a user in the URL, node-postgres connects as PGUSER, else as the operating system's user.
    const user =
      decodeURIComponent(u.username) ||
      u.searchParams.get('user') ||
      process.env.PGUSER ||
      process.env.USER ||
      'postgres';
    return {
      host: u.hostname || u.searchParams.get('host') || 'localhost',
      port: u.port || '5432',
      user,
      database: decodeURIComponent(u.pathname.replace(/^\//, '')) || user,
      password: decodeURIComponent(u.password) || u.searchParams.get('password') || '',
    };
  } catch {
    return { host: '?', port: '?', user: '?', database: '?', password: '' };
  }
}

/** `url` with another database, keeping everything else (host, credentials, TLS parameters). */
export function urlForDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** A failure of the connection itself (as opposed to one query): the rest of the collection is moot. */
export function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (typeof e.code === 'string' && /^(08|57P0[1-3]|ECONN|EPIPE|ETIMEDOUT|EHOST|ENET)/.test(e.code))
    return true;
  return /Connection terminated|not queryable|Client has encountered a connection error|Query read timeout/i.test(
    e.message ?? '',
  );
}

export async function closeSession(s: Session | undefined): Promise<void> {
  if (!s) return;
  s.broken = true;
  await s.end();
}

/** One monitored instance as the collector reaches it: opens its sessions and describes its errors. */
export class PostgresTarget {
  readonly #url: string;
  readonly #parts: TargetParts;
  readonly #settings: SessionSettings;
  /** host:port, what log lines name the target by. */
  readonly where: string;

  constructor(url: string, settings: SessionSettings) {
    this.#url = url;
    this.#parts = targetParts(url);
    this.#settings = settings;
    this.where = `${this.#parts.host}:${this.#parts.port}`;
  }

  /** The database of the target URL: the main connection's. */
  get database(): string {
    return this.#parts.database;
  }

  /** Removes the password from any text that might carry it (defence in depth: none should). */
  scrub(text: string): string {
    let out = text;
    if (this.#parts.password.length >= 3) out = out.split(this.#parts.password).join('***');
    return out.replace(/(postgres(?:ql)?:\/\/[^:/?#\s]*:)[^@\s]*@/g, '$1***@');
  }

  /**
   * A query error in one line, with its SQLSTATE: the reason a family reports. A privilege refusal (42501)
   * also names the role the agent connects as, which the server's finding puts in the GRANT it proposes
   * (src/intelligence/checks/watchdog.ts).
   */
  errorText(err: unknown): string {
    const e = err as { code?: string; message?: string };
    const code = e.code && /^[0-9A-Z]{5}$/.test(e.code) ? ` (SQLSTATE ${e.code})` : '';
    const role =
      e.code === '42501' && /^[\w.@-]{1,63}$/.test(this.#parts.user)
        ? `; the agent connects as role "${this.#parts.user}"`
        : '';
    return this.scrub(`${(e.message ?? String(err)).split('\n')[0]}${code}${role}`);
  }

  /** Why a connection attempt failed, in the words an operator acts on. */
  connectErrorText(err: unknown, database: string): string {
    const { host, user } = this.#parts;
    const where = this.where;
    const e = err as { code?: string; message?: string };
    const who = `user "${user}" to database "${database}" at ${where}`;
    switch (e.code) {
      case 'ECONNREFUSED':
        return `no PostgreSQL listens at ${where} (connection refused)`;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `cannot resolve host "${host}"`;
      case '28P01':
      case '28000':
        return this.scrub(`PostgreSQL rejected ${who}: ${e.message ?? 'authentication failed'}`);
      case '3D000':
        return `database "${database}" does not exist at ${where}`;
      default:
        if (typeof e.code === 'string' && tlsCertificateCodes.test(e.code))
          return this.scrub(
            `the TLS certificate of ${where} is not trusted (${e.code}: ${(e.message ?? '').split('\n')[0]}); check the CA bundle and that the host name is in the certificate`,
          );
        if (/server does not support SSL/i.test(e.message ?? ''))
          return `${where} does not accept TLS connections (sslmode asks for TLS)`;
        if (/timeout/i.test(e.message ?? ''))
          return `no answer from ${where} within ${this.#settings.connectTimeoutMs} ms`;
        return this.scrub(`cannot connect ${who}: ${(e.message ?? String(err)).split('\n')[0]}`);
    }
  }

  /** The error for a log line: its stack kept, the password scrubbed from message and stack. */
  scrubbedError(err: unknown): Error {
    const e = err as { code?: unknown; message?: string; stack?: string };
    const out = new Error(this.scrub(e.message ?? String(err)));
    out.name = err instanceof Error ? err.name : 'Error';
    out.stack = e.stack === undefined ? undefined : this.scrub(e.stack);
    if (e.code !== undefined) Object.assign(out, { code: e.code });
    return out;
  }

  /**
   * Opens a session. `timeoutsAtStartup`: the timeouts go with the connection's startup options instead
   * of a SET after it, one round trip fewer; only for sessions that never read pg_settings (visits to
   * other databases), since a startup option replaces the server's own value in reset_val.
   */
  async open(database: string, log: Logger, timeoutsAtStartup = false): Promise<Session> {
    const settings = this.#settings;
    const statementTimeout = Math.trunc(settings.statementTimeoutMs);
    const client = new pg.Client({
      connectionString: database === this.database ? this.#url : urlForDatabase(this.#url, database),
      application_name: 'pgvigil',
      lock_timeout: settings.lockTimeoutMs,
      // read-only sessions: whatever a query does, it cannot write
      options: timeoutsAtStartup
        ? `-c default_transaction_read_only=on -c statement_timeout=${statementTimeout} -c idle_in_transaction_session_timeout=60000`
        : '-c default_transaction_read_only=on',
      connectionTimeoutMillis: settings.connectTimeoutMs,
      // a guard for a network that stops answering: the server-side timeout cannot fire then
      query_timeout: settings.statementTimeoutMs + 5_000,
      keepAlive: true,
      ...(settings.ssl !== undefined ? { ssl: settings.ssl } : {}),
    });
    let last: Promise<unknown> = Promise.resolve();
    const session: Session = {
      broken: false,
      database,
      query: (q, values) => {
        const run = last.then(() => client.query(q as pg.QueryConfig, values));
        last = run.then(
          () => undefined,
          () => undefined,
        );
        return run as never;
      },
      end: () => client.end().catch(() => {}),
    };
    // An idle connection that dies emits 'error' on the client: unhandled, it would crash the agent.
    client.on('error', (err) => {
      session.broken = true;
      log.debug({ err: this.scrubbedError(err), database }, 'PostgreSQL connection lost');
    });
    client.on('end', () => {
      session.broken = true;
    });
    try {
      await client.connect();
      // SET, not startup options: a SET leaves the server's own value in pg_settings.reset_val, which the
      // settings family reports (a startup option would replace it). Nothing else runs before this.
      if (!timeoutsAtStartup)
        await client.query(
          `SET statement_timeout = ${statementTimeout};
         SET idle_in_transaction_session_timeout = 60000`,
        );
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    return session;
  }
}

/** The main session, or why there is none: `tried` says whether a connection attempt was made. */
export type MainSession = { session: Session } | { down: string; tried: boolean };

/**
 * The connection kept open between collections, to the target URL's database. A target that is down is
 * retried after a back-off, and until then every collection reports why without trying.
 */
export class MainConnection {
  #session: Session | undefined;
  #failures = 0;
  #nextAttemptAt = 0;
  #lastDownReason = '';

  constructor(
    private readonly target: PostgresTarget,
    private readonly maxBackoffMs: number,
  ) {}

  /** The open main session; (re)connects when it is missing or broken and the back-off allows. */
  async acquire(log: Logger, monotonic: () => number): Promise<MainSession> {
    const current = this.#session;
    if (current && !current.broken) return { session: current };
    await closeSession(current);
    this.#session = undefined;
    if (monotonic() < this.#nextAttemptAt) {
      const wait = Math.ceil((this.#nextAttemptAt - monotonic()) / 1000);
      return { down: `${this.#lastDownReason} (next connection attempt in ${wait} s)`, tried: false };
    }
    let session: Session;
    try {
      session = await this.target.open(this.target.database, log);
    } catch (err) {
      const reason = this.target.connectErrorText(err, this.target.database);
      this.#markDown(reason, log, monotonic());
      return { down: reason, tried: true };
    }
    this.#session = session;
    if (this.#failures > 0) log.info({ target: this.target.where }, 'PostgreSQL target is up again');
    this.#failures = 0;
    this.#lastDownReason = '';
    return { session };
  }

  /** The session failed mid-way: closes it, starts the back-off and returns the reason to report. */
  async lost(session: Session, err: unknown, log: Logger, monotonic: () => number): Promise<string> {
    const reason = `connection to ${this.target.where} lost: ${this.target.errorText(err)}`;
    await closeSession(session);
    this.#session = undefined;
    this.#markDown(reason, log, monotonic());
    return reason;
  }

  async close(): Promise<void> {
    await closeSession(this.#session);
    this.#session = undefined;
  }

  #markDown(reason: string, log: Logger, now: number): void {
    this.#failures++;
    const backoff = Math.min(this.maxBackoffMs, 1000 * 2 ** Math.min(this.#failures - 1, 16));
    this.#nextAttemptAt = now + backoff;
    if (reason !== this.#lastDownReason) {
      log.warn({ target: this.target.where, reason, retryInMs: backoff }, 'PostgreSQL target is down');
      this.#lastDownReason = reason;
    }
  }
}

/**
 * The PostgreSQL collector: one monitored instance (PostgreSQL 13–18), every family of
 * src/protocol/families/postgres.ts, from the SQL kept as data in ./queries.
 *
 * What it guarantees to the monitored server:
 * - At most one connection of ours at a time for the instance (the main connection, kept open between
 *   collections), plus one short-lived connection while visiting another database (or, when
 *   `keepDatabaseConnections` is set, at most that many kept); visits are one after another and
 *   overlapping collect() calls are refused, never stacked.
 * - Every session says application_name = 'pgvigil', runs read-only, and has statement_timeout and
 *   lock_timeout set at connection start, so no query of ours runs long or queues long behind a lock.
 *   The queries read statistics views and size functions: nothing stronger than AccessShareLock.
 * - Works with a role that has only pg_monitor (docs/postgres-setup.md).
 *
 * What it guarantees to the agent:
 * - collect() never throws for a database-side problem. A family that fails (permission, timeout,
 *   missing view) is reported degraded in `pg_collector` with its reason and tried again next time; the
 *   other families still arrive. An unreachable instance gives `pg_instance.up = false` with the reason,
 *   and reconnects back off exponentially (1 s doubling to `maxBackoffMs`).
 * - The password of the target URL never appears in rows, log lines or error messages: messages are
 *   built from host, port, user and database only, and any text that would contain it is scrubbed.
 * - Without pg_stat_statements it says once (warn) which SQL would enable it, and carries on.
 */
import pg from 'pg';
import type { Logger } from '../../../log.js';
import { type ColumnSpec, postgresFamilies } from '../../../protocol/families/index.js';
import type { CollectContext, Collector, FamilyRows, Row } from '../types.js';
import { type PromMetric, postgresPrometheusMetrics } from './prometheus.js';
import { databaseQueries } from './queries/database.js';
import { instanceQueries } from './queries/instance.js';
import {
  statementCountersQueries,
  statementInfoQueries,
  statementsAvailabilityQuery,
  statementTextsQuery,
} from './queries/statements.js';
import { type FamilyQuery, pickQuery } from './queries/types.js';
import {
  computeStatementDeltas,
  counterNames,
  entryKey,
  extensionVersionKey,
  type RankedStatement,
  SentTexts,
  type StatementCounters,
  type StatementEntry,
  type StatementsSnapshot,
  selectTopStatements,
  statementKey,
} from './statements.js';

export interface PostgresCollectorOptions {
  /** Collector name (several targets on one host need distinct names). Default 'postgres'. */
  name?: string;
  /** How often the scheduler runs it. Default 30 s. */
  intervalMs?: number;
  /** Per-database families (tables, indexes, statio) at most this often. Default 60 s; 0 = every time. */
  databaseIntervalMs?: number;
  /** Databases to visit (names, `*` wildcards). Default: all that accept connections. */
  includeDatabases?: string[];
  /** Databases never visited nor reported in pg_database (names, `*` wildcards). */
  excludeDatabases?: string[];
  /**
   * Connections to other databases kept open between visits, at most this many (0 = every visit connects
   * and disconnects). Kept connections make a visit ~4× cheaper but are idle backends, and an open
   * connection makes a plain DROP DATABASE of that database fail ("being accessed by other users"),
   * so the default is 0.
   */
  keepDatabaseConnections?: number;
  /** statement_timeout of our sessions. Default 5000 ms. */
  statementTimeoutMs?: number;
  /** lock_timeout of our sessions. Default 1000 ms. */
  lockTimeoutMs?: number;
  /** Connection attempt timeout. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Longest wait between reconnect attempts. Default 60 s. */
  maxBackoffMs?: number;
  /** Statements per ranking (time, calls, I/O). Default 100. */
  statementsTopN?: number;
  /** Statement texts are cut to this many characters. Default 4096. */
  statementTextMaxLength?: number;
  /** Row cap per database for tables and statio. Default 500. */
  maxTablesPerDatabase?: number;
  /** Row cap per database for indexes. Default 1000. */
  maxIndexesPerDatabase?: number;
  /** Collect only these families (names from src/protocol/families/postgres.ts). Default: all. */
  families?: string[];
  /** Labels added to every exported Prometheus sample, to tell several targets of one agent apart. */
  exportLabels?: Record<string, string>;
}

export interface PostgresCollector extends Collector {
  /** Closes the main connection (the agent calls it on shutdown). */
  close(): Promise<void>;
}

type Settings = Required<
  Omit<PostgresCollectorOptions, 'families' | 'includeDatabases' | 'excludeDatabases' | 'exportLabels'>
>;

const defaults: Settings = {
  name: 'postgres',
  intervalMs: 30_000,
  databaseIntervalMs: 60_000,
  keepDatabaseConnections: 0,
  statementTimeoutMs: 5_000,
  lockTimeoutMs: 1_000,
  connectTimeoutMs: 5_000,
  maxBackoffMs: 60_000,
  statementsTopN: 100,
  statementTextMaxLength: 4096,
  maxTablesPerDatabase: 500,
  maxIndexesPerDatabase: 1000,
};

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
    return {
      host: u.hostname || u.searchParams.get('host') || 'localhost',
      port: u.port || '5432',
      user: decodeURIComponent(u.username) || 'postgres',
      database:
        decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres',
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

/** Matches a database name against names with `*` wildcards. */
export function matchesAny(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => {
    const re = new RegExp(`^${p.split('*').map(escapeRegExp).join('.*')}$`);
    return re.test(name);
  });
}

function escapeRegExp(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether a database is visited and reported, given include and exclude lists. */
export function databaseSelected(
  name: string,
  include: readonly string[],
  exclude: readonly string[],
): boolean {
  if (include.length > 0 && !matchesAny(name, include)) return false;
  return !matchesAny(name, exclude);
}

/** Converts a value from `pg` to the family column's type (int8 and numeric arrive as strings). */
function convert(value: unknown, column: ColumnSpec): string | number | boolean | null {
  if (value === null || value === undefined) return column.label ? '' : null;
  switch (column.type) {
    case 'int4':
    case 'int8':
    case 'float4':
    case 'float8': {
      if (column.label && column.type === 'int8') return String(value);
      const n = typeof value === 'number' ? value : Number(value);
      return Number.isFinite(n) ? n : null;
    }
    case 'bool':
      return typeof value === 'boolean' ? value : value === 't' || value === 'true';
    case 'timestamptz':
      return value instanceof Date ? value.toISOString() : String(value);
    default:
      return typeof value === 'string' ? value : String(value);
  }
}

/** A database row → a family row: every column of the family, in order, null when the query lacks it. */
export function toFamilyRow(family: string, source: Record<string, unknown>): Row {
  const spec = postgresFamilies[family as keyof typeof postgresFamilies];
  const row: Row = {};
  for (const column of spec.columns) row[column.name] = convert(source[column.name], column);
  return row;
}

interface FamilyStatus {
  family: string;
  datname: string;
  ok: boolean;
  error: string | null;
  durationMs: number;
  rows: number;
}

/** A failure of the connection itself (as opposed to one query): the rest of the collection is moot. */
function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (typeof e.code === 'string' && /^(08|57P0[1-3]|ECONN|EPIPE|ETIMEDOUT|EHOST|ENET)/.test(e.code))
    return true;
  return /Connection terminated|not queryable|Client has encountered a connection error|Query read timeout/i.test(
    e.message ?? '',
  );
}

interface Session {
  client: pg.Client;
  broken: boolean;
  database: string;
}

export function createPostgresCollector(
  url: string,
  options: PostgresCollectorOptions = {},
): PostgresCollector {
  const cfg: Settings = { ...defaults };
  for (const [k, v] of Object.entries(options)) {
    if (v !== undefined && k in defaults) (cfg as unknown as Record<string, unknown>)[k] = v;
  }
  const include = options.includeDatabases ?? [];
  const exclude = options.excludeDatabases ?? [];
  const enabled = options.families ? new Set(options.families) : undefined;
  const wants = (family: string) => !enabled || enabled.has(family);
  const target = targetParts(url);
  const where = `${target.host}:${target.port}`;

  /** Removes the password from any text that might carry it (defence in depth: none should). */
  const scrub = (text: string): string => {
    let out = text;
    if (target.password.length >= 3) out = out.split(target.password).join('***');
    return out.replace(/(postgres(?:ql)?:\/\/[^:/?#\s]*:)[^@\s]*@/g, '$1***@');
  };
  const errorText = (err: unknown): string => {
    const e = err as { code?: string; message?: string };
    const code = e.code && /^[0-9A-Z]{5}$/.test(e.code) ? ` (SQLSTATE ${e.code})` : '';
    return scrub(`${(e.message ?? String(err)).split('\n')[0]}${code}`);
  };
  const connectErrorText = (err: unknown, database: string): string => {
    const e = err as { code?: string; message?: string };
    const who = `user "${target.user}" to database "${database}" at ${where}`;
    switch (e.code) {
      case 'ECONNREFUSED':
        return `no PostgreSQL listens at ${where} (connection refused)`;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `cannot resolve host "${target.host}"`;
      case '28P01':
      case '28000':
        return scrub(`PostgreSQL rejected ${who}: ${e.message ?? 'authentication failed'}`);
      case '3D000':
        return `database "${database}" does not exist at ${where}`;
      default:
        if (/timeout/i.test(e.message ?? ''))
          return `no answer from ${where} within ${cfg.connectTimeoutMs} ms`;
        return scrub(`cannot connect ${who}: ${(e.message ?? String(err)).split('\n')[0]}`);
    }
  };

  let main: Session | undefined;
  /** Connections to other databases kept between visits (keepDatabaseConnections > 0). */
  const kept = new Map<string, Session>();
  let running = false;
  let failures = 0;
  let nextAttemptAt = 0;
  let lastDownReason = '';
  let lastDatabaseVisit = Number.NEGATIVE_INFINITY;
  let previousStatements: StatementsSnapshot | undefined;
  const sentTexts = new SentTexts();
  let lastSettingsHash: string | undefined;
  let statementsWarned = false;
  /** Families (family@datname) currently failing, so a failure is logged when it starts, not every time. */
  const failing = new Map<string, string>();

  async function open(database: string, log: Logger): Promise<Session> {
    const client = new pg.Client({
      connectionString: database === target.database ? url : urlForDatabase(url, database),
      application_name: 'pgvigil',
      statement_timeout: cfg.statementTimeoutMs,
      lock_timeout: cfg.lockTimeoutMs,
      // read-only sessions: whatever a query does, it cannot write; the rest keeps idle sessions cheap
      options: '-c default_transaction_read_only=on -c idle_in_transaction_session_timeout=60000',
      connectionTimeoutMillis: cfg.connectTimeoutMs,
      // a guard for a network that stops answering: the server-side timeout cannot fire then
      query_timeout: cfg.statementTimeoutMs + 5_000,
      keepAlive: true,
    });
    const session: Session = { client, broken: false, database };
    // An idle connection that dies emits 'error' on the client: unhandled, it would crash the agent.
    client.on('error', (err) => {
      session.broken = true;
      log.debug({ err: errorText(err), database }, 'PostgreSQL connection lost');
    });
    client.on('end', () => {
      session.broken = true;
    });
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    return session;
  }

  async function closeSession(s: Session | undefined): Promise<void> {
    if (!s) return;
    s.broken = true;
    await s.client.end().catch(() => {});
  }

  async function runFamily(
    session: Session,
    q: FamilyQuery,
    version: number,
    datname: string,
    statuses: FamilyStatus[],
    out: Map<string, Row[]>,
    log: Logger,
  ): Promise<void> {
    const sql = pickQuery(q.versions, version);
    if (!sql) return; // not on this version (pg_stat_io before 16): not applicable, not degraded
    const started = performance.now();
    const statusKey = `${q.family}@${datname}`;
    try {
      const cap = q.family === 'pg_indexes' ? cfg.maxIndexesPerDatabase : cfg.maxTablesPerDatabase;
      // Named: prepared once per connection, so repeat collections skip planning these view-heavy
      // queries (most of their server time; ~3x less with the plan cached).
      const res = await session.client.query({
        name: `pgvigil_${q.family}_${version}`,
        text: sql,
        values: q.takesRowCap ? [cap] : [],
      });
      const rows = res.rows.map((r: Record<string, unknown>) => toFamilyRow(q.family, r));
      const list = out.get(q.family);
      if (list) list.push(...rows);
      else out.set(q.family, rows);
      statuses.push(status(q.family, datname, null, started, rows.length));
      if (failing.delete(statusKey))
        log.info({ family: q.family, datname }, 'PostgreSQL family collected again');
    } catch (err) {
      if (isConnectionFailure(err)) throw err;
      const reason = errorText(err);
      statuses.push(status(q.family, datname, reason, started, 0));
      if (failing.get(statusKey) !== reason) {
        log.warn({ family: q.family, datname, reason }, 'PostgreSQL family degraded; retrying next interval');
      }
      failing.set(statusKey, reason);
    }
  }

  function status(
    family: string,
    datname: string,
    error: string | null,
    started: number,
    rows: number,
  ): FamilyStatus {
    return { family, datname, ok: error === null, error, durationMs: performance.now() - started, rows };
  }

  async function collectStatements(
    session: Session,
    statuses: FamilyStatus[],
    out: Map<string, Row[]>,
    log: Logger,
  ): Promise<void> {
    const started = performance.now();
    let extVersion: number | undefined;
    try {
      const { rows } = await session.client.query<{ extversion: string | null; preload: string }>({
        name: 'pgvigil_statements_availability',
        text: statementsAvailabilityQuery,
      });
      const avail = rows[0];
      const preloaded = /(^|[,\s])pg_stat_statements($|[,\s])/.test(avail?.preload ?? '');
      if (!avail?.extversion || !preloaded) {
        const steps: string[] = [];
        if (!preloaded) {
          steps.push(
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'; -- then restart PostgreSQL (append to any libraries already listed)",
          );
        }
        if (!avail?.extversion)
          steps.push(`CREATE EXTENSION pg_stat_statements; -- in database "${session.database}"`);
        const reason = `pg_stat_statements is not available; to enable it run as a superuser: ${steps.join(' ')}`;
        if (!statementsWarned) log.warn({ sql: steps }, reason);
        statementsWarned = true;
        statuses.push(status('pg_statements', '', reason, started, 0));
        return;
      }
      extVersion = extensionVersionKey(avail.extversion);
    } catch (err) {
      if (isConnectionFailure(err)) throw err;
      statuses.push(status('pg_statements', '', errorText(err), started, 0));
      return;
    }
    const countersSql =
      extVersion === undefined ? undefined : pickQuery(statementCountersQueries, extVersion);
    const infoSql = extVersion === undefined ? undefined : pickQuery(statementInfoQueries, extVersion);
    if (!countersSql || !infoSql) {
      const reason = `pg_stat_statements extension version is too old for pgvigil; run: ALTER EXTENSION pg_stat_statements UPDATE; in database "${session.database}"`;
      if (!statementsWarned) log.warn(reason);
      statementsWarned = true;
      statuses.push(status('pg_statements', '', reason, started, 0));
      return;
    }
    try {
      const info = await session.client.query<{
        dealloc: string | null;
        stats_reset: Date | null;
        server_now: Date;
        max: number;
      }>({ name: `pgvigil_statements_info_${extVersion}`, text: infoSql });
      const counters = await session.client.query<Record<string, unknown>>({
        name: `pgvigil_statements_${extVersion}`,
        text: countersSql,
      });
      const i = info.rows[0];
      const snapshot: StatementsSnapshot = {
        serverNow: i ? i.server_now.getTime() : Date.now(),
        statsReset: i?.stats_reset ? i.stats_reset.getTime() : null,
        dealloc: i?.dealloc != null ? Number(i.dealloc) : null,
        entries: new Map(),
      };
      for (const r of counters.rows) {
        const entry = toStatementEntry(r);
        snapshot.entries.set(entryKey(entry), entry);
      }
      const result = computeStatementDeltas(previousStatements, snapshot);
      previousStatements = snapshot;
      if (result.reset || result.recreated > 0) {
        log.debug(
          { reset: result.reset, recreated: result.recreated, evicted: result.evicted },
          'pg_stat_statements entries were reset or evicted; their deltas count from re-creation',
        );
      }
      const top = selectTopStatements(result.deltas, cfg.statementsTopN);
      const names = await namesOf(session, top);
      out.set(
        'pg_statements',
        top.map((t) => statementRow(t, names)),
      );
      if (wants('pg_statements_info')) {
        out.set('pg_statements_info', [
          toFamilyRow('pg_statements_info', {
            entries: snapshot.entries.size,
            max: i?.max ?? null,
            dealloc: snapshot.dealloc,
            stats_reset: i?.stats_reset ?? null,
          }),
        ]);
      }
      statuses.push(status('pg_statements', '', null, started, top.length));
      if (wants('pg_statement_texts')) {
        const textStarted = performance.now();
        try {
          const texts = await newTexts(session, top);
          out.set('pg_statement_texts', texts);
          statuses.push(status('pg_statement_texts', '', null, textStarted, texts.length));
        } catch (err) {
          if (isConnectionFailure(err)) throw err;
          statuses.push(status('pg_statement_texts', '', errorText(err), textStarted, 0));
        }
      }
    } catch (err) {
      if (isConnectionFailure(err)) throw err;
      statuses.push(status('pg_statements', '', errorText(err), started, 0));
    }
  }

  /** Database and role names of the chosen statements (oids are the keys; names are for people). */
  async function namesOf(
    session: Session,
    top: RankedStatement[],
  ): Promise<{ db: Map<number, string>; role: Map<number, string> }> {
    const db = new Map<number, string>();
    const role = new Map<number, string>();
    if (top.length === 0) return { db, role };
    const { rows } = await session.client.query<{ kind: string; oid: number; name: string }>(
      `SELECT 'd' AS kind, oid::int8 AS oid, datname::text AS name FROM pg_database WHERE oid = ANY($1::oid[])
       UNION ALL
       SELECT 'r', oid::int8, rolname::text FROM pg_roles WHERE oid = ANY($2::oid[])`,
      [[...new Set(top.map((t) => t.delta.dbid))], [...new Set(top.map((t) => t.delta.userid))]],
    );
    for (const r of rows) (r.kind === 'd' ? db : role).set(Number(r.oid), r.name);
    return { db, role };
  }

  async function newTexts(session: Session, top: RankedStatement[]): Promise<Row[]> {
    const missing = top.filter(
      (t) => !sentTexts.has(statementKey(t.delta.queryid, t.delta.dbid, t.delta.userid)),
    );
    if (missing.length === 0) return [];
    const wanted = new Set(missing.map((t) => statementKey(t.delta.queryid, t.delta.dbid, t.delta.userid)));
    const { rows } = await session.client.query<{
      userid: string;
      dbid: string;
      queryid: string;
      query: string | null;
      truncated: boolean | null;
    }>(statementTextsQuery, [[...new Set(missing.map((t) => t.delta.queryid))], cfg.statementTextMaxLength]);
    const out: Row[] = [];
    for (const r of rows) {
      const key = statementKey(String(r.queryid), Number(r.dbid), Number(r.userid));
      // The text file can be garbage-collected under us (query null): try again next time.
      if (!wanted.has(key) || r.query === null || sentTexts.has(key)) continue;
      sentTexts.add(key);
      out.push(
        toFamilyRow('pg_statement_texts', {
          queryid: r.queryid,
          dbid: r.dbid,
          userid: r.userid,
          query: r.query,
          truncated: r.truncated ?? false,
        }),
      );
    }
    return out;
  }

  async function listDatabases(session: Session): Promise<string[]> {
    const { rows } = await session.client.query<{ datname: string }>({
      name: 'pgvigil_databases',
      text: `SELECT datname FROM pg_database
        WHERE datallowconn AND NOT datistemplate AND has_database_privilege(datname, 'CONNECT')
        ORDER BY datname`,
    });
    return rows.map((r) => r.datname).filter((d) => databaseSelected(d, include, exclude));
  }

  async function visitDatabases(
    version: number,
    statuses: FamilyStatus[],
    out: Map<string, Row[]>,
    log: Logger,
    signal: AbortSignal,
  ): Promise<void> {
    if (!main) return;
    const queries = databaseQueries.filter((q) => wants(q.family));
    if (queries.length === 0) return;
    let databases: string[];
    try {
      databases = await listDatabases(main);
    } catch (err) {
      if (isConnectionFailure(err)) throw err;
      for (const q of queries) statuses.push(status(q.family, '', errorText(err), performance.now(), 0));
      return;
    }
    for (const database of databases) {
      if (signal.aborted) return;
      let session: Session | undefined;
      const own = database === main.database;
      try {
        const reusable = kept.get(database);
        if (reusable && !reusable.broken) session = reusable;
        else {
          if (reusable) kept.delete(database);
          session = own ? main : await open(database, log);
        }
      } catch (err) {
        // A database we cannot enter (dropped meanwhile, pg_hba) degrades its own families only.
        const reason = connectErrorText(err, database);
        for (const q of queries) statuses.push(status(q.family, database, reason, performance.now(), 0));
        continue;
      }
      try {
        for (const q of queries) await runFamily(session, q, version, database, statuses, out, log);
      } catch (err) {
        if (own) throw err;
        const reason = errorText(err);
        for (const q of queries) {
          if (!statuses.some((s) => s.family === q.family && s.datname === database)) {
            statuses.push(status(q.family, database, reason, performance.now(), 0));
          }
        }
      } finally {
        if (!own && !session.broken && (kept.has(database) || kept.size < cfg.keepDatabaseConnections)) {
          kept.set(database, session);
        } else if (!own) await closeSession(session);
      }
    }
    // Databases dropped or no longer selected: let go of their connections.
    for (const [database, s] of kept) {
      if (!databases.includes(database)) {
        kept.delete(database);
        await closeSession(s);
      }
    }
  }

  function downRows(ts: number, reason: string, collectMs: number): FamilyRows[] {
    return [
      {
        family: 'pg_instance',
        ts,
        rows: [toFamilyRow('pg_instance', { up: false, collect_ms: collectMs, error: reason })],
      },
    ];
  }

  function markDown(reason: string, log: Logger, now: number): void {
    failures++;
    const backoff = Math.min(cfg.maxBackoffMs, 1000 * 2 ** Math.min(failures - 1, 16));
    nextAttemptAt = now + backoff;
    if (reason !== lastDownReason) {
      log.warn({ target: where, reason, retryInMs: backoff }, 'PostgreSQL target is down');
      lastDownReason = reason;
    }
  }

  async function collectOnce(ctx: CollectContext): Promise<FamilyRows[]> {
    const { log } = ctx;
    const startedAt = ctx.monotonic();
    const ts = ctx.now();
    if (!main || main.broken) {
      await closeSession(main);
      main = undefined;
      if (ctx.monotonic() < nextAttemptAt) {
        const wait = Math.ceil((nextAttemptAt - ctx.monotonic()) / 1000);
        return downRows(ts, `${lastDownReason} (next connection attempt in ${wait} s)`, 0);
      }
      try {
        main = await open(target.database, log);
      } catch (err) {
        const reason = connectErrorText(err, target.database);
        markDown(reason, log, ctx.monotonic());
        return downRows(ts, reason, ctx.monotonic() - startedAt);
      }
      if (failures > 0) log.info({ target: where }, 'PostgreSQL target is up again');
      failures = 0;
      lastDownReason = '';
    }
    const session = main;
    const statuses: FamilyStatus[] = [];
    const out = new Map<string, Row[]>();
    try {
      const info = await session.client.query<Record<string, unknown>>({
        name: 'pgvigil_instance',
        text: `SELECT current_setting('server_version_num')::int AS server_version_num,
                current_setting('server_version') AS server_version,
                pg_is_in_recovery() AS in_recovery, pg_postmaster_start_time() AS start_time,
                current_setting('max_connections')::int AS max_connections,
                (SELECT count(*) FROM pg_stat_activity) AS backends`,
      });
      const instance = info.rows[0] ?? {};
      const version = Number(instance.server_version_num);
      for (const q of instanceQueries) {
        if (ctx.signal.aborted) break;
        if (!wants(q.family)) continue;
        await runFamily(session, q, version, '', statuses, out, log);
      }
      // Only databases the user wants: the same lists that choose the databases visited.
      const dbRows = out.get('pg_database');
      if (dbRows)
        out.set(
          'pg_database',
          dbRows.filter((r) => databaseSelected(String(r.datname), include, exclude)),
        );
      // Settings change rarely: send the snapshot only when it differs from the last one sent.
      const settings = out.get('pg_settings');
      if (settings) {
        const hash = JSON.stringify(settings);
        if (hash === lastSettingsHash) out.delete('pg_settings');
        else lastSettingsHash = hash;
      }
      if (!ctx.signal.aborted && (wants('pg_statements') || wants('pg_statement_texts'))) {
        await collectStatements(session, statuses, out, log);
      }
      const now = ctx.monotonic();
      if (!ctx.signal.aborted && now - lastDatabaseVisit >= cfg.databaseIntervalMs) {
        lastDatabaseVisit = now;
        await visitDatabases(version, statuses, out, log, ctx.signal);
      }
      const collectMs = ctx.monotonic() - startedAt;
      const result: FamilyRows[] = [
        {
          family: 'pg_instance',
          ts,
          rows: [toFamilyRow('pg_instance', { ...instance, up: true, collect_ms: collectMs })],
        },
      ];
      for (const [family, rows] of out) result.push({ family, ts, rows });
      result.push({
        family: 'pg_collector',
        ts,
        rows: statuses.map((s) =>
          toFamilyRow('pg_collector', {
            family: s.family,
            datname: s.datname,
            ok: s.ok,
            error: s.error,
            duration_ms: s.durationMs,
            rows: s.rows,
          }),
        ),
      });
      return result;
    } catch (err) {
      // The connection failed mid-way: what was gathered is incomplete, report the instance as down.
      const reason = `connection to ${where} lost: ${errorText(err)}`;
      await closeSession(session);
      main = undefined;
      markDown(reason, log, ctx.monotonic());
      return downRows(ts, reason, ctx.monotonic() - startedAt);
    }
  }

  return {
    name: cfg.name,
    defaultEnabled: true,
    intervalMs: cfg.intervalMs,
    async collect(ctx: CollectContext): Promise<FamilyRows[]> {
      // One connection per instance at a time: a collection still running makes this one a no-op.
      if (running) {
        ctx.log.debug('previous PostgreSQL collection still running; skipping this one');
        return [];
      }
      running = true;
      try {
        const result = await collectOnce(ctx);
        // The agent's /metrics (when it runs an exporter) serves what the latest collection handed it.
        // Typed structurally: the context gains `expose` with the exporter; without it nothing is exported.
        const exporting = ctx as { expose?: (metrics: PromMetric[]) => void };
        exporting.expose?.(postgresPrometheusMetrics(result, options.exportLabels ?? {}));
        return result;
      } finally {
        running = false;
      }
    },
    async close(): Promise<void> {
      await closeSession(main);
      main = undefined;
      for (const s of kept.values()) await closeSession(s);
      kept.clear();
    },
  };
}

function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
}

function toStatementEntry(r: Record<string, unknown>): StatementEntry {
  const counters = {} as StatementCounters;
  for (const n of counterNames) counters[n] = num(r[n]);
  const since = r.stats_since;
  return {
    queryid: String(r.queryid),
    dbid: Number(r.dbid),
    userid: Number(r.userid),
    toplevel: r.toplevel !== false,
    statsSince: since instanceof Date ? since.getTime() : null,
    counters,
  };
}

function statementRow(
  t: RankedStatement,
  names: { db: Map<number, string>; role: Map<number, string> },
): Row {
  const c = t.delta.counters;
  return toFamilyRow('pg_statements', {
    ...c,
    queryid: t.delta.queryid,
    dbid: t.delta.dbid,
    userid: t.delta.userid,
    datname: names.db.get(t.delta.dbid) ?? '',
    usename: names.role.get(t.delta.userid) ?? '',
    top_by: t.topBy.join(','),
    interval_s: t.delta.intervalS,
    mean_exec_time_ms: c.calls > 0 ? c.exec_time_ms / c.calls : null,
  });
}

/**
 * The PostgreSQL collector: one monitored instance (PostgreSQL 13–18), every family of
 * src/protocol/families/postgres.ts, from the SQL kept as data in ./queries.
 *
 * What it guarantees to the monitored server:
 * - One connection of ours kept for the instance (the main connection, kept open between collections),
 *   plus one connection per other database visited, at most `databaseVisitConcurrency` (4) visits at a
 *   time (1: one after another). Up to `keepDatabaseConnections` of those (by default as many as the visit
 *   concurrency) stay open between visits, so a visit does not pay a connection start-up and a fresh
 *   backend's first plans; connections to other databases, in use or kept, are never more than the
 *   larger of the two (databases.ts). Overlapping collect() calls are refused, never stacked. Custom SQL
 *   metrics, when defined, add one connection of their own (./custom.ts: read-only transactions, their
 *   own statement timeouts).
 * - Every session says application_name = 'pgvigil', runs read-only, and has statement_timeout and
 *   lock_timeout set at connection start (statement_timeout by a SET before any other query, so the
 *   server's own value stays readable for pg_settings), so no query of ours runs long or queues long
 *   behind a lock.
 *   The families of one database (and the instance-wide ones) go as one message of EXECUTEs of statements
 *   prepared once per connection (families.ts: FamilyRunner.runAll), so a collection makes a handful of
 *   round trips instead of one a family.
 *   The queries read statistics views and size functions: nothing stronger than AccessShareLock, except
 *   reading a sequence's last value, which takes the RowExclusiveLock every nextval() takes (pg_sequences:
 *   at most `maxTablesPerDatabase` sequences a database; read last in their database's message, so the
 *   lock lasts until that message ends).
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
 *
 * This file is the wiring; the parts live beside it: session.ts (opening sessions, error texts, the main
 * connection's back-off), families.ts (one family's query → rows and status), databases.ts (the visits
 * for per-database families), statements.ts (pg_stat_statements), prometheus.ts (the /metrics view).
 */
import type { CustomMetricDef } from '../../../protocol/custom-metrics.js';
import type { CollectContext, Collector, FamilyRows, Row } from '../types.js';
import { CustomMetricsRunner } from './custom.js';
import { DatabaseVisits, databaseSelected } from './databases.js';
import { type Collection, FamilyRunner, toFamilyRow } from './families.js';
import { postgresPrometheusMetrics } from './prometheus.js';
import { databaseQueries } from './queries/database.js';
import { instanceInfoQuery, instanceQueries } from './queries/instance.js';
import type { RefusalPause } from './refusals.js';
import { MainConnection, PostgresTarget, type SessionSettings } from './session.js';
import { StatementsReader } from './statements.js';

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
   * and disconnects). Default: `databaseVisitConcurrency`. A kept connection saves a visit its connection
   * start-up and a fresh backend's first plans (a full collection ~4× faster, ~1/7 of the server time), but
   * is an idle backend between visits, and makes a plain DROP DATABASE (or CREATE DATABASE … TEMPLATE) of
   * its database fail ("being accessed by other users") until it is let go: docs/postgres-setup.md.
   */
  keepDatabaseConnections?: number;
  /**
   * Databases visited at the same time, each over its own connection (1 = one after another). A visit's
   * time is mostly its connection's start-up and a fresh backend's first plans, so visits side by side
   * end a full collection sooner at the cost of that many connections at once for a moment. Default 4.
   */
  databaseVisitConcurrency?: number;
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
  /** Row cap per database for tables and statio, and sequences read per database. Default 500. */
  maxTablesPerDatabase?: number;
  /** Row cap per database for indexes. Default 1000. */
  maxIndexesPerDatabase?: number;
  /** Collect only these families (names from src/protocol/families/postgres.ts). Default: all. */
  families?: string[];
  /** Labels added to every exported Prometheus sample, to tell several targets of one agent apart. */
  exportLabels?: Record<string, string>;
  /** TLS settings given apart from the URL (the server's agentless poller: a CA bundle in memory). */
  ssl?: SessionSettings['ssl'];
  /**
   * Custom SQL metrics (family pg_custom), run on their own intervals over a connection of their own
   * (./custom.ts); their rows and statuses go out with the next collection.
   */
  customMetrics?: CustomMetricDef[];
  /**
   * A family the server refuses for good (a missing grant, view or function) is asked again after this
   * pause, doubling up to `maxMs` (refusals.ts). Default 1 min, up to 15 min.
   */
  refusalPause?: RefusalPause;
}

export interface PostgresCollector extends Collector {
  /** Closes the main connection (the agent calls it on shutdown). */
  close(): Promise<void>;
}

type Settings = Required<
  Omit<
    PostgresCollectorOptions,
    | 'families'
    | 'includeDatabases'
    | 'excludeDatabases'
    | 'exportLabels'
    | 'ssl'
    | 'customMetrics'
    | 'keepDatabaseConnections'
    | 'refusalPause'
  >
>;

const defaults: Settings = {
  name: 'postgres',
  intervalMs: 30_000,
  databaseIntervalMs: 60_000,
  databaseVisitConcurrency: 4,
  statementTimeoutMs: 5_000,
  lockTimeoutMs: 1_000,
  connectTimeoutMs: 5_000,
  maxBackoffMs: 60_000,
  statementsTopN: 100,
  statementTextMaxLength: 4096,
  maxTablesPerDatabase: 500,
  maxIndexesPerDatabase: 1000,
};

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
  const target = new PostgresTarget(url, { ...cfg, ssl: options.ssl });
  const describe = (err: unknown) => target.errorText(err);
  const main = new MainConnection(target, cfg.maxBackoffMs);
  const runner = new FamilyRunner(describe, cfg, options.refusalPause);
  const wantedInstanceQueries = instanceQueries.filter((q) => wants(q.family));
  const visits = new DatabaseVisits(target, runner, {
    intervalMs: cfg.databaseIntervalMs,
    keep: options.keepDatabaseConnections ?? cfg.databaseVisitConcurrency,
    concurrency: cfg.databaseVisitConcurrency,
    include,
    exclude,
    queries: databaseQueries.filter((q) => wants(q.family)),
    refusalPause: options.refusalPause,
  });
  const statements = new StatementsReader({
    topN: cfg.statementsTopN,
    textMaxLength: cfg.statementTextMaxLength,
    info: wants('pg_statements_info'),
    texts: wants('pg_statement_texts'),
    describe,
    databaseSelected:
      include.length > 0 || exclude.length > 0
        ? (datname) => databaseSelected(datname, include, exclude)
        : undefined,
  });
  const customDefs = wants('pg_custom') ? (options.customMetrics ?? []) : [];
  /** Started by the first collection (it brings the logger); closed with the collector. */
  let custom: CustomMetricsRunner | undefined;
  let running = false;
  let lastSettingsHash: string | undefined;
  /** The snapshot this collection sends: it becomes the last one sent only once the rows are handed over. */
  let sendingSettingsHash: string | undefined;
  /**
   * The database sizes of the last collection that read them, by datname: /metrics keeps serving them in
   * the collections between (a scraper would otherwise see pg_database_size_bytes come and go); the rows
   * sent carry null there.
   */
  const lastSizes = new Map<string, unknown>();

  async function collectOnce(ctx: CollectContext): Promise<FamilyRows[]> {
    const { log } = ctx;
    const monotonic = () => ctx.monotonic();
    const startedAt = ctx.monotonic();
    const ts = ctx.now();
    const acquired = await main.acquire(log, monotonic);
    if ('down' in acquired) {
      return downRows(ts, acquired.down, acquired.tried ? ctx.monotonic() - startedAt : 0);
    }
    const { session } = acquired;
    if (customDefs.length > 0 && !custom) {
      custom = new CustomMetricsRunner(
        target,
        customDefs,
        {
          lockTimeoutMs: cfg.lockTimeoutMs,
          maxBackoffMs: cfg.maxBackoffMs,
          refusalPause: options.refusalPause,
        },
        log,
      );
      custom.start();
    }
    const c: Collection = { statuses: [], out: new Map(), log };
    const { statuses, out } = c;
    try {
      const info = await session.query<Record<string, unknown>>({
        name: 'pgvigil_instance',
        text: instanceInfoQuery,
      });
      const instance = info.rows[0] ?? {};
      const version = Number(instance.server_version_num);
      // The databases are visited while the instance-wide families and statements are read over the
      // main connection: a visit's time is mostly its own connection's start-up and a fresh backend's
      // first plans, which the main connection's queries need not wait for. At most
      // `databaseVisitConcurrency` other connections at a time; the visits' rows and statuses join after
      // the instance-wide ones, in the order a sequential collection gives.
      const visited: Collection = { statuses: [], out: new Map(), log };
      const due = !ctx.signal.aborted && visits.due(ctx.monotonic());
      // The database sizes (pg_database_size walks every file of every database) are read in the
      // collections that visit the databases; in between, size_bytes is null (not read), never a guess.
      c.readSizes = due;
      const visiting = due ? visits.visit(session, version, visited, ctx.signal) : undefined;
      // A failure of the main connection (thrown by either side) is seen only once both have ended,
      // so no query of this collection is still running when the caller closes the connection.
      const instanceSide = (async () => {
        if (!ctx.signal.aborted)
          await runner.runAll(session, wantedInstanceQueries, version, '', c, ctx.signal);
        if (!ctx.signal.aborted && (wants('pg_statements') || wants('pg_statement_texts'))) {
          await statements.collect(session, c);
        }
      })();
      const [instanceDone, visitDone] = await Promise.allSettled([instanceSide, visiting]);
      if (instanceDone.status === 'rejected') throw instanceDone.reason;
      // Only databases the user wants: the same lists that choose the databases visited.
      const dbRows = out.get('pg_database');
      if (dbRows) {
        const selected = dbRows.filter((r) => databaseSelected(String(r.datname), include, exclude));
        out.set('pg_database', selected);
        if (due) {
          lastSizes.clear();
          for (const r of selected) if (r.size_bytes != null) lastSizes.set(String(r.datname), r.size_bytes);
        }
      }
      // Settings change rarely: send the snapshot only when it differs from the last one sent.
      const settings = out.get('pg_settings');
      if (settings) {
        const hash = JSON.stringify(settings);
        if (hash === lastSettingsHash) out.delete('pg_settings');
        else sendingSettingsHash = hash;
      }
      if (visitDone.status === 'rejected') throw visitDone.reason;
      statuses.push(...visited.statuses);
      for (const [family, rows] of visited.out) {
        const list = out.get(family);
        if (list) list.push(...rows);
        else out.set(family, rows);
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
      // Custom metrics ran on their own: their rows carry the time each query ran; their status goes in
      // this collection's pg_collector (the newest run of each metric: one row per family and ts).
      const latestCustom = new Map<string, (typeof statuses)[number]>();
      for (const run of custom?.drain() ?? []) {
        if (run.rows.length > 0) result.push({ family: 'pg_custom', ts: run.ts, rows: run.rows });
        latestCustom.set(run.metric, run.status);
      }
      statuses.push(...latestCustom.values());
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
      const reason = await main.lost(session, err, log, monotonic);
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
      sendingSettingsHash = undefined;
      try {
        const result = await collectOnce(ctx);
        // A collection that timed out (its rows are dropped) or failed did not send the settings: the next
        // one must send them again, or they would never be sent until they change.
        if (
          sendingSettingsHash !== undefined &&
          !ctx.signal.aborted &&
          result.some((r) => r.family === 'pg_settings')
        )
          lastSettingsHash = sendingSettingsHash;
        // The agent's /metrics (when it runs an exporter) serves what the latest collection handed it.
        ctx.expose?.(postgresPrometheusMetrics(withLastSizes(result, lastSizes), options.exportLabels ?? {}));
        return result;
      } finally {
        running = false;
      }
    },
    async close(): Promise<void> {
      await custom?.close();
      await main.close();
      await visits.close();
    },
  };
}

/** `result` with the pg_database rows that read no size given the last size read for their database. */
function withLastSizes(result: FamilyRows[], lastSizes: ReadonlyMap<string, unknown>): FamilyRows[] {
  return result.map((f) =>
    f.family !== 'pg_database' || lastSizes.size === 0
      ? f
      : {
          ...f,
          rows: f.rows.map((r) =>
            r.size_bytes == null && lastSizes.has(String(r.datname))
              ? { ...r, size_bytes: lastSizes.get(String(r.datname)) as Row[string] }
              : r,
          ),
        },
  );
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

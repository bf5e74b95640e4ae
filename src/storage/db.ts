/**
 * The store: one PostgreSQL database holding everything, reached through a `pg` pool. External when
 * DATABASE_URL is given, otherwise the embedded server of `embedded.ts`.
 *
 * Guarantees: a bad URL or an unreachable store at start is one clear `PgvigilError` (exit code 2);
 * once running, losing the store is not a crash — a watcher retries with backoff and reports the state
 * (`health()`); queries fail until it is back, and their callers answer 503 (STORE_UNAVAILABLE).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from '../log.js';
import { describeConnectError, parseDatabaseUrl, redactDatabaseUrl } from './connection.js';
import { defaultDataDir, type EmbeddedStore, runningEmbeddedUrl, startEmbeddedStore } from './embedded.js';

// int8 and numeric as JS numbers would lose precision silently; keep int8 as string only where needed.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
});

export interface StoreHealth {
  reachable: boolean;
  checkedAt: string;
  error?: string;
  since: string;
}

export interface Store {
  pool: pg.Pool;
  kind: 'embedded' | 'external';
  /** The URL with the password masked. */
  redactedUrl: string;
  /** The connection URL itself, for this process's own use (the built-in agent); never logged. */
  url: string;
  serverVersion: string;
  serverVersionNum: number;
  dataDir?: string;
  health(): StoreHealth;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  databaseUrl?: string;
  dataDir?: string;
  log: Logger;
  poolSize?: number;
  applicationName?: string;
  /** How often the watcher checks the store while it is healthy. */
  watchIntervalMs?: number;
  /** For command-line tools: use the embedded store another pgvigil is running in the data directory. */
  shareRunning?: boolean;
}

/** Connects once with a short timeout to turn configuration mistakes into clear errors at start. */
async function probe(url: string): Promise<{ version: string; versionNum: number }> {
  const target = parseDatabaseUrl(url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw describeConnectError(err, target);
  }
  try {
    const { rows } = await client.query<{ server_version: string; server_version_num: string }>(
      "SELECT current_setting('server_version') AS server_version, current_setting('server_version_num') AS server_version_num",
    );
    const row = rows[0]!;
    return { version: row.server_version, versionNum: Number(row.server_version_num) };
  } finally {
    await client.end().catch(() => {});
  }
}

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  let embedded: EmbeddedStore | undefined;
  let url = opts.databaseUrl;
  if ((url === undefined || url === '') && opts.shareRunning) {
    url = await runningEmbeddedUrl(opts.dataDir ?? defaultDataDir());
  }
  if (url === undefined || url === '') {
    embedded = await startEmbeddedStore(opts.dataDir ?? defaultDataDir(), opts.log);
    url = embedded.url;
  }
  let info: { version: string; versionNum: number };
  try {
    info = await probe(url);
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    application_name: opts.applicationName ?? 'pgvigil-server',
  });
  // An idle client losing its server is reported by the watcher; it must not crash the process.
  pool.on('error', (err) => opts.log.warn({ err: { message: err.message } }, 'store connection lost'));

  const now = new Date().toISOString();
  let health: StoreHealth = { reachable: true, checkedAt: now, since: now };
  const stopWatch = new AbortController();
  void watch(pool, opts.watchIntervalMs ?? 5000, stopWatch.signal, opts.log, (h) => {
    health = h;
  });

  const redactedUrl = redactDatabaseUrl(url);
  opts.log.info(
    { store: embedded ? 'embedded' : 'external', url: redactedUrl, postgres: info.version },
    'store connected',
  );
  return {
    pool,
    kind: embedded ? 'embedded' : 'external',
    redactedUrl,
    url,
    serverVersion: info.version,
    serverVersionNum: info.versionNum,
    dataDir: embedded?.dataDir,
    health: () => health,
    close: async () => {
      stopWatch.abort();
      await pool.end().catch(() => {});
      await embedded?.stop();
    },
  };
}

/** Pings the store; on failure retries with backoff (1 s doubling to 30 s) and reports each change once. */
async function watch(
  pool: pg.Pool,
  intervalMs: number,
  signal: AbortSignal,
  log: Logger,
  report: (h: StoreHealth) => void,
): Promise<void> {
  let reachable = true;
  let since = new Date().toISOString();
  let backoff = 1000;
  while (!signal.aborted) {
    try {
      await sleep(reachable ? intervalMs : backoff, undefined, { signal });
    } catch {
      return;
    }
    const checkedAt = new Date().toISOString();
    try {
      await pool.query('SELECT 1');
      if (!reachable) log.info({ downSince: since }, 'store reachable again');
      if (!reachable) since = checkedAt;
      reachable = true;
      backoff = 1000;
      report({ reachable, checkedAt, since });
    } catch (err) {
      if (reachable) {
        since = checkedAt;
        log.error({ err: { message: (err as Error).message } }, 'store unreachable; retrying with backoff');
      }
      reachable = false;
      backoff = Math.min(backoff * 2, 30_000);
      report({ reachable, checkedAt, since, error: (err as Error).message });
    }
  }
}

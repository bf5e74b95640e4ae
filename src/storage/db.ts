/**
 * The store: one PostgreSQL database holding everything, reached through a `pg` pool. External when
 * DATABASE_URL is given, otherwise the embedded server of `embedded.ts`.
 *
 * Guarantees: a bad URL or an unreachable store at start is one clear `PgvigilError` (exit code 2);
 * once running, losing the store is not a crash:
 * - every pool connection carries an 'error' listener for its whole life, so a store that goes away
 *   (kill -9, restart, pg_terminate_backend) is logged, never an uncaught 'error' event;
 * - a watcher probes the store on a dedicated connection with a short timeout and keeps `health()`
 *   current; when it finds the store gone it cuts the pool's connections, so queries hanging on a frozen
 *   server fail (STORE_UNAVAILABLE, 503) instead of waiting for it;
 * - the embedded server is supervised (embedded.ts): restarted when it dies; when it cannot come back,
 *   `onFatal` runs (by default: one line on stderr, exit code 1).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { type PgvigilError, reportCommandFailure } from '../errors.js';
import type { Logger } from '../log.js';
import { describeConnectError, parseDatabaseUrl, redactDatabaseUrl } from './connection.js';
import { defaultDataDir, type EmbeddedStore, runningEmbeddedUrl, startEmbeddedStore } from './embedded.js';
import { handlePoolErrors } from './pool-errors.js';
import { ReadReplicas, type ReplicaStatus } from './read-replicas.js';
import { closeablePool } from './tx.js';

// int8 and numeric as JS numbers would lose precision silently; keep int8 as string only where needed.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
});

export interface StoreHealth {
  reachable: boolean;
  /** When the store was last checked (ISO 8601). */
  checkedAt: string;
  /** Why it is not reachable (absent while it is). */
  error?: string;
  /** Since when it has been in its current state (ISO 8601). */
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
  /** The watcher's last word on the store: never waits for the store itself. */
  health(): StoreHealth;
  /** The standbys history reads may use, with their state (empty without DATABASE_READ_URL). */
  readReplicas(): ReplicaStatus[];
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  databaseUrl?: string;
  dataDir?: string;
  log: Logger;
  poolSize?: number;
  applicationName?: string;
  /** How often the watcher checks the store while it is healthy (default 2 s). */
  watchIntervalMs?: number;
  /** How long one check may take before it counts as failed (default 2 s). */
  probeTimeoutMs?: number;
  /** How long a query waits for a pool connection (default 5 s). */
  connectTimeoutMs?: number;
  /** Streaming standbys of this store that history reads may use (./read-replicas.ts). */
  readReplicas?: { urls?: string[]; maxLagMs?: number };
  /** For command-line tools: use the embedded store another pgvigil is running in the data directory. */
  shareRunning?: boolean;
  /**
   * The embedded server died and could not be restarted. Default: the message on stderr and exit code 1 —
   * a process whose store is gone for good must not look alive.
   */
  onFatal?: (err: PgvigilError) => void;
  /**
   * Called once while the store starts, when this thread is free for other work: for the embedded store
   * once its PostgreSQL program (initdb or the server) runs, for an external one at once.
   */
  whileStarting?: () => void;
}

function exitOnFatal(err: PgvigilError): void {
  reportCommandFailure(err);
  process.exit(err.exitCode);
}

/** Connects once with a short timeout to turn configuration mistakes into clear errors at start. */
async function probe(url: string): Promise<{ version: string; versionNum: number }> {
  const target = parseDatabaseUrl(url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  // connect() and query() below report every failure; this only keeps a late socket error from going uncaught.
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
  // Set once the watcher exists; the supervisor may only report after the store is open.
  let watcher: StoreWatcher | undefined;
  if (url === undefined || url === '') {
    embedded = await startEmbeddedStore(opts.dataDir ?? defaultDataDir(), opts.log, {
      onDown: (reason) => watcher?.down(reason),
      onUp: () => watcher?.checkNow(),
      onFatal: (err) => {
        watcher?.down(err.message);
        (opts.onFatal ?? exitOnFatal)(err);
      },
      onSpawn: opts.whileStarting,
    });
    url = embedded.url;
  } else opts.whileStarting?.();
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
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: opts.applicationName ?? 'pgvigil-server',
  });
  const closeable = closeablePool(pool);
  const watched = new StoreWatcher(url, pool, closeable.clients, opts.log, {
    intervalMs: opts.watchIntervalMs ?? 2000,
    probeTimeoutMs: opts.probeTimeoutMs ?? 2000,
  });
  watcher = watched;

  const redactedUrl = redactDatabaseUrl(url);
  const replicaUrls = opts.readReplicas?.urls ?? [];
  const replicas =
    replicaUrls.length > 0
      ? new ReadReplicas(pool, replicaUrls, { maxLagMs: opts.readReplicas?.maxLagMs, log: opts.log })
      : undefined;
  await replicas?.start();
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
    health: () => watched.health,
    readReplicas: () => replicas?.status() ?? [],
    close: async () => {
      await replicas?.close();
      await watched.stop();
      // Every connection closed before the embedded store stops, or it ends them with an error.
      await closeable.end().catch(() => {});
      await embedded?.stop();
    },
  };
}

/**
 * Keeps `health` current: probes the store every `intervalMs` while it is reachable, and with a short
 * back-off (0.25 s doubling to 5 s) while it is not, each probe on its own connection and bounded by
 * `probeTimeoutMs`. A refused or broken connection counts at once; a probe that only times out counts
 * on the second in a row, so one slow answer on a busy machine does not cut the pool.
 */
class StoreWatcher {
  health: StoreHealth;
  private readonly stopped = new AbortController();
  private wake: AbortController = new AbortController();
  private readonly loop: Promise<void>;
  private timeouts = 0;

  constructor(
    private readonly url: string,
    pool: pg.Pool,
    /** The pool's open connections. */
    private readonly clients: ReadonlySet<pg.Client>,
    private readonly log: Logger,
    private readonly opts: { intervalMs: number; probeTimeoutMs: number },
  ) {
    const now = new Date().toISOString();
    this.health = { reachable: true, checkedAt: now, since: now };
    handlePoolErrors(pool, (err, idle) => {
      if (idle) this.log.warn({ err }, 'store connection lost');
      else this.log.debug({ err }, 'store connection lost while in use');
    });
    this.loop = this.run();
  }

  /** The supervisor knows before any probe: report it now and cut what waits on the dead server. */
  down(reason: string): void {
    this.report(false, reason);
  }

  /** Probe at once (the supervisor has brought the server back). */
  checkNow(): void {
    this.wake.abort();
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    let backoff = 250;
    while (!this.stopped.signal.aborted) {
      try {
        // After a first timeout the second check follows quickly: a frozen server is found within seconds.
        const healthy = this.health.reachable && this.timeouts === 0;
        await sleep(healthy ? this.opts.intervalMs : backoff, undefined, {
          signal: AbortSignal.any([this.stopped.signal, this.wake.signal]),
        });
      } catch {
        if (this.stopped.signal.aborted) return;
        this.wake = new AbortController();
      }
      const failure = await this.probe();
      if (failure === undefined) {
        this.timeouts = 0;
        backoff = 250;
        this.report(true);
      } else {
        if (!failure.timedOut || !this.health.reachable) backoff = Math.min(backoff * 2, 5000);
        if (failure.timedOut && this.health.reachable && ++this.timeouts < 2) continue;
        this.report(false, failure.message);
      }
    }
  }

  private report(reachable: boolean, error?: string): void {
    const checkedAt = new Date().toISOString();
    const was = this.health.reachable;
    if (reachable && !was) {
      this.log.info({ downSince: this.health.since }, 'store reachable again');
    } else if (!reachable && was) {
      this.log.error({ reason: error }, 'store unreachable; retrying with backoff');
      this.cutPool();
    }
    this.health = {
      reachable,
      checkedAt,
      since: reachable === was ? this.health.since : checkedAt,
      ...(reachable ? {} : { error: error ?? this.health.error ?? 'unreachable' }),
    };
  }

  /**
   * Closes the sockets of every pool connection: on a frozen server a query would otherwise wait as long as
   * the server stays frozen. Each fails with "Connection terminated" and the pool replaces it.
   */
  private cutPool(): void {
    for (const client of this.clients) socketOf(client)?.destroy();
  }

  /**
   * undefined when a new connection was made and answered `SELECT 1` in time. A new connection each time:
   * a postmaster that is frozen or gone leaves existing connections working (their backends run on) while
   * every new one waits — the pool's next connection would hang, so that is what is checked.
   */
  private async probe(): Promise<{ message: string; timedOut: boolean } | undefined> {
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.opts.probeTimeoutMs,
      application_name: 'pgvigil-store-watch',
    });
    client.on('error', (err) => this.log.debug({ err }, 'store watch connection error'));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.opts.probeTimeoutMs);
    });
    const attempt = client
      .connect()
      .then(() => client.query('SELECT 1'))
      .then(() => 'ok' as const);
    let failure: { message: string; timedOut: boolean } | undefined;
    try {
      if ((await Promise.race([attempt, timeout])) !== 'ok') {
        attempt.catch(() => {});
        failure = { message: `no answer within ${this.opts.probeTimeoutMs} ms`, timedOut: true };
      }
    } catch (err) {
      failure = { message: (err as Error).message, timedOut: /timeout/i.test((err as Error).message) };
    } finally {
      clearTimeout(timer);
    }
    if (failure === undefined) {
      await Promise.race([client.end().catch(() => {}), sleep(this.opts.probeTimeoutMs)]);
      socketOf(client)?.destroy();
    } else {
      // end() waits for the server's goodbye, which a frozen server never sends: close the socket.
      client.end().catch(() => {});
      socketOf(client)?.destroy();
    }
    return failure;
  }
}

/** The socket under a pg client (not in pg's types). */
function socketOf(client: pg.Client): { destroy(): void } | undefined {
  return (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
}

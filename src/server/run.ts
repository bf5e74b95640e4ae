/**
 * Starting and stopping a whole server process: store → migrations → jobs → HTTP, and the reverse on
 * SIGINT/SIGTERM. `pgvigil up` and `pgvigil server` both run this; `up` then adds its agent (src/up.ts).
 */
import { createServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { listenError, PgvigilError } from '../errors.js';
import type { Logger } from '../log.js';
import { loadSecretBox } from '../secrets.js';
import { openStore, type Store } from '../storage/db.js';
import { defaultDataDir } from '../storage/embedded.js';
import { loadMigrations, migrate } from '../storage/migrate.js';
import { defaultRetention, type RetentionPolicy } from '../storage/partitions.js';
import { whileStoreAway } from '../storage/tx.js';
import type { ServerTls } from './app.js';
import { numberFromEnv } from './env.js';
import { partitionJob } from './jobs/partitions.js';
import { runJobOnce, startJobs } from './jobs/runner.js';
import { installProcessSafetyNet } from './safety-net.js';

export interface ServerOptions {
  databaseUrl?: string;
  /** Streaming standbys for history reads (src/storage/read-replicas.ts). */
  readReplicas?: { urls?: string[]; maxLagMs?: number };
  dataDir?: string;
  host: string;
  port: number;
  retention?: RetentionPolicy;
  tls?: ServerTls;
  /** The mutual-TLS agent port (needs `tls`): the agent CA is loaded, or made on the first start. */
  agentPort?: number;
  /** The secret key file (--secrets-key-file); default PGVIGIL_SECRET_KEY_FILE, else `<data dir>/secret.key`. */
  secretKeyFile?: string;
  /** Agentless targets declared in a file (--agentless-targets-file), applied at start and on SIGHUP. */
  agentlessTargetsFile?: string;
  log: Logger;
}

export interface RunningServer {
  url: string;
  store: Store;
  /** The store's connection URL (with its password: never log it). */
  storeUrl: string;
  app: FastifyInstance;
  /** Set when this start created the first admin: its generated password, to be shown once. */
  firstAdmin?: { name: string; password: string };
  /** The agent port's URL, when it is open. */
  agentUrl?: string;
  /** Serves the TLS files as they are now (a renewed certificate); false without TLS; throws on a bad file. */
  reloadTls(): boolean;
  /** Applies the agentless targets file as it is now; false without one; throws on a bad file. */
  reloadAgentlessTargets(): Promise<boolean>;
  close(): Promise<void>;
}

/** PGVIGIL_FINDINGS_ON_INGEST: on (default) or off — an ingest-only instance leaves checks to the others. */
function findingsOnIngestFromEnv(): boolean {
  const v = process.env.PGVIGIL_FINDINGS_ON_INGEST ?? 'on';
  if (v !== 'on' && v !== 'off') {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `PGVIGIL_FINDINGS_ON_INGEST=${v.slice(0, 20)}: expected on or off`,
    );
  }
  return v === 'on';
}

/** PGVIGIL_ROLLUP_WORKERS: rollup runners of this instance, each claiming work on its own connection (1–8). */
function rollupWorkersFromEnv(): number {
  return numberFromEnv(process.env, 'PGVIGIL_ROLLUP_WORKERS', { min: 1, max: 8 }) ?? 1;
}

/**
 * Ingest writer tuning from the environment (PGVIGIL_INGEST_WRITERS, PGVIGIL_INGEST_GROUP_ROWS,
 * PGVIGIL_INGEST_CONCURRENT_GROUP_ROWS).
 */
function writerOptionsFromEnv(): {
  concurrency?: number;
  maxGroupRows?: number;
  concurrentGroupRows?: number;
} {
  const int = (name: string) => numberFromEnv(process.env, name, { min: 1 });
  return {
    concurrency: int('PGVIGIL_INGEST_WRITERS'),
    maxGroupRows: int('PGVIGIL_INGEST_GROUP_ROWS'),
    concurrentGroupRows: int('PGVIGIL_INGEST_CONCURRENT_GROUP_ROWS'),
  };
}

/**
 * Fails at once when `host:port` cannot be listened on (taken, not this machine's address, privileged), by
 * listening there and closing again: before the store starts, whose first start (initdb, migrations) takes
 * seconds an operator would otherwise wait to learn of a typo. The real listen still reports its own failure
 * (a program may take the port in between). Port 0 (any free port) is not checked.
 */
async function checkCanListen(host: string, port: number, option: string): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err) => reject(listenError(err, host, port, option)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  installProcessSafetyNet(opts.log);
  await checkCanListen(opts.host, opts.port, '--port');
  if (opts.agentPort !== undefined) await checkCanListen(opts.host, opts.agentPort, '--agent-port');
  // The app's and the jobs' modules load while the store starts (./start-modules.ts says why): once its
  // PostgreSQL program runs, since loading them holds this thread for half a second that would otherwise
  // come before initdb.
  let modules: Promise<typeof import('./start-modules.js')> | undefined;
  const loadModules = () => {
    if (!modules) {
      modules = import('./start-modules.js');
      modules.catch(() => undefined); // awaited below; a start that fails first must not leave it unhandled
    }
    return modules;
  };
  const store = await openStore({
    databaseUrl: opts.databaseUrl,
    dataDir: opts.dataDir,
    log: opts.log,
    readReplicas: opts.readReplicas,
    whileStarting: loadModules,
  });
  let app: FastifyInstance | undefined;
  let jobs: { stop(): Promise<void> } | undefined;
  let poller: { stop(): Promise<void> } | undefined;
  let firstAdmin: RunningServer['firstAdmin'];
  let agentUrl: string | undefined;
  let reloadTls: () => boolean = () => false;
  let reloadAgentlessTargets: () => Promise<boolean> = async () => false;
  try {
    const migrations = await loadMigrations();
    await migrate(store.pool, opts.log, migrations);
    const retention = opts.retention ?? defaultRetention;
    // The key that seals channel secrets lives beside the data (or in PGVIGIL_SECRET_KEY), never in the store.
    const secrets = await loadSecretBox({
      dataDir: store.dataDir ?? opts.dataDir ?? defaultDataDir(),
      ...(opts.secretKeyFile ? { env: { ...process.env, PGVIGIL_SECRET_KEY_FILE: opts.secretKeyFile } } : {}),
    });
    opts.log.info({ source: secrets.source, file: secrets.file }, 'secret key loaded');
    if (opts.agentPort !== undefined && !opts.tls) {
      throw new PgvigilError('BAD_ARGUMENT', '--agent-port needs --tls-cert and --tls-key');
    }
    const m = await loadModules();
    // The CA's key is sealed with the same secret key, so it is loaded (or made) only after it.
    const agentCa =
      opts.agentPort === undefined ? undefined : await m.loadOrCreateAgentCa(store.pool, secrets.box);
    // Three independent pieces of start-up run at once — the first admin (scrypt, on the thread pool),
    // today's partitions (DDL, in the store) and building the app (its routes, on this thread) — since
    // together they are most of the time to the first answer. Today's partitions must exist before the
    // first row arrives, so listening waits for all three; waiting, too, for another server that may be
    // creating them right now. The rest of the retention window follows at once in the background (a late
    // row arriving before then gets 503 and is sent again).
    // A store slow to answer (a connect timeout on a loaded machine) is waited for, not a crash.
    const retry = {
      onRetry: (err: unknown, attempt: number) =>
        opts.log.warn({ err, attempt }, 'the store did not answer at start-up; trying again'),
    };
    const [admin, partitions, built] = await Promise.allSettled([
      whileStoreAway(() => m.ensureFirstAdmin(store.pool), retry),
      whileStoreAway(
        () => runJobOnce(store.pool, partitionJob(retention, true), opts.log, { wait: true }),
        retry,
      ),
      m
        .buildServerApp({
          store,
          log: opts.log,
          latestMigration: migrations.at(-1)?.version ?? 0,
          retention,
          tls: opts.tls,
          writerOptions: writerOptionsFromEnv(),
          live: m.liveOptionsFromEnv(),
          findingsOnIngest: findingsOnIngestFromEnv(),
          secrets: secrets.box,
          agentCa,
        })
        .then(async (b) => {
          // Readies the app now, while the store creates partitions, not after. Its route schemas compile
          // when first used, or once listening (./lazy-schemas.ts).
          await b.app.ready();
          return b;
        }),
    ]);
    if (built.status === 'fulfilled') app = built.value.app;
    if (admin.status === 'rejected') throw admin.reason;
    if (partitions.status === 'rejected') throw partitions.reason;
    if (partitions.value === 'failed') throw new Error('partition maintenance failed at start; see the log');
    if (built.status === 'rejected') throw built.reason;
    firstAdmin = admin.value;
    app = built.value.app;
    reloadTls = built.value.reloadTls;
    try {
      await app.listen({ host: opts.host, port: opts.port });
    } catch (err) {
      throw listenError(err, opts.host, opts.port, '--port');
    }
    // The route schemas no request has used yet compile a few seconds on, one per turn of the event loop:
    // not in the first seconds, when the first requests, the full partition pass and the dashboard's
    // compression share the CPU.
    const schemas = built.value;
    setTimeout(() => {
      schemas
        .compileSchemas()
        .catch((err: unknown) => opts.log.error({ err }, 'a route schema does not compile'));
    }, 5000).unref();
    if (opts.agentPort !== undefined) agentUrl = await built.value.listenAgents(opts.host, opts.agentPort);
    // Only once listening: the first full partition pass (hundreds of partitions on a first start) would
    // otherwise compete with building the app for the CPU and delay the first answer by seconds.
    const findingsIntervalMs = m.findingsIntervalFromEnv();
    jobs = startJobs(
      store.pool,
      [
        partitionJob(retention),
        m.ledgerPruneJob(retention),
        m.agentPresenceJob(m.presenceOptionsFromEnv()),
        m.rollupJob(retention, { workers: rollupWorkersFromEnv() }),
        m.findingsJob(built.value.engine, findingsIntervalMs, { slicedElsewhere: true }),
        m.anomalyChecksJob(built.value.engine, findingsIntervalMs, {
          cacheSeries: m.baselineCacheSeriesFromEnv(),
        }),
        m.statementChecksJob(built.value.engine, { readers: m.findingsReadersFromEnv() }),
        m.logAnalysisJob(),
        m.incidentsJob({ retention }),
        m.slosJob(),
        m.baselinesJob({ serversPerRun: m.baselinesPerRunFromEnv() }),
        m.scrapesJob(built.value.scraper),
      ],
      opts.log,
    );
    // Agentless targets (managed PostgreSQL): polled by whichever instance holds each one's lease.
    if (opts.agentlessTargetsFile !== undefined) {
      const { applyTargetsFile } = await import('./agentless/targets-file.js');
      const file = opts.agentlessTargetsFile;
      const box = secrets.box;
      reloadAgentlessTargets = async () => {
        await applyTargetsFile(store.pool, box, file, opts.log);
        return true;
      };
      await reloadAgentlessTargets();
    }
    poller = m.startAgentlessPoller({
      pool: store.pool,
      writer: built.value.writer,
      engine: findingsOnIngestFromEnv() ? built.value.engine : undefined,
      secrets: secrets.box,
      log: opts.log,
      tickMs: m.agentlessTickFromEnv(),
      registry: built.value.registry,
    });
  } catch (err) {
    await poller?.stop();
    await app?.close().catch(() => {});
    await jobs?.stop();
    await store.close();
    throw err;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const running = app;
  const runningJobs = jobs;
  const runningPoller = poller;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${host}:${port}`,
    store,
    storeUrl: store.url,
    app: running,
    firstAdmin,
    agentUrl,
    reloadTls,
    reloadAgentlessTargets,
    close: async () => {
      // The poller first: its last batches go through the writer, which closing the app drains.
      await runningPoller?.stop();
      await running.close();
      await runningJobs.stop();
      await store.close();
    },
  };
}

/**
 * SIGHUP re-reads the TLS certificate and key (a renewal in place, `systemctl reload`) and the agentless
 * targets file; a bad file is logged and what runs stays. Either way the process keeps running, where
 * node's default would end it. Returns the handler's remover.
 */
export function reloadOnHangup(
  server: Pick<RunningServer, 'reloadTls' | 'reloadAgentlessTargets'>,
  log: Logger,
): () => void {
  const onHup = () => {
    try {
      if (server.reloadTls()) log.info('SIGHUP: TLS certificate and key re-read; new connections use them');
      else log.info('SIGHUP: no TLS files to reload (the server runs without TLS)');
    } catch (err) {
      log.error({ err }, 'SIGHUP: TLS files not reloaded; the running certificate stays');
    }
    server.reloadAgentlessTargets().catch((err: unknown) => {
      log.error({ err }, 'SIGHUP: agentless targets file not applied; the targets stay as they were');
    });
  };
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}

/** Resolves when the process is asked to stop; a second signal forces the exit. */
export function waitForStopSignal(log: Logger): Promise<string> {
  return new Promise((resolve) => {
    let asked = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (asked) {
        log.warn({ signal: sig }, 'second signal: exiting now');
        process.exit(130);
      }
      asked = true;
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/**
 * The agent `pgvigil up` runs beside its server: same process, real HTTP to the server's own URL (the same
 * path every remote agent takes), identity created directly in the store (no enrollment token), state
 * (credential, spool) under `<data dir>/agent`. It watches this host and a PostgreSQL: the one given, or
 * the store itself.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { Store } from '../storage/db.js';
import { localAgent } from './auth/agents.js';

export interface LocalAgentOptions {
  serverUrl: string;
  store: Store;
  storeUrl: string;
  dataDir: string;
  /** PostgreSQL to watch; default: the store. */
  postgresUrl?: string;
  intervalMs: number;
  pushIntervalMs: number;
  log: Logger;
}

export async function startLocalAgent(
  opts: LocalAgentOptions,
): Promise<{ agentId: string; stop(): Promise<void> }> {
  const { loadIdentity, saveIdentity } = await import('../agent/identity.js');
  const { runAgent } = await import('../agent/run.js');
  const stateDir = join(opts.dataDir, 'agent');
  const saved = await loadIdentity(stateDir);
  const enrolled = await localAgent(opts.store.pool, hostname(), saved?.agentId);
  const identity = {
    serverUrl: opts.serverUrl,
    ...enrolled,
    enrolledAt: saved?.enrolledAt ?? new Date().toISOString(),
  };
  await saveIdentity(stateDir, identity);

  const postgresUrl = opts.postgresUrl ?? opts.storeUrl;
  const { defaultLogSources, presentSources } = await import('../agent/logs/sources.js');
  const logSources = await presentSources(defaultLogSources());
  if (opts.store.kind === 'embedded' && !opts.postgresUrl) {
    // The embedded store writes its log beside its data, with PostgreSQL's default prefix.
    logSources.push({
      name: 'pgvigil_store',
      kind: 'file',
      parser: 'postgresql',
      prefix: '%m [%p] ',
      paths: [join(opts.dataDir, 'postgres.log')],
    });
  }
  const target = new URL(postgresUrl);
  let stop: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    stop = r;
  });
  let ready: () => void = () => {};
  const isReady = new Promise<void>((r) => {
    ready = r;
  });
  const running = runAgent({
    procRoot: '/proc',
    sysRoot: '/sys',
    rootFs: '/',
    intervalMs: opts.intervalMs,
    watches: [],
    nodeExporterMemoryNames: false,
    postgres: [{ name: `${target.hostname}:${target.port || '5432'}`, url: postgresUrl }],
    server: { url: opts.serverUrl, stateDir, identity, pushIntervalMs: opts.pushIntervalMs },
    logSources,
    log: opts.log.child({ component: 'agent' }),
    stopSignal: stopped,
    onReady: () => ready(),
  });
  await Promise.race([isReady, running]);
  return {
    agentId: identity.agentId,
    stop: async () => {
      stop();
      await running;
    },
  };
}

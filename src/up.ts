/**
 * `pgvigil up`: the all-in-one wiring, the one place where server and agent meet. The CLI starts the server
 * (`server/run.ts`, as `pgvigil server` does), then calls `startLocalAgent` to run an agent beside it: same
 * process, real HTTP to the server's own URL (the path every remote agent takes), identity created directly
 * in the store (no enrollment token), state (credential, spool) under `<data dir>/agent`. It watches this
 * host and a PostgreSQL: the one given, or the store itself.
 *
 * The server never imports the agent; keeping this wiring here is what lets `server/` and `agent/` stay
 * apart (layers: cli/up → server → storage → protocol, agent → protocol).
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { loadIdentity, saveIdentity } from './agent/identity.js';
import { defaultLogSources, presentSources } from './agent/logs/sources.js';
import { runAgent } from './agent/run.js';
import type { Logger } from './log.js';
import { localAgent } from './server/auth/agents.js';
import type { RunningServer } from './server/run.js';
import { defaultDataDir } from './storage/embedded.js';

export interface LocalAgentOptions {
  /** `--data-dir`, when given (the store's own data directory wins when it has one). */
  dataDir?: string;
  /** PostgreSQL to watch; default: the store. */
  postgresUrl?: string;
  intervalMs: number;
  pushIntervalMs: number;
  log: Logger;
}

export interface LocalAgent {
  agentId: string;
  stop(): Promise<void>;
}

/** The server's URL as a client on this host reaches it: a wildcard listen address becomes loopback. */
function localServerUrl(url: string): string {
  return url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
}

/** Starts the built-in agent of `pgvigil up` against `server`; resolves once it collects and ships. */
export async function startLocalAgent(server: RunningServer, opts: LocalAgentOptions): Promise<LocalAgent> {
  const serverUrl = localServerUrl(server.url);
  const dataDir = server.store.dataDir ?? opts.dataDir ?? defaultDataDir();
  const stateDir = join(dataDir, 'agent');
  const saved = await loadIdentity(stateDir);
  const enrolled = await localAgent(server.store.pool, hostname(), saved?.agentId);
  const identity = {
    serverUrl,
    ...enrolled,
    enrolledAt: saved?.enrolledAt ?? new Date().toISOString(),
  };
  await saveIdentity(stateDir, identity);

  const postgresUrl = opts.postgresUrl ?? server.storeUrl;
  const logSources = await presentSources(defaultLogSources());
  if (server.store.kind === 'embedded' && !opts.postgresUrl) {
    // The embedded store writes its log beside its data, with PostgreSQL's default prefix.
    logSources.push({
      name: 'pgvigil_store',
      kind: 'file',
      parser: 'postgresql',
      prefix: '%m [%p] ',
      paths: [join(dataDir, 'postgres.log')],
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
    server: { url: serverUrl, stateDir, identity, pushIntervalMs: opts.pushIntervalMs },
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

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
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { ProcessWatch } from './agent/collectors/process.js';
import { loadIdentity, machineIdentity, saveIdentity } from './agent/identity.js';
import {
  defaultLogSources,
  type FileSourceConfig,
  type LogSourceConfig,
  presentSources,
} from './agent/logs/sources.js';
import { runAgent } from './agent/run.js';
import { maskUrlPassword } from './config/print.js';
import { componentLogger, type Logger } from './log.js';
import { localAgent } from './server/auth/agents.js';
import type { RunningServer } from './server/run.js';
import { defaultDataDir } from './storage/embedded.js';
import { whileStoreAway } from './storage/tx.js';

export interface LocalAgentOptions {
  /** `--data-dir`, when given (the store's own data directory wins when it has one). */
  dataDir?: string;
  /** PostgreSQL to watch; default: the store. */
  postgresUrl?: string;
  intervalMs: number;
  pushIntervalMs: number;
  /** Processes to watch (`--watch-process`). */
  watches?: ProcessWatch[];
  /** Log files to follow besides the common ones present here (`--log-file`). */
  logFiles?: FileSourceConfig[];
  log: Logger;
}

/** What the built-in agent watches, for the start-up summary. */
export interface Watching {
  host: string;
  /** PostgreSQL targets as name (URL without its password), and whether it is the store itself. */
  postgres: Array<{ name: string; url: string; isStore: boolean }>;
  processes: string[];
  /** Log files (paths or globs) and journald units. */
  logs: string[];
}

export interface LocalAgent {
  agentId: string;
  /** The agent's credential and spool. */
  stateDir: string;
  watching: Watching;
  stop(): Promise<void>;
}

/** A log path worth showing: the file exists, or for a glob its directory does. */
function pathMayExist(path: string): boolean {
  return /[*?[]/.test(path) ? existsSync(dirname(path)) : existsSync(path);
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
  const machineId = await machineIdentity();
  // A start-up step: a store slow to hand out a connection (a loaded machine) is waited for, not a crash.
  const enrolled = await whileStoreAway(
    () => localAgent(server.store.pool, hostname(), saved?.agentId, machineId),
    {
      onRetry: (err, attempt) => opts.log.warn({ err, attempt }, 'the store did not answer; trying again'),
    },
  );
  const identity = {
    serverUrl,
    ...enrolled,
    enrolledAt: saved?.enrolledAt ?? new Date().toISOString(),
  };
  await saveIdentity(stateDir, identity);

  const postgresUrl = opts.postgresUrl ?? server.storeUrl;
  const logSources: LogSourceConfig[] = [
    ...(await presentSources(defaultLogSources())),
    ...(opts.logFiles ?? []),
  ];
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
  const targetName = `${target.hostname}:${target.port || '5432'}`;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    stop = r;
  });
  // The files the agent follows once it runs (the PostgreSQL target's own log among them, when its settings
  // put one on this host).
  let ready: (files: string[]) => void = () => {};
  const isReady = new Promise<string[]>((r) => {
    ready = r;
  });
  const running = runAgent({
    procRoot: '/proc',
    sysRoot: '/sys',
    rootFs: '/',
    intervalMs: opts.intervalMs,
    watches: opts.watches ?? [],
    nodeExporterMemoryNames: false,
    postgres: [{ name: targetName, url: postgresUrl }],
    server: { url: serverUrl, stateDir, identity, pushIntervalMs: opts.pushIntervalMs },
    logSources,
    log: componentLogger(opts.log, 'agent'),
    stopSignal: stopped,
    onReady: (info) => ready(info.logFiles),
  });
  const followed = await Promise.race([isReady, running]);
  return {
    agentId: identity.agentId,
    stateDir,
    watching: {
      host: hostname(),
      postgres: [{ name: targetName, url: maskUrlPassword(postgresUrl), isStore: !opts.postgresUrl }],
      processes: (opts.watches ?? []).map((w) => w.spec),
      logs: [
        ...(followed ?? logSources.flatMap((l) => (l.kind === 'file' ? l.paths.filter(pathMayExist) : []))),
        ...logSources.flatMap((l) =>
          l.kind === 'journald' ? (l.units ?? []).map((u) => `journald:${u}`) : [],
        ),
      ],
    },
    stop: async () => {
      stop();
      await running;
    },
  };
}

export interface UpSummary {
  dashboard: string;
  /** Set on the start that created the first admin. */
  firstAdmin?: { name: string; password: string };
  agent: Pick<LocalAgent, 'agentId' | 'stateDir' | 'watching'>;
  store: { kind: 'embedded' | 'external'; dataDir?: string };
  pid: number;
}

/**
 * The block `pgvigil up` ends its start-up with, on stdout: where to go, how to sign in the first time,
 * what is watched, where the data is, how to stop. The first admin's password appears here only (never in
 * the log); the store keeps just its hash.
 */
export function formatUpSummary(s: UpSummary): string {
  const rows: Array<[string, string]> = [['dashboard', s.dashboard]];
  if (s.firstAdmin) {
    rows.push([
      'sign in',
      `as "${s.firstAdmin.name}" with password ${s.firstAdmin.password}  (first start: shown only now; change it after signing in, or add users with \`pgvigil user add\`)`,
    ]);
  }
  const w = s.agent.watching;
  rows.push(['agent', `local agent ${s.agent.agentId} is watching host ${w.host}`]);
  for (const p of w.postgres)
    rows.push(['postgres', `${p.name}${p.isStore ? '  (the store itself)' : `  ${p.url}`}`]);
  if (w.processes.length > 0) rows.push(['processes', w.processes.join(', ')]);
  rows.push([
    'logs',
    w.logs.length > 0 ? w.logs.join(', ') : 'none found (add some with --log-file PARSER:PATH)',
  ]);
  rows.push([
    'data',
    s.store.kind === 'embedded' && s.store.dataDir
      ? `${s.store.dataDir}  (embedded PostgreSQL; agent state in ${s.agent.stateDir})`
      : `external PostgreSQL store (DATABASE_URL); agent state in ${s.agent.stateDir}`,
  ]);
  rows.push(['stop', `Ctrl-C (or kill -TERM ${s.pid}); the data stays for the next start`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return `\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n\n`;
}

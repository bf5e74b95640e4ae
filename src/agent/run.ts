/**
 * The agent's two ways of running: `runAgent` (collectors on their intervals, /metrics exporter, and with a
 * server the shipping path of shipping.ts) and `collectOnce` (one collection, two samples an interval apart
 * so rates exist, for `pgvigil collect` and for tests that want the host's numbers as the agent sees them).
 *
 * This module and everything it imports stays small (node: modules, pino, the collectors): the agent runs
 * on database hosts, where its memory and CPU are taken from PostgreSQL.
 */
import { once } from 'node:events';
import { PgvigilError } from '../errors.js';
import { componentLogger, type Logger } from '../log.js';
import type { RemoteConfig } from '../protocol/agent-config.js';
import type { CustomMetricDef } from '../protocol/custom-metrics.js';
import { families } from '../protocol/families/index.js';
import type { PostgresCollectorSettings } from '../protocol/postgres-options.js';
import type { ScrapeTarget } from '../scrape/target.js';
import { version } from '../version.js';
import {
  type CollectorGroup,
  createCollectors,
  type GroupedCollector,
  type PostgresTarget,
} from './collectors/index.js';
import type { ProcessWatch } from './collectors/process.js';
import type { Collector, FamilyRows, Row } from './collectors/types.js';
import { selfExposition, startExporter } from './exporter.js';
import { agentHealthExposition } from './health.js';
import type { TlsFiles } from './http.js';
import type { AgentIdentity } from './identity.js';
import type { FileSourceConfig, LogSourceConfig } from './logs/sources.js';
import { type ListenAddress, parseWatches } from './options.js';
import { type CollectorHealth, Scheduler } from './scheduler.js';
import type { Shipping, ShippingOptions } from './shipping.js';
import type { FsyncPolicy } from './spool/spool.js';

export interface Roots {
  procRoot: string;
  sysRoot: string;
  rootFs: string;
}

/** Where and how the agent ships to a server (absent: exporter only). */
export interface ServerLink {
  url: string;
  stateDir: string;
  enrollToken?: string;
  /** Given by `pgvigil up` for its built-in agent. */
  identity?: AgentIdentity;
  tls?: TlsFiles;
  pushIntervalMs: number;
  fsync?: FsyncPolicy;
  spoolMaxBytes?: number;
  /** Push retry back-off (default 0.5 s doubling up to 60 s). */
  retry?: ShippingOptions['retry'];
}

export interface AgentOptions extends Roots {
  listen?: ListenAddress;
  intervalMs: number;
  watches: ProcessWatch[];
  nodeExporterMemoryNames: boolean;
  postgres?: PostgresTarget[];
  /** The PostgreSQL collector's options (--postgres-* flags), for every target. */
  postgresSettings?: PostgresCollectorSettings;
  /** Custom SQL metrics run on every PostgreSQL target (--custom-metrics-file). */
  customMetrics?: CustomMetricDef[];
  /** Application scrape targets (--scrape-targets-file); a change takes a restart. */
  scrapeTargets?: ScrapeTarget[];
  server?: ServerLink;
  /** Log sources shipped with the metrics (only with a server). */
  logSources?: LogSourceConfig[];
  log: Logger;
  /** Called once the agent runs and the first collection is done (for the CLI's ready line). */
  onReady?: (info: { url?: string; collectors: string[]; agentId?: string; logFiles: string[] }) => void;
  /** Resolves when the agent should stop; default: SIGINT or SIGTERM. */
  stopSignal?: Promise<unknown>;
  /**
   * On SIGHUP, before the server's config is pulled: the settings re-read from the agent's config file.
   * A throw (an invalid file) is logged and changes nothing; the running settings stay.
   */
  reloadLocal?: () => Promise<LiveSettings>;
}

/** What the agent's own config file may change without a restart (server-pushed values still win). */
export interface LiveSettings {
  intervalMs: number;
  watches: ProcessWatch[];
  postgres: PostgresTarget[];
  postgresSettings?: PostgresCollectorSettings;
  logSources: LogSourceConfig[];
  pushIntervalMs?: number;
  customMetrics?: CustomMetricDef[];
}

/** A server-pushed log source as the log pipeline takes it. */
function toLogSource(s: NonNullable<RemoteConfig['logSources']>[number]): LogSourceConfig {
  if (s.journald) return { name: s.name, kind: 'journald', units: [s.journald] };
  if (!s.path) throw new Error(`log source ${s.name}: give a path or a journald unit`);
  return { name: s.name, kind: 'file', parser: s.parser, paths: [s.path] };
}

export async function runAgent(options: AgentOptions): Promise<void> {
  const { log } = options;
  // The agent's own settings (flags, environment, file); a server-pushed config overrides them key by key.
  let base: LiveSettings = {
    intervalMs: options.intervalMs,
    watches: options.watches,
    postgres: options.postgres ?? [],
    postgresSettings: options.postgresSettings ?? {},
    logSources: options.logSources ?? [],
    pushIntervalMs: options.server?.pushIntervalMs,
    customMetrics: options.customMetrics ?? [],
  };
  let remote: RemoteConfig = {};
  let pushIntervalMs = options.server?.pushIntervalMs;
  // Reconfigurations (server pulls, SIGHUP reloads) run one at a time.
  let chain: Promise<unknown> = Promise.resolve();
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn);
    chain = p.catch(() => {});
    return p;
  };
  let settings = {
    intervalMs: options.intervalMs,
    watches: options.watches,
    postgres: options.postgres ?? [],
    postgresSettings: options.postgresSettings ?? {},
    customMetrics: options.customMetrics ?? [],
    enable: undefined as string[] | undefined,
    disable: [] as string[],
  };
  let logSources = options.logSources ?? [];
  /** Whether logSources are the agent's own (not a list the server pushed): its targets' settings refine them. */
  let ownLogSources = true;
  let logs: { stop(): Promise<void> } | undefined;
  /** What each PostgreSQL target's settings said of its log files here, by URL; a target not yet read is absent. */
  const discovered = new Map<string, FileSourceConfig | undefined>();
  const discoveryFailures = new Map<string, string>();
  let rediscovery: NodeJS.Timeout | undefined;
  /** The file sources followed, as every batch's status reports them (`logSources`). */
  let followedLogs: Array<{ name: string; parser: string; paths: string[] }> = [];
  let stopping = false;
  let ran = false;
  // A config pulled while the agent is still starting is applied once it runs.
  let markRunning: () => void = () => {};
  const running = new Promise<void>((r) => {
    markRunning = r;
  });
  let shipping: Shipping | undefined;
  let grouped: GroupedCollector[] = [];
  let targets = new Map<string, string>();

  const makeScheduler = (): Scheduler => {
    grouped = createCollectors({
      watches: settings.watches,
      nodeExporterMemoryNames: options.nodeExporterMemoryNames,
      postgres: settings.postgres,
      postgresSettings: settings.postgresSettings,
      customMetrics: settings.customMetrics,
      scrape: options.scrapeTargets,
    }).filter(
      (g) =>
        !settings.disable.includes(g.collector.name) &&
        (!settings.enable || settings.enable.includes(g.collector.name) || settings.enable.includes(g.group)),
    );
    targets = new Map(grouped.filter((g) => g.target).map((g) => [g.collector.name, g.target!]));
    return new Scheduler({
      collectors: grouped.map((g) => g.collector),
      procRoot: options.procRoot,
      sysRoot: options.sysRoot,
      rootFs: options.rootFs,
      intervalMs: settings.intervalMs,
      log,
      // Rows go to the server when shipping; the exporter reads each collector's exposition either way.
      onRows: options.server ? (name, rows) => shipping?.addRows(rows, targets.get(name)) : undefined,
    });
  };
  let scheduler = makeScheduler();
  const closeCollectors = (list: GroupedCollector[]) => closeAll(list.map((g) => g.collector));

  /**
   * Reads the log settings of the PostgreSQL targets not read yet; a target that cannot be read now is tried
   * again in a minute. True when a target's settings gave a source.
   */
  const discoverPostgresLogs = async (): Promise<boolean> => {
    const { discoverPostgresLogSource } = await import('./logs/postgres-discovery.js');
    let found = false;
    let pending = false;
    for (const target of settings.postgres) {
      if (discovered.has(target.url)) continue;
      const d = await discoverPostgresLogSource(target, log);
      if ('failed' in d) {
        pending = true;
        // Logged when the reason changes, not every minute.
        if (discoveryFailures.get(target.url) !== d.failed)
          log.info(
            { target: target.name, reason: d.failed },
            'PostgreSQL log settings not read; trying again every minute',
          );
        discoveryFailures.set(target.url, d.failed);
        continue;
      }
      discoveryFailures.delete(target.url);
      discovered.set(target.url, d.source);
      if (d.source) found = true;
    }
    if (pending && !rediscovery && !stopping) {
      rediscovery = setTimeout(() => {
        rediscovery = undefined;
        void serially(async () => {
          if (stopping || !ownLogSources || !logs) return;
          if (!(await discoverPostgresLogs())) return;
          await restartLogs();
          log.info({ sources: logSources.map((l) => l.name) }, 'log sources follow the PostgreSQL settings');
        }).catch((err: unknown) => log.error({ err }, 'log sources not restarted'));
      }, 60_000);
      rediscovery.unref();
    }
    return found;
  };

  const startLogs = async (): Promise<void> => {
    followedLogs = [];
    if (!shipping || !options.server || logSources.length === 0) return;
    const { reportLogSources, withPostgresSources } = await import('./logs/sources.js');
    let sources = logSources;
    if (ownLogSources && settings.postgres.length > 0) {
      await discoverPostgresLogs();
      const found = settings.postgres.flatMap((t) => discovered.get(t.url) ?? []);
      sources = withPostgresSources(logSources, found);
    }
    followedLogs = await reportLogSources(sources);
    const { startLogShipping } = await import('./log-shipping.js');
    logs = await startLogShipping({
      sources,
      stateDir: options.server.stateDir,
      shipping,
      log: componentLogger(log, 'logs'),
    });
  };
  const restartLogs = async (): Promise<void> => {
    await logs?.stop();
    logs = undefined;
    await startLogs();
  };

  /**
   * Applies the agent's own settings overridden by a server-pushed config, without a restart; throws
   * (and changes nothing) when it cannot.
   */
  const reconfigure = async (own: LiveSettings, config: RemoteConfig): Promise<void> => {
    await running;
    const next = {
      intervalMs: config.collectIntervalMs ?? own.intervalMs,
      watches: config.watchProcesses ? parseWatches(config.watchProcesses) : own.watches,
      postgres: config.targets ?? own.postgres,
      // Pushed options override the agent's own key by key (an absent key keeps the agent's value).
      postgresSettings: { ...own.postgresSettings, ...config.postgres },
      customMetrics: config.customMetrics ?? own.customMetrics ?? [],
      enable: config.collectors?.enable,
      disable: config.collectors?.disable ?? [],
    };
    const nextLogs = config.logSources ? config.logSources.map(toLogSource) : own.logSources;
    if (config.logSources) {
      const { logSourcesSchema } = await import('./logs/sources.js');
      const checked = logSourcesSchema.safeParse(nextLogs);
      if (!checked.success) throw new Error(`logSources: ${checked.error.issues[0]?.message ?? 'invalid'}`);
    }
    const nextPush = config.pushIntervalMs || own.pushIntervalMs;
    if (nextPush !== undefined && nextPush !== pushIntervalMs) {
      pushIntervalMs = nextPush;
      shipping?.setPushInterval(nextPush);
    }
    const nextOwn = config.logSources === undefined;
    if (nextOwn !== ownLogSources || JSON.stringify(nextLogs) !== JSON.stringify(logSources)) {
      logSources = nextLogs;
      ownLogSources = nextOwn;
      await restartLogs();
      log.info({ sources: logSources.map((l) => l.name) }, 'log sources reconfigured');
    }
    if (JSON.stringify(next) === JSON.stringify(settings)) return;
    const oldGrouped = grouped;
    const targetsChanged = JSON.stringify(next.postgres) !== JSON.stringify(settings.postgres);
    await scheduler.stop();
    await closeCollectors(oldGrouped);
    settings = next;
    scheduler = makeScheduler();
    await scheduler.start();
    log.info(
      { intervalMs: settings.intervalMs, collectors: grouped.map((g) => g.collector.name) },
      'collectors reconfigured',
    );
    // Another PostgreSQL target may log elsewhere: the own sources follow its settings.
    if (targetsChanged && ownLogSources && logs) await restartLogs();
  };
  const applyConfig = (config: RemoteConfig): Promise<void> =>
    serially(async () => {
      if (stopping) return;
      await reconfigure(base, config);
      remote = config;
    });

  if (options.server) {
    const { startShipping } = await import('./shipping.js');
    shipping = await startShipping({
      serverUrl: options.server.url,
      stateDir: options.server.stateDir,
      enrollToken: options.server.enrollToken,
      identity: options.server.identity,
      tls: options.server.tls,
      pushIntervalMs: options.server.pushIntervalMs,
      fsync: options.server.fsync,
      spoolMaxBytes: options.server.spoolMaxBytes,
      retry: options.server.retry,
      targets: options.postgres?.map((t) => t.name),
      log,
      onConfig: applyConfig,
      status: () => ({
        collectors: scheduler.health(),
        ...(followedLogs.length > 0 ? { logSources: followedLogs } : {}),
      }),
    });
  }
  await startLogs();
  const exporter = options.listen
    ? await startExporter({
        host: options.listen.host,
        port: options.listen.port,
        metrics: () => [
          ...scheduler.exposition(),
          ...(shipping ? agentHealthExposition(shipping.health()) : []),
          ...selfExposition(version),
        ],
        log,
      })
    : undefined;
  const onHup = (): void => {
    void (async () => {
      if (options.reloadLocal) {
        const reload = options.reloadLocal;
        await serially(async () => {
          const own = await reload();
          await reconfigure(own, remote);
          base = own;
          log.info('SIGHUP: config file re-read and applied');
        }).catch((err: unknown) =>
          log.error(
            { reason: (err as Error).message },
            'SIGHUP: config file not applied; the running configuration stays',
          ),
        );
      }
      if (shipping) {
        log.info('SIGHUP: pulling the agent config from the server');
        await shipping.reloadConfig();
      }
    })();
  };
  process.on('SIGHUP', onHup);
  const stop = options.stopSignal ?? stopSignal(log);
  try {
    await scheduler.start();
    markRunning();
    ran = true;
    const names = grouped.map((g) => g.collector.name);
    log.info({ url: exporter?.url, collectors: names, intervalMs: settings.intervalMs }, 'agent running');
    options.onReady?.({
      url: exporter?.url,
      collectors: names,
      agentId: shipping?.identity.agentId,
      logFiles: followedLogs.flatMap((l) => l.paths),
    });
    await stop;
  } finally {
    stopping = true;
    clearTimeout(rediscovery);
    process.off('SIGHUP', onHup);
    // A reconfiguration under way (a pulled config, a retried log discovery) ends before what it starts
    // stops; before the agent ran, they wait for it and never start.
    if (ran) await serially(async () => {});
    await scheduler.stop();
    await logs?.stop();
    await shipping?.stop();
    await closeCollectors(grouped);
    await exporter?.close();
  }
}

/** Closes collectors that hold something (connections); a failing close must not stop the others. */
async function closeAll(collectors: Collector[]): Promise<void> {
  for (const c of collectors) await c.close?.().catch(() => {});
}

/** Resolves on the first SIGINT or SIGTERM. */
function stopSignal(log: Logger): Promise<NodeJS.Signals> {
  return Promise.race([
    once(process, 'SIGINT').then(() => 'SIGINT' as const),
    once(process, 'SIGTERM').then(() => 'SIGTERM' as const),
  ]).then((signal) => {
    log.info({ signal }, 'agent stopping');
    return signal;
  });
}

export interface CollectOnceOptions extends Roots {
  /** Groups and/or collector names; all when absent. */
  only?: Set<string>;
  intervalMs: number;
  watches: ProcessWatch[];
  postgres?: PostgresTarget[];
  postgresSettings?: PostgresCollectorSettings;
  customMetrics?: CustomMetricDef[];
  scrape?: ScrapeTarget[];
  log: Logger;
}

export interface CollectedFamily {
  /** ISO timestamp of the sample. */
  ts: string;
  columns: string[];
  rows: Row[];
}

export interface CollectReport {
  version: string;
  interval_ms: number;
  families: Record<string, CollectedFamily>;
  collectors: Array<{
    name: string;
    group: CollectorGroup;
    status: CollectorHealth['status'];
    duration_ms: number | null;
    error: string | null;
  }>;
}

export function selectCollectors(all: GroupedCollector[], only: Set<string> | undefined): GroupedCollector[] {
  if (!only) return all;
  return all.filter((g) => only.has(g.group) || only.has(g.collector.name));
}

type CollectionResults = Awaited<ReturnType<Scheduler['runOnce']>>;

/**
 * The families of `collect --once` from its two collections, by family. Families a collector reads less
 * often than every run (PostgreSQL per-database families) come from the first sample when the second has
 * none. Per collector, the parts of a family one run gave are joined, and the second run's replace the
 * first's; several collectors may fill one family (one scrape collector per application target), so
 * theirs are joined after. Custom metrics are replaced metric by metric: each query's run is handed on by
 * one collection only, so a metric the first collection handed on is kept when the second hands on others.
 * Statuses of what ran only in the first collection (per-database families, custom metrics whose runs it
 * handed on) are kept beside the second's.
 */
export function mergeCollections(
  first: CollectionResults,
  second: CollectionResults,
): Map<string, FamilyRows> {
  const latest = new Map<string, FamilyRows>();
  for (const runs of [first, second]) {
    const thisRun = new Map<string, FamilyRows>();
    for (const [name, frs] of runs) {
      for (const fr of frs) {
        const key = `${name}\0${fr.family}`;
        const prev = thisRun.get(key);
        thisRun.set(key, prev ? { ...fr, rows: [...prev.rows, ...fr.rows] } : fr);
      }
    }
    for (const [key, fr] of thisRun) {
      const prev = latest.get(key);
      if (prev && fr.family === 'pg_custom') {
        const now = new Set(fr.rows.map((r) => r.metric));
        latest.set(key, { ...fr, rows: [...prev.rows.filter((r) => !now.has(r.metric)), ...fr.rows] });
      } else latest.set(key, fr);
    }
  }
  const merged = new Map<string, FamilyRows>();
  for (const fr of latest.values()) {
    const m = merged.get(fr.family);
    merged.set(
      fr.family,
      m ? { family: fr.family, ts: Math.max(m.ts, fr.ts), rows: [...m.rows, ...fr.rows] } : fr,
    );
  }
  const earlier = [...first.values()]
    .flat()
    .filter((fr) => fr.family === 'pg_collector')
    .flatMap((fr) => fr.rows);
  const statuses = merged.get('pg_collector');
  if (statuses && earlier.length > 0) {
    const key = (r: Row) => `${String(r.family)}@${String(r.datname)}`;
    const seen = new Set(statuses.rows.map(key));
    merged.set('pg_collector', {
      ...statuses,
      rows: [...statuses.rows, ...earlier.filter((r) => !seen.has(key(r)))],
    });
  }
  return merged;
}

/** One collection: every selected collector twice, `intervalMs` apart; the second samples are reported. */
export async function collectOnce(options: CollectOnceOptions): Promise<CollectReport> {
  const wantsProcess = options.only?.has('process') ?? false;
  if (wantsProcess && options.watches.length === 0) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      '--only process: nothing to collect without --watch-process NAME or --watch-process /REGEX/',
    );
  }
  const selected = selectCollectors(
    createCollectors({
      watches: options.watches,
      postgres: options.postgres,
      postgresSettings: options.postgresSettings,
      customMetrics: options.customMetrics,
      scrape: options.scrape,
    }),
    options.only,
  );
  const scheduler = new Scheduler({
    collectors: selected.map((g) => g.collector),
    procRoot: options.procRoot,
    sysRoot: options.sysRoot,
    rootFs: options.rootFs,
    intervalMs: options.intervalMs,
    log: options.log,
  });
  let first: CollectionResults;
  let results: CollectionResults;
  try {
    first = await scheduler.runOnce();
    await new Promise((r) => setTimeout(r, options.intervalMs));
    results = await scheduler.runOnce();
  } finally {
    await closeAll(selected.map((g) => g.collector));
  }

  const report: CollectReport = { version, interval_ms: options.intervalMs, families: {}, collectors: [] };
  const merged = mergeCollections(first, results);
  for (const fr of merged.values()) {
    const spec = families[fr.family];
    // Rows go out in the family's column order, so the JSON reads like the table.
    const columns = spec ? spec.columns.map((c) => c.name) : Object.keys(fr.rows[0] ?? {});
    report.families[fr.family] = {
      ts: new Date(fr.ts).toISOString(),
      columns,
      rows: fr.rows.map((row) => Object.fromEntries(columns.map((c) => [c, row[c] ?? null]))),
    };
  }
  const health = new Map(scheduler.health().map((h) => [h.name, h]));
  for (const g of selected) {
    const h = health.get(g.collector.name)!;
    report.collectors.push({
      name: h.name,
      group: g.group,
      status: h.status,
      duration_ms: h.lastDurationMs === null ? null : Math.round(h.lastDurationMs * 1000) / 1000,
      error: h.lastError,
    });
  }
  return report;
}

/** The report as plain text: one block per family, one line per row. */
export function formatCollectText(report: CollectReport): string {
  const lines: string[] = [];
  for (const [name, fam] of Object.entries(report.families)) {
    lines.push(`${name}  (${fam.ts}, ${fam.rows.length} row${fam.rows.length === 1 ? '' : 's'})`);
    for (const row of fam.rows) {
      lines.push(
        `  ${fam.columns
          .map((c) => {
            const v = row[c];
            return `${c}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v)}`;
          })
          .join(' ')}`,
      );
    }
  }
  for (const c of report.collectors) {
    if (c.status !== 'ok') lines.push(`collector ${c.name}: ${c.status}${c.error ? ` (${c.error})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

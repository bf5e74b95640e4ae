/**
 * The agent's collectors, listed explicitly (a collector not listed here does not run). Each agent (and
 * each `pgvigil collect`) creates its own instances: collectors that turn counters into rates keep the
 * previous sample, which must not be shared between two schedulers.
 *
 * Groups are what `pgvigil collect --only` selects: host (the /proc files), process (watched processes;
 * present only when something is watched), container (cgroups), postgres (one collector per target given
 * with --postgres).
 */

import type { CustomMetricDef } from '../../protocol/custom-metrics.js';
import type { PostgresCollectorSettings } from '../../protocol/postgres-options.js';
import type { ScrapeTarget } from '../../scrape/target.js';
import { createAppScrapeCollector } from './app.js';
import { createContainerCollector } from './container.js';
import { createCpuCollector } from './host/cpu.js';
import { createDiskCollector } from './host/disk.js';
import { createFilesystemCollector } from './host/filesystem.js';
import { loadCollector } from './host/load.js';
import { createMemoryCollector } from './host/memory.js';
import { createNetworkCollector } from './host/network.js';
import { createPressureCollector } from './host/pressure.js';
import type { PostgresCollector, PostgresCollectorOptions } from './postgres/collector.js';
import { createProcessCollector, type ProcessWatch } from './process.js';
import type { Collector } from './types.js';

export const collectorGroups = ['host', 'process', 'container', 'postgres', 'app'] as const;
export type CollectorGroup = (typeof collectorGroups)[number];

export interface GroupedCollector {
  group: CollectorGroup;
  collector: Collector;
  /** The PostgreSQL target a collector reads (its rows are that target's). */
  target?: string;
}

export interface PostgresTarget {
  /** How the target is named in the store (default host:port of the URL). */
  name: string;
  url: string;
}

export interface CollectorOptions {
  /** Processes to watch (--watch-process); without any, there is no process collector. */
  watches?: ProcessWatch[];
  /** Expose memory under node_exporter's CamelCase names (see host/memory.ts). */
  nodeExporterMemoryNames?: boolean;
  /** PostgreSQL targets (--postgres). */
  postgres?: PostgresTarget[];
  /** The PostgreSQL collector's options (--postgres-* flags, or pushed config), for every target. */
  postgresSettings?: PostgresCollectorSettings;
  /** Custom SQL metrics run on every PostgreSQL target (--custom-metrics-file, or pushed config). */
  customMetrics?: CustomMetricDef[];
  /** Application scrape targets (--scrape-targets-file): one collector each, group app. */
  scrape?: ScrapeTarget[];
}

/** The collectors every agent runs, whatever it watches: host and container. */
function alwaysPresent(options: CollectorOptions): GroupedCollector[] {
  return [
    { group: 'host', collector: createCpuCollector() },
    {
      group: 'host',
      collector: createMemoryCollector({ nodeExporterNames: options.nodeExporterMemoryNames }),
    },
    { group: 'host', collector: loadCollector },
    { group: 'host', collector: createPressureCollector() },
    { group: 'host', collector: createDiskCollector() },
    { group: 'host', collector: createFilesystemCollector() },
    { group: 'host', collector: createNetworkCollector() },
    { group: 'container', collector: createContainerCollector() },
  ];
}

export function createCollectors(options: CollectorOptions = {}): GroupedCollector[] {
  const out = alwaysPresent(options);
  const watches = options.watches ?? [];
  if (watches.length > 0) out.push({ group: 'process', collector: createProcessCollector({ watches }) });
  const targets = options.postgres ?? [];
  // One target keeps postgres_exporter's exact series (pg_up without labels); with several, every
  // PostgreSQL series carries `target` so that the targets' series do not collide.
  const several = targets.length > 1;
  for (const t of targets) {
    const collector = lazyPostgresCollector(t.url, {
      ...options.postgresSettings,
      name: several ? `postgres:${t.name}` : 'postgres',
      ...(several ? { exportLabels: { target: t.name } } : {}),
      ...(options.customMetrics?.length ? { customMetrics: options.customMetrics } : {}),
    });
    out.push({ group: 'postgres', collector, target: t.name });
  }
  for (const t of options.scrape ?? []) out.push({ group: 'app', collector: createAppScrapeCollector(t) });
  return out;
}

/** The PostgreSQL collector's own default interval (postgres/collector.ts), known before it is loaded. */
const postgresIntervalMs = 30_000;

/**
 * The PostgreSQL collector, loaded on its first run: it brings the `pg` client (several MB of resident
 * memory), which an agent without --postgres targets must not pay for.
 */
function lazyPostgresCollector(
  url: string,
  options: PostgresCollectorOptions & { name: string },
): PostgresCollector {
  let loading: Promise<PostgresCollector> | undefined;
  const load = (): Promise<PostgresCollector> => {
    loading ??= import('./postgres/collector.js').then((m) => m.createPostgresCollector(url, options));
    return loading;
  };
  return {
    name: options.name,
    defaultEnabled: true,
    // An interval set for PostgreSQL (--postgres-interval) is its own; otherwise the agent's --interval.
    ...(options.intervalMs !== undefined ? { ownInterval: true as const } : {}),
    intervalMs: options.intervalMs ?? postgresIntervalMs,
    collect: async (ctx) => (await load()).collect(ctx),
    close: async () => {
      if (loading) await (await loading).close();
    },
  };
}

/**
 * Names of every collector there can be, for validating --only: those always present, then the process
 * and PostgreSQL collectors (present when something is watched; named after their groups).
 */
export const collectorNames: readonly string[] = [
  ...alwaysPresent({}).map((c) => c.collector.name),
  'process',
  'postgres',
];

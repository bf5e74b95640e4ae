/**
 * The agent's two ways of running: `runAgent` (collectors on their intervals, /metrics exporter, later the
 * shipper) and `collectOnce` (one collection, two samples an interval apart so rates exist, for
 * `pgvigil collect` and for tests that want the host's numbers as the agent sees them).
 *
 * This module and everything it imports stays small (node: modules, pino, the collectors): the agent runs
 * on database hosts, where its memory and CPU are taken from PostgreSQL.
 */
import { once } from 'node:events';
import { PgvigilError } from '../errors.js';
import type { Logger } from '../log.js';
import { families } from '../protocol/families/index.js';
import { version } from '../version.js';
import { type CollectorGroup, createCollectors, type GroupedCollector } from './collectors/index.js';
import type { ProcessWatch } from './collectors/process.js';
import type { Row } from './collectors/types.js';
import { selfExposition, startExporter } from './exporter.js';
import type { ListenAddress } from './options.js';
import { type CollectorHealth, type RowsSink, Scheduler } from './scheduler.js';

export interface Roots {
  procRoot: string;
  sysRoot: string;
  rootFs: string;
}

export interface AgentOptions extends Roots {
  listen: ListenAddress;
  intervalMs: number;
  watches: ProcessWatch[];
  nodeExporterMemoryNames: boolean;
  log: Logger;
  /** Called once the exporter listens and the first collection is done (for the CLI's ready line). */
  onReady?: (info: { url: string; collectors: string[] }) => void;
  /** Resolves when the agent should stop; default: SIGINT or SIGTERM. */
  stopSignal?: Promise<unknown>;
}

export async function runAgent(options: AgentOptions): Promise<void> {
  const { log } = options;
  const grouped = createCollectors({
    watches: options.watches,
    nodeExporterMemoryNames: options.nodeExporterMemoryNames,
  });
  // Where collected rows go besides the exporter. Shipping to a server (--server: batcher → spool →
  // shipper, see DESIGN.md) attaches its sink here; until then the agent is an exporter only, a drop-in
  // for node_exporter.
  const sinks: RowsSink[] = [];
  const scheduler = new Scheduler({
    collectors: grouped.map((g) => g.collector),
    procRoot: options.procRoot,
    sysRoot: options.sysRoot,
    rootFs: options.rootFs,
    intervalMs: options.intervalMs,
    log,
    onRows:
      sinks.length === 0
        ? undefined
        : (c, rows) => {
            for (const sink of sinks) sink(c, rows);
          },
  });
  const exporter = await startExporter({
    host: options.listen.host,
    port: options.listen.port,
    metrics: () => [...scheduler.exposition(), ...selfExposition(version)],
    log,
  });
  const stop = options.stopSignal ?? stopSignal(log);
  try {
    await scheduler.start();
    const names = grouped.map((g) => g.collector.name);
    log.info({ url: exporter.url, collectors: names, intervalMs: options.intervalMs }, 'agent running');
    options.onReady?.({ url: exporter.url, collectors: names });
    await stop;
  } finally {
    await scheduler.stop();
    await exporter.close();
  }
}

/** Resolves on the first SIGINT or SIGTERM; SIGHUP (config reload elsewhere) is logged, not fatal. */
function stopSignal(log: Logger): Promise<NodeJS.Signals> {
  const onHup = (): void => log.info('SIGHUP: nothing to reload (the agent has no config file yet)');
  process.on('SIGHUP', onHup);
  return Promise.race([
    once(process, 'SIGINT').then(() => 'SIGINT' as const),
    once(process, 'SIGTERM').then(() => 'SIGTERM' as const),
  ]).then((signal) => {
    process.off('SIGHUP', onHup);
    log.info({ signal }, 'agent stopping');
    return signal;
  });
}

export interface CollectOnceOptions extends Roots {
  /** Groups and/or collector names; all when absent. */
  only?: Set<string>;
  intervalMs: number;
  watches: ProcessWatch[];
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

/** One collection: every selected collector twice, `intervalMs` apart; the second samples are reported. */
export async function collectOnce(options: CollectOnceOptions): Promise<CollectReport> {
  const wantsProcess = options.only?.has('process') ?? false;
  if (wantsProcess && options.watches.length === 0) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      '--only process: nothing to collect without --watch-process NAME or --watch-process /REGEX/',
    );
  }
  const selected = selectCollectors(createCollectors({ watches: options.watches }), options.only);
  const scheduler = new Scheduler({
    collectors: selected.map((g) => g.collector),
    procRoot: options.procRoot,
    sysRoot: options.sysRoot,
    rootFs: options.rootFs,
    intervalMs: options.intervalMs,
    log: options.log,
  });
  await scheduler.runOnce();
  await new Promise((r) => setTimeout(r, options.intervalMs));
  const results = await scheduler.runOnce();

  const report: CollectReport = { version, interval_ms: options.intervalMs, families: {}, collectors: [] };
  for (const fr of [...results.values()].flat()) {
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

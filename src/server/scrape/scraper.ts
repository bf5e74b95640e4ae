/**
 * Server-side scrapes: one scrape of a stored target (src/storage/queries/scrape-targets.sql.ts) under
 * the SSRF rules (./guard.ts), written through the ingest path exactly as an agent's batch is — a
 * batch v1 of family app_metric, validated, encoded, submitted to the group-commit writer under the
 * target's server entry with the target's own ledger identity (`agent_id`, `seq` counting its scrapes) —
 * then handed to the findings engine like any accepted batch.
 *
 * A failed scrape stores no rows (no invented zeros) and records its error on the target. The series kept
 * by a target's previous scrape are remembered in memory (the series limit keeps them first).
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import type { FindingsEngine } from '../../intelligence/engine.js';
import type { Logger } from '../../log.js';
import { type BatchV1, validateBatch } from '../../protocol/batch.js';
import { ScrapeFetchError } from '../../scrape/http.js';
import { parseJsonMapping } from '../../scrape/json.js';
import { appMetricRows, type DropCounts, ScrapeParseError } from '../../scrape/samples.js';
import { type ScrapeTarget, scrapeTarget } from '../../scrape/target.js';
import {
  nextScrapeSeq,
  recordScrape,
  type ScrapeTargetRow,
} from '../../storage/queries/scrape-targets.sql.js';
import type { Registry } from '../../telemetry/metrics.js';
import { encodeTable } from '../ingest/copy.js';
import type { IngestWriter } from '../ingest/writer.js';
import { scrapeAddressPolicy } from './guard.js';

export interface ScrapeResult {
  ok: boolean;
  /** Series stored. */
  series: number;
  /** Samples dropped, by reason (series_limit, non_finite, …). */
  dropped: DropCounts;
  durationMs: number;
  /** Why the scrape failed (names the address and rule for an SSRF refusal). */
  error?: string;
  /** refused, timeout, too-large, http, network, redirect, parse, store. */
  failure?: string;
}

const columns = ['ts', 'target', 'name', 'labels', 'gauge', 'counter'];

export function targetOfRow(row: ScrapeTargetRow): ScrapeTarget {
  return {
    name: row.name,
    url: row.url,
    format: row.format,
    intervalMs: row.interval_ms,
    timeoutMs: row.timeout_ms,
    maxBytes: row.max_bytes,
    maxSeries: row.max_series,
    ...(row.format === 'json' ? { jsonMapping: parseJsonMapping(row.json_mapping) } : {}),
  };
}

export class ServerScraper {
  private readonly kept = new Map<number, Set<string>>();
  private readonly scrapes;
  private readonly droppedSeries;
  private readonly seconds;

  constructor(
    private readonly opts: {
      pool: pg.Pool;
      writer: IngestWriter;
      log: Logger;
      registry: Registry;
      engine?: FindingsEngine;
    },
  ) {
    this.scrapes = opts.registry.counter(
      'pgvigil_scrapes_total',
      'Server-side scrapes of application targets, by outcome (ok or the failure kind).',
    );
    this.droppedSeries = opts.registry.counter(
      'pgvigil_scrape_dropped_samples_total',
      'Scraped samples not stored, by target and reason (series_limit, non_finite, duplicate, …).',
    );
    this.seconds = opts.registry.histogram(
      'pgvigil_scrape_seconds',
      'Time a server-side scrape took (fetch, parse, write).',
    );
  }

  /** Scrapes `row` now, stores its rows and records the outcome on the target. Never throws for the scrape. */
  async scrape(row: ScrapeTargetRow, now = new Date()): Promise<ScrapeResult> {
    const started = performance.now();
    let result: ScrapeResult;
    try {
      const target = targetOfRow(row);
      const out = await scrapeTarget(target, {
        policy: scrapeAddressPolicy(row.allow_addresses),
        previous: this.kept.get(row.scrape_target_id),
      });
      this.kept.set(row.scrape_target_id, out.kept);
      if (out.samples.length > 0) await this.write(row, now.getTime(), appMetricRows(row.name, out.samples));
      result = {
        ok: true,
        series: out.samples.length,
        dropped: out.dropped,
        durationMs: performance.now() - started,
      };
    } catch (err) {
      const failure =
        err instanceof ScrapeFetchError ? err.kind : err instanceof ScrapeParseError ? 'parse' : 'store';
      if (failure === 'store')
        this.opts.log.warn({ err, target: row.name }, 'scraped rows could not be written');
      result = {
        ok: false,
        series: 0,
        dropped: {},
        durationMs: performance.now() - started,
        error: (err as Error).message.slice(0, 1000),
        failure,
      };
    }
    this.scrapes.inc({ outcome: result.ok ? 'ok' : result.failure! });
    this.seconds.observe(result.durationMs / 1000);
    let dropped = 0;
    for (const [reason, n] of Object.entries(result.dropped)) {
      dropped += n;
      this.droppedSeries.inc({ target: row.name, reason }, n);
    }
    await recordScrape(this.opts.pool, row.scrape_target_id, now, {
      error: result.error ?? null,
      series: result.ok ? result.series : null,
      dropped,
    });
    return result;
  }

  private async write(
    row: ScrapeTargetRow,
    ts: number,
    rows: ReturnType<typeof appMetricRows>,
  ): Promise<void> {
    const seq = await nextScrapeSeq(this.opts.pool, row.scrape_target_id);
    const body: BatchV1 = {
      v: 1,
      agentId: row.agent_id,
      seq,
      sealedAt: ts,
      families: {
        app_metric: { columns, rows: rows.map((r) => [ts, r.target, r.name, r.labels, r.gauge, r.counter]) },
      },
    };
    const text = JSON.stringify(body);
    const v = validateBatch(JSON.parse(text));
    if (!v.ok)
      throw new PgvigilError(
        'INTERNAL',
        `scraped rows of ${row.name} do not validate: ${v.path} ${v.message}`,
      );
    const ids = new Map<string, number>();
    await this.opts.writer.submit({
      serverId: row.server_id,
      agentId: row.agent_id,
      seq,
      chunks: v.batch.tables.map((t) => encodeTable(t, row.server_id, ids)),
      rowCount: v.batch.rowCount,
      gaps: [],
      rejected: v.batch.rejected,
      digest: createHash('sha256').update(text).digest(),
    });
    void this.opts.engine?.onBatch(row.server_id, v.batch, ids);
  }
}

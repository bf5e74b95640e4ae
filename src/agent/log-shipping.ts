/**
 * Log sources feeding the shipping path. Each source is read every `intervalMs`; its entries and its
 * checkpoint after them go into the next sealed batch, in one spool record.
 *
 * Neither lost nor doubled across a crash: the spool is the truth for positions. A checkpoint counts
 * only once the record holding it (and the entries before it) is on disk, so after a restart reading
 * resumes from the newest checkpoint in the spool — or from `positions.json`, which an older agent kept,
 * when that is newer for a source.
 *
 * Backpressure: while the spool cannot write to disk (full, read-only), the sources are not read at all,
 * so their lines wait in the files rather than in memory; reading resumes once a write succeeds. The
 * pause shows in the spool's stats (`logsPaused`, `logPauses`) and is logged once by the spool.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { type LogSource, openLogSource } from './logs/pipeline.js';
import { newerCheckpoint, PositionStore } from './logs/positions.js';
import type { LogSourceConfig } from './logs/sources.js';
import type { Shipping } from './shipping.js';

export interface LogShippingOptions {
  sources: LogSourceConfig[];
  stateDir: string;
  shipping: Shipping;
  intervalMs?: number;
  log: Logger;
}

/** Reads of one source per tick while it has a backlog (8 × 512 KiB a second under a 48 MiB budget). */
const maxReadsPerTick = 8;

export async function startLogShipping(opts: LogShippingOptions): Promise<{ stop(): Promise<void> }> {
  const { log, shipping } = opts;
  // Kept by older agents: read (an upgrade resumes where they stopped), no longer written.
  const legacy = await PositionStore.open(join(opts.stateDir, 'positions.json'));
  // An older agent's guess at the next batch's positions; the spool records now carry them.
  await rm(join(opts.stateDir, 'pending-positions.json'), { force: true });
  const durable = shipping.logCheckpoints();
  const sources: LogSource[] = opts.sources.map((cfg) =>
    openLogSource(cfg, {
      recovered: newerCheckpoint(
        legacy.get(cfg.name),
        Object.hasOwn(durable, cfg.name) ? durable[cfg.name] : undefined,
      ),
    }),
  );

  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const tick = async () => {
    if (!shipping.acceptsLogs() && (!(await shipping.retryDisk()) || !shipping.acceptsLogs())) return;
    for (const source of sources) {
      // A source with a backlog is read again at once, up to maxReadsPerTick times: each read holds at
      // most the tailer's byte budget in memory, and its entries are handed on before the next one.
      for (let reads = 0; reads < maxReadsPerTick; reads++) {
        if (stopped || !shipping.acceptsLogs()) return;
        let batch: Awaited<ReturnType<LogSource['read']>>;
        try {
          batch = await source.read();
        } catch (err) {
          log.warn({ source: source.name, err }, 'log source could not be read');
          break;
        }
        if (batch.entries.length > 0) shipping.addLogs(batch.entries, batch.source, batch.checkpoint);
        if (!batch.more) break;
      }
    }
  };
  const next = () => {
    running = running.then(tick).catch((err: Error) => log.error({ err }, 'log shipping failed'));
  };
  // The first read now: a file already there is followed from its end as it is at start, so the lines
  // written before the first tick are read too.
  next();
  await running;
  const timer = setInterval(next, opts.intervalMs ?? 1000);
  log.info({ sources: opts.sources.map((s) => s.name) }, 'log sources followed');
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
      for (const s of sources) await s.close();
    },
  };
}

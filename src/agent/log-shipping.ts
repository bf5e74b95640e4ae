/**
 * Log sources feeding the shipping path. Each source is read every `intervalMs`; its entries go into the
 * next sealed batch, and its position is saved only after that batch is in the spool.
 *
 * Neither lost nor doubled across a crash: before entries are handed to the batcher, their checkpoints
 * are written to `pending-positions.json` together with the seq of the batch that will hold them (the
 * spool's next seq: seals are sequential). After the append, the positions are committed and the pending
 * file cleared. On start, a pending file whose seq the spool has already passed means the batch was
 * written but the positions not saved: its checkpoints are used. Otherwise it is discarded and the lines
 * are read again (they never reached the spool).
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { type LogSource, openLogSource } from './logs/pipeline.js';
import { PositionStore, type SourceCheckpoint } from './logs/positions.js';
import type { LogSourceConfig } from './logs/sources.js';
import type { Shipping } from './shipping.js';

interface PendingFile {
  /** The batch that holds (or would have held) these entries. */
  seq: number;
  checkpoints: Record<string, SourceCheckpoint>;
}

export interface LogShippingOptions {
  sources: LogSourceConfig[];
  stateDir: string;
  shipping: Shipping;
  intervalMs?: number;
  log: Logger;
}

async function readPending(file: string): Promise<PendingFile | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as PendingFile;
  } catch {
    return undefined;
  }
}

export async function startLogShipping(opts: LogShippingOptions): Promise<{ stop(): Promise<void> }> {
  const { log, shipping } = opts;
  const pendingFile = join(opts.stateDir, 'pending-positions.json');
  const store = await PositionStore.open(join(opts.stateDir, 'positions.json'));
  const pending = await readPending(pendingFile);
  const recovered = pending && shipping.stats().spool.nextSeq > pending.seq ? pending.checkpoints : {};
  await rm(pendingFile, { force: true });

  const sources: LogSource[] = opts.sources.map((cfg) =>
    openLogSource(cfg, { store, recovered: recovered[cfg.name] }),
  );
  let current: PendingFile | undefined;
  const writePending = async (p: PendingFile) => {
    await writeFile(`${pendingFile}.tmp`, JSON.stringify(p));
    await rename(`${pendingFile}.tmp`, pendingFile);
  };

  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const tick = async () => {
    for (const source of sources) {
      if (stopped) return;
      let batch: Awaited<ReturnType<LogSource['read']>>;
      try {
        batch = await source.read();
      } catch (err) {
        log.warn(
          { source: source.name, err: { message: (err as Error).message } },
          'log source could not be read',
        );
        continue;
      }
      if (batch.entries.length === 0) {
        continue;
      }
      const seq = shipping.nextBatchSeq();
      if (!current || current.seq !== seq) current = { seq, checkpoints: {} };
      current.checkpoints[batch.source] = batch.checkpoint;
      await writePending(current);
      const mine = current;
      shipping.addLogs(batch.entries, async () => {
        await batch.commit();
        if (current === mine) {
          current = undefined;
          await rm(pendingFile, { force: true });
        }
      });
    }
  };
  const timer = setInterval(() => {
    running = running
      .then(tick)
      .catch((err: Error) => log.error({ err: { message: err.message } }, 'log shipping failed'));
  }, opts.intervalMs ?? 1000);
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

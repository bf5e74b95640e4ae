/**
 * A minimal log agent for the tailing tests: one file source, the file-backed spool stand-in, and the
 * positions file — read a batch, write it to the spool durably, then commit its checkpoint. Used in
 * process (step by step) and as a child process that the crash test kills with SIGKILL.
 */
import { join } from 'node:path';
import { FileLogSource } from '../../src/agent/logs/pipeline.js';
import { PositionStore } from '../../src/agent/logs/positions.js';
import type { FileSourceConfig } from '../../src/agent/logs/sources.js';
import { FileSpool } from './logs.js';

export interface TestAgent {
  source: FileLogSource;
  spool: FileSpool;
  /** One read → spool → commit. Returns how many entries it wrote. */
  step(): Promise<number>;
  stop(): Promise<void>;
}

export function sourceFor(paths: string[]): FileSourceConfig {
  // Volume limits far above what the tests write: every test line shares one fingerprint ("app-<N>"), and
  // flood protection would rightly drop most of them.
  return {
    name: 'app',
    kind: 'file',
    parser: 'syslog',
    paths,
    readFrom: 'beginning',
    volume: { maxPerInterval: 1_000_000, maxPerFingerprint: 1_000_000 },
  };
}

export async function startTestAgent(
  dir: string,
  paths: string[],
  opts: { rotateWaitMs?: number; beforeCommit?: () => Promise<void> } = {},
): Promise<TestAgent> {
  const spool = new FileSpool(join(dir, 'spool.ndjson'));
  const store = await PositionStore.open(join(dir, 'positions.json'));
  const source = new FileLogSource(sourceFor(paths), {
    store,
    recovered: await spool.lastCheckpoint(),
    flushAfterMs: 0,
    tailer: { rotateWaitMs: opts.rotateWaitMs ?? 100 },
  });
  return {
    source,
    spool,
    step: async () => {
      const batch = await source.read();
      if (batch.entries.length === 0) return 0;
      await spool.append(batch);
      await opts.beforeCommit?.();
      await batch.commit();
      return batch.entries.length;
    },
    stop: () => source.close(),
  };
}

/** A syslog line carrying a sequence number the tests check for loss and duplication. */
export function logLine(label: string, n: number): string {
  return `2026-11-22T10:00:00Z host app[1]: ${label}-${String(n).padStart(6, '0')}\n`;
}

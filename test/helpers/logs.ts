/**
 * Helpers for the log tests: run `pgvigil logs parse` with a file on stdin, and a file-backed stand-in for
 * the agent's durable spool (one JSON record per line, fsynced, each holding a batch's entries together
 * with its checkpoint — the contract the real spool will keep).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openSync } from 'node:fs';
import { open, readFile, truncate } from 'node:fs/promises';
import type { LogBatch } from '../../src/agent/logs/pipeline.js';
import type { SourceCheckpoint } from '../../src/agent/logs/positions.js';
import type { LogEntry } from '../../src/protocol/logs.js';
import { binPath } from './cli.js';

export interface ParseRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `pgvigil logs parse …` with `inputFile` as its stdin. */
export async function runLogsParse(
  args: string[],
  inputFile: string,
  timeoutMs = 120_000,
): Promise<ParseRun> {
  const fd = openSync(inputFile, 'r');
  const child = spawn(process.execPath, [binPath, 'logs', 'parse', ...args], {
    stdio: [fd, 'pipe', 'pipe'],
    env: { ...process.env, PGVIGIL_LOG_LEVEL: 'warn' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export interface SpoolRecord {
  checkpoint: SourceCheckpoint;
  entries: LogEntry[];
}

/** The stand-in spool: append-only records; a torn last record (crash mid-write) is cut off on open. */
export class FileSpool {
  constructor(readonly path: string) {}

  /**
   * The complete records. The writer (`repair`) truncates a torn tail so its next append starts clean;
   * an observer reading while the writer may be mid-append must not.
   */
  async records(repair = true): Promise<SpoolRecord[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch {
      return [];
    }
    const out: SpoolRecord[] = [];
    let good = 0;
    for (let from = 0, nl = text.indexOf('\n'); nl >= 0; from = nl + 1, nl = text.indexOf('\n', from)) {
      try {
        out.push(JSON.parse(text.slice(from, nl)) as SpoolRecord);
        good = Buffer.byteLength(text.slice(0, nl + 1));
      } catch {
        break;
      }
    }
    if (repair && good < Buffer.byteLength(text)) await truncate(this.path, good);
    return out;
  }

  async lastCheckpoint(repair = true): Promise<SourceCheckpoint | undefined> {
    return (await this.records(repair)).at(-1)?.checkpoint;
  }

  /** Writes the batch durably (entries and checkpoint in one record). */
  async append(batch: LogBatch): Promise<void> {
    const fh = await open(this.path, 'a');
    try {
      await fh.writeFile(`${JSON.stringify({ checkpoint: batch.checkpoint, entries: batch.entries })}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** Every spooled message, read without repairing (safe while a writer runs). */
  async messages(): Promise<string[]> {
    return (await this.records(false)).flatMap((r) => r.entries.map((e) => e.message));
  }
}

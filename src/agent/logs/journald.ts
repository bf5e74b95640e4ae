/**
 * journald as a log source: runs `journalctl -o json --no-pager` after the saved cursor, reads its output
 * line by line and parses each entry with the journald parser.
 *
 * Guarantees:
 * - The cursor of the last entry of a batch is that batch's checkpoint; the caller saves it only once the
 *   entries are durable (same contract as file sources), so a crash repeats nothing and loses nothing.
 * - The first run (no cursor) reads only the last `firstRunLines` entries (default 100), so enabling the
 *   source does not backfill the whole journal.
 * - At most `maxEntries` per read; the rest comes with the next read. journalctl failing (missing binary,
 *   no journal access) is reported as an error of the read, never a crash.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { LogEntry } from '../../protocol/logs.js';
import { EntryAssembler } from './assemble.js';
import { journaldParser } from './parsers/journald.js';

export interface JournaldOptions {
  source: string;
  /** systemd units to follow (`-u`); all of the journal when empty. */
  units?: string[];
  /** Extra journalctl arguments, e.g. `--directory=/var/log/journal` or `--file=…`. */
  extraArgs?: string[];
  journalctl?: string;
  firstRunLines?: number;
  maxEntries?: number;
  timezone?: string;
  timeoutMs?: number;
}

export interface JournaldRead {
  entries: LogEntry[];
  /** Cursor after this read (unchanged when nothing was read). */
  cursor: string | undefined;
}

/** The journalctl arguments for one read. */
export function journalctlArgs(opts: JournaldOptions, cursor: string | undefined): string[] {
  const args = ['-o', 'json', '--no-pager'];
  for (const u of opts.units ?? []) args.push('-u', u);
  if (cursor) args.push(`--after-cursor=${cursor}`);
  else args.push('-n', String(opts.firstRunLines ?? 100));
  args.push(...(opts.extraArgs ?? []));
  return args;
}

export async function readJournal(opts: JournaldOptions, cursor: string | undefined): Promise<JournaldRead> {
  const max = opts.maxEntries ?? 5000;
  const child = spawn(opts.journalctl ?? 'journalctl', journalctlArgs(opts, cursor), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4000) stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const assembler = new EntryAssembler(journaldParser, { source: opts.source, timezone: opts.timezone });
  const entries: LogEntry[] = [];
  let last = cursor;
  let stoppedEarly = false;
  const rl = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    // One entry per line: no continuation to wait for, so each line is finished at once.
    assembler.push(line, Date.now(), 0);
    for (const e of assembler.flush()) {
      if (typeof e.context.cursor === 'string') last = e.context.cursor;
      entries.push(e);
    }
    if (entries.length >= max) {
      stoppedEarly = true;
      break;
    }
  }
  rl.close();
  if (stoppedEarly) child.kill('SIGTERM');
  const result = await exited;
  clearTimeout(timer);
  if (result.error) throw new Error(`journalctl could not run: ${result.error.message}`);
  if (!stoppedEarly && result.code !== 0 && entries.length === 0) {
    throw new Error(`journalctl exited with ${result.code}: ${stderr.trim().split('\n')[0] ?? ''}`);
  }
  for (const e of entries) delete e.context.cursor;
  return { entries, cursor: last };
}

/**
 * What every file-reading collector shares: reading a file under an injected root (procfs, sysfs, cgroup
 * tree or a fixture tree; synchronously for kernel-generated files, see `readKernelFile`), the parse error that names file, line and content, and the kernel's fixed
 * clock-tick unit.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * USER_HZ: the unit of the tick counters in /proc/stat and /proc/<pid>/stat. It is 100 on every Linux
 * architecture node runs on (the kernel fixes it for the ABI independently of CONFIG_HZ), and node has
 * no sysconf(_SC_CLK_TCK); node_exporter's procfs library makes the same assumption.
 */
export const USER_HZ = 100;

/** A kernel file's content that does not have the expected shape. */
export class ParseError extends Error {
  constructor(file: string, message: string, line?: { number: number; text: string }) {
    super(line ? `${file} line ${line.number}: ${message}: "${clip(line.text)}"` : `${file}: ${message}`);
    this.name = 'ParseError';
  }
}

function clip(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/**
 * Reads a text file under `root` asynchronously, through the thread pool. For files whose read can wait
 * on something outside the kernel's own bookkeeping: /proc/<pid>/cmdline takes the process's memory-map
 * lock, which a process stuck in the kernel can hold for long.
 */
export function readUnder(root: string, relative: string): Promise<string> {
  return readFile(join(root, relative), 'utf8');
}

/** Largest file `readKernelFile` reads (mountinfo of a host with thousands of mounts stays far below). */
const maxKernelFile = 16 * 1024 * 1024;
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * Reads a kernel-generated file (procfs, sysfs, cgroupfs) synchronously into a shared buffer.
 *
 * Why synchronous: these files are produced from the kernel's memory on read and never wait for a disk
 * or another process, so a read takes microseconds; the asynchronous path costs about ten times the CPU
 * in thread-pool round trips (measured: 0.17 ms against 1.7 ms for the host's nine files), and the
 * agent's CPU is taken from the database host. Do not use it for /proc/<pid>/cmdline (see `readUnder`)
 * or anything on a real or network filesystem.
 */
export function readKernelFile(root: string, relative: string): string {
  // Plain concatenation, not path.join: this runs once per process per collection, and the paths are ours.
  const fd = openSync(relative === '' ? root : `${root}/${relative}`, 'r');
  try {
    return readWhole(fd, relative, null);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a kernel-generated file again through a descriptor kept open, from offset 0 (procfs and sysfs
 * regenerate the content on every read at offset 0). Saves the path lookup, open and close of
 * `readKernelFile` for files read every collection; the caller owns the descriptor.
 */
export function rereadKernelFile(fd: number, what: string): string {
  return readWhole(fd, what, 0);
}

function readWhole(fd: number, what: string, from: number | null): string {
  let length = 0;
  for (;;) {
    if (length === scratch.length) {
      if (scratch.length >= maxKernelFile) throw new Error(`${what}: larger than ${maxKernelFile} bytes`);
      const bigger = Buffer.allocUnsafe(scratch.length * 2);
      scratch.copy(bigger, 0, 0, length);
      scratch = bigger;
    }
    const n = readSync(fd, scratch, length, scratch.length - length, from === null ? null : from + length);
    if (n === 0) break;
    length += n;
  }
  return scratch.toString('utf8', 0, length);
}

/** The string code of an error, if it has one: a failed system call's (ENOENT, EACCES, …), PostgreSQL's SQLSTATE. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

export function isMissing(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * A non-negative integer token of a kernel file; anything else is a ParseError naming the field, so a
 * malformed file never turns into NaN rows.
 */
export function parseCount(token: string | undefined, file: string, what: string, line?: LineRef): number {
  if (token === undefined || !/^\d+$/.test(token)) {
    throw new ParseError(
      file,
      `${what}: expected a non-negative integer, got ${JSON.stringify(token)}`,
      line,
    );
  }
  return Number(token);
}

/** A decimal token (load averages, PSI averages). */
export function parseDecimal(token: string | undefined, file: string, what: string, line?: LineRef): number {
  if (token === undefined || !/^-?\d+(\.\d+)?$/.test(token)) {
    throw new ParseError(file, `${what}: expected a number, got ${JSON.stringify(token)}`, line);
  }
  return Number(token);
}

export interface LineRef {
  number: number;
  text: string;
}

/** Non-empty lines with their 1-based numbers, for parsers that report where a file went wrong. */
export function linesOf(text: string): LineRef[] {
  const out: LineRef[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!;
    if (t.trim() !== '') out.push({ number: i + 1, text: t });
  }
  return out;
}

/** Splits on runs of whitespace, ignoring leading and trailing blanks. */
export function fieldsOf(line: string): string[] {
  return line.trim().split(/\s+/);
}

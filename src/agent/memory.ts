/**
 * The agent's memory budget (`pgvigil agent --max-memory <MiB>`, default 48: the unit's MemoryMax=64M
 * less what node itself maps). One number sizes everything the agent holds in memory, so a log flood
 * makes it drop lines (counted, reported) and fall behind in the file instead of growing until the kernel
 * or V8 kills it:
 * - the V8 heap: old space at the budget less 16 MiB, young space 1 MiB semi-spaces. V8 fixes these when the
 *   process starts, so an agent started with a larger heap limit and an explicit --max-memory starts
 *   itself again under the limit (one extra small process: the parent waits and passes signals on).
 *   The systemd unit puts the same flags in NODE_OPTIONS, which avoids that second process.
 * - bytes read from one log file at a time (tailer), log entries held in the batch being filled
 *   (batcher; a full batch is sealed at once and reading waits), fingerprints tracked by the volume
 *   limiter per interval, fingerprints cached (fingerprint.ts).
 *
 * `printAgentUnit` prints the systemd unit whose MemoryMax this budget fits.
 *
 * The budget is process-wide state set once by the CLI before the agent starts. `pgvigil up`'s built-in
 * agent and tests that run the agent in-process never set it and keep the unbudgeted bounds below (it
 * shares its process with the server, whose heap it must not decide).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { packageRoot } from '../version.js';

const mib = 1024 * 1024;

export interface MemoryBounds {
  /** The budget, MiB. */
  maxMemoryMiB: number;
  /** V8 old-space limit, MiB. */
  heapMiB: number;
  /** Bytes read from one log file per poll. */
  maxReadBytes: number;
  /** Log entries held in the batch being filled before it is sealed early. */
  maxBatchLogs: number;
  /** Distinct fingerprints a volume limiter counts per interval (the rest share one counter). */
  maxTrackedFingerprints: number;
  /** Normalised messages whose fingerprint is kept (fingerprint.ts). */
  fingerprintCache: number;
}

/**
 * The bounds a budget of `maxMemoryMiB` gives. Measured with bench/agent-log-flood.ts: the agent's heap
 * holds some 10 MB of its own (code, schemas) before any log line, so the heap gets all but 16 MiB of the
 * budget (the rest is node's native memory) and the log bounds below keep a flood's share under 20 MB:
 * the lines of one read and their entries, the batch being filled, the fingerprint counters and cache.
 */
export function memoryBounds(maxMemoryMiB: number): MemoryBounds {
  const b = Math.max(32, maxMemoryMiB);
  return {
    maxMemoryMiB: b,
    heapMiB: b - 16,
    // 48 MiB → 512 KiB a read (about 3,500 PostgreSQL lines); a source with more to read is read again
    // in the same tick, so the bound is on what is held at once, not on throughput.
    maxReadBytes: Math.min(4 * mib, Math.max(128 * 1024, Math.floor((b * mib) / 96))),
    // A log row held for the wire is about 0.5–1 KB with its context; 48 MiB → 2,400 rows.
    maxBatchLogs: Math.max(1000, b * 50),
    maxTrackedFingerprints: Math.max(1000, b * 50),
    fingerprintCache: Math.max(1000, b * 100),
  };
}

/** Without a budget: what the agent read and held before it had one (4 MiB a poll, 50,000 rows a batch). */
const unbudgeted: MemoryBounds = {
  maxMemoryMiB: 0,
  heapMiB: 0,
  maxReadBytes: 4 * mib,
  maxBatchLogs: 50_000,
  maxTrackedFingerprints: 20_000,
  fingerprintCache: 20_000,
};

let current: MemoryBounds | undefined;

/** The bounds in force: the CLI's --max-memory, or the unbudgeted ones. */
export function currentMemoryBounds(): MemoryBounds {
  return current ?? unbudgeted;
}

export function setMemoryBudget(maxMemoryMiB: number): MemoryBounds {
  current = memoryBounds(maxMemoryMiB);
  return current;
}

/** Marks the re-started agent, so it never starts itself a third time. */
const reexecMarker = 'PGVIGIL_AGENT_HEAP_SET';

/** The V8 heap limit in force, MiB (old space plus young space). */
export function heapLimitMiB(): number {
  return getHeapStatistics().heap_size_limit / mib;
}

/** Node flags that put the V8 heap under the budget. */
export function heapFlags(bounds: MemoryBounds): string[] {
  return [`--max-old-space-size=${bounds.heapMiB}`, '--max-semi-space-size=1'];
}

/**
 * Starts this same command again under the heap limit of `bounds` when the current limit is above it
 * (old space plus 3 semi-spaces and slack). Resolves false when this process should go on and run the
 * agent; otherwise it never resolves: the child runs the agent, this process passes SIGTERM/SIGINT/SIGHUP
 * on to it and exits with its status. The child ends itself at once when this process dies (its IPC
 * channel closes), so a SIGKILL of the parent stops the agent as it would have without the re-start.
 */
export function reexecUnderHeapLimit(bounds: MemoryBounds): Promise<false> {
  if (process.env[reexecMarker] === '1' || heapLimitMiB() <= bounds.heapMiB + 8)
    return Promise.resolve(false);
  const child = spawn(
    process.execPath,
    [...heapFlags(bounds), ...process.execArgv, ...process.argv.slice(1)],
    {
      env: { ...process.env, [reexecMarker]: '1' },
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    },
  );
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
  return new Promise<false>(() => {});
}

/** In the re-started agent: end at once, as the parent did, when the parent is gone. */
export function followParent(): void {
  if (process.env[reexecMarker] !== '1' || !process.connected) return;
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  // The channel must not keep the agent alive on its own, nor its messages reach anything.
  process.channel?.unref();
}

/** Prints the systemd unit shipped in the package (deploy/systemd/pgvigil-agent.service). */
export function printAgentUnit(): void {
  process.stdout.write(readFileSync(join(packageRoot, 'deploy', 'systemd', 'pgvigil-agent.service'), 'utf8'));
}

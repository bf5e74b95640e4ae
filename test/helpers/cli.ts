/** Runs the real `pgvigil` command (bin/pgvigil.js) as a child process, as a user would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { packageRoot } from '../../src/version.js';

export const binPath = `${packageRoot}/bin/pgvigil.js`;

/**
 * The secret key servers started by tests use (base64 of 32 bytes), so that a server on an external store
 * does not create its key file in the user's real data home.
 */
export const testSecretKey = Buffer.alloc(32, 7).toString('base64');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after `timeoutMs`). */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<CliResult> {
  const child = spawn(process.execPath, [binPath, ...args], {
    env: { ...process.env, PGVIGIL_LOG_LEVEL: 'warn', PGVIGIL_SECRET_KEY: testSecretKey, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export interface RunningCli {
  child: ChildProcess;
  output(): { stdout: string; stderr: string };
  /** Resolves with the first stdout line matching `re`, or rejects when the process exits first. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a long-running command (`up`, `server`, `agent`); `wrapper` runs it under another command (its
 * argv before node's, e.g. a namespace tool).
 */
export function startCli(
  args: string[],
  env: Record<string, string> = {},
  wrapper: string[] = [],
): RunningCli {
  const argv = [...wrapper, process.execPath, binPath, ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, PGVIGIL_LOG_LEVEL: 'warn', PGVIGIL_SECRET_KEY: testSecretKey, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  return {
    child,
    output: () => ({ stdout, stderr }),
    waitFor: async (re, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const m = re.exec(stdout);
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before ${re}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`timed out waiting for ${re}; stdout: ${stdout}; stderr: ${stderr}`);
    },
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}

export async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

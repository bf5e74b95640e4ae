/**
 * What the store benches share: an embedded store in a temporary directory, migrated, with its
 * partitions; servers with one PostgreSQL target each; the CPU this process and the store have used; the
 * closing line naming the machine; and child processes that stand for server instances.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { FindingsEngine } from '../src/intelligence/engine.js';
import { silentLogger } from '../src/log.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { startEmbeddedStore } from '../src/storage/embedded.js';
import { migrate } from '../src/storage/migrate.js';
import { maintainPartitions } from '../src/storage/partitions.js';
import { postmasterPid, treeCpuSeconds } from '../src/tools/proc-cpu.js';
import { version } from '../src/version.js';

export interface BenchStore {
  pool: pg.Pool;
  /** The store's URL, for other processes of the bench. */
  url: string;
  /** CPU seconds so far: this process's (user + sys) and the store's processes' (/proc; NaN if unread). */
  cpu(): { self: number; store: number };
}

/** Runs `fn` on a fresh embedded store (`name` names its directory), then stops and removes it. */
export async function withBenchStore(
  name: string,
  poolSize: number,
  fn: (s: BenchStore) => Promise<void>,
): Promise<void> {
  const log = silentLogger();
  const dir = mkdtempSync(join(tmpdir(), `pgvigil-bench-${name}-`));
  // The embedded PostgreSQL runs as its own user: it must be able to enter the directory.
  chmodSync(dir, 0o755);
  const store = await startEmbeddedStore(join(dir, 'data'), log);
  const pool = new pg.Pool({ connectionString: store.url, max: poolSize });
  pool.on('error', () => {});
  try {
    await migrate(pool, log);
    await maintainPartitions(pool, { log });
    const storePid = postmasterPid(join(store.dataDir, 'postgres'));
    const cpu = () => {
      const self = process.cpuUsage();
      const storeS = storePid === undefined ? Number.NaN : (treeCpuSeconds(storePid) ?? Number.NaN);
      return { self: (self.user + self.system) / 1e6, store: storeS };
    };
    await fn({ pool, url: store.url, cpu });
  } finally {
    await pool.end();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `n` servers named `<prefix>-<i>`, each with one PostgreSQL target 'main': their ids, in order. */
export async function serversWithTarget(
  pool: pg.Pool,
  prefix: string,
  n: number,
): Promise<{ ids: number[]; targets: number[] }> {
  const ids: number[] = [];
  const targets: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = await ensureServer(pool, `${prefix}-${i}`);
    const { rows } = await pool.query<{ target_id: string }>(
      "INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, 'postgres', 'main') RETURNING target_id",
      [id],
    );
    ids.push(id);
    targets.push(Number(rows[0]!.target_id));
  }
  return { ids, targets };
}

/** The line that ends a bench's report: the build, the size, and the machine. */
export function machineLine(what: string): string {
  return `\npgvigil ${version}, ${what}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB\n`;
}

/**
 * Child processes of a bench script, one per server instance it stands for: each child (the script run
 * with `--child` and `args`) connects to the store at `url`, which it is given in its environment
 * (`PGVIGIL_BENCH_STORE_URL`: the URL holds the password, which a command line would show to anyone on
 * the machine), and answers each run it is sent (`serveRuns`). Children are kept between runs, so a
 * measured run pays no process start-up, and a warm-up run compiles their code.
 */
export function benchChildren(url: string, n: number, args: readonly string[] = []): ChildProcess[] {
  return Array.from({ length: n }, () =>
    fork(process.argv[1]!, ['--child', ...args], {
      stdio: 'inherit',
      env: { ...process.env, PGVIGIL_BENCH_STORE_URL: url },
    }),
  );
}

/** What a child answers for a run, besides its own figures: its CPU seconds in the run. */
export interface ChildRun {
  cpu: number;
}

/**
 * One run in each of `children` at once, child i at `at + i * stepMs` (a step of 1 ms gives each child's
 * claims in the store their own time).
 */
export function runChildren<R>(
  children: readonly ChildProcess[],
  at: number,
  stepMs = 0,
): Promise<Array<R & ChildRun>> {
  return Promise.all(
    children.map(
      (c, i) =>
        new Promise<R & ChildRun>((resolve, reject) => {
          const exited = (code: number | null) => reject(new Error(`child exited with ${code}`));
          c.once('exit', exited);
          c.once('message', (r) => {
            c.off('exit', exited);
            resolve(r as R & ChildRun);
          });
          c.send({ at: at + i * stepMs });
        }),
    ),
  );
}

/** Stops the children and waits for them to exit. */
export async function stopChildren(children: readonly ChildProcess[]): Promise<void> {
  const exits = children.map((c) =>
    c.exitCode !== null || c.signalCode !== null
      ? undefined
      : new Promise((resolve) => c.once('exit', resolve)),
  );
  for (const c of children)
    if (c.connected) c.send('stop');
    else c.kill();
  await Promise.all(exits);
}

/**
 * The child's side: a pool (of `poolSize`) on the store in PGVIGIL_BENCH_STORE_URL, and `make`'s run
 * function called for each run the child is sent, until told to stop.
 */
export function serveRuns<R extends object>(
  poolSize: number,
  make: (pool: pg.Pool) => (at: Date) => Promise<R>,
): void {
  const pool = new pg.Pool({ connectionString: process.env.PGVIGIL_BENCH_STORE_URL!, max: poolSize });
  // The store stops after the bench: idle connections then end, which is no error of the child's.
  pool.on('error', () => {});
  const run = make(pool);
  process.on('message', async (m: { at: number } | 'stop') => {
    if (m === 'stop') {
      await pool.end();
      process.disconnect();
      return;
    }
    const c0 = process.cpuUsage();
    const r = await run(new Date(m.at));
    const c = process.cpuUsage(c0);
    process.send!({ ...r, cpu: (c.user + c.system) / 1e6 });
  });
}

/** `serveRuns` for a findings engine on the child's pool, running `run` on it. */
export function serveEngineRuns<R extends object>(
  poolSize: number,
  run: (engine: FindingsEngine, at: Date) => Promise<R>,
): void {
  serveRuns(poolSize, (pool) => {
    const engine = new FindingsEngine({ pool, log: silentLogger() });
    return (at) => run(engine, at);
  });
}

/**
 * What the store benches share: an embedded store in a temporary directory, migrated, with its
 * partitions; servers with one PostgreSQL target each; the CPU this process and the store have used; and
 * the closing line naming the machine.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
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

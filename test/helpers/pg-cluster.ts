/**
 * Test helpers for the PostgreSQL collector tests: private PostgreSQL servers of the same major version as
 * the run's (for a standby, or a server to stop and start), a collect context, and Debian tools that
 * skip visibly when run by hand without them and fail in CI.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import type { CollectContext, FamilyRows, Row } from '../../src/agent/collectors/types.js';
import type { Logger } from '../../src/log.js';
import { silentLogger } from '../../src/log.js';
import { type RunningCluster, startCluster } from '../../src/storage/cluster.js';
import { embeddedBinDir } from '../../src/storage/embedded.js';
import { adminUrl } from './db.js';

export const debianPg15Bin = '/usr/lib/postgresql/15/bin';
export const pgbenchPath = join(debianPg15Bin, 'pgbench');

/**
 * `false` when the Debian tool exists; otherwise a skip message for node:test. Under CI a missing tool is
 * a failure, not a skip: CI installs it (.ci/run), so its absence means the suite proves less than it says.
 */
export function debianToolSkip(path: string, pkg = 'postgresql-15'): string | false {
  if (existsSync(path)) return false;
  const msg = `SKIPPED: ${path} is missing (apt-get install ${pkg}) — run by hand without it`;
  if (process.env.CI === 'true') throw new Error(`${path} is missing in CI (apt-get install ${pkg})`);
  process.stdout.write(`# ${msg}\n`);
  return msg;
}

/** The run server's major version (150000-style number). */
export async function runServerVersion(): Promise<number> {
  const c = new pg.Client({ connectionString: adminUrl() });
  await c.connect();
  try {
    const { rows } = await c.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    return Number(rows[0]?.v);
  } finally {
    await c.end();
  }
}

/** Binaries of the same major version as the run's server: embedded for 18, Debian's for 15. */
export async function sameVersionBinDir(): Promise<string> {
  const v = await runServerVersion();
  if (Math.floor(v / 10000) === 15) return debianPg15Bin;
  return embeddedBinDir();
}

export interface PrivateCluster {
  cluster: RunningCluster;
  dir: string;
  pgdata: string;
  password: string;
  superuser: string;
  url(database?: string): string;
  stop(): Promise<void>;
}

/**
 * A throwaway PostgreSQL server of the run's version in a temp dir (mode 755: its user must reach it); of
 * `binDir`'s version instead when given (a bench, which has no run server).
 */
export async function startPrivateCluster(
  settings: Record<string, string> = {},
  existing?: { dir: string; pgdata: string; port?: number },
  binDir?: string,
): Promise<PrivateCluster> {
  binDir ??= await sameVersionBinDir();
  const dir = existing?.dir ?? mkdtempSync(join(tmpdir(), 'pgvigil-pgtest-'));
  await chmod(dir, 0o755);
  const pgdata = existing?.pgdata ?? join(dir, 'pgdata');
  const password = 'private-cluster-pw';
  const superuser = 'pgvigil_test';
  const cluster = await startCluster({
    binDir,
    pgdata,
    superuser,
    password,
    logFile: join(dir, `${pgdata.split('/').pop()}.log`),
    runAsUser: 'pgvigil',
    ...(existing?.port !== undefined ? { port: existing.port } : {}),
    settings: {
      shared_preload_libraries: 'pg_stat_statements',
      fsync: 'off',
      shared_buffers: '32MB',
      ...settings,
    },
    log: silentLogger(),
  });
  return {
    cluster,
    dir,
    pgdata,
    password,
    superuser,
    url: (database = 'postgres') => cluster.url(database),
    stop: async () => {
      await cluster.stop();
    },
  };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** A logger that keeps every line it writes, to check what was (and was not) logged. */
export function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink) as Logger, lines };
}

export function collectContext(log: Logger = silentLogger()): CollectContext {
  return {
    procRoot: '/proc',
    sysRoot: '/sys',
    now: () => Date.now(),
    monotonic: () => performance.now(),
    log,
    signal: new AbortController().signal,
  };
}

/** Rows of one family in a collection ([] when absent). */
export function rowsOf(result: readonly FamilyRows[], family: string): Row[] {
  return result.filter((f) => f.family === family).flatMap((f) => f.rows);
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

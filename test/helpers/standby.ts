/**
 * A streaming standby the way the standby tests make one: the low-level base backup API and a file copy of
 * the primary's data directory (the embedded PostgreSQL 18 ships no pg_basebackup), owned by the server's
 * user; and a one-off query on a URL.
 */
import { chmod, chown, copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { silentLogger } from '../../src/log.js';
import { serverUser } from '../../src/storage/cluster.js';
import { type PrivateCluster, startPrivateCluster } from './pg-cluster.js';

/** Directories whose contents a base backup leaves out (the standby streams or recreates them). */
const emptied = new Set([
  'pg_wal',
  'pg_replslot',
  'pg_stat_tmp',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_subtrans',
]);
const skippedFiles = new Set(['postmaster.pid', 'postmaster.opts']);

export async function copyDataDir(from: string, to: string, top = true): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o700 });
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(from, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const e of entries) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory()) {
      if (top && emptied.has(e.name)) {
        await mkdir(dst, { mode: 0o700 });
        if (e.name === 'pg_wal') await mkdir(join(dst, 'archive_status'), { mode: 0o700 });
        continue;
      }
      await copyDataDir(src, dst, false);
    } else if (e.isFile() && !(top && skippedFiles.has(e.name))) {
      // Files may vanish while the server runs (temp files): a base backup skips them.
      await copyFile(src, dst).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
  }
}

export async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  for (const e of await readdir(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await chown(p, uid, gid);
  }
}

export async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

/**
 * A standby's data directory beside `primary`'s, made with the low-level base backup API and a file copy,
 * streaming from it through the slot `standby1` (which the caller creates), owned by the server's user.
 */
export async function standbyDataDir(primary: PrivateCluster): Promise<string> {
  const backup = new pg.Client({ connectionString: primary.url() });
  await backup.connect();
  const standbyData = join(primary.dir, 'standby');
  try {
    await backup.query("SELECT pg_backup_start('pgvigil-test', true)");
    await copyDataDir(primary.pgdata, standbyData);
    const { rows } = await backup.query<{ labelfile: string }>('SELECT labelfile FROM pg_backup_stop(false)');
    await writeFile(join(standbyData, 'backup_label'), rows[0]!.labelfile);
  } finally {
    await backup.end();
  }
  await writeFile(join(standbyData, 'standby.signal'), '');
  const conninfo = `host=127.0.0.1 port=${primary.cluster.port} user=${primary.superuser} password=${primary.password} application_name=standby1`;
  const auto = await readFile(join(standbyData, 'postgresql.auto.conf'), 'utf8').catch(() => '');
  await writeFile(
    join(standbyData, 'postgresql.auto.conf'),
    `${auto}\nprimary_conninfo = '${conninfo}'\nprimary_slot_name = 'standby1'\nhot_standby = on\n`,
  );
  const user = await serverUser('pgvigil', silentLogger());
  if (user) await chownTree(standbyData, user.uid, user.gid);
  await chmod(standbyData, 0o700);
  return standbyData;
}

/**
 * A primary (with `settings`, `wal_level = replica`) and a streaming standby of it through the slot
 * `standby1` (with `settings` too), both private clusters of `binDir`'s PostgreSQL (default: the run's).
 */
export async function startPrimaryAndStandby(
  settings: Record<string, string> = {},
  binDir?: string,
): Promise<{ primary: PrivateCluster; standby: PrivateCluster }> {
  const primary = await startPrivateCluster(
    { ...settings, wal_level: 'replica', max_wal_senders: '4' },
    undefined,
    binDir,
  );
  try {
    await query(primary.url(), "SELECT pg_create_physical_replication_slot('standby1', true)");
    const standby = await startPrivateCluster(
      settings,
      { dir: primary.dir, pgdata: await standbyDataDir(primary) },
      binDir,
    );
    return { primary, standby };
  } catch (err) {
    // Nobody else holds the primary yet: stop it rather than leave it running.
    await primary.stop().catch(() => {});
    throw err;
  }
}

/**
 * Data page checksum failures (pg_database.checksum_failures and .checksum_last_failure, 12+) provoked for
 * real: a private Debian PostgreSQL 15 server with data checksums turned on by pg_checksums (the embedded
 * PostgreSQL initialises without checksums and ships no pg_checksums), a table page overwritten on disk
 * while the server is down, then read. Our row must equal pg_stat_database. (Debian's postgres_exporter
 * 0.11 does not export these columns.)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { createPostgresCollector } from '../src/agent/collectors/postgres/collector.js';
import { postgresPrometheusMetrics } from '../src/agent/collectors/postgres/prometheus.js';
import { renderExposition } from '../src/agent/exporter.js';
import { silentLogger } from '../src/log.js';
import { type RunningCluster, serverUser, startCluster } from '../src/storage/cluster.js';
import { collectContext, debianPg15Bin, debianToolSkip, removeDir, rowsOf } from './helpers/pg-cluster.js';
import { waitFor } from './helpers/wait.js';

const execFileAsync = promisify(execFile);

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

interface Server {
  cluster: RunningCluster;
  url(): string;
}

const pgChecksums = join(debianPg15Bin, 'pg_checksums');
const skip = debianToolSkip(pgChecksums);
let dir = '';
let server: Server | undefined;

async function start(pgdata: string): Promise<Server> {
  const cluster = await startCluster({
    binDir: debianPg15Bin,
    pgdata,
    superuser: 'pgvigil_test',
    password: 'checksums-test-pw',
    logFile: join(dir, 'server.log'),
    runAsUser: 'pgvigil',
    settings: { fsync: 'off', shared_buffers: '32MB' },
    log: silentLogger(),
  });
  return { cluster, url: () => cluster.url('postgres') };
}

after(async () => {
  await server?.cluster.stop().catch(() => {});
  if (dir) await removeDir(dir);
});

test('a_corrupted_page_is_counted_with_its_time_as_pg_stat_database_says', { skip }, async (t) => {
  dir = await mkdtemp(join(tmpdir(), 'pgvigil-checksums-'));
  await chmod(dir, 0o755);
  const pgdata = join(dir, 'pgdata');
  server = await start(pgdata);
  await server.cluster.stop();
  const user = await serverUser('pgvigil', silentLogger());
  await execFileAsync(pgChecksums, ['--enable', '-D', pgdata], user ? { uid: user.uid, gid: user.gid } : {});
  server = await start(pgdata);
  const [checksums] = await query<{ v: string }>(
    server.url(),
    "SELECT current_setting('data_checksums') AS v",
  );
  assert.equal(checksums?.v, 'on');
  const cluster = server;
  await query(
    cluster.url(),
    "CREATE TABLE victim (id int, pad text); INSERT INTO victim SELECT g, repeat('x', 50) FROM generate_series(1, 100) g; CHECKPOINT",
  );
  const [{ path } = { path: '' }] = await query<{ path: string }>(
    cluster.url(),
    "SELECT pg_relation_filepath('victim') AS path",
  );
  await cluster.cluster.stop();
  // Overwrite bytes in the tuple area of block 0 (rows fill the 8 kB page from its end): the page
  // header is untouched, so only the checksum can tell.
  const file = await open(join(pgdata, path), 'r+');
  try {
    await file.write(Buffer.alloc(16, 0xa5), 0, 16, 8000);
  } finally {
    await file.close();
  }
  server = await start(pgdata);
  const c = server;
  await assert.rejects(query(c.url(), 'SELECT count(*) FROM victim'), /invalid page in block 0/);
  const view = await waitFor('the failure counted', async () => {
    const [row] = await query<{ n: string; at: Date | null }>(
      c.url(),
      "SELECT checksum_failures::text AS n, checksum_last_failure AS at FROM pg_stat_database WHERE datname = 'postgres'",
    );
    return row && Number(row.n) >= 1 ? row : undefined;
  });

  const collector = createPostgresCollector(c.url(), {
    families: ['pg_database'],
    includeDatabases: ['postgres'],
  });
  try {
    const result = await collector.collect(collectContext());
    const row = rowsOf(result, 'pg_database').find((r) => r.datname === 'postgres');
    assert.ok(row);
    assert.equal(row.checksum_failures, Number(view.n));
    assert.ok(view.at);
    assert.equal(new Date(String(row.checksum_last_failure)).getTime(), view.at.getTime());
    const text = renderExposition(postgresPrometheusMetrics(result));
    assert.match(
      text,
      new RegExp(`^pg_stat_database_checksum_failures_total\\{datname="postgres"\\} ${view.n}$`, 'm'),
    );
    assert.match(
      text,
      new RegExp(
        `^pg_stat_database_checksum_last_failure_timestamp_seconds\\{datname="postgres"\\} ${view.at.getTime() / 1000}$`,
        'm',
      ),
    );
    t.diagnostic(`checksum_failures ${row.checksum_failures}, last at ${row.checksum_last_failure}`);
  } finally {
    await collector.close();
  }
});

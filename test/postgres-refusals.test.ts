/**
 * Refusals by a real server are not asked again at every collection: a database whose `pg_hba.conf` line
 * rejects the agent's role is tried once, and then again only after the pause (each try is a FATAL line
 * in the monitored server's own log), while its families are reported degraded with the reason; once the
 * line is gone and the pause is over, the database is visited again. Runs on the version of the run.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createPostgresCollector } from '../src/agent/collectors/postgres/collector.js';
import { testPgLabel } from './helpers/db.js';
import {
  collectContext,
  type PrivateCluster,
  removeDir,
  rowsOf,
  startPrivateCluster,
} from './helpers/pg-cluster.js';
import { waitFor } from './helpers/wait.js';

describe(`refusals on ${testPgLabel}`, () => {
  let cluster: PrivateCluster;
  let admin: pg.Client;
  let hbaFile: string;
  let hba: string;
  let serverLog: string;

  before(async () => {
    cluster = await startPrivateCluster();
    admin = new pg.Client({ connectionString: cluster.url() });
    await admin.connect();
    await admin.query('CREATE DATABASE shut_out');
    hbaFile = join(cluster.pgdata, 'pg_hba.conf');
    hba = readFileSync(hbaFile, 'utf8');
    serverLog = join(cluster.dir, `${cluster.pgdata.split('/').pop()}.log`);
  });

  after(async () => {
    await admin?.end();
    await cluster?.stop();
    if (cluster) await removeDir(cluster.dir);
  });

  const rejections = () => readFileSync(serverLog, 'utf8').split('pg_hba.conf rejects connection').length - 1;

  test('a_database_whose_pg_hba_line_rejects_us_is_tried_again_only_after_the_pause', async () => {
    // The reject line first: pg_hba.conf is read top down.
    writeFileSync(hbaFile, `host shut_out all 127.0.0.1/32 reject\nhost shut_out all ::1/128 reject\n${hba}`);
    await admin.query('SELECT pg_reload_conf()');
    const collector = createPostgresCollector(cluster.url(), {
      families: ['pg_tables'],
      includeDatabases: ['postgres', 'shut_out'],
      databaseIntervalMs: 0,
      refusalPause: { firstMs: 3_000, maxMs: 3_000 },
    });
    try {
      const before = rejections();
      const statuses: Array<string | null> = [];
      for (let i = 0; i < 3; i++) {
        const result = await collector.collect(collectContext());
        const status = rowsOf(result, 'pg_collector').find(
          (r) => r.family === 'pg_tables' && r.datname === 'shut_out',
        );
        assert.equal(status?.ok, false);
        statuses.push(status?.error as string | null);
        const other = rowsOf(result, 'pg_collector').find(
          (r) => r.family === 'pg_tables' && r.datname === 'postgres',
        );
        assert.equal(other?.ok, true, 'the other database is visited as before');
      }
      assert.match(String(statuses[0]), /pg_hba\.conf rejects connection/);
      for (const later of statuses.slice(1)) assert.match(String(later), /; not asked again before \d{4}-/);
      await waitFor(
        'the rejection in the server log',
        async () => (rejections() > before ? true : undefined),
        5_000,
      );
      assert.equal(rejections() - before, 1, 'three collections, one try');

      // The line gone and the pause over: visited again.
      writeFileSync(hbaFile, hba);
      await admin.query('SELECT pg_reload_conf()');
      await sleep(3_100);
      const result = await collector.collect(collectContext());
      const status = rowsOf(result, 'pg_collector').find(
        (r) => r.family === 'pg_tables' && r.datname === 'shut_out',
      );
      assert.equal(status?.ok, true, `still degraded: ${status?.error}`);
    } finally {
      writeFileSync(hbaFile, hba);
      await collector.close();
    }
  });
});

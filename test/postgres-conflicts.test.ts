/**
 * Recovery conflicts by kind (pg_database.confl_*, from pg_stat_database_conflicts) on a streaming standby
 * of the run's PostgreSQL version, provoked for real: a query holding a lock the primary's replayed
 * AccessExclusiveLock needs (confl_lock), and a snapshot that needs rows a replayed vacuum removes
 * (confl_snapshot), with max_standby_streaming_delay = 0 so replay cancels at once. Our row, the view and
 * Debian's postgres_exporter (pg_stat_database_conflicts_confl_*) must agree.
 *
 * The standby is made as test/postgres-standby.test.ts makes it (low-level base backup API and a file
 * copy: the embedded PostgreSQL 18 ships no pg_basebackup).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createPostgresCollector } from '../src/agent/collectors/postgres/collector.js';
import { postgresPrometheusMetrics } from '../src/agent/collectors/postgres/prometheus.js';
import { renderExposition } from '../src/agent/exporter.js';
import { testPgLabel } from './helpers/db.js';
import {
  collectContext,
  debianToolSkip,
  type PrivateCluster,
  removeDir,
  rowsOf,
  startPrivateCluster,
} from './helpers/pg-cluster.js';
import { exporterPath, startExporter } from './helpers/postgres-exporter.js';
import { parsePromText, sampleValue } from './helpers/prometheus.js';
import { query, standbyDataDir } from './helpers/standby.js';
import { waitFor } from './helpers/wait.js';

interface Conflicts {
  confl_tablespace: number;
  confl_lock: number;
  confl_snapshot: number;
  confl_bufferpin: number;
  confl_deadlock: number;
}

async function conflictsOf(url: string): Promise<Conflicts> {
  const [row] = await query<Conflicts>(
    url,
    `SELECT confl_tablespace::float8 AS confl_tablespace, confl_lock::float8 AS confl_lock,
            confl_snapshot::float8 AS confl_snapshot, confl_bufferpin::float8 AS confl_bufferpin,
            confl_deadlock::float8 AS confl_deadlock
       FROM pg_stat_database_conflicts WHERE datname = 'postgres'`,
  );
  return row!;
}

/** A session on the standby that may be cancelled or terminated by replay: its errors are expected. */
async function standbySession(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  return c;
}

describe(`recovery conflicts on ${testPgLabel}: a standby cancelling queries for replay`, () => {
  const skip = debianToolSkip(exporterPath, 'prometheus-postgres-exporter');
  let primary: PrivateCluster;
  let standby: PrivateCluster | undefined;

  before(async () => {
    primary = await startPrivateCluster({ wal_level: 'replica', max_wal_senders: '4' });
    await query(primary.url(), "SELECT pg_create_physical_replication_slot('standby1', true)");
    await query(
      primary.url(),
      'CREATE TABLE locked (id int); CREATE TABLE vacuumed (id int) WITH (autovacuum_enabled = off)',
    );
    await query(
      primary.url(),
      'INSERT INTO locked VALUES (1); INSERT INTO vacuumed SELECT generate_series(1, 1000)',
    );
    const standbyData = await standbyDataDir(primary);
    // Replay cancels a conflicting query at once instead of waiting 30 s for it.
    standby = await startPrivateCluster(
      { max_standby_streaming_delay: '0', hot_standby_feedback: 'off' },
      { dir: primary.dir, pgdata: standbyData },
    );
    await waitFor('the standby to stream', async () => {
      const rows = await query<{ state: string }>(primary.url(), 'SELECT state FROM pg_stat_replication');
      return rows[0]?.state === 'streaming' ? true : undefined;
    });
  });

  after(async () => {
    await standby?.stop().catch(() => {});
    await primary?.stop().catch(() => {});
    if (primary) await removeDir(primary.dir);
  });

  test('lock_and_snapshot_conflicts_equal_the_view_and_postgres_exporters', { skip }, async (t) => {
    assert.ok(standby);
    const s = standby;
    const before = await conflictsOf(s.url());
    assert.deepEqual(Object.values(before), [0, 0, 0, 0, 0], 'a fresh standby has no conflicts');

    // A lock conflict: a standby transaction holds AccessShareLock on `locked`, the primary takes an
    // AccessExclusiveLock on it, replay needs it on the standby.
    const reader = await standbySession(s.url());
    await reader.query('BEGIN; SELECT count(*) FROM locked');
    await query(primary.url(), 'BEGIN; LOCK TABLE locked IN ACCESS EXCLUSIVE MODE; COMMIT');
    await waitFor('a lock conflict counted', async () => {
      const c = await conflictsOf(s.url());
      return c.confl_lock >= 1 ? c : undefined;
    });
    await reader.end().catch(() => {});

    // A snapshot conflict: a repeatable-read snapshot on the standby still sees rows that the primary
    // deletes and vacuums away; replaying the cleanup needs them gone.
    const snap = await standbySession(s.url());
    await snap.query('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM vacuumed');
    await query(primary.url(), 'DELETE FROM vacuumed');
    await query(primary.url(), 'VACUUM vacuumed');
    await waitFor('a snapshot conflict counted', async () => {
      const c = await conflictsOf(s.url());
      return c.confl_snapshot >= 1 ? c : undefined;
    });
    await snap.end().catch(() => {});

    const exporter = await startExporter(s.url('postgres'));
    const collector = createPostgresCollector(s.url('postgres'), {
      families: ['pg_database'],
      includeDatabases: ['postgres'],
    });
    try {
      const view = await conflictsOf(s.url());
      const result = await collector.collect(collectContext());
      const theirs = await exporter.scrape();
      assert.deepEqual(await conflictsOf(s.url()), view, 'conflicts changed during the comparison');
      const row = rowsOf(result, 'pg_database').find((r) => r.datname === 'postgres');
      assert.ok(row, 'pg_database row for postgres');
      const ours = parsePromText(renderExposition(postgresPrometheusMetrics(result)));
      for (const kind of ['tablespace', 'lock', 'snapshot', 'bufferpin', 'deadlock'] as const) {
        const col = `confl_${kind}` as const;
        assert.equal(row[col], view[col], `${col}: row vs view`);
        const theirValue = sampleValue(theirs, `pg_stat_database_conflicts_${col}`, { datname: 'postgres' });
        assert.equal(theirValue, view[col], `${col}: postgres_exporter vs view`);
        assert.equal(
          sampleValue(ours, `pg_stat_database_conflicts_${col}_total`, { datname: 'postgres' }),
          theirValue,
          `${col}: ours vs postgres_exporter`,
        );
      }
      assert.ok(Number(row.confl_lock) >= 1 && Number(row.confl_snapshot) >= 1);
      t.diagnostic(
        `confl_lock ${row.confl_lock}, confl_snapshot ${row.confl_snapshot} (view, ours, postgres_exporter equal)`,
      );
      // confl_active_logicalslot: 16+ only, and honest null before.
      const [version] = await query<{ v: number }>(
        s.url(),
        "SELECT current_setting('server_version_num')::int AS v",
      );
      if (version!.v >= 160000) assert.equal(row.confl_active_logicalslot, 0);
      else assert.equal(row.confl_active_logicalslot, null);
    } finally {
      await collector.close();
      await exporter.stop();
    }
  });
});

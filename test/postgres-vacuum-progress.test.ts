/**
 * pg_vacuum_progress (pg_stat_progress_vacuum) on the run's server while a real VACUUM runs, slowed down
 * by cost-based delay so it can be watched: the row of that vacuum's pid agrees with the view read just
 * before and just after the collection (moving values between the two), the table is named only by a
 * collector in the table's own database, and nothing is sent once it is over. (Debian's postgres_exporter
 * 0.11 has no vacuum progress metrics to compare with.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createPostgresCollector } from '../src/agent/collectors/postgres/collector.js';
import { postgresPrometheusMetrics } from '../src/agent/collectors/postgres/prometheus.js';
import type { Row } from '../src/agent/collectors/types.js';
import { renderExposition } from '../src/agent/exporter.js';
import { adminUrl, createTestDatabase, type TestDatabase, testPgLabel } from './helpers/db.js';
import { collectContext, rowsOf } from './helpers/pg-cluster.js';
import { waitFor } from './helpers/wait.js';

interface Progress {
  phase: string;
  heap_blks_total: number;
  heap_blks_scanned: number;
  heap_blks_vacuumed: number;
  index_vacuum_count: number;
}

describe(`vacuum progress on ${testPgLabel}`, () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('vacprog');
    await db.pool.query(
      `CREATE TABLE big (id int, pad text) WITH (autovacuum_enabled = off);
       INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 40000) g;
       DELETE FROM big WHERE id % 2 = 0`,
    );
  });
  after(() => db.drop());

  test('a_running_vacuum_is_reported_with_its_phase_and_blocks_between_two_reads_of_the_view', async (t) => {
    const vacuumer = new pg.Client({ connectionString: db.url });
    vacuumer.on('error', () => {});
    await vacuumer.connect();
    const [{ pid }] = (await vacuumer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [
      { pid: number },
    ];
    // Sleep 100 ms after every page or so: a few hundred pages take long enough to watch.
    await vacuumer.query("SET vacuum_cost_delay = '100ms'; SET vacuum_cost_limit = 1");
    const running = vacuumer.query('VACUUM big').then(
      () => 'finished',
      (err: Error) => err.message,
    );
    const inDb = createPostgresCollector(db.url, { families: ['pg_vacuum_progress'] });
    const elsewhere = createPostgresCollector(adminUrl(), { families: ['pg_vacuum_progress'] });
    try {
      const view = async (): Promise<Progress> => {
        const { rows } = await db.pool.query<Progress>(
          `SELECT phase, heap_blks_total::float8 AS heap_blks_total, heap_blks_scanned::float8 AS heap_blks_scanned,
                  heap_blks_vacuumed::float8 AS heap_blks_vacuumed, index_vacuum_count::float8 AS index_vacuum_count
             FROM pg_stat_progress_vacuum WHERE pid = $1`,
          [pid],
        );
        return rows[0]!;
      };
      await waitFor('the vacuum to scan', async () => {
        const v = await db.pool.query(
          'SELECT heap_blks_scanned FROM pg_stat_progress_vacuum WHERE pid = $1',
          [pid],
        );
        return Number(v.rows[0]?.heap_blks_scanned) > 0 ? true : undefined;
      });
      const a = await view();
      const result = await inDb.collect(collectContext());
      const b = await view();
      assert.ok(a && b, 'the vacuum still runs');
      const status = rowsOf(result, 'pg_collector').find((r) => r.family === 'pg_vacuum_progress');
      assert.equal(status?.ok, true, `degraded: ${status?.error}`);
      const row = rowsOf(result, 'pg_vacuum_progress').find((r: Row) => r.pid === pid);
      assert.ok(row, 'a row for the vacuuming process');
      assert.equal(row.datname, db.name);
      assert.equal(row.relname, 'big');
      assert.equal(row.autovacuum, false);
      assert.equal(a.phase, b.phase, 'the phase did not change between the reads');
      assert.equal(row.phase, a.phase);
      assert.equal(row.heap_blks_total, a.heap_blks_total);
      const scanned = Number(row.heap_blks_scanned);
      assert.ok(
        scanned >= a.heap_blks_scanned && scanned <= b.heap_blks_scanned,
        `scanned ${a.heap_blks_scanned} ≤ ${scanned} ≤ ${b.heap_blks_scanned}`,
      );
      assert.ok(Math.abs(Number(row.scanned_pct) - (100 * scanned) / a.heap_blks_total) < 0.01);
      assert.ok(Number(row.running_s) > 0);
      assert.ok(Number(row.dead_items) >= 0);
      const text = renderExposition(postgresPrometheusMetrics(result));
      assert.match(
        text,
        new RegExp(
          `^pg_stat_progress_vacuum_heap_blks_total\\{pid="${pid}",datname="${db.name}",relname="big",phase="${a.phase}"\\} ${a.heap_blks_total}$`,
          'm',
        ),
      );
      t.diagnostic(
        `${a.phase}: ${a.heap_blks_scanned} ≤ ${scanned} ≤ ${b.heap_blks_scanned} of ${a.heap_blks_total} blocks`,
      );

      // From another database the oid cannot be named: null, not a wrong name.
      const other = rowsOf(await elsewhere.collect(collectContext()), 'pg_vacuum_progress').find(
        (r: Row) => r.pid === pid,
      );
      assert.ok(other);
      assert.equal(other.relname, null);
      assert.equal(other.relid, row.relid);

      await db.pool.query('SELECT pg_cancel_backend($1)', [pid]);
      assert.match(await running, /canceling statement/);
      // The client hears of the cancel before the backend has ended its progress report: "over" is when the
      // view no longer shows it.
      await waitFor('the vacuum to leave the view', async () => {
        const v = await db.pool.query('SELECT 1 FROM pg_stat_progress_vacuum WHERE pid = $1', [pid]);
        return v.rowCount === 0 ? true : undefined;
      });
      const afterwards = rowsOf(await inDb.collect(collectContext()), 'pg_vacuum_progress');
      assert.equal(
        afterwards.some((r: Row) => r.pid === pid),
        false,
        'no row once it is over',
      );
    } finally {
      await inDb.close();
      await elsewhere.close();
      await vacuumer.end().catch(() => {});
    }
  });
});

/**
 * The cache hit ratio of each interval (derived series cache_hit_interval_pct and
 * cache_hit_interval_pct_instance of pg_database, GET /api/v1/series) on a private PostgreSQL of the run's
 * version with a 16 MB shared_buffers: an interval that only re-reads a small cached table, then one that
 * scans a table four times larger than shared_buffers. Shows: each step's value equals
 * 100 × Δblks_hit / (Δblks_hit + Δblks_read) measured directly on pg_stat_database around the
 * collections, and it differs from the since-reset cache_hit_pct; the first collection (one sample) and an
 * interval without any block access have no point; the instance series adds every database's deltas.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createPostgresCollector } from '../src/agent/collectors/postgres/collector.js';
import type { FamilyRows, Row } from '../src/agent/collectors/types.js';
import type { SeriesResult } from '../src/storage/series.js';
import { type FindingsServer, startFindingsServer } from './helpers/findings.js';
import {
  collectContext,
  type PrivateCluster,
  removeDir,
  rowsOf,
  sleep,
  startPrivateCluster,
} from './helpers/pg-cluster.js';

interface Counts {
  hit: number;
  read: number;
}

describe('cache hit ratio of each interval', () => {
  let cluster: PrivateCluster;
  let fs: FindingsServer;
  let collector: ReturnType<typeof createPostgresCollector>;
  /** pg_database rows of each collection, with the time they were sent at. */
  const collections: Array<{ ts: number; rows: Row[]; direct: Counts }> = [];

  /** cachetest's counters, read directly; stats are flushed when the workload's backend exits. */
  async function direct(): Promise<Counts> {
    const c = new pg.Client({ connectionString: cluster.url('postgres') });
    await c.connect();
    try {
      const { rows } = await c.query<{ hit: string; read: string }>(
        "SELECT blks_hit AS hit, blks_read AS read FROM pg_stat_database WHERE datname = 'cachetest'",
      );
      return { hit: Number(rows[0]!.hit), read: Number(rows[0]!.read) };
    } finally {
      await c.end();
    }
  }

  /** Runs `sql` in cachetest on a connection of its own, closed after (its statistics flushed then). */
  async function workload(sql: string) {
    const c = new pg.Client({ connectionString: cluster.url('cachetest') });
    await c.connect();
    await c.query(sql);
    await c.end();
    // Wait until the exited backend's counters are visible and still.
    let last = await direct();
    for (;;) {
      await sleep(300);
      const now = await direct();
      if (now.hit === last.hit && now.read === last.read) return;
      last = now;
    }
  }

  async function collect() {
    const before = await direct();
    const result: FamilyRows[] = await collector.collect(collectContext());
    const after = await direct();
    assert.deepEqual(after, before, 'nothing touched cachetest during the collection');
    const db = result.find((f) => f.family === 'pg_database')!;
    collections.push({ ts: db.ts, rows: rowsOf(result, 'pg_database'), direct: after });
    const row = db.rows.find((r) => r.datname === 'cachetest')!;
    assert.equal(Number(row.blks_hit), after.hit, 'the collected counter is the view’s');
    assert.equal(Number(row.blks_read), after.read);
    const agent = await agentP;
    await fs.push(agent, result, { target: 'main' });
    await sleep(1100); // one collection per 1 s step
  }

  let agentP: ReturnType<FindingsServer['enroll']>;

  async function series(metrics: string, label?: string): Promise<SeriesResult> {
    const first = collections[0]!.ts;
    const qs = new URLSearchParams({
      family: 'pg_database',
      metrics,
      server: String((await agentP).serverId),
      from: String(first - 30_000),
      to: String(Date.now() + 30_000),
      step: '1s',
      tier: 'raw',
    });
    if (label) qs.append('label', label);
    const res = await fetch(`${fs.base}/api/v1/series?${qs}`, { headers: fs.admin });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as SeriesResult;
  }

  const ratio = (a: Counts, b: Counts) => {
    const hit = b.hit - a.hit;
    const read = b.read - a.read;
    return hit + read > 0 ? (100 * hit) / (hit + read) : null;
  };
  const step = (ts: number) => Math.floor(ts / 1000) * 1000;

  before(async () => {
    cluster = await startPrivateCluster({ shared_buffers: '16MB', autovacuum: 'off' });
    fs = await startFindingsServer('cachehit');
    agentP = fs.enroll('cache-host');
    const admin = new pg.Client({ connectionString: cluster.url('postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE cachetest');
    await admin.end();
    const setup = new pg.Client({ connectionString: cluster.url('cachetest') });
    await setup.connect();
    // ~64 MB: four times shared_buffers, so a scan reads it from the OS (a ring buffer, not the cache).
    await setup.query(
      "CREATE TABLE big AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 250000) g",
    );
    await setup.query('CREATE TABLE small AS SELECT g AS id FROM generate_series(1, 1000) g');
    await setup.query('SELECT count(*) FROM small');
    await setup.end();
    collector = createPostgresCollector(cluster.url('postgres'), { families: ['pg_database'] });
  });

  after(async () => {
    await collector?.close();
    await fs?.close();
    if (cluster) {
      await cluster.stop().catch(() => {});
      await removeDir(cluster.dir);
    }
  });

  test('each_step_is_the_ratio_of_the_counters_deltas_not_the_since_reset_ratio', async (t) => {
    // Cached now, and many hits since the reset: the since-reset ratio stays high after the big scan.
    await workload('DO $$BEGIN FOR i IN 1..10000 LOOP PERFORM count(*) FROM small; END LOOP; END$$');
    await collect(); // A: one sample, no interval yet
    await workload('SELECT count(*) FROM small; SELECT count(*) FROM small; SELECT count(*) FROM small');
    await collect(); // B: hits only
    await workload('SELECT count(*) FROM big; SELECT count(*) FROM big');
    await collect(); // C: mostly reads
    await collect(); // D: no block access in cachetest at all

    const [a, b, c, d] = collections.map((x) => x.direct);
    assert.deepEqual(d, c, 'the quiet interval really had no block access');
    const want = new Map([
      [step(collections[1]!.ts), ratio(a!, b!)],
      [step(collections[2]!.ts), ratio(b!, c!)],
    ]);
    assert.ok(want.get(step(collections[1]!.ts))! > 99, `hits only: ${ratio(a!, b!)}`);
    assert.ok(want.get(step(collections[2]!.ts))! < 50, `the big scan: ${ratio(b!, c!)}`);

    const res = await series('cache_hit_interval_pct,blks_read', 'datname:cachetest');
    const got = res.series.find((s) => s.metric === 'cache_hit_interval_pct');
    assert.ok(got, JSON.stringify(res.series.map((s) => s.metric)));
    assert.equal(got.agg, 'ratio');
    assert.deepEqual(got.labels, { target: got.labels.target, datname: 'cachetest' });
    assert.deepEqual(
      got.points.map(([t]) => t),
      [...want.keys()],
      'no point for the first sample nor for the interval without block access',
    );
    for (const [t, v] of got.points) assert.ok(Math.abs(v - want.get(t)!) < 1e-9, `${v} vs ${want.get(t)}`);
    assert.ok(
      res.series.some((s) => s.metric === 'blks_read'),
      'a counter asked for is returned beside it',
    );
    assert.ok(!res.series.some((s) => s.metric === 'blks_hit'), 'a counter read only for the ratio is not');

    // The since-reset figure after the big scan is far from that interval's.
    const sinceReset = Number(collections[2]!.rows.find((r) => r.datname === 'cachetest')!.cache_hit_pct);
    const interval = want.get(step(collections[2]!.ts))!;
    t.diagnostic(
      `cachetest: interval B ${want.get(step(collections[1]!.ts))?.toFixed(3)} %, interval C ${interval.toFixed(3)} % (Δhit ${c!.hit - b!.hit}, Δread ${c!.read - b!.read}), since reset at C ${sinceReset} %`,
    );
    assert.ok(Math.abs(sinceReset - interval) > 10, `since reset ${sinceReset} %, interval ${interval} %`);
  });

  test('the_instance_series_adds_every_databases_deltas', async () => {
    const res = await series('cache_hit_interval_pct_instance');
    assert.equal(res.series.length, 1);
    const [s] = res.series;
    assert.deepEqual(Object.keys(s!.labels), ['target']);
    const sum = (rows: Row[], col: string) => rows.reduce((n, r) => n + Number(r[col]), 0);
    for (let i = 1; i < collections.length; i++) {
      const p = collections[i - 1]!.rows;
      const q = collections[i]!.rows;
      const hit = sum(q, 'blks_hit') - sum(p, 'blks_hit');
      const read = sum(q, 'blks_read') - sum(p, 'blks_read');
      const point = s!.points.find(([t]) => t === step(collections[i]!.ts));
      if (hit + read === 0) assert.equal(point, undefined);
      else assert.ok(point && Math.abs(point[1] - (100 * hit) / (hit + read)) < 1e-9, `step ${i}`);
    }
    assert.equal(
      s!.points.find(([t]) => t === step(collections[0]!.ts)),
      undefined,
      'one sample: no ratio',
    );
  });

  test('an_unknown_derived_name_is_a_clear_400_listing_the_derived_ones', async () => {
    const qs = new URLSearchParams({
      family: 'pg_database',
      metrics: 'cache_hit_interval',
      server: String((await agentP).serverId),
    });
    const res = await fetch(`${fs.base}/api/v1/series?${qs}`, { headers: fs.admin });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /known: .*cache_hit_interval_pct, cache_hit_interval_pct_instance/);
  });
});

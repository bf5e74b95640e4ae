/**
 * History reads from a real streaming standby (DATABASE_READ_URL): a store on a private primary with a
 * standby made from its base backup; the read API's series answers come from the standby while it holds
 * the range, from the primary when it does not (replay paused past the lag bound, a read of the newest
 * seconds) and when it is gone — with the same values either way, and never an error. Runs on the
 * version of the run: embedded 18, and Debian's 15 in the PostgreSQL 15 pass.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type App, buildServerApp } from '../src/server/app.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { openStore, type Store } from '../src/storage/db.js';
import { migrate } from '../src/storage/migrate.js';
import { maintainPartitions } from '../src/storage/partitions.js';
import { ReadReplicas } from '../src/storage/read-replicas.js';
import { quietLog, testPgLabel } from './helpers/db.js';
import { type PrivateCluster, removeDir } from './helpers/pg-cluster.js';
import { query, startPrimaryAndStandby } from './helpers/standby.js';
import { roleHeaders } from './helpers/users.js';
import { until } from './helpers/wait.js';

const minute = 60_000;
const maxLagMs = 3000;

let primary: PrivateCluster;
let standby: PrivateCluster;
let store: Store;
let pool: pg.Pool;
let server: App;
let viewer: { authorization: string };
let serverId: number;
let latest: number;

async function insertLoad(t: number, load1: number): Promise<void> {
  await pool.query(
    'INSERT INTO pgvigil.host_load (server_id, ts, load1, load5, load15) VALUES ($1, $2, $3, 0, 0)',
    [serverId, new Date(t), load1],
  );
}

/** load1 per step (a minute) of the raw tier over [from, to], and whether the standby answered. */
async function loadSeries(
  from: number,
  to: number,
  step = 60,
): Promise<{ values: number[]; viaStandby: boolean }> {
  const before = store.readReplicas()[0]!.reads;
  const qs = new URLSearchParams({
    family: 'host_load',
    server: String(serverId),
    metrics: 'load1',
    tier: 'raw',
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    step: String(step),
  });
  const res = await server.app.inject({ method: 'GET', url: `/api/v1/series?${qs}`, headers: viewer });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json() as { series: Array<{ points: [number, number][] }> };
  const values = (body.series[0]?.points ?? []).map(([, v]) => v);
  return { values, viaStandby: store.readReplicas()[0]!.reads > before };
}

before(async () => {
  ({ primary, standby } = await startPrimaryAndStandby());
  store = await openStore({
    databaseUrl: primary.url(),
    log: quietLog,
    readReplicas: { urls: [standby.url()], maxLagMs },
  });
  pool = store.pool;
  ({ latest } = await migrate(pool, quietLog));
  await maintainPartitions(pool, { log: quietLog });
  server = await buildServerApp({ store, log: quietLog, latestMigration: latest });
  viewer = await roleHeaders(pool, 'viewer');
  serverId = await ensureServer(pool, 'replica-host');
});

after(async () => {
  await server?.app.close();
  await store?.close();
  await standby?.stop().catch(() => {});
  await primary?.stop();
  if (primary) await removeDir(primary.dir);
});

describe(`read replicas (${testPgLabel})`, () => {
  test('history_reads_go_to_the_standby_that_holds_them_and_to_the_primary_when_it_does_not', async () => {
    const now = Date.now();
    for (let i = 30; i >= 2; i--) await insertLoad(now - i * minute, i);
    await until(async () => store.readReplicas()[0]!.state === 'ready', 20_000);
    // Wait for the standby to replay the rows: the next probe after the inserts finds it fresh past them.
    await until(async () => (await loadSeries(now - 40 * minute, now - minute)).viaStandby, 20_000);

    const fromStandby = await loadSeries(now - 40 * minute, now - minute);
    assert.ok(fromStandby.viaStandby, 'a range the standby holds is read there');
    assert.deepEqual(
      fromStandby.values.sort((a, b) => a - b),
      Array.from({ length: 29 }, (_, i) => i + 2),
    );

    // A read of the newest seconds goes to the primary: a standby could lack all of it.
    const newest = await loadSeries(Date.now() - 500, Date.now(), 1);
    assert.equal(newest.viaStandby, false, 'the last seconds are read on the primary');

    // Replay paused: the standby falls behind; what it still holds it serves, the rest the primary does.
    await query(standby.url(), 'SELECT pg_wal_replay_pause()');
    const paused = Date.now();
    await insertLoad(paused, 99);
    await until(async () => store.readReplicas()[0]!.state === 'lagging', 20_000);
    const lagging = store.readReplicas()[0]!;
    assert.ok(lagging.lagMs !== null && lagging.lagMs > maxLagMs, `lag ${lagging.lagMs} ms`);
    const recent = await loadSeries(paused - 10 * minute, Date.now());
    assert.equal(recent.viaStandby, false, 'a standby behind the bound does not answer for recent data');
    assert.ok(recent.values.includes(99), 'the primary has the row the standby has not replayed');
    const older = await loadSeries(now - 40 * minute, now - 20 * minute);
    assert.ok(older.viaStandby, 'a range wholly before the pause is still read on the standby');
    assert.deepEqual(
      older.values.sort((a, b) => a - b),
      Array.from({ length: 11 }, (_, i) => i + 20),
    );

    const health = await server.app.inject({ method: 'GET', url: '/api/v1/health' });
    const replicas = (health.json() as { store: { readReplicas: Array<{ state: string }> } }).store
      .readReplicas;
    assert.deepEqual(
      replicas.map((r) => r.state),
      ['lagging'],
    );
    assert.ok(!health.body.includes(primary.password), 'no password in the health answer');
    assert.ok(!health.body.includes('postgres://'), 'no standby address in the public answer');

    await query(standby.url(), 'SELECT pg_wal_replay_resume()');
    await until(async () => store.readReplicas()[0]!.state === 'ready', 20_000);
  });

  test('a_lag_bound_under_a_second_holds_a_standby_that_keeps_up_under_writes_ready', async () => {
    // The standby applies each commit 300 ms late, and the primary commits every 25 ms: the standby never
    // holds the newest probe's position, only one at least 300 ms old. Probed every second (the interval
    // before it followed the bound) that is the probe a second before, so its lag read 1,000 ms, over an
    // 800-ms bound; probed every 200 ms (a quarter of the bound) it reads ~400 ms.
    await query(standby.url(), "ALTER SYSTEM SET recovery_min_apply_delay = '300ms'");
    await query(standby.url(), 'SELECT pg_reload_conf()');
    // Its own primary pool: a router hangs off the pool it is given, and the store's keeps its own.
    const primaryPool = new pg.Pool({ connectionString: primary.url(), max: 2 });
    const router = new ReadReplicas(primaryPool, [standby.url()], { maxLagMs: 800, log: quietLog });
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing && i < 800; i++) {
        await insertLoad(Date.now() - 3 * minute, i);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    try {
      await router.start();
      // The delay takes hold a moment after the reload, and the first probe may come before the first
      // write (a lag of 0, honestly): wait until a probe sees the standby at least its delay behind.
      await until(async () => (router.status()[0]!.lagMs ?? 0) >= 300, 15_000);
      // Then watch two seconds (ten probes). A probe delayed by a busy machine may read one stale
      // position, so most readings, not all, must be ready; probed every second, none is.
      const seen: string[] = [];
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const { state, lagMs } = router.status()[0]!;
        seen.push(`${state} ${lagMs}`);
      }
      const ready = seen.filter((s) => /^ready \d+$/.test(s) && Number(s.split(' ')[1]) <= 800);
      assert.ok(ready.length >= 15, `readings: ${seen.join(', ')}`);
    } finally {
      writing = false;
      await writes;
      await router.close();
      await primaryPool.end();
      await query(standby.url(), 'ALTER SYSTEM RESET recovery_min_apply_delay');
      await query(standby.url(), 'SELECT pg_reload_conf()');
    }
  });

  test('a_standby_that_goes_away_turns_no_read_into_an_error', async () => {
    const now = Date.now();
    await until(async () => (await loadSeries(now - 40 * minute, now - minute)).viaStandby, 20_000);
    await standby.stop();
    // Reads right after the stop, before any probe notices it, fall back to the primary.
    for (let i = 0; i < 5; i++) {
      const r = await loadSeries(now - 40 * minute, now - minute);
      assert.equal(r.viaStandby, false);
      assert.ok(r.values.length >= 29);
    }
    await until(async () => store.readReplicas()[0]!.state === 'down', 20_000);
  });
});

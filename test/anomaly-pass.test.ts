/**
 * The anomaly checks judge the fleet in passes kept in the store (src/intelligence/checks/fleet-pass.ts):
 * every instance's anomaly job takes slices of the current pass, so two instances share one pass and
 * judge each server once in it, and a new pass begins only once the last is taken and its gap has passed.
 * Two engines on two pools stand for two server instances (each has its own baselines cache). The cache
 * itself (src/intelligence/baseline-book.ts) reads again, within the hour, only the servers refreshed since,
 * and holds at most its bound.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { BaselineBook } from '../src/intelligence/baseline-book.js';
import { anomalySlices, anomalyStaleMs } from '../src/intelligence/checks/anomalies.js';
import { FindingsEngine } from '../src/intelligence/engine.js';
import { replaceServerBaselines } from '../src/storage/queries/baselines.sql.js';
import { inTransaction } from '../src/storage/tx.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';

/** More than two slices of 500, so that each instance's run takes several. */
const servers = 1_100;
let ts: TestStore;
let pools: pg.Pool[];
let engines: FindingsEngine[];

/** Rows of the pass taken at `at` (each instance's runs are given their own clock, a millisecond apart). */
async function takenAt(at: Date): Promise<number> {
  const { rows } = await ts.store.pool.query(
    "SELECT count(*)::int AS n FROM pgvigil.check_pass WHERE pass = 'anomalies' AND taken_at = $1",
    [at],
  );
  return rows[0].n;
}

before(async () => {
  ts = await createTestStore('anomaly_pass');
  // Servers with one baseline each, and their state as the baselines job writes it: a pass lists the
  // servers whose last refresh wrote baselines.
  await ts.store.pool.query(
    `WITH s AS (INSERT INTO pgvigil.servers (name) SELECT 'host-' || i FROM generate_series(1, $1::int) i
                RETURNING server_id),
          b AS (INSERT INTO pgvigil.baselines (server_id, metric, through, computed_at, hour_of_week, hour_of_day)
                SELECT server_id, 'host.cpu_busy_pct', now(), now(), '[]', '[]' FROM s)
     INSERT INTO pgvigil.baseline_state (server_id, through, refreshed_at, series, duration_ms)
     SELECT server_id, now(), now(), 1, 1 FROM s`,
    [servers],
  );
  pools = [0, 1].map(() => new pg.Pool({ connectionString: ts.db.url, max: 3 }));
  engines = pools.map((pool) => new FindingsEngine({ pool, log: quietLog }));
});

after(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await ts.close();
});

describe(`the anomaly checks' pass over the fleet (${testPgLabel})`, () => {
  test('two_instances_share_a_pass_each_server_taken_once_and_a_new_pass_waits_for_its_gap', async () => {
    const t0 = Date.now();
    const at = [new Date(t0), new Date(t0 + 1)];
    await Promise.all(engines.map((e, i) => e.runJobChecks(at[i], { slices: anomalySlices })));
    const taken = await Promise.all(at.map(takenAt));
    assert.equal(taken[0]! + taken[1]!, servers, `every server taken once: ${taken.join(' + ')}`);
    assert.ok(
      taken.every((n) => n > 0),
      `both instances took slices: ${taken.join(' + ')}`,
    );

    // Ten seconds on, the pass is taken and began under its 45-s gap ago: nothing to take.
    const soon = new Date(t0 + 10_000);
    await engines[0]!.runJobChecks(soon, { slices: anomalySlices });
    assert.equal(await takenAt(soon), 0);

    // A minute on, a new pass lists every server again; one instance takes it whole.
    const next = new Date(t0 + 60_000);
    await engines[1]!.runJobChecks(next, { slices: anomalySlices });
    assert.equal(await takenAt(next), servers);
    const { rows } = await ts.store.pool.query(
      "SELECT started_at, last_pass_ms FROM pgvigil.check_pass_state WHERE pass = 'anomalies'",
    );
    assert.equal(rows[0].started_at.getTime(), next.getTime());
    assert.ok(
      rows[0].last_pass_ms >= 0 && rows[0].last_pass_ms < 60_000,
      `last pass ${rows[0].last_pass_ms} ms`,
    );
    // An anomaly finding waits two passes and a minute before it resolves by time (the engine's 30 minutes
    // stand when that is longer).
    assert.ok(anomalyStaleMs(next.getTime()) <= 2 * 60_000 + 60_000 + 60_000);
  });

  /** A client that counts the baseline rows its queries read (not those of baseline_state). */
  async function countingClient(): Promise<{ client: pg.Client; read: () => number }> {
    const client = new pg.Client({ connectionString: ts.db.url });
    await client.connect();
    let rowsRead = 0;
    const query = client.query.bind(client);
    client.query = ((text: string, ...rest: unknown[]) => {
      const p = (query as (...a: unknown[]) => Promise<pg.QueryResult>)(text, ...rest);
      return p.then((r) => {
        if (typeof text === 'string' && text.includes('FROM pgvigil.baselines')) rowsRead += r.rowCount ?? 0;
        return r;
      });
    }) as typeof client.query;
    return {
      client,
      read: () => {
        const n = rowsRead;
        rowsRead = 0;
        return n;
      },
    };
  }

  async function serverIds(): Promise<number[]> {
    const { rows } = await ts.store.pool.query('SELECT server_id FROM pgvigil.baseline_state ORDER BY 1');
    return rows.map((r) => Number(r.server_id));
  }

  test('the_baselines_cache_reads_again_only_the_servers_refreshed_since_it_last_looked', async () => {
    const { client, read } = await countingClient();
    try {
      const now = new Date();
      const ids = await serverIds();
      const book = new BaselineBook();
      await book.forgetRefreshed(client);
      await book.load(client, now, ids);
      assert.equal(read(), servers);
      assert.equal(book.servers().length, servers);
      const [a, b] = ids as [number, number];

      // Nothing refreshed since: the cache reads no baseline again.
      await book.forgetRefreshed(client);
      await book.load(client, now, ids);
      assert.equal(read(), 0);

      // Server a refreshed with another series, b refreshed with none: their rows, and nothing else.
      const later = new Date(now.getTime() + 1000);
      const row = {
        targetId: null,
        object: '',
        stats7d: null,
        stats30d: null,
        hourOfWeek: [],
        hourOfDay: [],
      };
      await inTransaction(ts.store.pool, async (c) => {
        await replaceServerBaselines(c, a, later, later, [{ ...row, metric: 'host.iowait_pct' }], 1);
        await replaceServerBaselines(c, b, later, later, [], 1);
      });
      await book.forgetRefreshed(client);
      await book.load(client, now, ids);
      assert.equal(read(), 1, "a's one baseline");
      assert.deepEqual(
        book.ofServer(a).map((e) => e.metric),
        ['host.iowait_pct'],
      );
      assert.deepEqual(book.ofServer(b), []);
      assert.equal(book.servers().length, servers - 1);

      await book.forgetRefreshed(client);
      await book.load(client, now, ids);
      assert.equal(read(), 0, 'the two are held as read');

      // The next hour needs other slots: each server is read again as it is asked for.
      const nextHour = new Date(now.getTime() + 3_600_000);
      await book.load(client, nextHour, ids.slice(0, 10));
      assert.equal(read(), 9, 'ten servers, b without baselines');
    } finally {
      await client.end();
    }
  });

  test('the_baselines_cache_holds_at_most_its_bound_letting_go_of_the_servers_used_least_recently', async () => {
    const { client, read } = await countingClient();
    try {
      const now = new Date();
      // Servers 2 onwards: untouched by the test above (one series each).
      const ids = (await serverIds()).slice(2);
      const book = new BaselineBook(300);
      // A slice larger than the bound is held whole.
      await book.load(client, now, ids.slice(0, 500));
      assert.equal(read(), 500);
      assert.equal(book.size, 500);
      // The next slice: the first is let go of, the new one held whole.
      await book.load(client, now, ids.slice(500, 1000));
      assert.equal(read(), 500);
      assert.equal(book.size, 500);
      assert.equal(book.get(ids[0]!, null, 'host.cpu_busy_pct', ''), undefined);
      assert.ok(book.get(ids[999]!, null, 'host.cpu_busy_pct', ''));
      // 100 of the first again: read, and the bound lets go of the 300 used least recently.
      await book.load(client, now, ids.slice(0, 100));
      assert.equal(read(), 100);
      assert.equal(book.size, 300);
      assert.ok(book.get(ids[0]!, null, 'host.cpu_busy_pct', ''));
      assert.equal(book.get(ids[500]!, null, 'host.cpu_busy_pct', ''), undefined);
      assert.ok(book.get(ids[999]!, null, 'host.cpu_busy_pct', ''));
      // Those held are not read again.
      await book.load(client, now, ids.slice(800, 1000));
      assert.equal(read(), 0);
    } finally {
      await client.end();
    }
  });
});

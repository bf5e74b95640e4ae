/**
 * The anomaly checks judge the fleet in passes kept in the store (src/intelligence/checks/fleet-pass.ts):
 * every instance's anomaly job takes slices of the current pass, so two instances share one pass and
 * judge each server once in it, and a new pass begins only once the last is taken and its gap has passed.
 * Two engines on two pools stand for two server instances (each has its own baselines cache). The cache
 * itself (src/intelligence/baseline-book.ts) reads again, within the hour, only the servers refreshed since.
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
  // Servers with one baseline each: what the checks' cache lists a pass from.
  await ts.store.pool.query(
    `WITH s AS (INSERT INTO pgvigil.servers (name) SELECT 'host-' || i FROM generate_series(1, $1::int) i
                RETURNING server_id)
     INSERT INTO pgvigil.baselines (server_id, metric, through, computed_at, hour_of_week, hour_of_day)
     SELECT server_id, 'host.cpu_busy_pct', now(), now(), '[]', '[]' FROM s`,
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

  test('the_baselines_cache_reads_again_only_the_servers_refreshed_since_it_last_read', async () => {
    // A client whose answers are counted: the rows each refresh of the cache reads.
    const client = new pg.Client({ connectionString: ts.db.url });
    await client.connect();
    let rowsRead = 0;
    const query = client.query.bind(client);
    client.query = ((...args: Parameters<typeof query>) => {
      const p = query(...args) as unknown as Promise<pg.QueryResult>;
      return p.then((r) => {
        rowsRead += r.rowCount ?? 0;
        return r;
      });
    }) as typeof client.query;
    try {
      const now = new Date();
      const book = new BaselineBook();
      await book.refresh(client, now);
      assert.equal(book.servers().length, servers);
      const [a, b] = book.servers() as [number, number];

      // Nothing refreshed since: the cache reads no baseline again.
      rowsRead = 0;
      await book.refresh(client, now);
      assert.equal(rowsRead, 0);

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
      rowsRead = 0;
      await book.refresh(client, now);
      // Two rows of baseline_state and one baseline.
      assert.equal(rowsRead, 3);
      assert.deepEqual(
        book.ofServer(a).map((e) => e.metric),
        ['host.iowait_pct'],
      );
      assert.deepEqual(book.ofServer(b), []);
      assert.equal(book.servers().length, servers - 1);

      rowsRead = 0;
      await book.refresh(client, now);
      assert.equal(rowsRead, 2, 'only the state of the two, whose baselines the cache holds');
    } finally {
      await client.end();
    }
  });
});

/**
 * Rollup runners racing over one backlog on a real PostgreSQL: two "instances" (each its own pool of
 * connections, two runners each) run the rollup job at the same moment over many (server, hour) pending
 * rows. Every hour and day is written by one runner only, nothing is left pending, late rows pushed through
 * real ingest into hours already rolled are rolled again by the next race, and every tier ends up equal,
 * row for row, to what one runner rolling the same raw rows from scratch writes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { batchMediaType } from '../src/protocol/batch.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { localAgent } from '../src/server/auth/agents.js';
import { rollPending, rollupJob } from '../src/server/jobs/rollups.js';
import { defaultRetention } from '../src/storage/partitions.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';

const hourMs = 3_600_000;
const dayMs = 86_400_000;
const hours = 6;
const servers = 24;
/** Well inside raw retention, in the past: every hour, the hour after the last and their days are due. */
const firstHour = Math.floor(Date.now() / hourMs) * hourMs - 32 * hourMs;
const tiers = ['host_load', 'pg_database'].flatMap((f) =>
  ['minute', 'hourly', 'daily'].map((t) => `${f}_${t}`),
);

let ts: TestStore;
let pool: pg.Pool;
let server: App;
const agents: Array<{ credential: string; agentId: string; serverId: number }> = [];

before(async () => {
  ts = await createTestStore('rollclaims');
  pool = ts.store.pool;
  server = await buildServerApp({ store: ts.store, log: quietLog, latestMigration: ts.latest });
  for (let i = 0; i < servers; i++) agents.push(await localAgent(pool, `claim-host-${i}`, undefined));
  const ids = agents.map((a) => a.serverId);
  const start = new Date(firstHour);
  const end = new Date(firstHour + hours * hourMs);
  await pool.query(
    `INSERT INTO pgvigil.host_load (server_id, ts, load1, load5, load15)
     SELECT s, t, s + (extract(epoch FROM t)::bigint % 977) / 100.0, 1, 1
       FROM unnest($1::bigint[]) s, generate_series($2::timestamptz, $3::timestamptz - interval '10 seconds', interval '10 seconds') t`,
    [ids, start, end],
  );
  // A counter every 10 s that resets in the fourth hour, and a sparse one (every 290 s: the step into an
  // hour comes from a sample beyond the raw look-back, found through the minute tier of the hour before).
  await pool.query(
    `INSERT INTO pgvigil.pg_database (server_id, target_id, ts, datname, numbackends, xact_commit)
     SELECT s, 1, t, 'app', (s % 7)::int,
            CASE WHEN t < $2::timestamptz + interval '3 hours 20 minutes'
                 THEN (extract(epoch FROM t - $2::timestamptz) / 10)::bigint * (s % 5 + 1)
                 ELSE (extract(epoch FROM t - $2::timestamptz) / 100)::bigint END
       FROM unnest($1::bigint[]) s, generate_series($2::timestamptz, $3::timestamptz - interval '10 seconds', interval '10 seconds') t
     UNION ALL
     SELECT s, 1, t, 'sparse', 1, (extract(epoch FROM t - $2::timestamptz) / 290)::bigint * 7 + s
       FROM unnest($1::bigint[]) s, generate_series($2::timestamptz + interval '13 seconds', $3::timestamptz - interval '1 second', interval '290 seconds') t`,
    [ids, start, end],
  );
  await pendAll();
  // Every write of a host_load hourly or daily row, by the store itself.
  await pool.query(`
    CREATE TABLE pgvigil.test_roll_writes (tbl text NOT NULL, server_id bigint NOT NULL, ts timestamptz NOT NULL);
    CREATE FUNCTION pgvigil.test_roll_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO pgvigil.test_roll_writes VALUES (TG_ARGV[0], NEW.server_id, NEW.ts);
        RETURN NULL;
      END $$;
    CREATE TRIGGER test_roll_write AFTER INSERT OR UPDATE ON pgvigil.host_load_hourly
      FOR EACH ROW EXECUTE FUNCTION pgvigil.test_roll_write('hourly');
    CREATE TRIGGER test_roll_write AFTER INSERT OR UPDATE ON pgvigil.host_load_daily
      FOR EACH ROW EXECUTE FUNCTION pgvigil.test_roll_write('daily');`);
});
after(async () => {
  await server?.app.close();
  await ts?.close();
});

/** Every (server, hour) of the seeded range pending, as the writer records them. */
async function pendAll(): Promise<void> {
  await pool.query(
    `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket)
     SELECT s, 'hourly', $2::timestamptz + k * interval '1 hour' FROM unnest($1::bigint[]) s, generate_series(0, $3 - 1) k
     ON CONFLICT DO NOTHING`,
    [agents.map((a) => a.serverId), new Date(firstHour), hours],
  );
}

/**
 * Two instances (the test's pool and one of its own), two runners each, at the same moment; half the servers
 * a claim, so that two runners take the first hour and the other two find the next hours of the same
 * servers in the queue while those are being rolled.
 */
async function race(): Promise<number> {
  const other = new pg.Pool({ connectionString: ts.db.url, max: 4 });
  try {
    const job = rollupJob(defaultRetention, { workers: 2, serversPerChunk: servers / 2 });
    const now = new Date();
    const runs = await Promise.all([pool, other].map((p) => job.run({ pool: p, log: quietLog, now })));
    return runs.reduce<number>((n, r) => n + (r as { hours: number }).hours, 0);
  } finally {
    await other.end();
  }
}

async function writes(): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ tbl: string; server_id: string; ts: Date; n: number }>(
    'SELECT tbl, server_id, ts, count(*)::int AS n FROM pgvigil.test_roll_writes GROUP BY 1, 2, 3',
  );
  return new Map(rows.map((r) => [`${r.tbl} ${r.server_id} ${r.ts.getTime()}`, r.n]));
}

async function pendingLeft(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pgvigil.rollup_pending WHERE server_id = ANY($1::bigint[])',
    [agents.map((a) => a.serverId)],
  );
  return rows[0]!.n;
}

/** Every row of the rollup tiers of the seeded servers, in key order. */
async function tierRows(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const t of tiers) {
    const { rows } = await pool.query(
      `SELECT * FROM pgvigil.${t} WHERE server_id = ANY($1::bigint[]) ORDER BY server_id, ${t.startsWith('pg_') ? 'target_id, datname, ' : ''}ts`,
      [agents.map((a) => a.serverId)],
    );
    out[t] = rows;
  }
  return out;
}

const days = () => {
  const out = new Set<number>();
  for (let h = firstHour; h < firstHour + hours * hourMs; h += hourMs) out.add(Math.floor(h / dayMs) * dayMs);
  return [...out];
};

describe(`rollup runners racing over one backlog on ${testPgLabel}`, () => {
  test('two_instances_share_the_backlog_and_roll_every_server_hour_and_day_once', async () => {
    const rolled = await race();
    assert.equal(await pendingLeft(), 0, 'nothing left pending');
    const w = await writes();
    for (const a of agents) {
      for (let k = 0; k < hours; k++) {
        assert.equal(
          w.get(`hourly ${a.serverId} ${firstHour + k * hourMs}`),
          1,
          `server ${a.serverId} hour ${k}`,
        );
      }
      for (const d of days())
        assert.equal(w.get(`daily ${a.serverId} ${d}`), 1, `server ${a.serverId} day ${d}`);
    }
    assert.equal(w.size, servers * (hours + days().length), 'no other row written');
    // Each server's hours and the (empty) hour after its last, once each.
    assert.equal(rolled, servers * (hours + 1));
  });

  test('late_rows_through_ingest_re_roll_their_hour_and_the_next_in_the_next_race', async () => {
    await pool.query('TRUNCATE pgvigil.test_roll_writes');
    const late = firstHour + 2 * hourMs + 30 * 60_000 + 5_000;
    for (const a of agents.slice(0, 3)) {
      const res = await server.app.inject({
        method: 'POST',
        url: '/api/v1/ingest',
        headers: {
          authorization: `Bearer ${a.credential}`,
          'content-type': batchMediaType,
          'content-encoding': 'gzip',
        },
        payload: gzipSync(
          Buffer.from(
            JSON.stringify({
              v: 1,
              agentId: a.agentId,
              seq: 1,
              sealedAt: Date.now(),
              families: {
                host_load: { columns: ['ts', 'load1', 'load5', 'load15'], rows: [[late, 99, 1, 1]] },
              },
            }),
          ),
        ),
      });
      assert.equal(res.statusCode, 200, res.body);
    }
    assert.equal(await pendingLeft(), 3, "the writer recorded each late row's hour");
    const rolled = await race();
    assert.equal(await pendingLeft(), 0);
    assert.equal(rolled, 3 * 2, 'the late hour and the hour after it, of each of the three servers');
    const w = await writes();
    const lateDays = new Set([2, 3].map((k) => Math.floor((firstHour + k * hourMs) / dayMs) * dayMs));
    for (const a of agents.slice(0, 3)) {
      assert.equal(w.get(`hourly ${a.serverId} ${firstHour + 2 * hourMs}`), 1);
      assert.equal(w.get(`hourly ${a.serverId} ${firstHour + 3 * hourMs}`), 1);
      for (const d of lateDays) assert.equal(w.get(`daily ${a.serverId} ${d}`), 1, 'their days again');
    }
    assert.equal(w.size, 3 * (2 + lateDays.size));
    const { rows } = await pool.query<{ load1_max: number; samples: number }>(
      'SELECT load1_max, samples FROM pgvigil.host_load_hourly WHERE server_id = $1 AND ts = $2',
      [agents[0]!.serverId, new Date(firstHour + 2 * hourMs)],
    );
    assert.deepEqual([rows[0]!.load1_max, rows[0]!.samples], [99, 361]);
  });

  test('the_tiers_the_race_wrote_equal_what_one_runner_rolls_from_scratch', async () => {
    const raced = await tierRows();
    assert.ok(raced.pg_database_hourly!.length >= servers * hours * 2);
    assert.ok(
      raced.pg_database_hourly!.some(
        (r) =>
          (r as { datname: string }).datname === 'sparse' &&
          Number((r as { xact_commit: string }).xact_commit) > 0,
      ),
    );
    const ids = agents.map((a) => a.serverId);
    for (const t of tiers)
      await pool.query(`DELETE FROM pgvigil.${t} WHERE server_id = ANY($1::bigint[])`, [ids]);
    await pendAll();
    const one = await rollPending(pool, {
      now: new Date(),
      rawDays: defaultRetention.rawDays,
      log: quietLog,
    });
    assert.equal(one.hours, servers * (hours + 1));
    assert.equal(await pendingLeft(), 0);
    const single = await tierRows();
    for (const t of tiers) {
      assert.equal(single[t]!.length, raced[t]!.length, t);
      assert.deepEqual(single[t], raced[t], t);
    }
  });
});

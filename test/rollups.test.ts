/**
 * Rollups on a real PostgreSQL: tables against the specs, reset-aware counter increases, minute rows
 * against the raw rows of each minute, late rows through real ingest re-rolling their bucket, idempotent
 * re-rolls, minute increases adding up to the hourly one and hourly ones to the daily one, and retention of
 * the rollup partitions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { batchMediaType } from '../src/protocol/batch.js';
import { families } from '../src/protocol/families/index.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { ensureServer, localAgent } from '../src/server/auth/agents.js';
import { rollBucket, rollMinutes, rollupJob } from '../src/server/jobs/rollups.js';
import { runJobOnce } from '../src/server/jobs/runner.js';
import { pgTypeNames } from '../src/storage/ddl.js';
import { migrate } from '../src/storage/migrate.js';
import { defaultRetention, maintainPartitions } from '../src/storage/partitions.js';
import { rollupSkipped, rollupSpecs, rollupTiers } from '../src/storage/rollups.js';
import { serverTails } from '../src/storage/series.js';
import {
  createTestDatabase,
  createTestStore,
  quietLog,
  type TestDatabase,
  type TestStore,
  testPgLabel,
} from './helpers/db.js';

const hourMs = 3_600_000;
const dayMs = 86_400_000;
const minute = 60_000;

let ts: TestStore;
let pool: pg.Pool;

before(async () => {
  ts = await createTestStore('rollups');
  pool = ts.store.pool;
});
after(() => ts.close());

/** An hour well inside raw retention and in the past, so partitions exist and nothing is in the future. */
const baseHour = Math.floor(Date.now() / hourMs) * hourMs - 30 * hourMs;

async function insertDatabaseRows(
  serverId: number,
  rows: Array<{ t: number; xact: number | null; readMs?: number | null; backends?: number }>,
  datname = 'app',
): Promise<void> {
  await pool.query(
    `INSERT INTO pgvigil.pg_database (server_id, target_id, ts, datname, numbackends, xact_commit, blk_read_time_ms)
     SELECT $1, 1, to_timestamp(t / 1000.0), $2, b, x, r
       FROM unnest($3::float8[], $4::int[], $5::bigint[], $6::float8[]) AS u(t, b, x, r)`,
    [
      serverId,
      datname,
      rows.map((r) => r.t),
      rows.map((r) => r.backends ?? 5),
      rows.map((r) => r.xact),
      rows.map((r) => r.readMs ?? null),
    ],
  );
}

async function hourlyRow(table: string, serverId: number, at: number): Promise<Record<string, unknown>> {
  const { rows } = await pool.query(`SELECT * FROM pgvigil.${table} WHERE server_id = $1 AND ts = $2`, [
    serverId,
    new Date(at),
  ]);
  assert.equal(rows.length, 1, `one ${table} row at ${new Date(at).toISOString()}`);
  return rows[0] as Record<string, unknown>;
}

describe(`rollup tables on ${testPgLabel}`, () => {
  test('every_rollup_table_matches_the_family_specs_column_for_column', async () => {
    for (const fam of Object.values(families)) {
      if (fam.once) assert.ok(fam.name in rollupSkipped, `${fam.name} is "once" and must be skipped`);
    }
    for (const name of Object.keys(rollupSkipped)) {
      const { rows } = await pool.query('SELECT to_regclass($1) AS t, to_regclass($2) AS d', [
        `pgvigil.${name}_hourly`,
        `pgvigil.${name}_daily`,
      ]);
      assert.deepEqual(rows[0], { t: null, d: null }, `${name} is skipped and has no rollup tables`);
    }
    assert.ok(Object.keys(rollupSpecs).length >= 20);
    for (const spec of Object.values(rollupSpecs)) {
      const fam = spec.family;
      const expected = [
        'server_id:bigint',
        ...(fam.scope === 'target' ? ['target_id:bigint'] : []),
        ...fam.columns.filter((c) => c.label).map((c) => `${c.name}:${pgTypeNames[c.type]}`),
        'ts:timestamp with time zone',
        'samples:integer',
      ];
      for (const c of fam.columns) {
        if (c.label || !['int4', 'int8', 'float4', 'float8'].includes(c.type)) continue;
        const type = pgTypeNames[c.type];
        if (c.counter) {
          expected.push(`${c.name}:${type}`);
          continue;
        }
        expected.push(`${c.name}_avg:double precision`, `${c.name}_min:${type}`, `${c.name}_max:${type}`);
        if (c.type === 'float4' || c.type === 'float8') expected.push(`${c.name}_p95:double precision`);
      }
      const keys = [
        'server_id',
        ...(fam.scope === 'target' ? ['target_id'] : []),
        ...fam.columns.filter((c) => c.label).map((c) => c.name),
        'ts',
      ];
      for (const tier of rollupTiers) {
        const table = `${fam.name}_${tier}`;
        const { rows } = await pool.query<{ column_name: string; data_type: string }>(
          `SELECT column_name, data_type FROM information_schema.columns
            WHERE table_schema = 'pgvigil' AND table_name = $1 ORDER BY ordinal_position`,
          [table],
        );
        assert.deepEqual(
          rows.map((r) => `${r.column_name}:${r.data_type}`),
          expected,
          `${table} differs from the spec of ${fam.name}`,
        );
        const { rows: pk } = await pool.query<{ def: string; partitioned: boolean }>(
          `SELECT pg_get_constraintdef(k.oid) AS def, c.relkind = 'p' AS partitioned
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'pgvigil'
            WHERE k.contype = 'p' AND c.relname = $1`,
          [table],
        );
        assert.equal(pk[0]?.def, `PRIMARY KEY (${keys.join(', ')})`, `${table} key`);
        assert.equal(pk[0]?.partitioned, true, `${table} is partitioned`);
      }
    }
  });
});

describe(`rolling buckets on ${testPgLabel}`, () => {
  test('a_counter_reset_inside_an_hour_gives_the_right_non_negative_increase', async () => {
    const server = await ensureServer(pool, 'reset-host');
    const h = baseHour;
    await insertDatabaseRows(server, [
      // the last sample before the hour: the step into the hour counts
      { t: h - 5 * minute, xact: 90, readMs: 1.5 },
      { t: h, xact: 100, readMs: 2.0, backends: 3 },
      { t: h + 10 * minute, xact: 150, readMs: 2.5, backends: 7 },
      { t: h + 20 * minute, xact: 200, readMs: 0.25, backends: 5 },
      // reset: the server restarted, the counter starts again from 0
      { t: h + 30 * minute, xact: 30, readMs: 1.0, backends: 1 },
      { t: h + 40 * minute, xact: 80, readMs: 1.5, backends: 9 },
      { t: h + 50 * minute, xact: 100, readMs: 1.5, backends: 5 },
      // the next hour's first sample belongs to the next hour
      { t: h + 60 * minute, xact: 1000, readMs: 5, backends: 100 },
    ]);
    // Hours roll oldest first: the hour before holds the sample before the hour (found through its minute
    // row, being further back than the raw look-back).
    await rollBucket(pool, { tier: 'hourly', serverId: server, bucketStart: new Date(h - hourMs) });
    await rollBucket(pool, { tier: 'hourly', serverId: server, bucketStart: new Date(h) });
    const row = await hourlyRow('pg_database_hourly', server, h);
    assert.equal(row.samples, 6);
    // 10 + 50 + 50 + 30 (reset: the new value) + 50 + 20
    assert.equal(Number(row.xact_commit), 210);
    // float counter: 0.5 + 0.5 + 0.25 (reset) + 0.75 + 0.5 + 0
    assert.equal(row.blk_read_time_ms, 2.5);
    // A counter that is never reported (null: e.g. checksums off) stays unknown, never 0.
    assert.equal(row.checksum_failures, null, 'no samples of a counter: null, not 0');
    assert.equal(row.numbackends_min, 1);
    assert.equal(row.numbackends_max, 9);
    assert.equal(row.numbackends_avg, 5);
    assert.ok(!('numbackends_p95' in row), 'integer gauges have no p95');
    assert.ok('cache_hit_pct_p95' in row, 'float gauges have a p95');

    // The minute rows of the hour, rolled with it: each minute's increase includes the step into it (the
    // first from the sample before the hour), the reset minute counts the new value, and they add up to
    // the hour's increase.
    const { rows: minutes } = await pool.query(
      `SELECT ts, samples, xact_commit::float8 AS xact, blk_read_time_ms AS read_ms
         FROM pgvigil.pg_database_minute WHERE server_id = $1 AND ts >= $2 ORDER BY ts`,
      [server, new Date(h)],
    );
    assert.deepEqual(
      minutes.map((m) => [(m.ts as Date).getTime() - h, m.samples, m.xact, m.read_ms]),
      [
        [0, 1, 10, 0.5],
        [10 * minute, 1, 50, 0.5],
        [20 * minute, 1, 50, 0.25],
        [30 * minute, 1, 30, 0.75],
        [40 * minute, 1, 50, 0.5],
        [50 * minute, 1, 20, 0],
      ],
    );
    assert.equal(
      minutes.reduce((n, m) => n + (m.xact as number), 0),
      Number(row.xact_commit),
    );
    assert.equal(
      minutes.reduce((n, m) => n + (m.read_ms as number), 0),
      row.blk_read_time_ms,
    );
  });

  test('minute_rows_hold_the_avg_min_max_p95_and_samples_of_the_raw_rows_of_each_minute', async () => {
    const server = await ensureServer(pool, 'minute-host');
    const h = baseHour + 2 * hourMs;
    // every 7 s (8 or 9 samples a minute, none aligned), values that differ within each minute
    await pool.query(
      `INSERT INTO pgvigil.host_load (server_id, ts, load1, load5)
       SELECT $1::bigint, $2::timestamptz + i * interval '7 seconds', ((i * 37) % 101) / 10.0, i % 5
         FROM generate_series(0, 513) i`,
      [server, new Date(h)],
    );
    const r = await rollBucket(pool, { tier: 'hourly', serverId: server, bucketStart: new Date(h) });
    const { rows: expected } = await pool.query(
      `SELECT date_trunc('minute', ts) AS ts, count(*)::int AS samples,
              avg(load1)::float8 AS avg, min(load1) AS min, max(load1) AS max,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY load1) AS p95,
              avg(load5)::float8 AS avg5
         FROM pgvigil.host_load WHERE server_id = $1 AND ts >= $2 AND ts < $3 GROUP BY 1 ORDER BY 1`,
      [server, new Date(h), new Date(h + hourMs)],
    );
    const { rows: got } = await pool.query(
      `SELECT ts, samples, load1_avg AS avg, load1_min AS min, load1_max AS max, load1_p95 AS p95, load5_avg AS avg5
         FROM pgvigil.host_load_minute WHERE server_id = $1 ORDER BY ts`,
      [server],
    );
    assert.equal(got.length, 60);
    assert.equal(r.produced, 61, 'the hourly row and 60 minute rows');
    const close = (x: unknown, y: unknown) => Math.abs((x as number) - (y as number)) < 1e-9;
    got.forEach((g, i) => {
      const e = expected[i];
      const at = (g.ts as Date).toISOString();
      assert.deepEqual([g.ts, g.samples, g.min, g.max], [e.ts, e.samples, e.min, e.max], at);
      assert.ok(close(g.avg, e.avg) && close(g.p95, e.p95) && close(g.avg5, e.avg5), at);
    });
    const hourly = await hourlyRow('host_load_hourly', server, h);
    assert.equal(
      got.reduce((n, m) => n + (m.samples as number), 0),
      hourly.samples,
    );
  });

  test('float_gauges_get_avg_min_max_and_p95_over_the_raw_rows_of_the_bucket', async () => {
    const server = await ensureServer(pool, 'p95-host');
    const h = baseHour;
    // 1..100 % user time, one sample per 36 s, and one sample in the next hour that must not count
    await pool.query(
      `INSERT INTO pgvigil.host_cpu (server_id, ts, cpu, user_pct)
       SELECT $1::bigint, $2::timestamptz + (i - 1) * interval '36 seconds', 'total', i FROM generate_series(1, 100) i
       UNION ALL SELECT $1, $2::timestamptz + interval '1 hour', 'total', 1000`,
      [server, new Date(h)],
    );
    await rollBucket(pool, { tier: 'hourly', serverId: server, bucketStart: new Date(h) });
    const row = await hourlyRow('host_cpu_hourly', server, h);
    assert.equal(row.samples, 100);
    assert.equal(row.user_pct_avg, 50.5);
    assert.equal(row.user_pct_min, 1);
    assert.equal(row.user_pct_max, 100);
    assert.ok(Math.abs((row.user_pct_p95 as number) - 95.05) < 1e-9, `p95 ${row.user_pct_p95}`);
    assert.equal(row.system_pct_avg, null, 'a column without values is null');
  });

  test('re_rolling_a_bucket_gives_identical_rows_and_removes_rows_it_no_longer_produces', async () => {
    const server = await ensureServer(pool, 'idempotent-host');
    const h = baseHour + hourMs;
    await pool.query(
      `INSERT INTO pgvigil.host_disk (server_id, ts, device, reads_per_s, util_pct)
       SELECT $1, $2::timestamptz + i * interval '10 seconds', d, (i * 7) % 13, (i * 3) % 17
         FROM generate_series(0, 359) i, unnest(ARRAY['sda', 'sdb']) d`,
      [server, new Date(h)],
    );
    const first = await rollBucket(pool, { tier: 'hourly', serverId: server, bucketStart: new Date(h) });
    assert.ok(first.produced >= 2);
    const snapshot = async () =>
      (
        await pool.query('SELECT * FROM pgvigil.host_disk_hourly WHERE server_id = $1 ORDER BY device, ts', [
          server,
        ])
      ).rows;
    const minutes = async () =>
      (
        await pool.query('SELECT * FROM pgvigil.host_disk_minute WHERE server_id = $1 ORDER BY device, ts', [
          server,
        ])
      ).rows;
    const before = await snapshot();
    assert.equal(before.length, 2);
    const minutesBefore = await minutes();
    assert.equal(minutesBefore.length, 120);
    // a row the raw data does not produce (a device that went away before a re-roll)
    await pool.query(
      `INSERT INTO pgvigil.host_disk_hourly (server_id, device, ts, samples, reads_per_s_avg)
       VALUES ($1, 'gone', $2, 1, 1)`,
      [server, new Date(h)],
    );
    await pool.query(
      `INSERT INTO pgvigil.host_disk_minute (server_id, device, ts, samples, reads_per_s_avg)
       VALUES ($1, 'gone', $2, 1, 1), ($1, 'sda', $3, 1, 1)`,
      [server, new Date(h + 5 * minute), new Date(h + hourMs - minute / 2)],
    );
    const second = await rollBucket(pool, { tier: 'hourly', serverId: server, bucketStart: new Date(h) });
    assert.equal(second.deleted, 3, 'the hourly row and both minute rows the raw rows do not produce');
    assert.deepEqual(await snapshot(), before);
    assert.deepEqual(await minutes(), minutesBefore);
    const third = await rollBucket(pool, { tier: 'hourly', serverId: server, bucketStart: new Date(h) });
    assert.deepEqual(third, { produced: first.produced, deleted: 0 });
    assert.deepEqual(await snapshot(), before);
    assert.deepEqual(await minutes(), minutesBefore);
  });

  test('the_running_hours_minutes_roll_behind_the_clock_and_equal_what_the_hours_own_roll_gives', async () => {
    const server = await ensureServer(pool, 'minute-mark-host');
    const h = baseHour - 3 * hourMs;
    await pool.query(
      `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket) VALUES ($1, 'hourly', $2)`,
      [server, new Date(h)],
    );
    await insertDatabaseRows(server, [
      { t: h - 30 * minute, xact: 50 },
      { t: h + 5 * minute, xact: 100 },
      { t: h + 10 * minute + 30_000, xact: 120 },
      // 25 minutes without a sample: the step into h+35 comes from a sample far beyond the raw look-back
      { t: h + 35 * minute + 10_000, xact: 200 },
      { t: h + 36 * minute, xact: 20 }, // reset
      { t: h + 50 * minute, xact: 70 },
    ]);
    await rollBucket(pool, { tier: 'hourly', serverId: server, bucketStart: new Date(h - hourMs) });
    const minutes = async () =>
      (
        await pool.query(
          `SELECT ts, samples, xact_commit::float8 AS xact FROM pgvigil.pg_database_minute
            WHERE server_id = $1 AND ts >= $2 ORDER BY ts`,
          [server, new Date(h)],
        )
      ).rows.map((m) => [((m.ts as Date).getTime() - h) / minute, m.samples, m.xact]);
    const mark = async () =>
      (
        await pool.query<{ since: Date; rolled_to: Date }>(
          'SELECT since, rolled_to FROM pgvigil.rollup_minute_marks WHERE server_id = $1',
          [server],
        )
      ).rows.map((r) => [(r.since.getTime() - h) / minute, (r.rolled_to.getTime() - h) / minute])[0];

    // 20 minutes into the hour: minutes up to a grace (90 s) behind the clock, whole minutes.
    await rollMinutes(pool, { now: new Date(h + 20 * minute) });
    assert.deepEqual(await mark(), [0, 18]);
    assert.deepEqual(await minutes(), [
      [5, 1, 50],
      [10, 1, 20],
    ]);
    const tails = (await serverTails(pool, [server], new Date(h + 20 * minute))).get(server)!;
    assert.equal(tails.minute, h + 18 * minute, 'readers take minute rows up to the mark');
    assert.equal(tails.hourly, h);

    await rollMinutes(pool, { now: new Date(h + 52 * minute) });
    assert.deepEqual(await mark(), [0, 50]);
    const ahead = await minutes();
    assert.deepEqual(ahead, [
      [5, 1, 50],
      [10, 1, 20],
      [35, 1, 80],
      [36, 1, 20],
    ]);
    // The hour's own roll writes the same minute rows (and the one the mark had not reached).
    await rollBucket(pool, { tier: 'hourly', serverId: server, bucketStart: new Date(h) });
    assert.deepEqual(await minutes(), [...ahead, [50, 1, 50]]);
    assert.equal(Number((await hourlyRow('pg_database_hourly', server, h)).xact_commit), 220);
  });

  test('hourly_increases_add_up_to_the_daily_increase', async () => {
    const server = await ensureServer(pool, 'sum-host');
    const day = Math.floor(Date.now() / dayMs) * dayMs - 3 * dayMs;
    // One sample a minute from two hours before the day to one hour after, with resets, a gap over an
    // hour boundary (50 min: counted) and a gap longer than an hour (not counted, in either tier).
    await pool.query(
      `INSERT INTO pgvigil.pg_database (server_id, target_id, ts, datname, numbackends, xact_commit, blk_read_time_ms)
       SELECT $1, 1, t, 'app', (i * 7) % 23, (i % 397) * 11 + (i / 397) * 3, ((i % 211) * 0.75)::float8
         FROM generate_series(0, 27 * 60) i, LATERAL (SELECT $2::timestamptz + (i - 120) * interval '1 minute' AS t) x
        WHERE NOT (t >= $2::timestamptz + interval '3 hours 40 minutes' AND t < $2::timestamptz + interval '4 hours 30 minutes')
          AND NOT (t >= $2::timestamptz + interval '9 hours 10 minutes' AND t < $2::timestamptz + interval '11 hours')`,
      [server, new Date(day)],
    );
    for (let k = 0; k < 24; k++) {
      await rollBucket(pool, { tier: 'hourly', serverId: server, bucketStart: new Date(day + k * hourMs) });
    }
    await rollBucket(pool, { tier: 'daily', serverId: server, bucketStart: new Date(day) });
    const { rows } = await pool.query(
      `SELECT sum(h.xact_commit)::float8 AS xact, sum(h.blk_read_time_ms) AS read_ms, sum(h.samples)::int AS samples,
              min(h.numbackends_min) AS bmin, max(h.numbackends_max) AS bmax,
              sum(h.numbackends_avg * h.samples) / sum(h.samples) AS bavg, count(*)::int AS hours
         FROM pgvigil.pg_database_hourly h WHERE server_id = $1 AND ts >= $2 AND ts < $3`,
      [server, new Date(day), new Date(day + dayMs)],
    );
    const d = await hourlyRow('pg_database_daily', server, day);
    const hourly = rows[0];
    assert.equal(hourly.hours, 23, 'the hour wholly inside the long gap has no row');
    assert.equal(hourly.samples, d.samples);
    assert.ok(Number(d.xact_commit) > 0);
    assert.equal(hourly.xact, Number(d.xact_commit));
    assert.ok(Math.abs(hourly.read_ms - (d.blk_read_time_ms as number)) < 1e-6);
    assert.equal(hourly.bmin, d.numbackends_min);
    assert.equal(hourly.bmax, d.numbackends_max);
    assert.ok(Math.abs(hourly.bavg - (d.numbackends_avg as number)) < 1e-9);
  });
});

describe(`the rollup job on ${testPgLabel}`, () => {
  let server: App;
  before(async () => {
    server = await buildServerApp({ store: ts.store, log: quietLog, latestMigration: ts.latest });
  });
  after(() => server.app.close());

  async function push(credential: string, agentId: string, seq: number, rows: unknown[][]): Promise<void> {
    const body = {
      v: 1,
      agentId,
      seq,
      sealedAt: Date.now(),
      families: { host_load: { columns: ['ts', 'load1', 'load5', 'load15'], rows } },
    };
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/ingest',
      headers: {
        authorization: `Bearer ${credential}`,
        'content-type': batchMediaType,
        'content-encoding': 'gzip',
      },
      payload: gzipSync(Buffer.from(JSON.stringify(body))),
    });
    assert.equal(res.statusCode, 200, res.body);
  }

  const pending = async (serverId: number) =>
    (
      await pool.query<{ tier: string; bucket: Date }>(
        'SELECT tier, bucket FROM pgvigil.rollup_pending WHERE server_id = $1 ORDER BY tier, bucket',
        [serverId],
      )
    ).rows.map((r) => `${r.tier} ${r.bucket.toISOString()}`);

  test('late_rows_arriving_after_a_bucket_was_rolled_re_roll_it_and_its_day', async () => {
    const agent = await localAgent(pool, 'late-host', undefined);
    let h = Math.floor(Date.now() / hourMs) * hourMs - 5 * hourMs;
    // not the day's last hour, whose day would be due in the same run
    if (h % dayMs === 23 * hourMs) h -= hourMs;
    const job = rollupJob(defaultRetention);
    await push(agent.credential, agent.agentId, 1, [
      [h + 1 * minute, 1, 1, 1],
      [h + 2 * minute, 3, 1, 1],
    ]);
    assert.deepEqual(await pending(agent.serverId), [`hourly ${new Date(h).toISOString()}`]);

    // Within the grace period after the hour: not rolled yet.
    assert.equal(await runJobOnce(pool, job, quietLog, { now: new Date(h + hourMs + 30_000) }), 'ran');
    assert.equal(
      (await pool.query('SELECT 1 FROM pgvigil.host_load_hourly WHERE server_id = $1', [agent.serverId]))
        .rowCount,
      0,
    );
    assert.equal((await pending(agent.serverId)).length, 1);

    await runJobOnce(pool, job, quietLog, { now: new Date(h + hourMs + 3 * minute) });
    let row = await hourlyRow('host_load_hourly', agent.serverId, h);
    assert.deepEqual([row.samples, row.load1_avg, row.load1_max], [2, 2, 3]);
    const day = Math.floor(h / dayMs) * dayMs;
    assert.deepEqual(await pending(agent.serverId), [`daily ${new Date(day).toISOString()}`]);

    // Late rows for the same hour, after it was rolled.
    await push(agent.credential, agent.agentId, 2, [
      [h + 30 * minute, 8, 1, 1],
      [h + 40 * minute, 8, 1, 1],
    ]);
    assert.ok((await pending(agent.serverId)).includes(`hourly ${new Date(h).toISOString()}`));
    const dayDone = new Date(day + dayMs + 3 * minute);
    await runJobOnce(pool, job, quietLog, { now: dayDone });
    row = await hourlyRow('host_load_hourly', agent.serverId, h);
    assert.deepEqual([row.samples, row.load1_avg, row.load1_max], [4, 5, 8]);
    const { rows: minuteRows } = await pool.query(
      'SELECT ts, samples, load1_avg FROM pgvigil.host_load_minute WHERE server_id = $1 ORDER BY ts',
      [agent.serverId],
    );
    assert.deepEqual(
      minuteRows.map((m) => [(m.ts as Date).getTime() - h, m.samples, m.load1_avg]),
      [
        [1 * minute, 1, 1],
        [2 * minute, 1, 3],
        [30 * minute, 1, 8],
        [40 * minute, 1, 8],
      ],
      'the late rows re-rolled the minute tier with their hour',
    );
    const daily = await hourlyRow('host_load_daily', agent.serverId, day);
    assert.deepEqual([daily.samples, daily.load1_avg, daily.load1_max], [4, 5, 8]);
    assert.deepEqual(await pending(agent.serverId), [], 'nothing left to roll');
  });

  test('late_rows_move_the_minute_mark_back_and_the_next_run_rolls_them', async () => {
    const agent = await localAgent(pool, 'late-minute-host', undefined);
    const h = Math.floor(Date.now() / hourMs) * hourMs - 2 * hourMs;
    await push(agent.credential, agent.agentId, 1, [
      [h + 1 * minute, 1, 1, 1],
      [h + 20 * minute, 3, 1, 1],
    ]);
    await rollMinutes(pool, { now: new Date(h + 30 * minute) });
    const mark = async () =>
      (
        await pool.query<{ rolled_to: Date }>(
          'SELECT rolled_to FROM pgvigil.rollup_minute_marks WHERE server_id = $1',
          [agent.serverId],
        )
      ).rows[0]!.rolled_to.getTime();
    assert.equal(await mark(), h + 28 * minute);
    // Rows older than the mark (an agent's spool replayed): the writer moves the mark back to their minute.
    await push(agent.credential, agent.agentId, 2, [[h + 10 * minute + 5_000, 9, 1, 1]]);
    assert.equal(await mark(), h + 10 * minute);
    await rollMinutes(pool, { now: new Date(h + 30 * minute) });
    assert.equal(await mark(), h + 28 * minute);
    const { rows } = await pool.query(
      'SELECT ts, load1_avg FROM pgvigil.host_load_minute WHERE server_id = $1 ORDER BY ts',
      [agent.serverId],
    );
    assert.deepEqual(
      rows.map((r) => [((r.ts as Date).getTime() - h) / minute, r.load1_avg]),
      [
        [1, 1],
        [10, 9],
        [20, 3],
      ],
    );
  });

  test('instances_running_the_job_at_once_share_its_pending_hours_and_roll_every_server_once', async () => {
    const h = baseHour - 3 * hourMs;
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) ids.push(await ensureServer(pool, `shared-host-${i}`));
    await pool.query(
      `INSERT INTO pgvigil.host_load (server_id, ts, load1, load5, load15)
       SELECT s, $2::timestamptz + m * interval '1 minute', s, 0, 0 FROM unnest($1::bigint[]) s, generate_series(0, 9) m`,
      [ids, new Date(h)],
    );
    await pool.query(
      `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket) SELECT s, 'hourly', $2 FROM unnest($1::bigint[]) s`,
      [ids, new Date(h)],
    );
    // Two instances (each its own pool) with two workers each, at the same moment, 5 servers a claim.
    const other = new pg.Pool({ connectionString: ts.db.url, max: 5 });
    const now = new Date(h + 3 * hourMs);
    try {
      const job = rollupJob(defaultRetention, { workers: 2, serversPerChunk: 5 });
      const runs: Array<{ hours: number }> = [];
      const run = (p: pg.Pool) =>
        job.run({ pool: p, log: quietLog, now }).then((r) => runs.push(r as (typeof runs)[number]));
      await Promise.all([run(pool), run(other)]);
      assert.equal(runs.length, 2);
      // Each server's pending hour and the hour after it (due, not pending: its first counter step changed),
      // each rolled by one runner only.
      assert.equal(runs[0]!.hours + runs[1]!.hours, 2 * ids.length, 'every server-hour rolled once');
    } finally {
      await other.end();
    }
    const { rows } = await pool.query<{ server_id: string; samples: number; load1_avg: number }>(
      'SELECT server_id, samples, load1_avg FROM pgvigil.host_load_hourly WHERE server_id = ANY($1::bigint[]) AND ts = $2',
      [ids, new Date(h)],
    );
    assert.equal(rows.length, ids.length, 'every server rolled');
    for (const r of rows) assert.deepEqual([r.samples, r.load1_avg], [10, Number(r.server_id)]);
    const left = await pool.query(
      "SELECT 1 FROM pgvigil.rollup_pending WHERE server_id = ANY($1::bigint[]) AND tier = 'hourly'",
      [ids],
    );
    assert.equal(left.rowCount, 0, 'no pending hour left');
  });

  test('a_pending_bucket_older_than_raw_retention_is_discarded_not_rolled_over_good_rollups', async () => {
    const serverId = await ensureServer(pool, 'expired-host');
    const h = baseHour;
    await pool.query(
      `INSERT INTO pgvigil.host_load_hourly (server_id, ts, samples, load1_avg) VALUES ($1, $2, 360, 0.5)`,
      [serverId, new Date(h)],
    );
    await pool.query(
      `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket) VALUES ($1, 'hourly', $2)`,
      [serverId, new Date(h)],
    );
    const r = await runJobOnce(pool, rollupJob(defaultRetention), quietLog, {
      now: new Date(h + (defaultRetention.rawDays + 1) * dayMs),
    });
    assert.equal(r, 'ran');
    assert.deepEqual(await pending(serverId), []);
    const row = await hourlyRow('host_load_hourly', serverId, h);
    assert.equal(row.load1_avg, 0.5, 'the rollup made while raw rows existed is kept');
  });
});

describe(`rollup partitions on ${testPgLabel}`, () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('rollparts');
    await migrate(db.pool, quietLog);
  });
  after(() => db.drop());

  const partitions = async (parent: string) =>
    (
      await db.pool.query<{ relname: string }>(
        `SELECT ch.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhparent AND c.relname = $1
           JOIN pg_class ch ON ch.oid = i.inhrelid ORDER BY 1`,
        [parent],
      )
    ).rows.map((r) => r.relname);

  test('retention_creates_and_drops_rollup_partitions_per_tier', async () => {
    const retention = { rawDays: 7, hourlyDays: 60, dailyDays: 400 };
    const t0 = new Date('2026-03-10T12:00:00Z');
    await maintainPartitions(db.pool, { now: t0, retention, log: quietLog });
    // hourly: one partition per month back to 60 days before; daily: one per year back to 400 days
    assert.deepEqual(await partitions('host_cpu_hourly'), [
      'host_cpu_hourly_p202601',
      'host_cpu_hourly_p202602',
      'host_cpu_hourly_p202603',
    ]);
    assert.deepEqual(await partitions('pg_database_daily'), [
      'pg_database_daily_p2025',
      'pg_database_daily_p2026',
    ]);
    await db.pool.query(
      `INSERT INTO pgvigil.host_cpu_hourly (server_id, cpu, ts, samples) VALUES (1, 'total', '2026-01-15T03:00:00Z', 1)`,
    );
    await db.pool.query(
      `INSERT INTO pgvigil.host_cpu_daily (server_id, cpu, ts, samples) VALUES (1, 'total', '2025-06-01T00:00:00Z', 1)`,
    );
    // minute: one partition per day, like raw, for the raw retention (7 days back, 3 ahead)
    const minuteParts = await partitions('host_cpu_minute');
    assert.deepEqual(
      minuteParts,
      (await partitions('host_cpu')).map((p) => p.replace('host_cpu_', 'host_cpu_minute_')),
    );
    assert.equal(minuteParts[0], 'host_cpu_minute_p20260303');
    assert.equal(minuteParts.at(-1), 'host_cpu_minute_p20260313');
    await db.pool.query(
      `INSERT INTO pgvigil.host_cpu (server_id, cpu, ts) VALUES (1, 'total', '2026-03-04T03:00:00Z');
       INSERT INTO pgvigil.host_cpu_minute (server_id, cpu, ts, samples) VALUES (1, 'total', '2026-03-04T03:00:00Z', 1)`,
    );

    // 50 days on: January is entirely older than 60 days, so its hourly partition goes; daily stays.
    const t1 = new Date('2026-04-29T12:00:00Z');
    const r1 = await maintainPartitions(db.pool, { now: t1, retention, log: quietLog });
    assert.ok(r1.dropped.includes('host_cpu_hourly_p202601'));
    assert.ok(r1.created.includes('host_cpu_hourly_p202604'));
    assert.ok(!r1.dropped.some((p) => p.endsWith('_daily_p2025')));
    // minute partitions go with the raw ones, at raw retention
    assert.ok(r1.dropped.includes('host_cpu_p20260304'));
    assert.ok(r1.dropped.includes('host_cpu_minute_p20260304'));
    assert.equal((await partitions('host_cpu_minute'))[0], 'host_cpu_minute_p20260422');
    assert.equal((await db.pool.query('SELECT 1 FROM pgvigil.host_cpu')).rowCount, 0);
    assert.equal((await db.pool.query('SELECT 1 FROM pgvigil.host_cpu_minute')).rowCount, 0);
    assert.equal((await db.pool.query('SELECT 1 FROM pgvigil.host_cpu_hourly')).rowCount, 0);
    assert.equal((await db.pool.query('SELECT 1 FROM pgvigil.host_cpu_daily')).rowCount, 1);

    // Once all of 2025 is older than 400 days, the 2025 daily partitions go.
    const t2 = new Date('2027-02-10T00:00:00Z');
    const r2 = await maintainPartitions(db.pool, { now: t2, retention, log: quietLog });
    assert.ok(r2.dropped.includes('host_cpu_daily_p2025'));
    assert.ok(r2.dropped.includes('pg_database_daily_p2025'));
    assert.deepEqual(await partitions('host_cpu_daily'), ['host_cpu_daily_p2026', 'host_cpu_daily_p2027']);
    assert.equal((await db.pool.query('SELECT 1 FROM pgvigil.host_cpu_daily')).rowCount, 0);
  });
});

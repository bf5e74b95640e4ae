/**
 * GET /api/v1/series over fastify inject on a real PostgreSQL: the tier a range reads, values per step
 * against the raw rows they come from, gaps, counters as increases, the seam between rollups and raw rows,
 * and refusals.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type pg from 'pg';
import { compressInOnePiece, compressOnLoopUpTo } from '../src/server/answer-coding.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { minuteGraceMs } from '../src/server/ingest/rollup-pending.js';
import { defaultRollupGraceMs, rollBucket, rollupJob } from '../src/server/jobs/rollups.js';
import { runJobOnce } from '../src/server/jobs/runner.js';
import { defaultRetention } from '../src/storage/partitions.js';
import type { GridSeriesResult, SeriesResult } from '../src/storage/series.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';
import { roleHeaders } from './helpers/users.js';

const minute = 60_000;
const hourMs = 3_600_000;
const dayMs = 86_400_000;

let ts: TestStore;
let pool: pg.Pool;
let server: App;
let viewer: { authorization: string };
let hostId: number;
const now = Date.now();
const gapStart = Math.floor((now - 3 * hourMs) / minute) * minute;

async function get(query: Record<string, string | number | string[]>) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    for (const x of Array.isArray(v) ? v : [v]) qs.append(k, String(x));
  }
  return server.app.inject({ method: 'GET', url: `/api/v1/series?${qs}`, headers: viewer });
}

async function series(query: Record<string, string | number | string[]>): Promise<SeriesResult> {
  const res = await get(query);
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as SeriesResult;
}

/** The last 24 h of the test host's user and system CPU. */
function lastDayOfCpu() {
  return {
    family: 'host_cpu',
    metrics: 'user_pct,system_pct',
    server: hostId,
    from: now - 24 * hourMs,
    to: now,
  };
}

/** Average of raw user_pct of cpu "total" per bucket of `unit` ('hour' | 'day'), from the raw rows. */
async function rawAverages(unit: 'hour' | 'day'): Promise<Map<number, number>> {
  const { rows } = await pool.query<{ t: number; v: number }>(
    `SELECT (extract(epoch FROM date_trunc($2, ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') * 1000)::float8 AS t,
            avg(user_pct)::float8 AS v
       FROM pgvigil.host_cpu WHERE server_id = $1 AND cpu = 'total' GROUP BY 1`,
    [hostId, unit],
  );
  return new Map(rows.map((r) => [r.t, r.v]));
}

before(async () => {
  ts = await createTestStore('series');
  pool = ts.store.pool;
  server = await buildServerApp({ store: ts.store, log: quietLog, latestMigration: ts.latest });
  viewer = await roleHeaders(pool, 'viewer');
  hostId = await ensureServer(pool, 'series-host');
  // 24 h of raw host_cpu every 10 s for "total" (user_pct = the minute of the hour) and core "0" (+100),
  // with ten minutes missing three hours ago.
  await pool.query(
    `INSERT INTO pgvigil.host_cpu (server_id, ts, cpu, user_pct, system_pct)
     SELECT $1::bigint, t, c, extract(minute FROM t) + CASE c WHEN '0' THEN 100 ELSE 0 END, 1
       FROM generate_series($2::timestamptz, $3::timestamptz, interval '10 seconds') t, unnest(ARRAY['total', '0']) c
      WHERE NOT (t >= $4::timestamptz AND t < $4::timestamptz + interval '10 minutes')`,
    [hostId, new Date(now - 24 * hourMs), new Date(now), new Date(gapStart)],
  );
  // Older days exist only as daily rollups (raw and hourly retention are long past for them).
  const today = Math.floor(now / dayMs) * dayMs;
  await pool.query(
    `INSERT INTO pgvigil.host_cpu_daily (server_id, cpu, ts, samples, user_pct_avg, user_pct_min, user_pct_max)
     SELECT $1::bigint, 'total', $2::timestamptz - k * interval '1 day', 8640, 42, 0, 59 FROM generate_series(3, 29) k`,
    [hostId, new Date(today)],
  );
  // As the ingest writer would have: every hour with rows is pending; then the job rolls what is over.
  await pool.query(
    `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket)
     SELECT $1::bigint, 'hourly', h FROM generate_series(date_trunc('hour', $2::timestamptz), $3::timestamptz, interval '1 hour') h`,
    [hostId, new Date(now - 24 * hourMs), new Date(now)],
  );
  // At the test's own `now`, so that what it rolled can be told exactly (see the minute tier's test).
  assert.equal(await runJobOnce(pool, rollupJob(defaultRetention), quietLog, { now: new Date(now) }), 'ran');
});

after(async () => {
  await server.app.close();
  await ts.close();
});

describe(`time series on ${testPgLabel}`, () => {
  test('a_24_hour_range_reads_minute_rollups_and_the_unrolled_hour_from_raw_rows_and_leaves_the_gap_empty', async () => {
    const r = await series({
      family: 'host_cpu',
      metrics: 'user_pct',
      server: hostId,
      from: now - 24 * hourMs,
      to: now,
    });
    assert.equal(r.tier, 'minute');
    assert.equal(r.stepSeconds, 60);
    assert.deepEqual(
      r.series.map((s) => [s.metric, s.kind, s.agg, s.labels]),
      [
        ['user_pct', 'gauge', 'avg', { cpu: '0' }],
        ['user_pct', 'gauge', 'avg', { cpu: 'total' }],
      ],
    );
    const total = r.series[1]!.points;
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(DISTINCT date_trunc('minute', ts))::int AS n FROM pgvigil.host_cpu WHERE server_id = $1 AND cpu = 'total'`,
      [hostId],
    );
    assert.equal(total.length, rows[0]!.n);
    assert.ok(total.length > 1400 && total.length <= 1440);
    for (const [t, v] of total) {
      assert.equal(t % minute, 0);
      assert.equal(v, new Date(t).getUTCMinutes(), `value at ${new Date(t).toISOString()}`);
      assert.ok(t < gapStart || t >= gapStart + 10 * minute, 'no point inside the gap: a gap is not a zero');
    }
    assert.ok(r.series[0]!.points.every(([t, v]) => v === new Date(t).getUTCMinutes() + 100));
  });

  test('compression_in_one_piece_gives_back_the_text_on_the_loop_and_on_the_thread_pool_in_both_codings', async () => {
    const small = JSON.stringify({ values: Array.from({ length: 5000 }, (_, i) => i / 7) });
    const large = JSON.stringify({ values: Array.from({ length: 80_000 }, (_, i) => Math.sin(i) * 1e3) });
    assert.ok(small.length <= compressOnLoopUpTo && large.length > compressOnLoopUpTo);
    for (const coding of ['br', 'gzip'] as const) {
      const decode = coding === 'br' ? brotliDecompressSync : gunzipSync;
      assert.ok(Buffer.isBuffer(compressInOnePiece(small, coding)));
      assert.ok(compressInOnePiece(large, coding) instanceof Promise);
      for (const text of [small, large]) {
        assert.equal(decode(await compressInOnePiece(text, coding)).toString('utf8'), text, coding);
      }
    }
  });

  test('the_answer_carries_exactly_the_response_schema_properties_in_its_order_and_is_compressed_as_the_client_accepts', async () => {
    // The route writes the answer with JSON.stringify, not the schema's serializer (which drops properties
    // the schema does not name): a property added to the result without the schema would show here.
    const qs = new URLSearchParams({
      family: 'host_cpu',
      metrics: 'user_pct,system_pct',
      server: String(hostId),
      from: String(now - 24 * hourMs),
      to: String(now),
    });
    const res = await server.app.inject({ method: 'GET', url: `/api/v1/series?${qs}`, headers: viewer });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8$/);
    const r = res.json() as SeriesResult;
    assert.deepEqual(Object.keys(r), ['family', 'tier', 'stepSeconds', 'from', 'to', 'series']);
    assert.equal(r.series.length, 4);
    for (const s of r.series) {
      assert.deepEqual(Object.keys(s), ['metric', 'kind', 'agg', 'labels', 'points']);
      assert.ok(Object.values(s.labels).every((v) => typeof v === 'string'));
      assert.ok(
        s.points.every((p) => p.length === 2 && p.every((x) => typeof x === 'number' && Number.isFinite(x))),
      );
    }
    assert.equal(res.body, JSON.stringify(r));
    const zipped = await server.app.inject({
      method: 'GET',
      url: `/api/v1/series?${qs}`,
      headers: { ...viewer, 'accept-encoding': 'gzip' },
    });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(zipped.rawPayload).toString('utf8'), res.body);
    // As a browser asks: brotli.
    const asBrowser = await server.app.inject({
      method: 'GET',
      url: `/api/v1/series?${qs}`,
      headers: { ...viewer, 'accept-encoding': 'gzip, deflate, br, zstd' },
    });
    assert.equal(asBrowser.headers['content-encoding'], 'br');
    assert.equal(asBrowser.headers.vary, 'accept-encoding');
    assert.equal(brotliDecompressSync(asBrowser.rawPayload).toString('utf8'), res.body);
  });

  test('shape_grid_carries_exactly_the_points_of_the_default_answer_on_one_time_grid_with_nulls_for_gaps', async () => {
    const cases: Array<Record<string, string | number | string[]>> = [
      // minute tier with the raw tail, two metrics, two cpus, the ten-minute gap
      {
        family: 'host_cpu',
        metrics: 'user_pct,system_pct',
        server: hostId,
        from: now - 24 * hourMs,
        to: now,
      },
      // the same in the dashboard's 2-minute steps, and the max per step
      { family: 'host_cpu', server: hostId, from: now - 24 * hourMs, to: now, step: '120s', agg: 'max' },
      // raw rows across the gap
      {
        family: 'host_cpu',
        metrics: 'user_pct',
        server: hostId,
        from: now - 4 * hourMs,
        to: now - 2 * hourMs,
        step: '60s',
      },
      // daily tier: days without data are gaps
      {
        family: 'host_cpu',
        metrics: 'user_pct',
        server: hostId,
        label: ['cpu:total'],
        from: now - 30 * dayMs,
        to: now,
      },
      // hourly tier
      { family: 'host_cpu', metrics: 'user_pct', server: hostId, from: now - 3 * dayMs, to: now },
    ];
    let gapSeen = false;
    for (const q of cases) {
      const res = await get({ ...q, shape: 'grid' });
      assert.equal(res.statusCode, 200, res.body);
      const g = res.json() as GridSeriesResult;
      const r = await series(q);
      assert.deepEqual(Object.keys(g), ['family', 'tier', 'stepSeconds', 'from', 'to', 'times', 'series']);
      assert.equal(res.body, JSON.stringify(g), 'nothing but the documented properties, in their order');
      assert.deepEqual(
        [g.family, g.tier, g.stepSeconds, g.from, g.to],
        [r.family, r.tier, r.stepSeconds, r.from, r.to],
      );
      const stepMs = g.stepSeconds * 1000;
      assert.equal(g.times.length, (g.to - g.from) / stepMs);
      assert.ok(
        g.times.every((t, i) => t === g.from + i * stepMs),
        'every step of the range, in order',
      );
      assert.equal(g.series.length, r.series.length);
      assert.ok(r.series.length > 0);
      g.series.forEach((gs, k) => {
        const rs = r.series[k]!;
        assert.deepEqual(Object.keys(gs), ['metric', 'kind', 'agg', 'labels', 'values']);
        assert.deepEqual([gs.metric, gs.kind, gs.agg, gs.labels], [rs.metric, rs.kind, rs.agg, rs.labels]);
        assert.equal(gs.values.length, g.times.length);
        // the default answer's points, rebuilt from the grid: same times, same numbers, nothing more
        const back = g.times.flatMap((t, i) => (gs.values[i] === null ? [] : [[t, gs.values[i]]]));
        assert.deepEqual(back, rs.points);
        if (q.to === now - 2 * hourMs && gs.labels.cpu === 'total') {
          const i = (gapStart - g.from) / stepMs;
          assert.deepEqual(
            gs.values.slice(i, i + 10),
            new Array(10).fill(null),
            'the gap stays a gap, never 0',
          );
          assert.notEqual(gs.values[i - 1], null);
          assert.notEqual(gs.values[i + 10], null);
          gapSeen = true;
        }
      });
    }
    assert.ok(gapSeen);
    const bad = await get({ family: 'host_cpu', server: hostId, shape: 'rows' });
    assert.equal(bad.statusCode, 400, bad.body);
  });

  test('points_stay_in_time_order_when_the_store_finds_a_series_rows_out_of_order', async () => {
    // The series query leaves the order of its rows to the scan, and each series is put in time order in
    // the server. The partition holding the first hours is rewritten newest first (CLUSTER on a throwaway
    // descending index), so a scan finds the first hours last; the answer must not change. (Rows deleted
    // and inserted again may land in free space anywhere in the table, so only a rewrite fixes the order.)
    const q = lastDayOfCpu();
    const before = await get(q);
    assert.equal(before.statusCode, 200, before.body);
    const firstHours = Math.floor((now - 24 * hourMs) / hourMs) * hourMs + 3 * hourMs;
    const { rows: parts } = await pool.query<{ part: string }>(
      `SELECT tableoid::regclass::text AS part FROM pgvigil.host_cpu_minute WHERE server_id = $1 AND ts < $2 LIMIT 1`,
      [hostId, new Date(firstHours)],
    );
    const part = parts[0]!.part;
    await pool.query(`CREATE INDEX series_test_newest_first ON ${part} (ts DESC)`);
    await pool.query(`CLUSTER ${part} USING series_test_newest_first`);
    await pool.query('DROP INDEX pgvigil.series_test_newest_first');
    const { rows } = await pool.query<{ last: Date }>(
      `SELECT ts AS last FROM ${part} ORDER BY ctid DESC LIMIT 1`,
    );
    assert.ok(rows[0]!.last.getTime() < firstHours, 'a scan of the table finds the first hours last');
    const after = await get(q);
    assert.equal(after.body, before.body);
    const r = after.json() as SeriesResult;
    for (const s of r.series) assert.ok(s.points.every((p, i) => i === 0 || s.points[i - 1]![0] < p[0]));
  });

  test('a_24_hour_range_from_the_minute_tier_equals_the_same_range_from_raw_rows', async () => {
    // The job rolled every hour but the current one (and the last one if it ended under two minutes ago),
    // and the current hour's minutes up to its grace: the rest comes from raw rows.
    const { rows: tiers } = await pool.query<{ n: number; last: Date }>(
      'SELECT count(*)::int AS n, max(ts) AS last FROM pgvigil.host_cpu_minute WHERE server_id = $1',
      [hostId],
    );
    assert.ok(tiers[0]!.n >= 2 * 22 * 60, `minute rows: ${tiers[0]!.n}`);
    // The job's minutes run from the running hour's start (a new server's mark) up to its cut, a grace
    // behind the clock; the minutes before come from the hours it rolled, those that ended at least the
    // rollup grace ago. In the half minute after an hour's end plus the minute grace, the cut is the
    // running hour's start and the hour before is not yet due: the minute tier then ends an hour earlier.
    const cut = Math.floor((now - minuteGraceMs) / minute) * minute;
    const runningHour = Math.floor(cut / hourMs) * hourMs;
    const hoursRolledTo = Math.floor((now - defaultRollupGraceMs) / hourMs) * hourMs;
    const lastRolled = (cut > runningHour ? cut : hoursRolledTo) - minute;
    assert.equal(
      tiers[0]!.last.toISOString(),
      new Date(lastRolled).toISOString(),
      'the minute tier ends where the job rolled it',
    );
    const q = lastDayOfCpu();
    for (const agg of ['avg', 'min', 'max', 'p95']) {
      const minute = await series({ ...q, agg });
      const raw = await series({ ...q, agg, tier: 'raw', step: '60s' });
      assert.deepEqual(
        [minute.tier, raw.tier, minute.stepSeconds, raw.stepSeconds],
        ['minute', 'raw', 60, 60],
      );
      assert.deepEqual([minute.from, minute.to], [raw.from, raw.to]);
      assert.equal(minute.series.length, 4);
      assert.deepEqual(
        minute.series.map((x) => [x.metric, x.labels, x.points.map(([t]) => t)]),
        raw.series.map((x) => [x.metric, x.labels, x.points.map(([t]) => t)]),
        agg,
      );
      minute.series.forEach((x, i) => {
        x.points.forEach(([t, v], j) => {
          const w = raw.series[i]!.points[j]![1];
          assert.ok(Math.abs(v - w) < 1e-9, `${agg} ${x.metric} ${new Date(t).toISOString()}: ${v} vs ${w}`);
        });
      });
      assert.ok(
        minute.series[0]!.points.some(([t]) => t > tiers[0]!.last.getTime()),
        'the stitched raw tail is there',
      );
    }
  });

  test('a_range_up_to_4_hours_reads_raw_rows', async () => {
    const r = await series({
      family: 'host_cpu',
      metrics: 'user_pct',
      server: hostId,
      from: now - 4 * hourMs,
      to: now,
    });
    assert.deepEqual([r.tier, r.stepSeconds], ['raw', 10]);
  });

  test('a_30_day_range_reads_the_daily_tier_with_the_recent_days_from_finer_data', async () => {
    const r = await series({
      family: 'host_cpu',
      metrics: 'user_pct',
      server: hostId,
      label: 'cpu:total',
      from: now - 30 * dayMs,
      to: now,
    });
    assert.equal(r.tier, 'daily');
    assert.equal(r.stepSeconds, 86_400);
    assert.equal(r.series.length, 1);
    const points = new Map(r.series[0]!.points);
    const today = Math.floor(now / dayMs) * dayMs;
    for (let k = 3; k <= 29; k++) assert.equal(points.get(today - k * dayMs), 42, `day −${k}: daily rollup`);
    assert.equal(points.has(today - 2 * dayMs), false, 'a day without data stays a gap');
    // Yesterday and today: rolled hours and raw rows not rolled yet, combined weighted by samples.
    const raw = await rawAverages('day');
    for (const day of [today - dayMs, today]) {
      assert.ok(Math.abs(points.get(day)! - raw.get(day)!) < 1e-9, `day ${new Date(day).toISOString()}`);
    }
    assert.equal(points.size, 29);
  });

  test('a_3_day_range_reads_hourly_rollups_and_the_unrolled_hours_from_raw_rows', async () => {
    const r = await series({
      family: 'host_cpu',
      metrics: 'user_pct',
      server: hostId,
      label: 'cpu:total',
      from: now - 3 * dayMs,
      to: now,
    });
    assert.equal(r.tier, 'hourly');
    assert.equal(r.stepSeconds, 3600);
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pgvigil.host_cpu_hourly WHERE server_id = $1 AND cpu = $2',
      [hostId, 'total'],
    );
    assert.ok(rows[0]!.n >= 23, `hours rolled by the job: ${rows[0]!.n}`);
    const raw = await rawAverages('hour');
    assert.deepEqual(
      r.series[0]!.points.map(([t]) => t),
      [...raw.keys()].sort((a, b) => a - b),
    );
    for (const [t, v] of r.series[0]!.points) {
      assert.ok(Math.abs(v - raw.get(t)!) < 1e-9, `hour ${new Date(t).toISOString()}: ${v} vs ${raw.get(t)}`);
    }
  });

  test('counters_come_back_as_their_increase_per_step_resets_included', async () => {
    const id = await ensureServer(pool, 'counter-host');
    const h = Math.floor(now / hourMs) * hourMs - 3 * hourMs;
    // one sample a minute: +10 each, and a reset at minute 30 (the counter restarts and reads 5)
    await pool.query(
      `INSERT INTO pgvigil.pg_database (server_id, target_id, ts, datname, xact_commit)
       SELECT $1::bigint, 1, $2::timestamptz + i * interval '1 minute', 'app', CASE WHEN i < 30 THEN i * 10 + 1000 ELSE (i - 30) * 10 + 5 END
         FROM generate_series(0, 59) i`,
      [id, new Date(h)],
    );
    const q = { family: 'pg_database', metrics: 'xact_commit', server: id, from: h, to: h + hourMs };
    const raw = await series({ ...q, step: '10m' });
    assert.equal(raw.tier, 'raw');
    assert.equal(raw.series.length, 1);
    assert.deepEqual(raw.series[0]!.labels, { target: '1', datname: 'app' });
    assert.deepEqual([raw.series[0]!.kind, raw.series[0]!.agg], ['counter', 'increase']);
    assert.deepEqual(
      raw.series[0]!.points,
      [90, 100, 100, 95, 100, 100].map((v, k) => [h + k * 10 * minute, v]),
    );
    await rollBucket(pool, { tier: 'hourly', serverId: id, bucketStart: new Date(h) });
    const hourly = await series({ ...q, tier: 'hourly' });
    assert.deepEqual(hourly.series[0]!.points, [[h, 585]], 'the hour adds up to its steps');
  });

  test('bad_requests_get_400_with_a_message_unknown_servers_404_and_no_credential_401', async () => {
    const cases: Array<[Record<string, string | number | string[]>, RegExp]> = [
      [{ family: 'nope', server: hostId }, /unknown family "nope"/],
      [{ family: 'host_cpu', server: hostId, metrics: 'user_pct,x' }, /unknown metric "x"/],
      [{ family: 'host_cpu', server: hostId, label: 'disk:sda' }, /unknown label "disk"/],
      [{ family: 'host_cpu', server: hostId, from: now, to: now - 1 }, /must be before to/],
      [{ family: 'host_cpu', server: hostId, from: now - 800 * dayMs, to: now }, /longer than 731 days/],
    ];
    for (const [query, message] of cases) {
      const res = await get(query);
      assert.equal(res.statusCode, 400, res.body);
      const body = res.json() as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'BAD_ARGUMENT');
      assert.match(body.error.message, message);
    }
    const tooMany = await get({ family: 'host_cpu', server: hostId, tier: 'weekly' });
    assert.equal(tooMany.statusCode, 400);
    const missing = await get({ family: 'host_cpu', server: 987654 });
    assert.equal(missing.statusCode, 404);
    const anonymous = await server.app.inject({
      method: 'GET',
      url: `/api/v1/series?family=host_cpu&server=${hostId}`,
    });
    assert.equal(anonymous.statusCode, 401);
  });
});

/**
 * Baselines and anomalies on a real store: nine days of hourly CPU rollups with a daily pattern (a busy
 * hour every day, the "nightly batch") for one server; the baselines job learns them; raw minutes then
 * show the batch at its usual hour (nothing happens) and a spike at an ordinary hour (an `anomaly` finding
 * opens with its evidence, and resolves once the minutes are back to normal). The API serves the stored
 * baselines.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { BaselineStates, computeServerBaselines } from '../src/intelligence/baseline-refresh.js';
import { hourOfDay } from '../src/intelligence/baselines.js';
import { anomalyChecks, loadRecentMetrics } from '../src/intelligence/checks/anomalies.js';
import { FindingsEngine } from '../src/intelligence/engine.js';
import { metrics } from '../src/intelligence/metrics.js';
import { families } from '../src/protocol/families/index.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { baselinesJob, refreshDueBaselines, refreshServerBaselines } from '../src/server/jobs/baselines.js';
import { rollMinutes } from '../src/server/jobs/rollups.js';
import { runJobOnce } from '../src/server/jobs/runner.js';
import { pgTypeNames, quoteIdent as q } from '../src/storage/ddl.js';
import { claimBaselineRefresh } from '../src/storage/queries/baselines.sql.js';
import { storeCheckSetting } from '../src/storage/queries/findings.sql.js';
import { rollupSpecs } from '../src/storage/rollups.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';
import { roleHeaders } from './helpers/users.js';

const minute = 60_000;
const hourMs = 3_600_000;

let ts: TestStore;
let pool: pg.Pool;
let server: App;
let serverId: number;
let engine: FindingsEngine;
/** The current hour: baselines reach up to it. */
const H = Math.floor(Date.now() / hourMs) * hourMs;
/** The nightly batch runs in the hour before H, every day. */
const batchHour = hourOfDay(H - hourMs);

/** As the ingest writer does with every raw row it writes: the hours of [from, to) are pending a roll. */
async function markPending(sid: number, from: number, to: number): Promise<void> {
  await pool.query(
    `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket)
     SELECT $1::bigint, 'hourly', h
       FROM generate_series(date_trunc('hour', $2::timestamptz), $3::timestamptz - interval '1 second', interval '1 hour') h
     ON CONFLICT DO NOTHING`,
    [sid, new Date(from), new Date(to)],
  );
}

/** Label values of the series seeded per family of the full server (a PostgreSQL target and its host). */
const fullSeries: Record<string, string[][]> = {
  host_cpu: [['total'], ['0'], ['1'], ['2'], ['3']],
  host_memory: [[]],
  host_load: [[]],
  host_disk: [['sda'], ['sdb']],
  host_network: [['eth0'], ['lo']],
  pg_database: [['app'], ['postgres']],
  pg_wal: [[]],
  pg_activity: [
    ['app', 'web', 'puma', 'client backend', 'active'],
    ['app', 'web', 'puma', 'client backend', 'idle'],
    ['app', 'batch', 'cron', 'client backend', 'idle in transaction'],
    ['', '', '', 'autovacuum worker', ''],
  ],
  pg_replication: [['replica1', '10.0.0.2', '4242']],
  pg_tables: Array.from({ length: 30 }, (_, i) => ['app', 'public', `t${i}`]),
  pg_statements: Array.from({ length: 30 }, (_, i) => [String(1000 + i), '5', '10']),
  pg_bgwriter: [[]],
  app_metric: [
    ['api', 'http_requests_total', 'code="200"'],
    ['api', 'http_requests_total', 'code="500"'],
    ['api', 'http_request_duration_seconds_bucket', 'le="0.1"'],
    ['api', 'http_request_duration_seconds_bucket', 'le="+Inf"'],
  ],
};

/**
 * Seeds `days` of hourly rollups (every value column: gauges 50 ± 2, counters +2 a second) and the last
 * `rawMinutes` of raw rows (gauges 50, counters climbing 2 a second) for every series of `fullSeries`.
 */
async function seedFullServer(sid: number, tid: number, days: number, rawMinutes: number, rawEnd: number) {
  for (const [family, labelSets] of Object.entries(fullSeries)) {
    const spec = rollupSpecs[family]!;
    const target = spec.family.scope === 'target';
    const labelCols = spec.labels.map((l) => l.name);
    const values = labelSets
      .map((set) => `(${set.map((v, i) => `'${v}'::${pgTypeNames[spec.labels[i]!.type]}`).join(', ')})`)
      .join(', ');
    const fromLabels =
      labelCols.length > 0 ? `, (VALUES ${values}) AS l(${labelCols.map(q).join(', ')})` : '';
    const cols = spec.columns.map((c) => q(c.name));
    const exprs = spec.columns.map((c) =>
      c.agg === 'increase' ? `(7200 + (k % 3) * 360)::${c.pgType}` : `(50 + (k % 5) - 2)::${c.pgType}`,
    );
    await pool.query(
      `INSERT INTO pgvigil.${q(`${family}_hourly`)} (server_id, ${target ? 'target_id, ' : ''}${labelCols.map(q).join(', ')}${labelCols.length ? ', ' : ''}ts, samples, ${cols.join(', ')})
       SELECT $1::bigint, ${target ? '$4::bigint, ' : ''}${labelCols.map((c) => `l.${q(c)}`).join(', ')}${labelCols.length ? ', ' : ''}
              $2::timestamptz - k * interval '1 hour', 360, ${exprs.join(', ')}
         FROM generate_series(1, $3::int) k${fromLabels}`,
      [sid, new Date(H), days * 24, ...(target ? [tid] : [])],
    );
    const fam = families[family]!;
    const numeric = fam.columns.filter(
      (c) => !c.label && ['int4', 'int8', 'float4', 'float8'].includes(c.type),
    );
    const rawExprs = numeric.map((c) =>
      c.counter ? `(extract(epoch FROM t) * 2)::${pgTypeNames[c.type]}` : `50::${pgTypeNames[c.type]}`,
    );
    await pool.query(
      `INSERT INTO pgvigil.${q(family)} (server_id, ${target ? 'target_id, ' : ''}ts, ${labelCols.map(q).join(', ')}${labelCols.length ? ', ' : ''}${numeric.map((c) => q(c.name)).join(', ')})
       SELECT $1::bigint, ${target ? '$4::bigint, ' : ''}t, ${labelCols.map((c) => `l.${q(c)}`).join(', ')}${labelCols.length ? ', ' : ''}${rawExprs.join(', ')}
         FROM generate_series($2::timestamptz, $3::timestamptz, interval '10 seconds') t${fromLabels}`,
      [sid, new Date(rawEnd - rawMinutes * minute), new Date(rawEnd - 1000), ...(target ? [tid] : [])],
    );
  }
  await markPending(sid, rawEnd - rawMinutes * minute, rawEnd);
}

/** Raw host_cpu "total" rows every 10 s over [from, to) at `busy` % (iowait 1 %). */
async function rawCpu(from: number, to: number, busy: number): Promise<void> {
  await pool.query(
    `INSERT INTO pgvigil.host_cpu (server_id, ts, cpu, user_pct, system_pct, idle_pct, iowait_pct)
     SELECT $1::bigint, t, 'total', $4::real - 1, 1, 100 - $4::real - 1, 1
       FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 second', interval '10 seconds') t`,
    [serverId, new Date(from), new Date(to), busy],
  );
  await markPending(serverId, from, to);
}

async function anomalyFindings(): Promise<Array<Record<string, unknown>>> {
  const { rows } = await pool.query(
    `SELECT check_id, kind, severity, state, object, title, evidence, action, value, resolved_reason
       FROM pgvigil.findings WHERE server_id = $1 AND check_id LIKE 'anomaly.%' ORDER BY finding_id`,
    [serverId],
  );
  return rows;
}

before(async () => {
  ts = await createTestStore('baselines');
  pool = ts.store.pool;
  server = await buildServerApp({ store: ts.store, log: quietLog, latestMigration: ts.latest });
  engine = new FindingsEngine({ pool, log: quietLog });
  serverId = await ensureServer(pool, 'baseline-host');
  await pool.query('UPDATE pgvigil.servers SET last_seen_at = now() WHERE server_id = $1', [serverId]);
  // Switched on explicitly for this server (the application metrics' checks ship off: appAnomaliesOffReason).
  for (const c of anomalyChecks) {
    await storeCheckSetting(
      pool,
      { check: c.id, serverId, targetId: null, enabled: true, thresholds: {} },
      'test',
    );
  }
  // Nine days of hourly rollups: busy 20 % ± 2, 85 % ± 2 in the batch hour.
  await pool.query(
    `INSERT INTO pgvigil.host_cpu_hourly (server_id, cpu, ts, samples, idle_pct_avg, iowait_pct_avg)
     SELECT $1::bigint, 'total', $2::timestamptz - k * interval '1 hour', 360,
            100 - 1 - (CASE WHEN extract(hour FROM ($2::timestamptz - k * interval '1 hour') AT TIME ZONE 'UTC') = $3
                            THEN 85 ELSE 20 END + (k % 5) - 2),
            1
       FROM generate_series(1, 9 * 24) k`,
    [serverId, new Date(H), batchHour],
  );
});

after(async () => {
  await server.app.close();
  await ts.close();
});

describe(`baselines and anomalies (${testPgLabel})`, () => {
  test('the_baselines_job_learns_the_daily_pattern_from_the_hourly_tier', async () => {
    const now = new Date(H + 30 * minute);
    assert.equal(await runJobOnce(pool, baselinesJob(), quietLog, { now }), 'ran');
    const { rows } = await pool.query(
      `SELECT metric, object, target_id, through, stats_7d, stats_30d, hour_of_day, hour_of_week
         FROM pgvigil.baselines WHERE server_id = $1 ORDER BY metric`,
      [serverId],
    );
    assert.deepEqual(
      rows.map((r) => r.metric),
      ['host.cpu_busy_pct', 'host.iowait_pct'],
    );
    const cpu = rows[0]!;
    assert.equal(cpu.object, '');
    assert.equal(cpu.target_id, null);
    assert.equal(cpu.through.getTime(), H);
    assert.equal(cpu.stats_7d.count, 7 * 24);
    assert.equal(cpu.stats_30d.count, 9 * 24);
    assert.ok(cpu.stats_30d.min >= 17.5 && cpu.stats_30d.max <= 87.5, JSON.stringify(cpu.stats_30d));
    // The median of all hours is an ordinary hour; the mean is pulled up by the batch hours.
    assert.ok(Math.abs(cpu.stats_30d.median - 20) <= 2);
    assert.ok(cpu.stats_30d.mean > cpu.stats_30d.median);
    const [n, , , median, mad] = cpu.hour_of_day[batchHour];
    assert.equal(n, 9);
    assert.ok(Math.abs(median - 85) <= 2, `batch hour median ${median}`);
    assert.ok(mad <= 2);
    const ordinary = cpu.hour_of_day[hourOfDay(H)];
    assert.ok(Math.abs(ordinary[3] - 20) <= 2);
    assert.equal(cpu.hour_of_week.length, 168);
    const state = await pool.query(
      'SELECT through, series FROM pgvigil.baseline_state WHERE server_id = $1',
      [serverId],
    );
    assert.equal(state.rows[0].through.getTime(), H);
    assert.equal(state.rows[0].series, 2);
    // Nothing new rolled since: the next run does not refresh this server again.
    const again = await pool.query('SELECT refreshed_at FROM pgvigil.baseline_state WHERE server_id = $1', [
      serverId,
    ]);
    await runJobOnce(pool, baselinesJob(), quietLog, { now: new Date(H + 40 * minute) });
    const after = await pool.query('SELECT refreshed_at FROM pgvigil.baseline_state WHERE server_id = $1', [
      serverId,
    ]);
    assert.equal(after.rows[0].refreshed_at.getTime(), again.rows[0].refreshed_at.getTime());
  });

  test('the_nightly_batch_at_its_usual_hour_raises_nothing', async () => {
    const start = H - hourMs;
    await rawCpu(start + 10 * minute, start + 42 * minute, 86);
    const at = new Date(start + 41 * minute + 30_000);
    // The batch's minutes are read and judged — against the batch hour's slot, where 86 % is normal.
    const read = await loadRecentMetrics(pool, at);
    const cpu = read.series.find((x) => x.serverId === serverId && x.points.metric === 'host.cpu_busy_pct');
    assert.ok(cpu && cpu.points.points.length >= 10, 'the batch minutes are read');
    assert.ok(cpu.points.points.every(([, v]) => Math.abs(v - 86) < 0.01));
    const r = await engine.runJobChecks(at, { everyCheck: true });
    assert.equal(r.observations, 0);
    assert.deepEqual(await anomalyFindings(), []);
  });

  test('a_spike_at_an_ordinary_hour_opens_an_anomaly_with_its_evidence_and_resolves_when_normal', async () => {
    await rawCpu(H + 5 * minute, H + 22 * minute, 20);
    await rawCpu(H + 22 * minute, H + 30 * minute, 86);
    // The minute tier of the running hour rolled as the rollups job does: the read takes those minutes from
    // it and only the newest from raw rows.
    const rolled = await rollMinutes(pool, { now: new Date(H + 30 * minute + 30_000) });
    assert.ok(rolled.minutes > 0, 'minutes of the running hour were rolled');
    await engine.runJobChecks(new Date(H + 30 * minute + 30_000), { everyCheck: true });
    const [f] = await anomalyFindings();
    assert.ok(f, 'an anomaly finding opened');
    assert.equal(f.check_id, 'anomaly.host.cpu_busy_pct');
    assert.equal(f.kind, 'anomaly');
    assert.equal(f.severity, 'critical');
    assert.equal(f.state, 'open');
    assert.equal(f.object, '');
    assert.match(String(f.title), /CPU busy unusually high: 86 %, normal 20(\.\d)? % for /);
    assert.match(String(f.action), /^top -b -n 1/);
    const e = f.evidence as Record<string, unknown>;
    assert.equal(e.metric, 'host.cpu_busy_pct');
    assert.equal(e.value, 86);
    assert.equal(e.direction, 'spike');
    assert.equal(e.level, 'hour_of_day', 'nine days: too few weeks for the hour-of-week slot');
    assert.equal(e.slot, hourOfDay(H));
    assert.equal(e.samples, 9);
    assert.ok(Math.abs((e.baseline_median as number) - 20) <= 2);
    assert.ok((e.z as number) > 3);
    assert.ok((e.drift_pct as number) > 200);
    // Far beyond normal (z ≫ fast_z): two minutes of it are enough.
    assert.equal((e.window as { minutes: number }).minutes, 2);
    assert.equal(Number(f.value), 86);

    // Back to normal: three clear evaluations resolve it.
    await rawCpu(H + 30 * minute, H + 52 * minute, 21);
    for (const m of [46, 47, 48]) {
      await engine.runJobChecks(new Date(H + m * minute + 30_000), { everyCheck: true });
    }
    const [g] = await anomalyFindings();
    assert.equal(g!.state, 'resolved');

    // The same anomaly again within the hour reopens that finding; it does not open a second one.
    await rawCpu(H + 52 * minute, H + 59 * minute, 86);
    await engine.runJobChecks(new Date(H + 59 * minute + 30_000), { everyCheck: true });
    const again = await anomalyFindings();
    assert.equal(again.length, 1);
    assert.equal(again[0]!.state, 'open');
  });

  test('the_api_serves_a_servers_baselines_with_the_slot_in_force', async () => {
    const viewer = await roleHeaders(pool, 'viewer');
    const res = await server.app.inject({
      method: 'GET',
      url: `/api/v1/servers/${serverId}/baselines?metric=host.cpu_busy_pct&target=0&profile=true`,
      headers: viewer,
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.baselines.length, 1);
    const b = body.baselines[0];
    assert.equal(b.metric, 'host.cpu_busy_pct');
    assert.equal(b.unit, '%');
    assert.equal(b.better, 'both');
    assert.equal(b.stats30d.count, 9 * 24);
    assert.equal(b.hourOfDay.length, 24);
    assert.equal(b.hourOfDay[batchHour].count, 9);
    assert.equal(b.hourOfWeek.length, 168);
    assert.ok(b.current === null || ['hour_of_day', 'window'].includes(b.current.level));
    const bad = await server.app.inject({
      method: 'GET',
      url: `/api/v1/servers/${serverId}/baselines?metric=nope`,
      headers: viewer,
    });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error.message, /metric: "nope" is not one of/);
    const none = await server.app.inject({
      method: 'GET',
      url: '/api/v1/servers/999999/baselines',
      headers: viewer,
    });
    assert.equal(none.statusCode, 404);
    const host = await server.app.inject({
      method: 'GET',
      url: `/api/v1/servers/${serverId}/baselines?target=5`,
      headers: viewer,
    });
    assert.deepEqual(host.json().baselines, []);
  });

  test('every_metric_of_the_catalogue_is_learnt_and_read_back_on_a_full_server', async () => {
    const sid = await ensureServer(pool, 'full-host');
    await pool.query('UPDATE pgvigil.servers SET last_seen_at = now() WHERE server_id = $1', [sid]);
    const { rows: t } = await pool.query(
      "INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, 'postgres', 'main') RETURNING target_id",
      [sid],
    );
    const tid = Number(t[0].target_id);
    const now = H + 30 * minute;
    await seedFullServer(sid, tid, 56, 20, now);
    const runs: number[] = [];
    let series = 0;
    for (let i = 0; i < 3; i++) {
      const r = await refreshServerBaselines(pool, sid, new Date(now));
      runs.push(r.ms);
      series = r.series;
    }
    runs.sort((a, b) => a - b);
    const { rows } = await pool.query(
      'SELECT metric, object, target_id, stats_30d FROM pgvigil.baselines WHERE server_id = $1',
      [sid],
    );
    const learnt = new Set(rows.map((r) => r.metric));
    assert.deepEqual(
      metrics.map((m) => m.id).filter((id) => !learnt.has(id)),
      [],
      'every metric has a baseline',
    );
    const objects = (metric: string) => rows.filter((r) => r.metric === metric).map((r) => r.object);
    assert.deepEqual(objects('host.disk_util_pct').sort(), ['sda', 'sdb']);
    assert.deepEqual(objects('pg.replication_lag_s'), ['replica1']);
    assert.deepEqual(objects('app.latency_p95_s'), ['api'], 'scraped applications per scrape target');
    const errors = rows.find((r) => r.metric === 'app.error_pct')!;
    assert.equal(errors.stats_30d.median, 50, 'as many 500s as 200s');
    assert.equal(objects('pg.table_dead_ratio').length, 20, 'the 20 largest tables only');
    assert.equal(objects('pg.statement_mean_ms').length, 20, 'the 20 busiest statements only');
    assert.ok(objects('pg.seq_scans_per_s').every((o) => /^app\/public\.t\d+$/.test(o)));
    const tps = rows.find((r) => r.metric === 'pg.tps')!;
    assert.equal(Number(tps.target_id), tid);
    // Two databases, each +7200…+7920 commits and as many rollbacks an hour: 4…4.4 a second each.
    assert.ok(tps.stats_30d.median >= 8 && tps.stats_30d.median <= 8.8, JSON.stringify(tps.stats_30d));
    const load = rows.find((r) => r.metric === 'host.load_per_core')!;
    assert.ok(Math.abs(load.stats_30d.median - 50 / 4) <= 0.5, 'load over 4 cores');

    // The target runs on port 5433 (its settings snapshot says so): the actions' psql commands name it.
    await pool.query(
      `INSERT INTO pgvigil.pg_settings (server_id, target_id, ts, name, setting)
       VALUES ($1, $2, $3, 'port', '5433'), ($1, $2, $3, 'work_mem', '4096')`,
      [sid, tid, new Date(now - 60 * minute)],
    );
    // The detector's read of the last 15 minutes finds a point for every series it has a baseline of.
    const t0 = performance.now();
    const recent = await loadRecentMetrics(pool, new Date(now));
    const loadMs = performance.now() - t0;
    const mine = recent.series.filter((s) => s.serverId === sid);
    assert.equal(mine.length, rows.length, 'every baselined series has recent points');
    assert.ok(mine.every((s) => s.points.points.length >= 10));
    assert.deepEqual([...(recent.ports ?? [])], [[`${sid}/${tid}`, '5433']]);
    const tpsNow = mine.find((s) => s.points.metric === 'pg.tps')!;
    assert.ok(Math.abs(tpsNow.points.points.at(-1)![1] - 8) < 0.01, 'two databases, 2 + 2 a second each');
    console.log(
      `baseline refresh of one full server (${series} series, 8 weeks of hourly rows): median ${runs[1]!.toFixed(0)} ms; anomaly read of its last 15 minutes: ${loadMs.toFixed(0)} ms`,
    );

    // The job's incremental refresh: an hour after a refresh that built the states, every series' baseline
    // is exactly what a full computation gives.
    const client = await pool.connect();
    try {
      const states = new BaselineStates();
      await computeServerBaselines(client, sid, new Date(H - hourMs), new Date(now), states);
      assert.equal(states.size, rows.length, 'a state per series');
      const t1 = performance.now();
      const incremental = await computeServerBaselines(client, sid, new Date(H), new Date(now), states);
      const incMs = performance.now() - t1;
      const t2 = performance.now();
      const full = await computeServerBaselines(client, sid, new Date(H), new Date(now));
      const fullMs = performance.now() - t2;
      assert.equal(incremental.length, full.length);
      assert.deepStrictEqual(incremental, full);
      console.log(
        `the same server's refresh, reads included: incremental ${incMs.toFixed(0)} ms, full ${fullMs.toFixed(0)} ms`,
      );
    } finally {
      client.release();
    }
  });

  test('a_refresh_costs_little_per_server', async () => {
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      runs.push((await refreshServerBaselines(pool, serverId, new Date(H + 30 * minute))).ms);
    }
    runs.sort((a, b) => a - b);
    console.log(
      `baseline refresh of one server (9 days of host_cpu hourly): median ${runs[2]!.toFixed(1)} ms`,
    );
    assert.ok(runs[2]! < 5000);
  });

  test('a_refresh_stores_each_rolled_hours_within_hour_spread_from_the_minute_tier_and_uses_it', async () => {
    // Three hours, five days back (inside the minute tier's 7 days): minutes alternating 10 / 30 % busy.
    const from = H - 5 * 24 * hourMs;
    await pool.query(
      `INSERT INTO pgvigil.host_cpu_minute (server_id, cpu, ts, samples, idle_pct_avg, iowait_pct_avg)
       SELECT $1::bigint, 'total', $2::timestamptz + k * interval '1 minute', 6,
              100 - CASE WHEN k % 2 = 0 THEN 10 ELSE 30 END, 0
         FROM generate_series(0, 179) k
       ON CONFLICT DO NOTHING`,
      [serverId, new Date(from)],
    );
    await pool.query('DELETE FROM pgvigil.baseline_hour_spreads WHERE server_id = $1', [serverId]);
    await refreshServerBaselines(pool, serverId, new Date(H + 30 * minute), new Date(H));
    const { rows } = await pool.query(
      `SELECT hour, sd FROM pgvigil.baseline_hour_spreads
        WHERE server_id = $1 AND metric = 'host.cpu_busy_pct' AND hour >= $2 AND hour < $3 ORDER BY hour`,
      [serverId, new Date(from), new Date(from + 3 * hourMs)],
    );
    assert.equal(rows.length, 3);
    // 30 minutes at 10 and 30 at 30: sd = 10 × √(60/59).
    for (const r of rows) assert.ok(Math.abs(r.sd - 10 * Math.sqrt(60 / 59)) < 1e-6, String(r.sd));
    const b = await pool.query(
      `SELECT stats_30d, hour_of_day FROM pgvigil.baselines WHERE server_id = $1 AND metric = 'host.cpu_busy_pct'`,
      [serverId],
    );
    // Few hours of each hour of the day: the slots take the window's spread (these hours and the minutes
    // earlier tests rolled).
    assert.ok(b.rows[0].stats_30d.within > 0, JSON.stringify(b.rows[0].stats_30d));
    assert.equal(b.rows[0].hour_of_day[hourOfDay(from)].length, 6);
    // Refreshed again: no hour is added or lost, and the slots still carry the spread.
    const count = async () =>
      (
        await pool.query(
          `SELECT count(*)::int AS n FROM pgvigil.baseline_hour_spreads WHERE server_id = $1 AND metric = 'host.cpu_busy_pct'`,
          [serverId],
        )
      ).rows[0].n;
    const before = await count();
    await refreshServerBaselines(pool, serverId, new Date(H + 31 * minute), new Date(H));
    assert.equal(await count(), before);
    const b2 = await pool.query(
      `SELECT hour_of_day FROM pgvigil.baselines WHERE server_id = $1 AND metric = 'host.cpu_busy_pct'`,
      [serverId],
    );
    assert.equal(b2.rows[0].hour_of_day[hourOfDay(from)].length, 6);
    // The API shows the spreads.
    const res = await server.app.inject({
      method: 'GET',
      url: `/api/v1/servers/${serverId}/baselines?metric=host.cpu_busy_pct&target=0&profile=true`,
      headers: await roleHeaders(pool, 'viewer'),
    });
    assert.equal(res.statusCode, 200, res.body);
    const api = res.json().baselines[0];
    assert.ok(api.stats30d.within > 0);
    assert.ok(api.hourOfDay[hourOfDay(from)].within > 0);
  });
  test('instances_share_the_due_servers_and_pass_over_one_another_holds', async () => {
    const now = new Date(H + 30 * minute);
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) ids.push(await ensureServer(pool, `baselines-claims-${i}`));
    await pool.query('UPDATE pgvigil.servers SET last_seen_at = $2 WHERE server_id = ANY($1::bigint[])', [
      ids,
      now,
    ]);
    const mine = (done: ReadonlyArray<{ serverId: number }>) =>
      done.map((r) => r.serverId).filter((id) => ids.includes(id));
    // Another instance is refreshing the first server: its claim is held by an open transaction.
    const other = await pool.connect();
    try {
      await other.query('BEGIN');
      assert.equal(await claimBaselineRefresh(other, ids[0]!, new Date(H)), true);
      // Two instances' runs at once: each due server is refreshed by one of them, the held one by neither.
      const [a, b] = await Promise.all([refreshDueBaselines(pool, now), refreshDueBaselines(pool, now)]);
      assert.deepEqual(
        [...mine(a), ...mine(b)].sort((x, y) => x - y),
        ids.slice(1),
      );
    } finally {
      await other.query('ROLLBACK');
      other.release();
    }
    // Released: the next run refreshes it; the others are done through this hour and are not taken again.
    assert.deepEqual(mine(await refreshDueBaselines(pool, now)), [ids[0]]);
    assert.deepEqual(mine(await refreshDueBaselines(pool, now)), []);
  });
});

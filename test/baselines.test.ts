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
import { hourOfDay } from '../src/intelligence/baselines.js';
import { FindingsEngine } from '../src/intelligence/engine.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { baselinesJob, refreshServerBaselines } from '../src/server/jobs/baselines.js';
import { runJobOnce } from '../src/server/jobs/runner.js';
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

/** Raw host_cpu "total" rows every 10 s over [from, to) at `busy` % (iowait 1 %). */
async function rawCpu(from: number, to: number, busy: number): Promise<void> {
  await pool.query(
    `INSERT INTO pgvigil.host_cpu (server_id, ts, cpu, user_pct, system_pct, idle_pct, iowait_pct)
     SELECT $1::bigint, t, 'total', $4::real - 1, 1, 100 - $4::real - 1, 1
       FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 second', interval '10 seconds') t`,
    [serverId, new Date(from), new Date(to), busy],
  );
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
    const r = await engine.runJobChecks(new Date(start + 41 * minute + 30_000), { everyCheck: true });
    assert.equal(r.observations, 0);
    assert.deepEqual(await anomalyFindings(), []);
  });

  test('a_spike_at_an_ordinary_hour_opens_an_anomaly_with_its_evidence_and_resolves_when_normal', async () => {
    await rawCpu(H + 5 * minute, H + 22 * minute, 20);
    await rawCpu(H + 22 * minute, H + 30 * minute, 86);
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
    assert.equal((e.window as { minutes: number }).minutes, 5);
    assert.equal(Number(f.value), 86);

    // Back to normal: three clear evaluations resolve it.
    await rawCpu(H + 30 * minute, H + 52 * minute, 21);
    for (const m of [46, 47, 48]) {
      await engine.runJobChecks(new Date(H + m * minute + 30_000), { everyCheck: true });
    }
    const [g] = await anomalyFindings();
    assert.equal(g!.state, 'resolved');
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
});

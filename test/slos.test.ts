/**
 * SLOs end to end on a real server and PostgreSQL: created through the API, judged by the slos job from
 * seeded minute rollups and raw rows, their budget and burn rates read back, the `slo.burn_rate` finding
 * opened by a fast burn and resolved when the short windows recover; the minutes after an agent start are
 * left out; defaults appear for a target with data and stay deleted; bad input is a 400 naming the field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Row } from '../src/agent/collectors/types.js';
import { slosJob } from '../src/server/jobs/slos.js';
import { quietLog, testPgLabel } from './helpers/db.js';
import { type FindingsServer, startFindingsServer, type TestAgent } from './helpers/findings.js';
import { roleHeaders } from './helpers/users.js';

let fs: FindingsServer;
const minute = 60_000;
const hour = 3_600_000;
/** An hour-aligned "now" an hour back, so every time the tests use lies in the past. */
const T = Math.floor(Date.now() / hour) * hour - hour;

before(async () => {
  fs = await startFindingsServer('slos');
});
after(async () => {
  await fs.close();
});

async function api(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  body?: unknown,
  role: 'admin' | 'viewer' = 'admin',
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fs.server.app.inject({
    method,
    url: `/api/v1${url}`,
    headers: await roleHeaders(fs.ts.store.pool, role),
    ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}),
  });
  return { status: res.statusCode, body: res.body ? (res.json() as Record<string, unknown>) : {} };
}

async function runSlos(now: number): Promise<void> {
  await slosJob().run({ pool: fs.ts.store.pool, log: quietLog, now: new Date(now) });
}

/** A server with a PostgreSQL target named main and no rows yet. */
async function serverWithTarget(host: string): Promise<{ agent: TestAgent; targetId: number }> {
  const agent = await fs.enroll(host);
  const { rows } = await fs.ts.store.pool.query<{ id: number }>(
    `INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, 'postgres', 'main') RETURNING target_id::int AS id`,
    [agent.serverId],
  );
  return { agent, targetId: rows[0]!.id };
}

/** Minute rollup rows of pg_instance: backends per minute start. */
async function seedInstanceMinutes(serverId: number, targetId: number, minutes: Array<[number, number]>) {
  await fs.ts.store.pool.query(
    `INSERT INTO pgvigil.pg_instance_minute (server_id, target_id, ts, samples, backends_avg, backends_min, backends_max,
       server_version_num_avg, server_version_num_min, server_version_num_max)
     SELECT $1, $2, to_timestamp(t / 1000.0), 6, b, b::int, b::int, 180001, 180001, 180001
       FROM unnest($3::float8[], $4::float8[]) AS u(t, b)`,
    [serverId, targetId, minutes.map((m) => m[0]), minutes.map((m) => m[1])],
  );
}

function instance(backends: number): Row {
  return { up: true, server_version_num: 180001, max_connections: 100, backends, error: null };
}

const latencyBody = (serverId: number, targetId: number, name = 'backends') => ({
  name,
  serverId,
  targetId,
  family: 'pg_instance',
  metric: 'backends',
  agg: 'avg',
  comparison: '<=',
  threshold: 50,
  objective: 99.9,
});

describe(`SLOs (${testPgLabel})`, () => {
  test('a_fast_burn_opens_a_critical_finding_that_eases_and_resolves_as_the_short_windows_recover', async () => {
    const { agent, targetId } = await serverWithTarget('slo-burn');
    const created = await api('POST', '/slos', latencyBody(agent.serverId, targetId));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as number;
    assert.equal(created.body.source, 'api');
    assert.match(String(created.body.indicator), /avg of pg_instance\.backends per minute <= 50/);

    // 7 hours of minutes before T: good (10 backends) but the last hour bad (90).
    const seeded: Array<[number, number]> = [];
    for (let t = T - 7 * hour; t < T; t += minute) seeded.push([t, t >= T - hour ? 90 : 10]);
    await seedInstanceMinutes(agent.serverId, targetId, seeded);

    await runSlos(T);
    const slo = (await api('GET', `/slos/${id}`)).body;
    const burn = slo.burn as Record<string, { rate: number | null; bad: number; counted: number }>;
    assert.equal(burn['5m']!.rate, 1000);
    assert.equal(burn['1h']!.rate, 1000);
    assert.equal(burn['6h']!.bad, 60);
    assert.equal(burn['6h']!.counted, 360);
    assert.equal(slo.countedMinutes, 420);
    assert.equal(slo.badMinutes, 60);
    // 0.1 % of 420 minutes allowed (0.42): 60 bad minutes overspend it.
    assert.equal(slo.budgetAllowedMinutes, 0.42);
    assert.equal(slo.budgetExhausted, true);
    assert.ok((slo.budget_remaining_pct as number) < 0);

    // The findings job turns the status into a critical finding on the SLO.
    await fs.runJob(new Date(T));
    const [f] = await fs.findings(`server=${agent.serverId}&check=slo.burn_rate`);
    assert.ok(f, 'a slo.burn_rate finding');
    assert.equal(f.severity, 'critical');
    assert.equal(f.state, 'open');
    assert.equal(f.object, 'backends');
    assert.equal(f.kind, 'alert');
    const ev = f.evidence as Record<string, unknown>;
    assert.equal(ev.burn_1h, 1000);
    assert.equal(ev.burn_5m, 1000);
    assert.equal(ev.bad_minutes_1h, 60);
    assert.match(String(f.action), /GET \/api\/v1\/series\?family=pg_instance&metrics=backends/);

    // 10 good minutes after T from raw rows (the hour is not rolled): the 5 min window is clean, the
    // 30 min and 6 h ones still burn over 6×: a warning.
    const raw = (from: number, to: number) => {
      const out = [];
      for (let t = from; t < to; t += 20_000)
        out.push({ family: 'pg_instance', ts: t, rows: [instance(10)] });
      return out;
    };
    await fs.push(agent, raw(T, T + 10 * minute), { target: 'main' });
    await runSlos(T + 10 * minute);
    const eased = (await api('GET', `/slos/${id}`)).body.burn as typeof burn;
    assert.equal(eased['5m']!.rate, 0);
    assert.equal(eased['5m']!.counted, 5);
    await fs.runJob(new Date(T + 10 * minute));
    const [warned] = await fs.findings(`server=${agent.serverId}&check=slo.burn_rate`);
    assert.equal(warned?.id, f.id);
    assert.equal(warned?.severity, 'warning');

    // 35 good minutes: both short windows are clean, the finding resolves.
    await fs.push(agent, raw(T + 10 * minute, T + 35 * minute), { target: 'main' });
    await runSlos(T + 35 * minute);
    await fs.runJob(new Date(T + 35 * minute));
    const [resolved] = await fs.findings(`server=${agent.serverId}&check=slo.burn_rate&state=resolved`);
    assert.equal(resolved?.id, f.id);

    // The burn series: the hour before T burned at 1000×.
    const series = (
      await api('GET', `/slos/${id}/burn?from=${T - 3 * hour}&to=${T + hour}`, undefined, 'viewer')
    ).body;
    const points = series.points as Array<{
      t: string;
      burn1h: number | null;
      budgetRemaining: number | null;
    }>;
    assert.equal(points.length, 4);
    assert.equal(points[1]!.burn1h, 0);
    assert.equal(points[2]!.burn1h, 1000);
    assert.equal(points[3]!.burn1h, 0);
    assert.ok(points[2]!.budgetRemaining! < 0);

    // Counted hours are kept: the six complete hours before T, nothing at or after it.
    const { rows } = await fs.ts.store.pool.query(
      'SELECT count(*)::int AS n, max(hour) AS last FROM pgvigil.slo_hours WHERE slo_id = $1',
      [id],
    );
    assert.equal(rows[0].n, 7);
    assert.equal((rows[0].last as Date).getTime(), T - hour);

    // A new threshold judges every minute again: with 100 backends allowed nothing was bad.
    const patched = await api('PATCH', `/slos/${id}`, { threshold: 100 });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.evaluatedAt, null, 'the old status is dropped with the counted hours');
    await runSlos(T + 35 * minute);
    const again = (await api('GET', `/slos/${id}`)).body;
    assert.equal(again.badMinutes, 0);
    assert.equal(again.budget_remaining_pct, 100);
    const { rows: bad } = await fs.ts.store.pool.query(
      'SELECT coalesce(sum(bad), 0)::int AS bad, count(*)::int AS n FROM pgvigil.slo_hours WHERE slo_id = $1',
      [id],
    );
    assert.deepEqual(bad[0], { bad: 0, n: 7 });
  });

  test('minutes_within_ten_minutes_of_an_agent_start_are_not_counted', async () => {
    const { agent, targetId } = await serverWithTarget('slo-restart');
    const id = (await api('POST', '/slos', latencyBody(agent.serverId, targetId))).body.id as number;
    // Three bad hours before T; the agent restarted 20 minutes before T (reported in its batch status).
    const seeded: Array<[number, number]> = [];
    for (let t = T - 3 * hour; t < T; t += minute) seeded.push([t, 90]);
    await seedInstanceMinutes(agent.serverId, targetId, seeded);
    await fs.push(agent, [{ family: 'pg_instance', ts: Date.now(), rows: [instance(10)] }], {
      target: 'main',
      status: { startedAt: T - 20 * minute },
    });
    await runSlos(T);
    const slo = (await api('GET', `/slos/${id}`)).body;
    assert.equal(slo.excludedMinutes, 10);
    assert.equal(slo.badMinutes, 170);
    const { rows } = await fs.ts.store.pool.query(
      'SELECT count(*)::int AS n FROM pgvigil.agent_starts WHERE server_id = $1',
      [agent.serverId],
    );
    assert.equal(rows[0].n, 1);
  });

  test('defaults_are_created_for_a_target_with_data_and_a_deleted_one_stays_deleted', async () => {
    const agent = await fs.enroll('slo-defaults');
    await fs.push(agent, [{ family: 'pg_instance', ts: Date.now(), rows: [instance(5)] }], {
      target: 'main',
    });
    await runSlos(Date.now());
    const list = (await api('GET', `/slos?server=${agent.serverId}`, undefined, 'viewer')).body.slos as Array<
      Record<string, unknown>
    >;
    // Only pg_instance has data: availability, not statement latency or cache hit.
    assert.deepEqual(
      list.map((s) => [s.name, s.source, s.family, s.objective]),
      [['availability', 'default', 'pg_instance', 99.9]],
    );
    const availability = list[0]!;
    assert.equal(availability.budget_remaining_pct, 100);
    assert.equal(availability.sli_pct, 100);
    // Editable and deletable like any other; once deleted it is not created again.
    const patched = await api('PATCH', `/slos/${availability.id}`, { objective: 99.5 });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.objective, 99.5);
    assert.equal((await api('DELETE', `/slos/${availability.id}`)).status, 204);
    await runSlos(Date.now());
    assert.deepEqual((await api('GET', `/slos?server=${agent.serverId}`)).body.slos, []);

    // The cache-hit default once pg_database has data: a ratio of counters read from raw rows.
    const db = (t: number, hit: number, read: number) => ({
      family: 'pg_database',
      ts: t,
      rows: [{ datname: 'app', blks_hit: hit, blks_read: read, xact_commit: 1 }],
    });
    const now = Date.now();
    await fs.push(
      agent,
      [
        db(now - 3 * minute, 1_000_000, 1000),
        db(now - 2 * minute, 1_100_000, 1100),
        db(now - minute, 1_200_000, 6100),
      ],
      {
        target: 'main',
      },
    );
    await runSlos(now);
    const cache = (
      (await api('GET', `/slos?server=${agent.serverId}`)).body.slos as Array<Record<string, unknown>>
    ).find((s) => s.name === 'cache-hit');
    assert.ok(cache, 'cache-hit default created');
    // Minute 2: 100000 hits, 100 reads (99.9 %: good); minute 1: 100000 hits, 5000 reads (95.2 %: bad).
    assert.equal(cache.countedMinutes, 2);
    assert.equal(cache.badMinutes, 1);
  });

  test('availability_counts_a_minute_in_which_the_instance_never_answered_as_bad', async () => {
    const agent = await fs.enroll('slo-availability');
    const down: Row = { up: false, collect_ms: 3, error: 'connection refused' };
    const m = Math.floor(Date.now() / minute) * minute - 5 * minute;
    await fs.push(
      agent,
      [
        { family: 'pg_instance', ts: m, rows: [instance(5)] },
        { family: 'pg_instance', ts: m + 30_000, rows: [instance(5)] },
        // The next minute: only failed collections.
        { family: 'pg_instance', ts: m + minute, rows: [down] },
        { family: 'pg_instance', ts: m + minute + 30_000, rows: [down] },
        // Then one failed and one answered: the instance answered in that minute.
        { family: 'pg_instance', ts: m + 2 * minute, rows: [down] },
        { family: 'pg_instance', ts: m + 2 * minute + 30_000, rows: [instance(5)] },
      ],
      { target: 'main' },
    );
    await runSlos(m + 4 * minute);
    const [availability] = (await api('GET', `/slos?server=${agent.serverId}`)).body.slos as Array<
      Record<string, unknown>
    >;
    assert.equal(availability?.name, 'availability');
    assert.equal(availability?.countedMinutes, 3);
    assert.equal(availability?.badMinutes, 1);
    const burn = availability?.burn as Record<string, { rate: number; bad: number; counted: number }>;
    // One bad minute of 3 at 99.9 %: 333× over 5 min.
    assert.deepEqual(burn['5m'], { rate: 333.3333, bad: 1, counted: 3 });
  });

  test('bad_definitions_are_400s_naming_the_field_and_a_viewer_cannot_create', async () => {
    const { agent, targetId } = await serverWithTarget('slo-bad');
    const base = latencyBody(agent.serverId, targetId, 'x');
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...base, family: 'nope' }, /indicator: unknown family "nope"/],
      [{ ...base, metric: 'nope' }, /indicator: unknown metric "nope" for pg_instance/],
      [{ ...base, objective: 100 }, /objective/],
      [{ ...base, objective: 20 }, /objective/],
      [{ ...base, windowDays: 365 }, /windowDays/],
      [{ ...base, comparison: '<' }, /comparison/],
      [{ ...base, labels: ['nolabel:1'] }, /indicator: unknown label "nolabel"/],
      [{ ...base, agg: 'p95' }, /indicator: agg=p95/],
      [{ ...base, targetId: undefined }, /targetId/],
      [{ ...base, targetId: 999_999 }, /targetId: there is no target 999999/],
      [{ ...base, minPer: 5 }, /minPer/],
      [{ ...base, name: '' }, /name/],
      [{ ...base, name: 'a\u0000b' }, /name/],
      [{ ...base, family: 'pg_settings' }, /indicator: family pg_settings has no minute rollups/],
      [{ ...base, per: ['calls'] }, /indicator: unknown metric "calls" for pg_instance/],
      [
        { ...base, family: 'pg_statements', metric: 'calls', labels: ['queryid:abc'] },
        /indicator: label queryid: expected an integer/,
      ],
      [{ ...base, family: 'host_cpu', metric: 'user_pct' }, /indicator: target: host_cpu is a host family/],
      [{ ...base, threshold: 1e300 }, /threshold/],
      [{ ...base, labels: Array.from({ length: 21 }, () => 'a:b') }, /labels/],
    ];
    for (const [body, message] of cases) {
      const r = await api('POST', '/slos', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
      assert.match(String((r.body.error as { message: string }).message), message);
    }
    assert.equal((await api('POST', '/slos', base, 'viewer')).status, 403);
    assert.equal((await api('POST', '/slos', base)).status, 201);
    const dup = await api('POST', '/slos', base);
    assert.equal(dup.status, 409);
    assert.equal((dup.body.error as { code: string }).code, 'SLO_EXISTS');
    assert.equal((await api('GET', '/slos/999999')).status, 404);
    assert.equal((await api('PATCH', '/slos/999999', { objective: 99 })).status, 404);
    const mine = (await api('GET', `/slos?server=${agent.serverId}`)).body.slos as Array<{ id: number }>;
    assert.equal((await api('PATCH', `/slos/${mine[0]!.id}`, {})).status, 400);
    const badPatch = await api('PATCH', `/slos/${mine[0]!.id}`, { metric: 'nope' });
    assert.equal(badPatch.status, 400);
    assert.match(
      String((badPatch.body.error as { message: string }).message),
      /indicator: unknown metric "nope"/,
    );
    assert.equal((await api('PATCH', `/slos/${mine[0]!.id}`, { objective: 99 }, 'viewer')).status, 403);
    assert.equal((await api('DELETE', `/slos/${mine[0]!.id}`, undefined, 'viewer')).status, 403);
    assert.equal((await api('GET', `/slos/${mine[0]!.id}/burn?from=yesterday`)).status, 400);
    assert.equal(
      (await api('GET', '/slos/1/burn?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z')).status,
      400,
    );
  });
});

/**
 * The findings engine end to end on a real server and PostgreSQL: a batch that shows a problem opens a
 * finding at once (evaluated on ingest), the finding is de-duplicated while the problem lasts, resolves
 * after clear evaluations, reopens as the same finding, and hand actions are kept in its history.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { FamilyRows, Row } from '../src/agent/collectors/types.js';
import { testPgLabel } from './helpers/db.js';
import { type FindingsServer, startFindingsServer, type TestAgent } from './helpers/findings.js';
import { waitFor } from './helpers/wait.js';

let fs: FindingsServer;

before(async () => {
  fs = await startFindingsServer('findings');
});
after(async () => {
  await fs.close();
});

function instance(up: boolean, extra: Row = {}): Row {
  return {
    up,
    server_version_num: up ? 180001 : null,
    max_connections: up ? 100 : null,
    backends: up ? 10 : null,
    error: up ? null : 'connection refused',
    ...extra,
  };
}

async function pushInstance(agent: TestAgent, row: Row, ts = Date.now(), target = 'main'): Promise<void> {
  await fs.push(agent, [{ family: 'pg_instance', ts, rows: [row] }], { target });
}

describe(`findings lifecycle (${testPgLabel})`, () => {
  test('a_down_target_opens_one_finding_that_resolves_when_it_answers_again', async () => {
    const agent = await fs.enroll('host-down');
    const started = Date.now();
    await pushInstance(agent, instance(false));
    const f = await fs.waitFor(
      `server=${agent.serverId}`,
      (x) => x.check === 'pg.down' && x.state === 'open',
    );
    assert.ok(Date.now() - started < 5000, 'fired within 5 s of the batch');
    assert.equal(f.severity, 'critical');
    assert.equal(f.targetName, 'main');
    assert.match(String((f.evidence as Record<string, unknown>).error), /connection refused/);
    // Still down: the same finding, not a second one.
    await pushInstance(agent, instance(false));
    await fs.settle();
    assert.equal((await fs.findings(`server=${agent.serverId}&check=pg.down`)).length, 1);
    // pg.down clears after one good evaluation.
    await pushInstance(agent, instance(true));
    const resolved = await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
    assert.match(String(resolved.resolvedReason), /cleared/);
    // Down again: the same finding reopens, and its history shows both episodes.
    await pushInstance(agent, instance(false));
    const reopened = await fs.waitFor(`server=${agent.serverId}&state=open`, (x) => x.id === f.id);
    const res = await fetch(`${fs.base}/api/v1/findings/${reopened.id}`, { headers: fs.admin });
    const body = (await res.json()) as { history: Array<{ event: string }> };
    assert.deepEqual(body.history.map((h) => h.event).reverse(), ['opened', 'resolved', 'reopened']);
  });

  test('connections_near_the_limit_grade_by_share_of_usable_slots', async () => {
    const agent = await fs.enroll('host-conn');
    // 90 of 97 usable (100 − 3 reserved by default) = 92.8 %: a warning once it has held for `for_s`
    // (300 s by default), not at its first sample.
    const t0 = Date.now() - 6 * 60_000;
    await pushInstance(agent, instance(true, { backends: 90 }), t0);
    await fs.settle();
    assert.equal((await fs.findings(`server=${agent.serverId}&check=pg.connections`)).length, 0);
    for (let k = 1; k <= 5; k++) await pushInstance(agent, instance(true, { backends: 90 }), t0 + k * 60_000);
    const f = await fs.waitFor(`server=${agent.serverId}`, (x) => x.check === 'pg.connections');
    assert.equal(f.severity, 'warning');
    assert.equal((f.evidence as Record<string, unknown>).usable, 97);
    await pushInstance(agent, instance(true, { backends: 96 }));
    await fs.waitFor(`server=${agent.serverId}`, (x) => x.id === f.id && x.severity === 'critical');
    await pushInstance(agent, instance(true, { backends: 20 }));
    await pushInstance(agent, instance(true, { backends: 20 }));
    await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
  });

  test('acknowledging_and_silencing_are_hand_actions_of_role_user_kept_in_history', async () => {
    const agent = await fs.enroll('host-ack');
    await pushInstance(agent, instance(false));
    const f = await fs.waitFor(`server=${agent.serverId}`, (x) => x.check === 'pg.down');
    const { roleHeaders } = await import('./helpers/users.js');
    const viewer = await roleHeaders(fs.ts.store.pool, 'viewer');
    const user = await roleHeaders(fs.ts.store.pool, 'user');
    const post = (path: string, headers: Record<string, string>, body?: unknown) =>
      fetch(`${fs.base}/api/v1/findings/${f.id}/${path}`, {
        method: 'POST',
        headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    assert.equal((await post('acknowledge', viewer)).status, 403);
    assert.equal((await post('acknowledge', user)).status, 200);
    const bad = await post('silence', user, { for: '2h', until: '2030-01-01T00:00:00Z' });
    assert.equal(bad.status, 400);
    const silenced = await post('silence', user, { for: '2h' });
    assert.equal(silenced.status, 200);
    assert.equal(((await silenced.json()) as { finding: { state: string } }).finding.state, 'silenced');
    assert.equal((await post('resolve', user)).status, 200);
    assert.equal((await post('resolve', user)).status, 404);
    const detail = (await (
      await fetch(`${fs.base}/api/v1/findings/${f.id}`, { headers: fs.admin })
    ).json()) as {
      history: Array<{ event: string; actor: string | null }>;
    };
    assert.deepEqual(detail.history.map((h) => h.event).reverse(), [
      'opened',
      'acknowledged',
      'silenced',
      'resolved',
    ]);
    assert.ok(detail.history.slice(0, 3).every((h) => h.actor !== null));
  });

  test('thresholds_change_per_server_through_the_api_and_bad_ones_are_refused', async () => {
    const agent = await fs.enroll('host-thr');
    const put = (body: unknown) =>
      fetch(`${fs.base}/api/v1/checks/pg.connections/settings`, {
        method: 'PUT',
        headers: { ...fs.admin, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const unknown = await put({ thresholds: { nope: 1 } });
    assert.equal(unknown.status, 400);
    assert.match(await unknown.text(), /no such threshold/);
    assert.equal((await put({ thresholds: { warning: 500 } })).status, 400);
    assert.equal(
      (await put({ serverId: agent.serverId, thresholds: { warning: 10, for_s: 0 } })).status,
      204,
    );
    await pushInstance(agent, instance(true, { backends: 20 }));
    const f = await fs.waitFor(`server=${agent.serverId}`, (x) => x.check === 'pg.connections');
    assert.equal(f.severity, 'warning');
    const checks = (await (await fetch(`${fs.base}/api/v1/checks`, { headers: fs.admin })).json()) as {
      checks: Array<{ id: string; overrides: Array<{ serverId: number }> }>;
    };
    assert.equal(
      checks.checks.find((c) => c.id === 'pg.connections')?.overrides[0]?.serverId,
      agent.serverId,
    );
  });

  test('the_live_feed_sends_alert_fired_and_alert_resolved_to_subscribers_of_the_server', async () => {
    const agent = await fs.enroll('host-live');
    const ws = new WebSocket(`${fs.base.replace(/^http/, 'ws')}/api/v1/live`, { headers: fs.admin });
    const got: Array<Record<string, unknown>> = [];
    ws.on('message', (d) => got.push(JSON.parse(String(d)) as Record<string, unknown>));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    try {
      ws.send(JSON.stringify({ type: 'subscribe', id: 's1', servers: [agent.serverId], targets: [] }));
      const seen = (type: string) =>
        waitFor(
          `a ${type} message`,
          () => got.find((x) => x.type === type),
          5000,
          () => `got ${got.map((x) => x.type).join(', ')}`,
        );
      await seen('subscribed');
      await pushInstance(agent, instance(false));
      const fired = await seen('alert_fired');
      assert.equal(fired.rule, 'pg.down');
      assert.equal(fired.severity, 'critical');
      assert.equal(fired.serverId, agent.serverId);
      await pushInstance(agent, instance(true));
      const resolved = await seen('alert_resolved');
      assert.equal(resolved.alertId, fired.alertId);
    } finally {
      ws.close();
    }
  });

  test('a_family_that_failed_to_collect_does_not_clear_its_findings', async () => {
    const agent = await fs.enroll('host-failed-family');
    const idle = {
      datname: 'app',
      usename: 'web',
      application_name: 'api',
      backend_type: 'client backend',
      state: 'idle in transaction',
      count: 1,
      max_state_age_s: 700,
    };
    const push = (rows: FamilyRows[]) => fs.push(agent, rows, { target: 'main' });
    const at = (ts: number, extra: FamilyRows[]) => [
      { family: 'pg_instance', ts, rows: [instance(true)] },
      ...extra,
    ];
    let ts = Date.now() - 60_000;
    await push(at(ts, [{ family: 'pg_activity', ts, rows: [idle] }]));
    const f = await fs.waitFor(`server=${agent.serverId}`, (x) => x.check === 'pg.idle_in_transaction');
    assert.equal(f.severity, 'critical');
    // pg_activity failed twice: no rows, but no news either — the finding stays open.
    for (let i = 0; i < 2; i++) {
      ts += 10_000;
      await push(
        at(ts, [
          {
            family: 'pg_collector',
            ts,
            rows: [{ family: 'pg_activity', datname: '', ok: false, error: 'timeout' }],
          },
        ]),
      );
    }
    await fs.settle();
    assert.equal((await fs.findings(`server=${agent.serverId}&state=open`)).length, 1);
    // Collected again without the session: two clear evaluations resolve it.
    for (let i = 0; i < 2; i++) {
      ts += 10_000;
      await push(
        at(ts, [{ family: 'pg_activity', ts, rows: [{ ...idle, state: 'idle', max_state_age_s: 5 }] }]),
      );
    }
    await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
  });

  test('a_lasting_finding_skips_the_store_until_a_minute_passes_and_a_hand_resolution_reopens_at_once', async () => {
    const agent = await fs.enroll('host-lasting');
    const unchanged = async () => {
      const text = await (await fetch(`${fs.base}/metrics`, { headers: fs.admin })).text();
      return Number(/pgvigil_findings_applications_total\{outcome="unchanged"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    await pushInstance(agent, instance(false));
    const f = await fs.waitFor(`server=${agent.serverId}`, (x) => x.check === 'pg.down');
    const before = await unchanged();
    await pushInstance(agent, instance(false));
    await pushInstance(agent, instance(false));
    await fs.settle();
    assert.equal((await unchanged()) - before, 2, 'two evaluations that changed nothing skipped the store');
    const [same] = await fs.findings(`server=${agent.serverId}&check=pg.down`);
    assert.equal(same?.lastSeen, f.lastSeen, 'not rewritten within the minute');
    // Resolved by hand while still down: the next batch reopens it, without waiting for the minute.
    const user = await (await import('./helpers/users.js')).roleHeaders(fs.ts.store.pool, 'user');
    const res = await fetch(`${fs.base}/api/v1/findings/${f.id}/resolve`, { method: 'POST', headers: user });
    assert.equal(res.status, 200);
    await pushInstance(agent, instance(false));
    await fs.waitFor(`server=${agent.serverId}&state=open`, (x) => x.id === f.id);
  });

  test('bad_filters_are_400_naming_the_parameter', async () => {
    for (const q of ['state=nope', 'severity=loud', 'cursor=zzz', 'from=yesterday']) {
      const res = await fetch(`${fs.base}/api/v1/findings?${q}`, { headers: fs.admin });
      assert.equal(res.status, 400, q);
      assert.match(await res.text(), new RegExp(q.split('=')[0]!));
    }
  });
});

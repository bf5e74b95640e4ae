/**
 * Incidents against a real store: findings written through the storage functions, the incidents job run
 * by hand, the incident read back through the API.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { type App, buildServerApp } from '../src/server/app.js';
import { runIncidents } from '../src/server/jobs/incidents.js';
import {
  type FindingWrite,
  insertFinding,
  refreshFinding,
  resolveFindingRow,
} from '../src/storage/queries/findings.sql.js';
import { insertIncident } from '../src/storage/queries/incidents.sql.js';
import { upsertServer } from '../src/storage/queries/servers.sql.js';
import { ensureTarget } from '../src/storage/queries/targets.sql.js';
import { createTestStore, quietLog, type TestStore } from './helpers/db.js';
import { getAsRole, getOkAsRole } from './helpers/users.js';

let ts: TestStore;
let server: App;
const min = 60_000;

before(async () => {
  ts = await createTestStore('incidents');
  server = await buildServerApp({
    store: ts.store,
    log: quietLog,
    latestMigration: ts.latest,
    credentialCacheMs: 0,
  });
});

after(async () => {
  await server.app.close();
  await ts.close();
});

async function serverWithTarget(name: string): Promise<{ serverId: number; targetId: number }> {
  const { serverId } = await upsertServer(ts.store.pool, name);
  await ensureTarget(ts.store.pool, serverId, 'postgres', 'main');
  const { rows } = await ts.store.pool.query<{ id: number }>(
    'SELECT target_id::int AS id FROM pgvigil.targets WHERE server_id = $1',
    [serverId],
  );
  return { serverId, targetId: rows[0]!.id };
}

async function finding(
  at: Date,
  f: Omit<FindingWrite, 'key' | 'explanation' | 'action' | 'value' | 'kind'> & { kind?: string },
): Promise<string> {
  return insertFinding(
    ts.store.pool,
    {
      key: `${f.check}|${f.serverId}|${f.targetId ?? ''}|${f.object}`,
      kind: f.kind ?? 'alert',
      explanation: 'e',
      action: 'a',
      value: null,
      ...f,
    },
    at,
    false,
  );
}

const get = (url: string) => getOkAsRole(server.app, ts.store.pool, url);

interface IncidentBody {
  incident: {
    id: string;
    state: string;
    title: string;
    severity: string;
    confidence: number | null;
    resolvedAt: string | null;
    cause: {
      chainId: string;
      chain: Array<{ findingId: string; check: string; role: string }>;
      explanation: string;
      action: string;
      evidence: Array<{ findingId: string; evidence: Record<string, unknown> }>;
      confidence: number;
    } | null;
    correlated: { findings: string[]; pairs: unknown[] };
  };
  members: Array<{ role: string; finding: { id: string; check: string; state: string } }>;
}

test('a blocked-session chain becomes one incident whose cause names the idle session and its query', async (t) => {
  const now = new Date();
  const { serverId, targetId } = await serverWithTarget('db-blocking');
  const idle = await finding(new Date(now.getTime() - 5 * min), {
    check: 'pg.idle_in_transaction',
    serverId,
    targetId,
    object: 'shop/app/billing',
    severity: 'warning',
    title: '1 session(s) of app@shop (billing) idle in a transaction for up to 5 min',
    evidence: {
      datname: 'shop',
      usename: 'app',
      application_name: 'billing',
      state: 'idle in transaction',
      sessions: 1,
      max_state_age_s: 300,
    },
  });
  const blocking = await finding(new Date(now.getTime() - 4 * min), {
    check: 'pg.blocking',
    serverId,
    targetId,
    object: 'pid:4242',
    severity: 'critical',
    title: 'Session 4242 blocks 3 sessions, the longest for 4 min',
    evidence: {
      blocking_pid: 4242,
      blocker: {
        datname: 'shop',
        usename: 'app',
        application_name: 'billing',
        state: 'idle in transaction',
        xact_age_s: 310,
        query: 'UPDATE accounts SET balance = balance - 10 WHERE id = 1',
      },
      blocked_count: 3,
      longest_wait_s: 240,
      blocked: [
        { pid: 7001, datname: 'shop', wait_s: 240, query: 'UPDATE accounts SET balance = 0 WHERE id = 1' },
      ],
    },
  });

  const listener = new pg.Client({ connectionString: ts.db.url });
  await listener.connect();
  const heard: Array<{ type: string; incidentId?: string; serverId?: number; confidence?: number | null }> =
    [];
  listener.on('notification', (m) => heard.push(JSON.parse(m.payload ?? '{}')));
  await listener.query('LISTEN pgvigil_live');
  t.after(() => listener.end());

  const r = await runIncidents(ts.store.pool, now);
  assert.equal(r.opened, 1);

  const list = (await get(`/incidents?server=${serverId}`)) as {
    incidents: Array<{ id: string; members: number }>;
  };
  assert.equal(list.incidents.length, 1);
  assert.equal(list.incidents[0]!.members, 2);
  const body = (await get(`/incidents/${list.incidents[0]!.id}`)) as unknown as IncidentBody;
  const cause = body.incident.cause!;
  assert.equal(cause.chainId, 'blocking_session');
  assert.deepEqual(
    cause.chain.map((s) => [s.findingId, s.role]),
    [
      [idle, 'cause'],
      [blocking, 'symptom'],
    ],
  );
  assert.match(cause.explanation, /Session 4242/);
  assert.match(cause.explanation, /idle in transaction/);
  assert.match(cause.explanation, /UPDATE accounts SET balance = balance - 10 WHERE id = 1/);
  assert.match(cause.action, /pg_terminate_backend\(4242\)/);
  assert.ok(cause.confidence > 0.8, String(cause.confidence));
  assert.equal(body.incident.confidence, cause.confidence);
  assert.equal(body.incident.severity, 'critical');
  assert.equal(body.incident.state, 'open');
  assert.match(body.incident.title, /4242/);
  assert.deepEqual(
    body.members.map((m) => [m.role, m.finding.check]),
    [
      ['cause', 'pg.idle_in_transaction'],
      ['symptom', 'pg.blocking'],
    ],
  );
  assert.ok(
    cause.evidence.some((e) => e.findingId === blocking && (e.evidence.blocker as { query?: string })?.query),
  );

  // Running again changes nothing.
  const again = await runIncidents(ts.store.pool, new Date(now.getTime() + min));
  assert.equal(again.opened + again.extended, 0);

  // A finding of another domain opening within the window joins, as correlated (no chain explains it).
  const cpu = await finding(new Date(now.getTime() + 2 * min), {
    check: 'host.cpu',
    serverId,
    targetId: null,
    object: '',
    severity: 'warning',
    title: 'CPU 95 % busy for 5 min',
    evidence: { busy_pct: 95 },
  });
  const joined = await runIncidents(ts.store.pool, new Date(now.getTime() + 3 * min));
  assert.equal(joined.extended, 1);
  assert.equal(joined.opened, 0);
  const withCpu = (await get(`/incidents/${list.incidents[0]!.id}`)) as unknown as IncidentBody;
  assert.equal(withCpu.members.length, 3);
  assert.equal(withCpu.members.find((m) => m.finding.id === cpu)?.role, 'correlated');
  assert.deepEqual(withCpu.incident.correlated.findings, [cpu]);
  assert.equal(withCpu.incident.cause?.chainId, 'blocking_session', 'the cause stays named');

  // The blocking finding clears and comes back a minute later: its new episode rejoins the same
  // incident once, and the next run finds nothing to do.
  await resolveFindingRow(ts.store.pool, blocking, new Date(now.getTime() + 3.5 * min), 'cleared');
  await refreshFinding(
    ts.store.pool,
    blocking,
    {
      key: `pg.blocking|${serverId}|${targetId}|pid:4242`,
      check: 'pg.blocking',
      serverId,
      targetId,
      object: 'pid:4242',
      kind: 'alert',
      severity: 'critical',
      title: 'Session 4242 blocks 3 sessions, the longest for 5 min',
      explanation: 'e',
      evidence: { blocking_pid: 4242, blocked: [{ pid: 7001, datname: 'shop' }] },
      action: 'a',
      value: null,
    },
    new Date(now.getTime() + 4 * min),
    { reopen: true },
  );
  const rejoin = await runIncidents(ts.store.pool, new Date(now.getTime() + 4.5 * min));
  assert.deepEqual([rejoin.opened, rejoin.extended], [0, 1]);
  const settled = await runIncidents(ts.store.pool, new Date(now.getTime() + 5 * min));
  assert.deepEqual([settled.opened, settled.extended], [0, 0]);
  const afterRejoin = (await get(`/incidents/${list.incidents[0]!.id}`)) as unknown as IncidentBody;
  assert.equal(afterRejoin.members.length, 3);

  // Members resolve → the incident resolves (not before the last one).
  const later = new Date(now.getTime() + 6 * min);
  await resolveFindingRow(ts.store.pool, idle, later, 'cleared');
  await resolveFindingRow(ts.store.pool, blocking, later, 'cleared');
  await runIncidents(ts.store.pool, new Date(later.getTime() + 1000));
  const stillOpen = (await get(`/incidents?server=${serverId}&state=open`)) as { incidents: unknown[] };
  assert.equal(stillOpen.incidents.length, 1, 'one member is still open');
  const end = new Date(now.getTime() + 8 * min);
  await resolveFindingRow(ts.store.pool, cpu, end, 'cleared');
  const done = await runIncidents(ts.store.pool, new Date(end.getTime() + 1000));
  assert.equal(done.resolved, 1);
  const resolved = (await get(`/incidents?server=${serverId}&state=resolved`)) as {
    incidents: Array<{ id: string; resolvedAt: string }>;
  };
  assert.equal(resolved.incidents.length, 1);
  assert.equal(Date.parse(resolved.incidents[0]!.resolvedAt), end.getTime());

  // The live feed heard the incident open (with its confidence) and resolve, once each.
  await new Promise((r) => setTimeout(r, 200));
  const mine = heard.filter((m) => m.serverId === serverId && m.incidentId === list.incidents[0]!.id);
  assert.deepEqual(
    mine.map((m) => m.type),
    ['incident_opened', 'incident_resolved'],
  );
  assert.equal(mine[0]!.confidence, cause.confidence);
});

test('two unrelated findings of different domains 2 h apart make no incident', async () => {
  const now = new Date();
  const { serverId, targetId } = await serverWithTarget('db-apart');
  await finding(new Date(now.getTime() - 125 * min), {
    check: 'host.memory',
    serverId,
    targetId: null,
    object: '',
    severity: 'warning',
    title: 'Memory 92 % used',
    evidence: { used_pct: 92 },
  });
  await finding(new Date(now.getTime() - 5 * min), {
    check: 'pg.connections',
    serverId,
    targetId,
    object: '',
    severity: 'warning',
    title: 'Connections at 90 % of the usable limit',
    evidence: { clients: 90, usable: 100 },
  });
  // The lookback reaches both, so it is the window that keeps them apart.
  const r = await runIncidents(ts.store.pool, now, { lookbackMs: 3 * 60 * min });
  assert.ok(r.candidates >= 2);
  const list = (await get(`/incidents?server=${serverId}`)) as { incidents: unknown[] };
  assert.deepEqual(list.incidents, []);
});

test('what no chain explains is reported as correlated, with the series that moved together', async () => {
  const now = new Date();
  const { serverId, targetId } = await serverWithTarget('db-corr');
  // 40 minutes of samples every 10 s: memory and connections climb together, load stays flat with noise.
  const points = 240;
  const start = now.getTime() - points * 10_000;
  await ts.store.pool.query(
    `INSERT INTO pgvigil.host_memory (server_id, ts, total_bytes, used_bytes)
     SELECT $1, to_timestamp(($2::float8 + i * 10000) / 1000), 16e9, 4e9 + i * 2e7 + (i % 3) * 1e6
       FROM generate_series(0, $3 - 1) AS i`,
    [serverId, start, points],
  );
  await ts.store.pool.query(
    `INSERT INTO pgvigil.pg_instance (server_id, target_id, ts, up, backends)
     SELECT $1, $2, to_timestamp(($3::float8 + i * 10000) / 1000), true, 20 + i / 3 + (i % 2)
       FROM generate_series(0, $4 - 1) AS i`,
    [serverId, targetId, start, points],
  );
  const mem = await finding(new Date(now.getTime() - 6 * min), {
    check: 'host.memory',
    serverId,
    targetId: null,
    object: '',
    severity: 'warning',
    title: 'Memory 90 % used',
    evidence: { used_pct: 90 },
  });
  const conns = await finding(new Date(now.getTime() - 4 * min), {
    check: 'pg.connections',
    serverId,
    targetId,
    object: '',
    severity: 'warning',
    title: 'Connections at 85 % of the usable limit',
    evidence: { clients: 85, usable: 100 },
  });
  const r = await runIncidents(ts.store.pool, now, { live: false });
  assert.equal(r.opened, 1);
  assert.equal(r.seriesRead, 2);
  const list = (await get(`/incidents?server=${serverId}`)) as { incidents: Array<{ id: string }> };
  const body = (await get(`/incidents/${list.incidents[0]!.id}`)) as unknown as IncidentBody;
  assert.equal(body.incident.cause, null, 'no chain: nothing is named a cause');
  assert.equal(body.incident.confidence, null);
  assert.deepEqual(body.members.map((m) => m.role).sort(), ['correlated', 'correlated']);
  assert.deepEqual([...body.incident.correlated.findings].sort(), [mem, conns].sort());
  const pairs = body.incident.correlated.pairs as Array<{
    findingId: string;
    withFindingId: string;
    r: number;
    points: number;
  }>;
  assert.ok(pairs.length >= 1, JSON.stringify(body.incident.correlated));
  assert.ok(pairs[0]!.r > 0.9, String(pairs[0]!.r));
  assert.ok(pairs[0]!.points >= 30, String(pairs[0]!.points));
  assert.deepEqual([pairs[0]!.findingId, pairs[0]!.withFindingId].sort(), [mem, conns].sort());
});

test('an open incident whose findings are gone resolves', async () => {
  const { serverId } = await serverWithTarget('db-empty');
  const now = new Date();
  const id = await insertIncident(
    ts.store.pool,
    { serverId, openedAt: now, title: 'orphan', cause: null, correlated: {}, severity: 'warning' },
    now,
  );
  await runIncidents(ts.store.pool, new Date(now.getTime() + min), { live: false });
  const body = (await get(`/incidents/${id}`)) as unknown as IncidentBody;
  assert.equal(body.incident.state, 'resolved');
  assert.deepEqual(body.members, []);
});

test('the incidents API refuses what it cannot answer with a 4xx', async () => {
  for (const [url, status] of [
    ['/incidents?state=bogus', 400],
    ['/incidents?cursor=not-a-cursor', 400],
    ['/incidents?limit=100000', 400],
    ['/incidents?from=yesterday', 400],
    ['/incidents?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 400],
    ['/incidents/987654321', 404],
    ['/incidents/abc', 400],
  ] as const) {
    const res = await getAsRole(server.app, ts.store.pool, url);
    assert.equal(res.status, status, `${url}: ${JSON.stringify(res.body)}`);
  }
  const doc = (await get('/openapi.json')) as { paths: Record<string, unknown> };
  assert.ok(doc.paths['/api/v1/incidents'] && doc.paths['/api/v1/incidents/{id}']);
});

test('job cost: one run over many findings of many servers', async (t) => {
  const now = new Date();
  const servers = 50;
  const perServer = 20;
  for (let s = 0; s < servers; s++) {
    const { serverId, targetId } = await serverWithTarget(`cost-${s}`);
    for (let i = 0; i < perServer; i++) {
      // Pairs of domains a few minutes apart: each pair of pairs clusters into incidents.
      const host = i % 2 === 0;
      await finding(new Date(now.getTime() - 50 * min + i * 2 * min), {
        check: host ? 'host.disk_busy' : 'pg.connections',
        serverId,
        targetId: host ? null : targetId,
        object: host ? `sd${i}` : `x${i}`,
        severity: 'warning',
        title: 't',
        evidence: {},
      });
    }
  }
  const n = servers * perServer;
  const t1 = performance.now();
  const first = await runIncidents(ts.store.pool, now, { live: false });
  const firstMs = performance.now() - t1;
  const t2 = performance.now();
  const second = await runIncidents(ts.store.pool, new Date(now.getTime() + min), { live: false });
  const secondMs = performance.now() - t2;
  t.diagnostic(
    `incidents job: ${n} findings on ${servers} servers → ${first.opened} incidents, ${first.seriesRead} series read: first run ${Math.round(firstMs)} ms; next run (nothing new, ${second.candidates} candidates) ${Math.round(secondMs)} ms`,
  );
  assert.ok(first.opened >= servers);
  assert.equal(second.opened, 0);
});

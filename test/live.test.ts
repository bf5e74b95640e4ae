/**
 * The live feed end to end: two server instances on one store, WebSocket clients (the `ws` package) on
 * real loopback HTTP, batches pushed by an enrolled agent over real HTTP, fan-out through PostgreSQL
 * LISTEN/NOTIFY.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import WebSocket from 'ws';
import { batchMediaType } from '../src/protocol/batch.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import { agentPresenceJob, updateAgentPresence } from '../src/server/jobs/agent-presence.js';
import { runJobOnce } from '../src/server/jobs/runner.js';
import type { AlertFiredMessage, SampleMessage, ServerMessage } from '../src/server/live/messages.js';
import { publishLive } from '../src/server/live/notify.js';
import { openStore, type Store } from '../src/storage/db.js';
import { ensureTarget } from '../src/storage/queries/targets.sql.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';
import { parsePromText } from './helpers/prometheus.js';
import { createTestUser, roleHeaders } from './helpers/users.js';
import { until } from './helpers/wait.js';

let ts: TestStore;
let storeB: Store;
let a: App;
let b: App;
let baseA: string;
let baseB: string;
let viewer: { authorization: string };

interface Agent {
  agentId: string;
  credential: string;
  serverId: number;
  seq: number;
}

const cpuColumns = ['ts', 'cpu', 'user_pct', 'nice_pct', 'system_pct', 'idle_pct', 'iowait_pct', 'irq_pct'];

function hostFamilies(t: number): Record<string, unknown> {
  return {
    host_cpu: {
      columns: cpuColumns,
      rows: [
        [t, '0', 20, 0, 5, 70, 5, 0],
        [t, 'total', 10, 0, 4, 80, 2.5, 0],
      ],
    },
    host_memory: { columns: ['ts', 'total_bytes', 'used_bytes'], rows: [[t, 8_000_000_000, 2_000_000_000]] },
    host_load: { columns: ['ts', 'load1', 'load5', 'load15'], rows: [[t, 0.5, 0.25, 0.125]] },
  };
}

/** pg families for the given targets: one instance row, activity (2 active, 1 idle) and one database. */
function postgresFamilies(t: number, targets: string[], xacts: number): Record<string, unknown> {
  return {
    pg_instance: {
      columns: ['ts', 'target', 'up', 'backends'],
      rows: targets.map((name) => [t, name, true, 7]),
    },
    pg_activity: {
      columns: [
        'ts',
        'target',
        'datname',
        'usename',
        'application_name',
        'backend_type',
        'state',
        'count',
        'waiting',
      ],
      rows: targets.flatMap((name) => [
        [t, name, 'app', 'u', 'psql', 'client backend', 'active', 2, 1],
        [t, name, 'app', 'u', 'psql', 'client backend', 'idle', 1, 0],
      ]),
    },
    pg_database: {
      columns: ['ts', 'target', 'datname', 'xact_commit', 'xact_rollback'],
      rows: targets.map((name) => [t, name, 'app', xacts - 10, 10]),
    },
  };
}

async function push(base: string, agent: Agent, families: Record<string, unknown>): Promise<number> {
  agent.seq++;
  const body = { v: 1, agentId: agent.agentId, seq: agent.seq, sealedAt: Date.now(), families };
  const res = await fetch(`${base}/api/v1/ingest`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${agent.credential}`,
      'content-type': batchMediaType,
      'content-encoding': 'gzip',
    },
    body: gzipSync(Buffer.from(JSON.stringify(body))),
  });
  assert.equal(res.status, 200, await res.text());
  return agent.seq;
}

async function enroll(hostname: string): Promise<Agent> {
  const { token } = await createEnrollToken(ts.store.pool, {});
  const res = await fetch(`${baseA}/api/v1/agents/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, hostname }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return { ...((await res.json()) as Omit<Agent, 'seq'>), seq: 0 };
}

interface Client {
  ws: WebSocket;
  got: ServerMessage[];
  bytes: number;
  closed: Promise<{ code: number; reason: string }>;
  send(v: unknown): void;
  /** The first message (received so far or later) that matches, not returned before. */
  next<M extends ServerMessage>(what: string, match: (m: ServerMessage) => boolean, ms?: number): Promise<M>;
}

function wsUrl(base: string): string {
  return `${base.replace(/^http/, 'ws')}/api/v1/live`;
}

async function connect(base: string, headers: Record<string, string> = viewer): Promise<Client> {
  const ws = new WebSocket(wsUrl(base), { headers });
  const got: ServerMessage[] = [];
  const taken = new Set<ServerMessage>();
  const client: Client = {
    ws,
    got,
    bytes: 0,
    closed: new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
    ),
    send: (v) => ws.send(typeof v === 'string' ? v : JSON.stringify(v)),
    next: async <M extends ServerMessage>(what: string, match: (m: ServerMessage) => boolean, ms = 5000) => {
      let found: ServerMessage | undefined;
      await until(
        () => {
          found = got.find((m) => !taken.has(m) && match(m));
          return found !== undefined;
        },
        ms,
        what,
      );
      taken.add(found!);
      return found as M;
    },
  };
  ws.on('message', (data) => {
    client.bytes += (data as Buffer).length;
    got.push(JSON.parse(String(data)) as ServerMessage);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return client;
}

async function subscribe(c: Client, servers: number[], targets: number[] = []): Promise<void> {
  const id = `s${Math.random()}`;
  c.send({ type: 'subscribe', id, servers, targets });
  await c.next('subscribed', (m) => m.type === 'subscribed' && m.id === id);
}

/** The HTTP answer to a handshake that is refused. */
async function refusedHandshake(
  base: string,
  headers: Record<string, string>,
): Promise<{ status: number; code?: string }> {
  const ws = new WebSocket(wsUrl(base), { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close();
      reject(new Error('the handshake was accepted'));
    });
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
        } catch {}
        // The server closes the refused handshake's socket itself (a client cannot hold it open).
        const closed = () => resolve({ status: res.statusCode ?? 0, code });
        const socket = req.socket;
        if (!socket || socket.destroyed) return closed();
        const timer = setTimeout(() => reject(new Error('the server left a refused handshake open')), 5000);
        socket.once('close', () => {
          clearTimeout(timer);
          closed();
        });
      });
    });
    ws.once('error', () => {});
  });
}

async function metricsOf(base: string): Promise<ReturnType<typeof parsePromText>> {
  return parsePromText(await (await fetch(`${base}/metrics`, { headers: viewer })).text());
}

function counter(m: ReturnType<typeof parsePromText>, name: string, labels: Record<string, string>): number {
  const hit = m.get(name)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hit?.value ?? 0;
}

async function liveListeners(): Promise<number> {
  const { rows } = await ts.store.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgvigil-live' AND datname = current_database()",
  );
  return rows[0]!.n;
}

const isSample = (seq: number) => (m: ServerMessage) => m.type === 'sample' && m.seq === seq;

before(async () => {
  ts = await createTestStore('live');
  storeB = await openStore({ databaseUrl: ts.db.url, log: quietLog });
  const common = { log: quietLog, latestMigration: ts.latest, credentialCacheMs: 0 };
  a = await buildServerApp({ ...common, store: ts.store, enrollLimit: { perSecond: 1, burst: 50 } });
  b = await buildServerApp({
    ...common,
    store: storeB,
    live: {
      allowedOrigins: ['https://dash.example'],
      reconnectMinMs: 100,
      reconnectMaxMs: 1000,
      recheckMs: 200,
    },
  });
  baseA = await a.app.listen({ host: '127.0.0.1', port: 0 });
  baseB = await b.app.listen({ host: '127.0.0.1', port: 0 });
  viewer = await roleHeaders(ts.store.pool, 'viewer');
});

after(async () => {
  await a.app.close();
  await b.app.close();
  await storeB.close();
  await ts.close();
});

describe(`live feed across two instances (${testPgLabel})`, () => {
  test('an_instance_without_live_clients_holds_no_listen_connection', async () => {
    const agent = await enroll('quiet-host');
    await push(baseA, agent, hostFamilies(Date.now()));
    assert.equal(await liveListeners(), 0);
  });

  test('a_batch_ingested_on_one_instance_reaches_a_subscriber_on_the_other_within_a_second', async (t) => {
    const watched = await enroll('watched-host');
    const other = await enroll('other-host');
    const onB = await connect(baseB);
    const elsewhere = await connect(baseB);
    await subscribe(onB, [watched.serverId]);
    await subscribe(elsewhere, [other.serverId]);

    const now = Date.now();
    const started = performance.now();
    const seq = await push(baseA, watched, hostFamilies(now));
    const sample = await onB.next<SampleMessage>('the sample on B', isSample(seq), 5000);
    const elapsedMs = performance.now() - started;
    t.diagnostic(
      `ingest on A → sample on B: ${elapsedMs.toFixed(1)} ms (POST, group commit, NOTIFY, delivery)`,
    );
    assert.ok(elapsedMs < 1000, `delivered after ${elapsedMs} ms`);

    assert.equal(sample.serverId, watched.serverId);
    assert.equal(sample.agentId, watched.agentId);
    assert.equal(sample.ts, now);
    assert.equal(sample.rows, 4);
    assert.deepEqual([...sample.families].sort(), ['host_cpu', 'host_load', 'host_memory']);
    assert.deepEqual(sample.node, {
      ts: now,
      cpuBusyPct: 17.5, // 100 − idle 80 − iowait 2.5, from the "total" row, not core 0
      memoryUsedPct: 25,
      load1: 0.5,
      load5: 0.25,
      load15: 0.125,
    });
    assert.deepEqual(sample.targets, []);

    // The other host's batch reaches its own subscriber, and neither client gets the other's host.
    const otherSeq = await push(baseA, other, hostFamilies(Date.now()));
    await elsewhere.next('the other host on its subscriber', isSample(otherSeq));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(
      elsewhere.got.filter((m) => m.type === 'sample' && m.serverId === watched.serverId).length,
      0,
    );
    assert.equal(onB.got.filter((m) => m.type === 'sample' && m.serverId === other.serverId).length, 0);
    onB.ws.close();
    elsewhere.ws.close();
  });

  test('a_target_subscriber_gets_only_its_targets_with_a_transaction_rate_across_batches', async () => {
    const agent = await enroll('pg-host');
    const t0 = Date.now() - 20_000;
    // `main` is registered without a sample: B (which may still hold earlier tests' live connections, and
    // so hear every batch) has seen none of it when its first sample comes.
    await push(baseA, agent, { ...hostFamilies(t0), ...postgresFamilies(t0, ['reports'], 1000) });
    await ensureTarget(ts.store.pool, agent.serverId, 'postgres', 'main');
    const { rows } = await ts.store.pool.query<{ name: string; target_id: number }>(
      'SELECT name, target_id FROM pgvigil.targets WHERE server_id = $1',
      [agent.serverId],
    );
    const main = rows.find((r) => r.name === 'main')!.target_id;
    const c = await connect(baseB);
    await subscribe(c, [], [main]);

    const first = await push(baseA, agent, postgresFamilies(t0 + 5000, ['main', 'reports'], 1500));
    const s1 = await c.next<SampleMessage>('first pg sample', isSample(first));
    assert.equal(s1.node, null);
    assert.deepEqual(
      s1.targets.map((x) => x.name),
      ['main'],
    );
    assert.deepEqual(s1.targets[0], {
      targetId: main,
      name: 'main',
      ts: t0 + 5000,
      up: true,
      backends: 7,
      activeBackends: 2,
      waitingBackends: 1,
      // One sample in the batch, none before it seen by B: no rate rather than an invented one.
      transactions: { ts: t0 + 5000, total: 1500, perSec: null },
    });
    const second = await push(baseA, agent, postgresFamilies(t0 + 15_000, ['main', 'reports'], 2500));
    const s2 = await c.next<SampleMessage>('second pg sample', isSample(second));
    assert.deepEqual(s2.targets[0]?.transactions, { ts: t0 + 15_000, total: 2500, perSec: 100 });
    c.ws.close();
  });

  test('a_handshake_without_credentials_gets_401_and_one_from_a_foreign_origin_gets_403', async () => {
    assert.deepEqual(await refusedHandshake(baseB, {}), { status: 401, code: 'CREDENTIAL_MISSING' });
    assert.deepEqual(await refusedHandshake(baseB, { ...viewer, origin: 'https://evil.example' }), {
      status: 403,
      code: 'ORIGIN_FORBIDDEN',
    });
    assert.deepEqual(await refusedHandshake(baseB, { ...viewer, origin: 'null' }), {
      status: 403,
      code: 'ORIGIN_FORBIDDEN',
    });
    // The server's own origin, and one from its allow-list, are accepted.
    for (const origin of [baseB, 'https://dash.example']) {
      const c = await connect(baseB, { ...viewer, origin });
      c.ws.close();
    }
    // A plain GET without the upgrade is told what to do.
    const plain = await fetch(`${baseB}/api/v1/live`, { headers: viewer });
    assert.equal(plain.status, 426);
  });

  test('an_open_feed_is_closed_with_4401_once_its_token_is_revoked', async () => {
    const u = await createTestUser(ts.store.pool, 'viewer');
    const c = await connect(baseB, u.headers);
    await subscribe(c, [1]);
    await ts.store.pool.query('UPDATE pgvigil.api_tokens SET revoked_at = now() WHERE user_id = $1', [
      u.userId,
    ]);
    const closed = await Promise.race([
      c.closed,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000)),
    ]);
    assert.deepEqual(closed, { code: 4401, reason: 'credential expired or revoked' });
  });

  test('a_bad_client_message_gets_an_error_and_the_connection_stays_usable', async () => {
    const c = await connect(baseB);
    c.send('not json');
    const e1 = await c.next('error for non-JSON', (m) => m.type === 'error');
    assert.equal(e1.type === 'error' && e1.code, 'LIVE_MESSAGE_INVALID');
    c.send({ type: 'subscribe', id: 7, servers: ['one'] });
    const e2 = await c.next('error for a bad id', (m) => m.type === 'error');
    assert.ok(e2.type === 'error' && /positive integer/.test(e2.message), JSON.stringify(e2));
    c.send({ type: 'subscribe', servers: Array.from({ length: 300 }, (_, i) => i + 1) });
    const e3 = await c.next('error for too many ids', (m) => m.type === 'error');
    assert.equal(e3.type === 'error' && e3.code, 'LIVE_MESSAGE_INVALID');
    c.send({ type: 'subscribe', servers: Array.from({ length: 200 }, (_, i) => i + 1) });
    await c.next('first 200', (m) => m.type === 'subscribed');
    c.send({ type: 'subscribe', id: 'more', targets: Array.from({ length: 100 }, (_, i) => i + 1) });
    const e4 = await c.next('error over the subscription limit', (m) => m.type === 'error');
    assert.deepEqual(e4.type === 'error' && [e4.code, e4.id], ['LIVE_SUBSCRIPTIONS_LIMIT', 'more']);
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await c.next('error for a binary frame', (m) => m.type === 'error' && /binary/.test(m.message));

    c.send({ type: 'unsubscribe', id: 'u' });
    const u = await c.next('unsubscribed', (m) => m.type === 'subscribed' && m.id === 'u');
    assert.deepEqual(u.type === 'subscribed' && [u.servers, u.targets], [[], []]);
    const agent = await enroll('after-errors');
    await subscribe(c, [agent.serverId]);
    const seq = await push(baseA, agent, hostFamilies(Date.now()));
    await c.next('a sample after the errors', isSample(seq));
    assert.equal(c.ws.readyState, WebSocket.OPEN);

    // A frame over the 16 KiB cap closes the connection (1009), as documented.
    c.send({ type: 'subscribe', id: 'x'.repeat(20_000) });
    assert.equal((await c.closed).code, 1009);
  });

  test('a_client_that_stops_reading_is_closed_with_1013_instead_of_buffering', async () => {
    const serverId = 900_001;
    const slow = await connect(baseB);
    await subscribe(slow, [serverId]);
    slow.ws.pause();
    const before = counter(await metricsOf(baseB), 'pgvigil_live_dropped_clients_total', {
      reason: 'slow-consumer',
    });
    const summary = 's'.repeat(5000);
    let published = 0;
    // 30 MB, far more than the socket buffers on both sides plus the 1 MiB limit.
    for (let round = 0; round < 60; round++) {
      const batch: AlertFiredMessage[] = [];
      for (let i = 0; i < 100; i++) {
        batch.push({
          type: 'alert_fired',
          alertId: `${round}-${i}`,
          serverId,
          targetId: null,
          rule: 'flood',
          severity: 'info',
          summary,
          value: null,
          ts: Date.now(),
        });
      }
      await publishLive(ts.store.pool, batch);
      published += batch.length * summary.length;
    }
    await until(
      async () =>
        counter(await metricsOf(baseB), 'pgvigil_live_dropped_clients_total', { reason: 'slow-consumer' }) >
        before,
      15_000,
      'the slow client dropped',
    );
    slow.ws.resume();
    const closed = await slow.closed;
    assert.equal(closed.code, 1013);
    // What reached the client is what the socket buffers held when the server stopped, not everything.
    assert.ok(slow.bytes < published / 2, `received ${slow.bytes} of ${published} bytes`);

    // The instance serves the next client normally.
    const next = await connect(baseB);
    await subscribe(next, [serverId]);
    await publishLive(ts.store.pool, {
      type: 'alert_resolved',
      alertId: 'after',
      serverId,
      targetId: null,
      rule: 'flood',
      ts: Date.now(),
    });
    await next.next('an alert after the drop', (m) => m.type === 'alert_resolved' && m.alertId === 'after');
    next.ws.close();
  });

  test('agent_status_transitions_are_delivered_once_each', async () => {
    const agent = await enroll('flappy-host');
    const c = await connect(baseB);
    await subscribe(c, [agent.serverId]);
    const statuses = () => c.got.filter((m) => m.type === 'agent_status');

    await push(baseA, agent, hostFamilies(Date.now()));
    const online = await c.next('online', (m) => m.type === 'agent_status' && m.status === 'online');
    // What the ingest transaction announces is what it stored, and it comes before the batch's sample.
    const { rows: stored } = await ts.store.pool.query(
      'SELECT server_id, hostname, presence_since, last_seen_at FROM pgvigil.agents WHERE agent_id = $1',
      [agent.agentId],
    );
    assert.deepEqual(online, {
      type: 'agent_status',
      serverId: Number(stored[0].server_id),
      agentId: agent.agentId,
      hostname: 'flappy-host',
      status: 'online',
      previous: 'unknown',
      reason: 'first batch received',
      ts: stored[0].presence_since.getTime(),
      lastSeenAt: stored[0].last_seen_at.getTime(),
    });
    await c.next('sample', (m) => m.type === 'sample' && m.agentId === agent.agentId);
    assert.ok(
      c.got.findIndex((m) => m.type === 'agent_status') <
        c.got.findIndex((m) => m.type === 'sample' && m.agentId === agent.agentId),
    );

    // Five minutes without a batch; the job runs on both instances at once (and once without its lock).
    await ts.store.pool.query(
      "UPDATE pgvigil.agents SET last_seen_at = now() - interval '5 minutes' WHERE agent_id = $1",
      [agent.agentId],
    );
    const job = agentPresenceJob({ offlineAfterMs: 60_000 });
    await Promise.all([
      runJobOnce(ts.store.pool, job, quietLog),
      runJobOnce(storeB.pool, job, quietLog),
      updateAgentPresence(storeB.pool, 60_000),
    ]);
    const offline = await c.next('offline', (m) => m.type === 'agent_status' && m.status === 'offline');
    assert.ok(
      offline.type === 'agent_status' && /no batch for 300 s/.test(offline.reason),
      JSON.stringify(offline),
    );

    // Two batches at once through both instances: back online once.
    const t = Date.now();
    await Promise.all([push(baseA, agent, hostFamilies(t)), push(baseB, agent, hostFamilies(t - 1000))]);
    await c.next(
      'online again',
      (m) => m.type === 'agent_status' && m.status === 'online' && m.previous === 'offline',
    );

    // A failing collector in the agent's self-report: degraded, then recovered.
    await ts.store.pool.query(
      `UPDATE pgvigil.agents SET status = '{"collectors":[{"name":"pressure","status":"failing"},{"name":"cpu","status":"ok"}]}'
        WHERE agent_id = $1`,
      [agent.agentId],
    );
    await Promise.all([updateAgentPresence(ts.store.pool, 60_000), updateAgentPresence(storeB.pool, 60_000)]);
    const degraded = await c.next('degraded', (m) => m.type === 'agent_status' && m.status === 'degraded');
    assert.equal(degraded.type === 'agent_status' && degraded.reason, 'collectors failing: pressure');
    await ts.store.pool.query(
      `UPDATE pgvigil.agents SET status = '{"collectors":[{"name":"pressure","status":"ok"}]}' WHERE agent_id = $1`,
      [agent.agentId],
    );
    await updateAgentPresence(storeB.pool, 60_000);
    await c.next('recovered', (m) => m.type === 'agent_status' && m.reason === 'collectors recovered');

    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(
      statuses().map((m) => m.type === 'agent_status' && `${m.previous}→${m.status}`),
      ['unknown→online', 'online→offline', 'offline→online', 'online→degraded', 'degraded→online'],
    );
    const { rows } = await ts.store.pool.query('SELECT presence FROM pgvigil.agents WHERE agent_id = $1', [
      agent.agentId,
    ]);
    assert.equal(rows[0].presence, 'online');
    c.ws.close();
  });

  test('losing_the_listen_connection_is_announced_and_delivery_resumes', async () => {
    const agent = await enroll('resync-host');
    const c = await connect(baseB);
    await subscribe(c, [agent.serverId]);
    await ts.store.pool.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgvigil-live' AND datname = current_database()",
    );
    const lost = await c.next('resync lost', (m) => m.type === 'resync' && m.state === 'lost');
    const restored = await c.next(
      'resync restored',
      (m) => m.type === 'resync' && m.state === 'restored',
      15_000,
    );
    assert.ok(lost.type === 'resync' && restored.type === 'resync' && restored.since === lost.since);
    const seq = await push(baseA, agent, hostFamilies(Date.now()));
    await c.next('a sample after the reconnect', isSample(seq));
    const m = await metricsOf(baseB);
    assert.ok(counter(m, 'pgvigil_live_notify_errors_total', { reason: 'listen-lost' }) >= 1);
    assert.ok(counter(m, 'pgvigil_live_messages_total', { type: 'sample' }) >= 1);
    c.ws.close();
  });
});

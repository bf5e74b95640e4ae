/**
 * Agent shipping against a real server on loopback and a real store: enrollment with a token, batches
 * sealed into the disk spool, sent, acknowledged; a server outage is ridden out without loss; a batch the
 * server refuses is set aside without blocking the others; the agent's losses and retries show on its
 * /metrics and through the server's API.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { AgentHttp } from '../src/agent/http.js';
import { type AgentIdentity, loadIdentity, loadOrEnroll } from '../src/agent/identity.js';
import { runAgent } from '../src/agent/run.js';
import { startShipping } from '../src/agent/shipping.js';
import { Spool } from '../src/agent/spool/spool.js';
import type { AgentHealth } from '../src/protocol/agent-health.js';
import { buildServerApp } from '../src/server/app.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import type { Store } from '../src/storage/db.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';
import { parsePromText, sampleValue } from './helpers/prometheus.js';
import { roleHeaders } from './helpers/users.js';
import { until } from './helpers/wait.js';

let ts: TestStore;
let store: Store;
let latest: number;
const dirs: string[] = [];

before(async () => {
  ts = await createTestStore('ship');
  ({ store, latest } = ts);
});

after(async () => {
  await ts.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startApp(port = 0) {
  const server = await buildServerApp({ store, log: quietLog, latestMigration: latest });
  const url = await server.app.listen({ host: '127.0.0.1', port });
  return { server, url, port: Number(new URL(url).port) };
}

function loadRows(ts: number, n = 1) {
  return [
    {
      family: 'host_load',
      ts,
      rows: Array.from({ length: n }, () => ({ load1: 0.5, load5: 0.25, load15: 0.125 })),
    },
  ];
}

test(`enrolls_ships_and_rides_out_a_server_outage_without_loss (${testPgLabel})`, async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'pgvigil-ship-'));
  dirs.push(stateDir);
  const { token } = await createEnrollToken(store.pool, { uses: 1 });
  let { server, url, port } = await startApp();
  const shipping = await startShipping({
    serverUrl: url,
    stateDir,
    enrollToken: token,
    pushIntervalMs: 60_000,
    log: quietLog,
  });
  try {
    const saved = await loadIdentity(stateDir);
    assert.equal(saved?.agentId, shipping.identity.agentId);
    assert.equal(
      statSync(join(stateDir, 'credential.json')).mode & 0o777,
      0o600,
      'credential file is private',
    );

    const t0 = Date.now() - 5000;
    shipping.addRows(loadRows(t0));
    await shipping.flush();
    const count = async () =>
      Number(
        (
          await store.pool.query('SELECT count(*) AS n FROM pgvigil.host_load WHERE server_id = $1', [
            shipping.identity.serverId,
          ])
        ).rows[0].n,
      );
    await until(async () => (await count()) === 1);

    // Server down: batches keep being sealed into the spool.
    await server.app.close();
    for (let i = 1; i <= 5; i++) {
      shipping.addRows(loadRows(t0 + i * 100));
      await shipping.flush();
    }
    assert.ok(shipping.stats().spool.pendingRecords >= 5, 'batches wait in the spool');
    ({ server, url } = await startApp(port));
    await until(async () => (await count()) === 6, 90_000);
    await until(() => shipping.stats().spool.pendingRecords === 0);
    const { rows } = await store.pool.query(
      'SELECT count(*)::int AS n, min(seq)::int AS lo, max(seq)::int AS hi FROM pgvigil.ingest_ledger WHERE agent_id = $1',
      [shipping.identity.agentId],
    );
    assert.deepEqual(rows[0], { n: 6, lo: 1, hi: 6 });
    // Every batch says when the agent process started (SLOs leave out the minutes after a start).
    const { rows: st } = await store.pool.query(
      `SELECT (status ->> 'startedAt')::float8 AS started FROM pgvigil.agents WHERE agent_id = $1`,
      [shipping.identity.agentId],
    );
    const processStart = Date.now() - process.uptime() * 1000;
    assert.ok(Math.abs(st[0].started - processStart) < 2000, `startedAt ${st[0].started}`);
  } finally {
    await shipping.stop();
    await server.app.close();
  }
});

test(`server_pushed_config_is_applied_and_a_bad_one_refused_with_the_reason (${testPgLabel})`, async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'pgvigil-config-'));
  dirs.push(stateDir);
  const { token } = await createEnrollToken(store.pool, {});
  const { server, url } = await startApp();
  const applied: unknown[] = [];
  const shipping = await startShipping({
    serverUrl: url,
    stateDir,
    enrollToken: token,
    pushIntervalMs: 60_000,
    log: quietLog,
    onConfig: (c) => {
      applied.push(c);
    },
  });
  const status = async () =>
    (
      await store.pool.query('SELECT config_status FROM pgvigil.agents WHERE agent_id = $1', [
        shipping.identity.agentId,
      ])
    ).rows[0].config_status as { applied: boolean; error?: string } | null;
  try {
    await until(async () => (await status()) !== null);
    await store.pool.query('UPDATE pgvigil.agents SET config = $2 WHERE agent_id = $1', [
      shipping.identity.agentId,
      JSON.stringify({ collectIntervalMs: 5000, collectors: { disable: ['container'] } }),
    ]);
    await shipping.reloadConfig();
    assert.deepEqual(applied.at(-1), { collectIntervalMs: 5000, collectors: { disable: ['container'] } });
    assert.equal((await status())?.applied, true);

    // A config that fails validation (stored behind the API's back) is refused; nothing is applied.
    await store.pool.query('UPDATE pgvigil.agents SET config = $2 WHERE agent_id = $1', [
      shipping.identity.agentId,
      JSON.stringify({ collectIntervalMs: 5 }),
    ]);
    const before = applied.length;
    await shipping.reloadConfig();
    assert.equal(applied.length, before);
    const st = await status();
    assert.equal(st?.applied, false);
    assert.match(st?.error ?? '', /collectIntervalMs/);
  } finally {
    await shipping.stop();
    await server.app.close();
  }
});

/** Enrolls an agent in `stateDir` (as its first start would) without shipping anything yet. */
async function enroll(stateDir: string, url: string): Promise<AgentIdentity> {
  const { token } = await createEnrollToken(store.pool, { uses: 1 });
  const http = new AgentHttp(url);
  try {
    return await loadOrEnroll({ stateDir, serverUrl: url, enrollToken: token, http, log: quietLog });
  } finally {
    http.close();
  }
}

test(`a_poisoned_batch_is_set_aside_and_shipping_goes_on (${testPgLabel})`, async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'pgvigil-poison-'));
  dirs.push(stateDir);
  const { server, url } = await startApp();
  const identity = await enroll(stateDir, url);
  // Three batches wait in the spool; the middle one names a family no server knows (400 for good).
  const t0 = Date.now() - 5000;
  const load = (ts: number) => ({
    host_load: { columns: ['ts', 'load1', 'load5', 'load15'], rows: [[ts, 0.5, 0.25, 0.125]] },
  });
  const spool = await Spool.open({ dir: join(stateDir, 'spool'), log: quietLog });
  for (const families of [load(t0), { no_such_family: { columns: ['ts'], rows: [[t0]] } }, load(t0 + 1000)]) {
    const seq = spool.nextSeq();
    const batch = { v: 1, agentId: identity.agentId, seq, sealedAt: Date.now(), families };
    await spool.append(gzipSync(JSON.stringify(batch)));
  }
  await spool.close();

  const shipping = await startShipping({ serverUrl: url, stateDir, pushIntervalMs: 60_000, log: quietLog });
  try {
    await until(() => shipping.stats().spool.pendingRecords === 0);
    const ledger = await store.pool.query(
      `SELECT array_agg(seq::int ORDER BY seq) AS seqs, sum(row_count)::int AS rows
         FROM pgvigil.ingest_ledger WHERE agent_id = $1`,
      [identity.agentId],
    );
    assert.deepEqual(
      ledger.rows[0],
      { seqs: [1, 3], rows: 2 },
      'the batch after the refused one is delivered',
    );
    const dead = JSON.parse(
      readFileSync(join(stateDir, 'spool', 'dead-letter', `${'2'.padStart(16, '0')}.json`), 'utf8'),
    ) as { seq: number; reason: string };
    assert.equal(dead.seq, 2);
    assert.match(dead.reason, /^HTTP 400: BATCH_INVALID .*no_such_family/, "the server's reason is kept");
    const health = shipping.health();
    assert.equal(health.shipper.failures['400'], 1);
    assert.equal(health.spool.droppedBatches['dead-letter'], 1);
    assert.deepEqual(health.shipper.retries, {}, 'a refused batch is not retried');

    // The next batch tells the server about the hole.
    shipping.addRows(loadRows(t0 + 2000));
    await shipping.flush();
    await until(async () => {
      const { rows } = await store.pool.query(
        'SELECT count(*)::int AS n FROM pgvigil.gaps WHERE agent_id = $1 AND from_seq = 2 AND to_seq = 2',
        [identity.agentId],
      );
      return rows[0].n === 1;
    });
  } finally {
    await shipping.stop();
    await server.app.close();
  }
});

test(`a_spool_drop_and_push_retries_show_on_the_agent_metrics_and_through_the_server_api (${testPgLabel})`, async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'pgvigil-health-'));
  dirs.push(stateDir);
  let { server, url, port } = await startApp();
  const identity = await enroll(stateDir, url);
  // The server goes away before the agent ships anything: every push fails, and a spool of 16 KiB
  // soon drops its oldest batches.
  await server.app.close();
  let stop: () => void = () => {};
  const stopSignal = new Promise<void>((r) => {
    stop = r;
  });
  let ready: (url: string) => void = () => {};
  const metricsBase = new Promise<string>((r) => {
    ready = r;
  });
  const agent = runAgent({
    procRoot: '/proc',
    sysRoot: '/sys',
    rootFs: '/',
    intervalMs: 200,
    watches: [],
    nodeExporterMemoryNames: false,
    listen: { host: '127.0.0.1', port: 0 },
    server: { url, stateDir, pushIntervalMs: 200, spoolMaxBytes: 16 * 1024, retry: { capMs: 400 } },
    log: quietLog,
    stopSignal,
    onReady: (info) => ready(info.url!),
  });
  try {
    const metricsUrl = `${await metricsBase}/metrics`;
    const scrape = async () => parsePromText(await (await fetch(metricsUrl)).text());
    const value = (
      m: Awaited<ReturnType<typeof scrape>>,
      name: string,
      labels: Record<string, string> = {},
    ) =>
      m.get(name)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ??
      0;
    // While nothing is delivered, seqs handed out = dropped + pending (+ the one being appended), and drops
    // take the oldest. Once more batches were dropped than had been handed out at the first drop, the
    // oldest left was sealed after it: the first batch the server sees reports the drop.
    let handedOut = 0;
    await until(async () => {
      const m = await scrape();
      const dropped = value(m, 'pgvigil_agent_dropped_batches_total', { reason: 'spool-full' });
      if (dropped === 0) return false;
      handedOut ||= dropped + value(m, 'pgvigil_agent_spool_pending_batches') + 1;
      return dropped > handedOut;
    }, 60_000);
    const down = await scrape();
    assert.ok(value(down, 'pgvigil_agent_push_retries_total', { status: 'network' }) >= 1);
    assert.ok(value(down, 'pgvigil_agent_push_failures_total', { status: 'network' }) >= 1);
    assert.ok(value(down, 'pgvigil_agent_dropped_rows_total', { reason: 'spool-full' }) >= 1);
    assert.ok(sampleValue(down, 'pgvigil_agent_spool_bytes') <= 16 * 1024);
    assert.ok(sampleValue(down, 'pgvigil_agent_spool_segments') >= 1);
    assert.equal(down.get('pgvigil_agent_dropped_batches_total')?.type, 'counter');
    assert.ok(!down.has('pgvigil_agent_last_push_timestamp_seconds'), 'nothing delivered yet');

    ({ server, url } = await startApp(port));
    await until(async () => value(await scrape(), 'pgvigil_agent_last_push_timestamp_seconds') > 0, 30_000);
    const up = await scrape();
    assert.ok(value(up, 'pgvigil_agent_pushed_batches_total') >= 1);
    assert.ok(value(up, 'pgvigil_agent_dropped_batches_total', { reason: 'spool-full' }) >= 1);

    const headers = await roleHeaders(store.pool, 'viewer');
    let health: AgentHealth | null = null;
    await until(async () => {
      const res = await server.app.inject({
        method: 'GET',
        url: `/api/v1/servers/${identity.serverId}`,
        headers,
      });
      assert.equal(res.statusCode, 200, res.body);
      const agents = (res.json() as { agents: Array<{ agentId: string; health: AgentHealth | null }> })
        .agents;
      health = agents.find((a) => a.agentId === identity.agentId)?.health ?? null;
      return health !== null;
    }, 30_000);
    const h = health as unknown as AgentHealth;
    assert.ok(h.spool.droppedBatches['spool-full'] >= 1, JSON.stringify(h.spool));
    assert.ok(h.spool.droppedRows['spool-full'] >= 1, JSON.stringify(h.spool));
    assert.ok((h.shipper.retries.network ?? 0) >= 1, JSON.stringify(h.shipper));
    assert.ok((h.shipper.failures.network ?? 0) >= 1, JSON.stringify(h.shipper));
    assert.equal(h.config.reloads.failed, 1, 'the config pull at start found no server');
  } finally {
    stop();
    await agent;
    await server.app.close();
  }
});

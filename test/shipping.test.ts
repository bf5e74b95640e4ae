/**
 * Agent shipping against a real server on loopback and a real store: enrollment with a token, batches
 * sealed into the disk spool, sent, acknowledged; a server outage is ridden out without loss.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadIdentity } from '../src/agent/identity.js';
import { startShipping } from '../src/agent/shipping.js';
import { buildServerApp } from '../src/server/app.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import type { Store } from '../src/storage/db.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';
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

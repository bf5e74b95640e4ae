/**
 * Conservation with real processes: a real `pgvigil agent` shipping to a real `pgvigil server`, the agent
 * killed with SIGKILL at random moments 20 times (appending, sealing, sending, after an ack), the server
 * stopped for 60 s and later killed with SIGKILL under load. Afterwards every batch the agent sealed is
 * in the store exactly once (seq continuity in the ledger) and no row is doubled (ledger row counts equal
 * the rows in the tables).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Spool } from '../src/agent/spool/spool.js';
import { families } from '../src/protocol/families/index.js';
import { freePort } from '../src/storage/cluster.js';
import { type RunningCli, runCli, startCli } from './helpers/cli.js';
import { createTestDatabase, quietLog, testPgLabel } from './helpers/db.js';

const serverDownMs = Number(process.env.PGVIGIL_TEST_SERVER_DOWN_MS ?? 60_000);

function between(lo: number, hi: number): number {
  return lo + Math.floor(Math.random() * (hi - lo));
}

test(`every_sealed_batch_is_stored_exactly_once_through_agent_and_server_crashes (${testPgLabel})`, {
  timeout: 600_000,
}, async () => {
  const db = await createTestDatabase('conserve');
  const stateDir = mkdtempSync(join(tmpdir(), 'pgvigil-conserve-'));
  const port = await freePort();
  const env = { DATABASE_URL: db.url };
  const startServer = async (): Promise<RunningCli> => {
    const s = startCli(['server', '--port', String(port)], env);
    await s.waitFor(/server listening/, 60_000);
    return s;
  };
  let server = await startServer();
  let agent: RunningCli | undefined;
  try {
    const token = (await runCli(['token', 'create', '--enroll', '--uses', '1'], env)).stdout.trim();
    assert.match(token, /^pgv_enroll_/);
    const agentArgs = (push = '250ms') => [
      'agent',
      '--server',
      `http://127.0.0.1:${port}`,
      '--enroll-token',
      token,
      '--state-dir',
      stateDir,
      '--interval',
      '200ms',
      '--push-interval',
      push,
    ];
    let kills = 0;
    const killRound = async (lo: number, hi: number) => {
      agent = startCli(agentArgs());
      await sleep(between(lo, hi));
      await agent.stop('SIGKILL');
      agent = undefined;
      kills++;
    };

    // 1. Agent killed at random moments while the server takes everything.
    for (let i = 0; i < 8; i++) await killRound(400, 1600);
    // 2. Server down for a while; the agent keeps sealing into its spool and keeps being killed.
    await server.stop('SIGTERM');
    const downUntil = Date.now() + serverDownMs;
    while (Date.now() < downUntil - 500)
      await killRound(300, Math.max(400, Math.min(serverDownMs / 6, downUntil - Date.now())));
    server = await startServer();
    // 3. Server killed hard under load (a backlog is draining), then restarted.
    agent = startCli(agentArgs());
    await sleep(1500);
    await server.stop('SIGKILL');
    await sleep(500);
    server = await startServer();
    await sleep(between(300, 1500));
    await agent.stop('SIGKILL');
    agent = undefined;
    kills++;
    while (kills < 20) await killRound(300, 1200);

    // What the agent sealed: the spool knows its last seq (the agent is stopped now).
    const spool = await Spool.open({ dir: join(stateDir, 'spool'), log: quietLog });
    const lastSealed = spool.nextSeq() - 1;
    const dropped = Object.values(spool.stats().dropped).reduce((a, b) => a + b, 0);
    await spool.close();
    assert.ok(lastSealed > 20, `the agent sealed ${lastSealed} batches`);
    assert.equal(dropped, 0, 'nothing was dropped by the spool in this test');

    // 4. A last agent run drains the backlog (it seals nothing new within an hour).
    agent = startCli(agentArgs('1h'));
    const deadline = Date.now() + 120_000;
    let ledger = { n: 0, lo: 0, hi: 0 };
    while (Date.now() < deadline) {
      const { rows } = await db.pool.query(
        'SELECT count(*)::int AS n, coalesce(min(seq), 0)::int AS lo, coalesce(max(seq), 0)::int AS hi FROM pgvigil.ingest_ledger WHERE seq <= $1',
        [lastSealed],
      );
      ledger = rows[0];
      if (ledger.n === lastSealed) break;
      await sleep(250);
    }
    await agent.stop('SIGTERM');
    agent = undefined;
    assert.deepEqual(
      ledger,
      { n: lastSealed, lo: 1, hi: lastSealed },
      'every sealed seq is in the ledger once',
    );

    // No row doubled: what the ledger says each batch held is what the tables hold.
    const { rows: sums } = await db.pool.query(
      'SELECT server_id, sum(row_count)::bigint AS rows FROM pgvigil.ingest_ledger GROUP BY server_id',
    );
    assert.equal(sums.length, 1);
    const serverId = sums[0].server_id;
    let stored = 0;
    for (const name of Object.keys(families)) {
      const { rows } = await db.pool.query(
        `SELECT count(*)::int AS n FROM pgvigil."${name}" WHERE server_id = $1`,
        [serverId],
      );
      stored += rows[0].n;
    }
    const { rows: logRows } = await db.pool.query(
      'SELECT count(*)::int AS n FROM pgvigil.log_entries WHERE server_id = $1',
      [serverId],
    );
    stored += logRows[0].n;
    assert.equal(stored, Number(sums[0].rows), 'rows stored equal the rows the ledger acknowledged');
    const { rows: gaps } = await db.pool.query(
      "SELECT count(*)::int AS n FROM pgvigil.gaps WHERE reason NOT LIKE 'rows-%'",
    );
    assert.equal(gaps[0].n, 0, 'no batch reported lost');
  } finally {
    await agent?.stop('SIGKILL');
    await server.stop('SIGTERM');
    await db.drop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

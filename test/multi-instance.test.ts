/**
 * Three real `pgvigil server` processes on one store, and an agent's shipping given all three
 * (`--server a,b,c`): it ships to one; when that one is killed (SIGKILL) mid-run it carries on through
 * the next, and the store ends with every row exactly once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl } from '../src/agent/options.js';
import { startShipping } from '../src/agent/shipping.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import { type RunningCli, startCli } from './helpers/cli.js';
import { createTestDatabase, quietLog, testPgLabel } from './helpers/db.js';
import { until } from './helpers/wait.js';

const urlLine = /server listening: (http:\/\/\S+)/;

test(`an_agent_given_three_servers_on_one_store_carries_on_through_another_when_its_server_is_killed_and_nothing_is_lost_or_doubled (${testPgLabel})`, async () => {
  const db = await createTestDatabase('multi');
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-multi-'));
  // The first starts alone and migrates the store; the other two find it migrated.
  const servers: RunningCli[] = [startCli(['server', '--port', '0'], { DATABASE_URL: db.url })];
  try {
    const urls = [(await servers[0]!.waitFor(urlLine, 60_000))[1]!];
    for (let i = 1; i < 3; i++) servers.push(startCli(['server', '--port', '0'], { DATABASE_URL: db.url }));
    for (const s of servers.slice(1)) urls.push((await s.waitFor(urlLine, 60_000))[1]!);

    const { token } = await createEnrollToken(db.pool, {});
    const shipping = await startShipping({
      serverUrl: parseServerUrl(urls.join(',')),
      stateDir: join(dir, 'agent'),
      enrollToken: token,
      pushIntervalMs: 200,
      retry: { baseMs: 50, capMs: 500 },
      log: quietLog,
    });
    const serverId = shipping.identity.serverId;
    const count = async () =>
      (
        await db.pool.query<{ n: number; distinct: number }>(
          'SELECT count(*)::int AS n, count(DISTINCT ts)::int AS distinct FROM pgvigil.host_load WHERE server_id = $1',
          [serverId],
        )
      ).rows[0]!;
    const start = Date.now() - 3_600_000;
    let sent = 0;
    const send = (n: number) => {
      for (let i = 0; i < n; i++, sent++) {
        shipping.addRows([
          { family: 'host_load', ts: start + sent * 1000, rows: [{ load1: sent, load5: 0, load15: 0 }] },
        ]);
      }
    };
    try {
      send(200);
      await until(async () => (await count()).n === 200, 30_000, 'the first rows stored');
      // Rows keep coming every 100 ms (pushed every 200 ms) while the server the agent ships to dies
      // without a goodbye: a push may be cut mid-way.
      for (let round = 0; round < 20; round++) {
        send(50);
        if (round === 5) assert.equal(await servers[0]!.stop('SIGKILL'), null);
        await new Promise((r) => setTimeout(r, 100));
      }
      await until(async () => (await count()).n === sent, 60_000, `all ${sent} rows stored`);
      const final = await count();
      assert.deepEqual(final, { n: sent, distinct: sent }, 'every row once: none lost, none doubled');
      // And the two that are left both still answer.
      for (const u of urls.slice(1)) assert.equal((await fetch(`${u}/api/v1/health`)).status, 200);
    } finally {
      await shipping.stop();
    }
  } finally {
    for (const s of servers) await s.stop();
    rmSync(dir, { recursive: true, force: true });
    await db.drop();
  }
});

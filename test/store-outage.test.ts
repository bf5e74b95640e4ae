/** Losing the store at run time is reported and retried, never a crash; it recovers when the store returns. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startCluster } from '../src/storage/cluster.js';
import { openStore } from '../src/storage/db.js';
import { embeddedBinDir } from '../src/storage/embedded.js';
import { quietLog, testPgLabel } from './helpers/db.js';
import { until } from './helpers/wait.js';

test('an_unreachable_store_is_reported_and_retried_until_it_returns', {
  skip: testPgLabel === 'debian-15' && 'runs its own embedded server',
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-outage-'));
  chmodSync(dir, 0o755);
  const opts = {
    binDir: await embeddedBinDir(),
    pgdata: join(dir, 'pgdata'),
    superuser: 'outage',
    password: 'outage-pw',
    logFile: join(dir, 'pg.log'),
    runAsUser: 'pgvigil',
    log: quietLog,
  };
  let cluster = await startCluster(opts);
  const store = await openStore({
    databaseUrl: cluster.url('postgres'),
    log: quietLog,
    watchIntervalMs: 100,
  });
  try {
    assert.equal(store.health().reachable, true);
    await cluster.stop();
    await until(() => !store.health().reachable, 5000, 'outage reported');
    assert.ok(store.health().error, 'with the reason');
    await assert.rejects(store.pool.query('SELECT 1'));

    cluster = await startCluster({ ...opts, port: cluster.port });
    await until(() => store.health().reachable, 20_000, 'recovery once the store is back');
    const { rows } = await store.pool.query('SELECT 1 AS one');
    assert.equal(rows[0].one, 1);
  } finally {
    await store.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The embedded store comes back from a restart with the blocks its shared buffers held (pg_prewarm). */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { startEmbeddedStore } from '../src/storage/embedded.js';
import { quietLog, testPgLabel } from './helpers/db.js';
import { until } from './helpers/wait.js';

/** Blocks the scan of `table` read into shared buffers (0: every block was there already). */
async function blocksRead(url: string, table: string): Promise<{ hit: number; read: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: Record<string, number> }> }>(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM ${table}`,
    );
    const plan = rows[0]!['QUERY PLAN'][0]!.Plan;
    return { hit: plan['Shared Hit Blocks']!, read: plan['Shared Read Blocks']! };
  } finally {
    await client.end();
  }
}

test('after_a_restart_the_embedded_store_has_the_blocks_it_held_before_in_shared_buffers', {
  skip: testPgLabel === 'debian-15' && 'runs its own embedded server',
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-prewarm-'));
  chmodSync(dir, 0o755);
  const dataDir = join(dir, 'data');
  let store = await startEmbeddedStore(dataDir, quietLog);
  try {
    const client = new pg.Client({ connectionString: store.url });
    await client.connect();
    // About 4 MB: far below shared_buffers, so the whole table stays in them once read.
    await client.query(
      `CREATE TABLE prewarm_probe AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 20000) g`,
    );
    await client.end();
    const before = await blocksRead(store.url, 'prewarm_probe');
    assert.ok(before.hit + before.read > 400, `the table spans ${before.hit + before.read} blocks`);

    await store.stop(); // a fast shutdown: the list of blocks is written
    assert.ok(existsSync(join(dataDir, 'postgres', 'autoprewarm.blocks')), 'autoprewarm.blocks written');

    store = await startEmbeddedStore(dataDir, quietLog);
    // The blocks come back in the background; its log says when. Reading the table before that would
    // itself bring them in, so the scan waits for it.
    await until(
      () =>
        /autoprewarm successfully prewarmed [1-9]/.test(readFileSync(join(dataDir, 'postgres.log'), 'utf8')),
      20_000,
      'the prewarm done',
    );
    const last = await blocksRead(store.url, 'prewarm_probe');
    assert.equal(last.read, 0, 'no block read: all were in shared buffers');
    assert.ok(last.hit > 400, `${last.hit} blocks found in shared buffers`);
  } finally {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

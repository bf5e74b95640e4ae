/**
 * Ingest over real HTTP on loopback into a real PostgreSQL: enrollment, exactly-once effect, bad input.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { batchMediaType } from '../src/protocol/batch.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { createEnrollToken, revokeAgentCredential } from '../src/server/auth/agents.js';
import { rollupPendingLock } from '../src/server/ingest/rollup-pending.js';
import type { Store } from '../src/storage/db.js';
import { createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';
import { roleHeaders } from './helpers/users.js';
import { until } from './helpers/wait.js';

let ts: TestStore;
let store: Store;
let server: App;
let base: string;

interface Agent {
  agentId: string;
  credential: string;
  serverId: number;
}

function hostBatch(agentId: string, seq: number, ts = Date.now(), cpus = 2): Record<string, unknown> {
  const rows = [];
  for (let c = 0; c < cpus; c++) rows.push([ts, String(c), 10.5, 0, 3.25, 85, 1, 0, 0.25, 0]);
  rows.push([ts, 'total', 10.5, 0, 3.25, 85, 1, 0, 0.25, 0]);
  return {
    v: 1,
    agentId,
    seq,
    sealedAt: ts,
    families: {
      host_cpu: {
        columns: [
          'ts',
          'cpu',
          'user_pct',
          'nice_pct',
          'system_pct',
          'idle_pct',
          'iowait_pct',
          'irq_pct',
          'softirq_pct',
          'steal_pct',
        ],
        rows,
      },
      host_load: { columns: ['ts', 'load1', 'load5', 'load15'], rows: [[ts, 0.5, 0.25, 0.125]] },
    },
  };
}

async function push(
  agent: Pick<Agent, 'credential'>,
  body: unknown,
  opts: { raw?: Buffer; type?: string; encoding?: string; url?: string } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const payload = opts.raw ?? gzipSync(Buffer.from(JSON.stringify(body)));
  const res = await fetch(`${opts.url ?? base}/api/v1/ingest`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${agent.credential}`,
      'content-type': opts.type ?? batchMediaType,
      'content-encoding': opts.encoding ?? 'gzip',
    },
    body: payload,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

async function enroll(hostname: string, token?: string): Promise<Agent> {
  const t = token ?? (await createEnrollToken(store.pool, {})).token;
  const res = await fetch(`${base}/api/v1/agents/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: t, hostname, os: 'linux', agentVersion: 'test' }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as Agent;
}

async function cpuRows(serverId: number): Promise<number> {
  const { rows } = await store.pool.query(
    'SELECT count(*)::int AS n FROM pgvigil.host_cpu WHERE server_id = $1',
    [serverId],
  );
  return rows[0].n;
}

before(async () => {
  ts = await createTestStore('ingest');
  store = ts.store;
  const latest = ts.latest;
  server = await buildServerApp({
    store,
    log: quietLog,
    latestMigration: latest,
    credentialCacheMs: 0,
    enrollLimit: { perSecond: 1, burst: 50 },
    ingestLimits: { maxBodyBytes: 1024 * 1024, maxDecompressedBytes: 8 * 1024 * 1024 },
  });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await server.app.close();
  await ts.close();
});

describe(`enrollment (${testPgLabel})`, () => {
  test('a_token_with_one_use_enrolls_one_agent', async () => {
    const { token } = await createEnrollToken(store.pool, { uses: 1 });
    const a = await enroll('host-one-use', token);
    assert.match(a.credential, /^pgv_agent_[A-Za-z0-9_-]{43}$/);
    const again = await fetch(`${base}/api/v1/agents/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, hostname: 'host-two' }),
    });
    assert.equal(again.status, 401);
    assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'ENROLL_TOKEN_INVALID');
  });

  test('a_retried_enrollment_with_the_same_key_gets_the_same_agent_and_spends_no_use', async () => {
    const { token } = await createEnrollToken(store.pool, { uses: 1 });
    const post = (enrollKey: string) =>
      fetch(`${base}/api/v1/agents/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, enrollKey, hostname: 'host-retry' }),
      });
    const key = 'k'.repeat(32);
    const first = (await (await post(key)).json()) as Agent;
    const retry = await post(key);
    assert.equal(retry.status, 201);
    const second = (await retry.json()) as Agent;
    assert.equal(second.agentId, first.agentId);
    assert.notEqual(second.credential, first.credential);
    // The first credential was replaced: only the last one answered counts.
    const stale = await push(first, hostBatch(first.agentId, 1));
    assert.equal(stale.status, 401);
    assert.equal((await push(second, hostBatch(second.agentId, 1))).status, 200);
    // Another key is another agent, and the single use is spent.
    assert.equal((await post('z'.repeat(32))).status, 401);
    // The same key with a new token (the first one revoked in between) enrolls a new agent.
    await store.pool.query(
      'UPDATE pgvigil.enrollment_tokens SET revoked_at = now() WHERE token_prefix = $1',
      [token.slice(0, 15)],
    );
    const { token: fresh } = await createEnrollToken(store.pool, { uses: 1 });
    const again = await fetch(`${base}/api/v1/agents/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: fresh, enrollKey: key, hostname: 'host-retry' }),
    });
    assert.equal(again.status, 201, await again.clone().text());
    assert.notEqual(((await again.json()) as Agent).agentId, first.agentId);
    const { rows } = await store.pool.query(
      "SELECT count(*)::int AS n FROM pgvigil.agents WHERE hostname = 'host-retry'",
    );
    assert.equal(rows[0].n, 2);
  });

  test('an_expired_token_is_refused', async () => {
    const { token } = await createEnrollToken(store.pool, { expiresInMs: -1000 });
    const res = await fetch(`${base}/api/v1/agents/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, hostname: 'late-host' }),
    });
    assert.equal(res.status, 401);
  });

  test('tokens_and_credentials_are_stored_only_as_hashes', async () => {
    const { token } = await createEnrollToken(store.pool, {});
    const a = await enroll('hash-check', token);
    const { rows } = await store.pool.query(
      `SELECT (SELECT count(*) FROM pgvigil.enrollment_tokens WHERE token_hash::text LIKE '%' || $1 || '%') +
              (SELECT count(*) FROM pgvigil.agents a WHERE a::text LIKE '%' || $2 || '%') AS n`,
      [token.slice(11), a.credential.slice(10)],
    );
    assert.equal(Number(rows[0].n), 0);
  });
});

describe(`ingest (${testPgLabel})`, () => {
  let agent: Agent;
  before(async () => {
    agent = await enroll('ingest-host');
  });

  test('a_batch_is_written_once_and_its_retry_is_acknowledged_as_duplicate', async () => {
    const b = hostBatch(agent.agentId, 1);
    const first = await push(agent, b);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual([first.body.status, first.body.rows], ['accepted', 4]);
    const second = await push(agent, b);
    assert.equal(second.body.status, 'duplicate');
    assert.equal(await cpuRows(agent.serverId), 3);
  });

  test('concurrent_batches_are_grouped_and_all_written', async () => {
    const before = await cpuRows(agent.serverId);
    const t = Date.now() - 60_000;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => push(agent, hostBatch(agent.agentId, 100 + i, t + i * 10))),
    );
    assert.ok(results.every((r) => r.status === 200 && r.body.status === 'accepted'));
    assert.equal((await cpuRows(agent.serverId)) - before, 40 * 3);
    const { rows } = await store.pool.query(
      'SELECT count(*)::int AS n FROM pgvigil.ingest_ledger WHERE agent_id = $1',
      [agent.agentId],
    );
    assert.equal(rows[0].n, 41);
  });

  test('a_batch_the_store_refuses_fails_alone_and_the_batches_sent_with_it_are_written_once', async () => {
    // A log level the table's CHECK refuses passes validation (the store is the judge of it): the group it
    // lands in fails in the middle of its COPYs and is written again batch by batch.
    const other = await enroll('refused-host');
    const t = Date.now() - 30_000;
    const bad = hostBatch(other.agentId, 7, t);
    bad.logs = {
      columns: ['ts', 'source', 'level', 'component', 'message', 'context', 'fingerprint'],
      rows: [[t, 'postgres', 'bogus', '', 'x', {}, '0123456789abcdef']],
    };
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        push(other, i === 6 ? bad : hostBatch(other.agentId, i + 1, t + i)),
      ),
    );
    for (const [i, r] of results.entries()) {
      if (i === 6) {
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.equal((r.body.error as { code: string }).code, 'INGEST_REFUSED_BY_STORE');
      } else assert.equal(r.body.status, 'accepted', JSON.stringify(r.body));
    }
    assert.equal(await cpuRows(other.serverId), 11 * 3);
    const { rows } = await store.pool.query(
      'SELECT array_agg(seq ORDER BY seq)::int[] AS seqs FROM pgvigil.ingest_ledger WHERE agent_id = $1',
      [other.agentId],
    );
    assert.deepEqual(rows[0].seqs, [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12]);
    // The connections stay usable: the refused batch's retry is refused the same way, a good one accepted.
    assert.equal((await push(other, bad)).status, 400);
    assert.equal((await push(other, hostBatch(other.agentId, 13, t + 13))).body.status, 'accepted');
  });

  test('a_group_holding_a_batch_another_instance_stored_writes_only_the_new_ones', async () => {
    // A second server instance on the same store: what the first stored is known from the ledger alone.
    const other = await enroll('two-instances-host');
    const second = await buildServerApp({
      store,
      log: quietLog,
      latestMigration: ts.latest,
      credentialCacheMs: 0,
    });
    try {
      const url = await second.app.listen({ host: '127.0.0.1', port: 0 });
      const t = Date.now() - 20_000;
      const stored = hostBatch(other.agentId, 1, t);
      assert.equal((await push(other, stored)).body.status, 'accepted');
      const results = await Promise.all([
        push(other, stored, { url }),
        ...Array.from({ length: 10 }, (_, i) =>
          push(other, hostBatch(other.agentId, i + 2, t + i + 1), { url }),
        ),
      ]);
      assert.deepEqual(
        results.map((r) => r.body.status ?? JSON.stringify(r.body)),
        ['duplicate', ...Array.from({ length: 10 }, () => 'accepted')],
      );
      assert.equal(await cpuRows(other.serverId), 11 * 3);
      // A batch changed under the same seq is a conflict through either instance.
      const changed = hostBatch(other.agentId, 1, t + 500);
      assert.equal((await push(other, changed, { url })).status, 409);
      assert.equal((await push(other, changed)).status, 409);
      assert.equal(await cpuRows(other.serverId), 11 * 3);
    } finally {
      await second.app.close();
    }
  });

  /**
   * A server instance whose first group is held in the store by the rollup job's lock (taken here
   * exclusively; a group takes it shared after its COPYs) while 10 more batches of 4 rows arrive. Once
   * `settled` holds, returns how many group transactions wait on that lock; then lets go of the lock and
   * returns the group sizes the writer recorded.
   */
  async function heldFirstGroup(
    concurrentGroupRows: number,
    settled: (s: { waiting: number; queuedRows: number }) => boolean,
  ) {
    const other = await enroll(`held-group-${concurrentGroupRows}`);
    const second = await buildServerApp({
      store,
      log: quietLog,
      latestMigration: ts.latest,
      credentialCacheMs: 0,
      writerOptions: { concurrency: 2, concurrentGroupRows },
    });
    const locker = await store.pool.connect();
    const metric = async (name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await second.registry.render())?.[1]);
    const state = async () => {
      const { rows } = await store.pool.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
      );
      return { waiting: rows[0].n as number, queuedRows: await metric('pgvigil_ingest_queue_rows') };
    };
    try {
      const url = await second.app.listen({ host: '127.0.0.1', port: 0 });
      await locker.query('SELECT pg_advisory_lock($1, $2)', [rollupPendingLock.space, rollupPendingLock.key]);
      const t = Date.now() - 20_000;
      const pushes = [push(other, hostBatch(other.agentId, 1, t), { url })];
      await until(async () => (await state()).waiting === 1, 10_000, 'the first group waiting on the lock');
      for (let i = 2; i <= 11; i++) pushes.push(push(other, hostBatch(other.agentId, i, t + i), { url }));
      await until(async () => settled(await state()), 10_000, 'the batches arriving');
      // A little longer: a group that would still start has the time to reach the lock.
      await new Promise((r) => setTimeout(r, 300));
      const { waiting } = await state();
      await locker.query('SELECT pg_advisory_unlock($1, $2)', [
        rollupPendingLock.space,
        rollupPendingLock.key,
      ]);
      const results = await Promise.all(pushes);
      assert.deepEqual(
        results.map((r) => r.body.status ?? JSON.stringify(r.body)),
        Array.from({ length: 11 }, () => 'accepted'),
      );
      assert.equal(await cpuRows(other.serverId), 11 * 3);
      return {
        waiting,
        groups: await metric('pgvigil_ingest_group_batches_count'),
        batches: await metric('pgvigil_ingest_group_batches_sum'),
      };
    } finally {
      await locker.query('SELECT pg_advisory_unlock_all()');
      locker.release();
      await second.app.close();
    }
  }

  test('while_a_group_is_in_flight_a_few_queued_batches_wait_for_it_instead_of_starting_a_group_each', async () => {
    // 40 rows queued, under the 1,000 rows that start a second group: none starts, and once the first
    // group commits the ten are written as one group (before: a second writer took each batch as it came).
    const held = await heldFirstGroup(1_000, (s) => s.queuedRows === 40);
    assert.deepEqual(held, { waiting: 1, groups: 2, batches: 11 });
  });

  test('while_a_group_is_in_flight_enough_queued_rows_start_a_second_one', async () => {
    const held = await heldFirstGroup(20, (s) => s.waiting === 2);
    assert.equal(held.waiting, 2);
    assert.equal(held.batches, 11);
  });

  test('rows_outside_the_time_window_are_refused_per_row_and_recorded_as_gaps', async () => {
    const b = hostBatch(agent.agentId, 200);
    const fam = (b.families as Record<string, { rows: unknown[][] }>).host_load!;
    fam.rows.push([Date.now() + 3_600_000, 1, 1, 1], [Date.now() - 30 * 86_400_000, 1, 1, 1]);
    const res = await push(agent, b);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.rejectedRows, { future: 1, tooOld: 1 });
    const { rows } = await store.pool.query(
      'SELECT reason, count::int FROM pgvigil.gaps WHERE agent_id = $1 AND from_seq = 200 ORDER BY reason',
      [agent.agentId],
    );
    assert.deepEqual(
      rows.map((r) => [r.reason, r.count]),
      [
        ['rows-in-future', 1],
        ['rows-too-old', 1],
      ],
    );
  });

  test('statement_texts_resent_in_later_batches_are_kept_once', async () => {
    const texts = (seq: number) => ({
      v: 1,
      agentId: agent.agentId,
      seq,
      sealedAt: Date.now(),
      families: {
        pg_statement_texts: {
          columns: ['ts', 'target', 'queryid', 'dbid', 'userid', 'query', 'truncated'],
          rows: [[Date.now(), 'main', 42, 5, 10, 'SELECT $1', false]],
        },
      },
    });
    assert.equal((await push(agent, texts(400))).status, 200);
    const again = await push(agent, texts(401));
    assert.equal(again.status, 200, JSON.stringify(again.body));
    const { rows } = await store.pool.query(
      'SELECT count(*)::int AS n FROM pgvigil.pg_statement_texts WHERE server_id = $1',
      [agent.serverId],
    );
    assert.equal(rows[0].n, 1);
  });

  test('sequence_values_beyond_2_53_and_xmin_holders_are_stored_exactly', async () => {
    const now = Date.now();
    const batch = {
      v: 1,
      agentId: agent.agentId,
      seq: 450,
      sealedAt: now,
      families: {
        pg_sequences: {
          columns: [
            'ts',
            'target',
            'datname',
            'schemaname',
            'sequencename',
            'data_type',
            'last_value',
            'max_value',
            'min_value',
            'increment_by',
            'cycle',
            'used_pct',
          ],
          rows: [
            [
              now,
              'main',
              'app',
              'public',
              'big',
              'bigint',
              '9223372036854770000',
              '9223372036854775807',
              1,
              1,
              false,
              100,
            ],
          ],
        },
        pg_xmin_holders: {
          columns: ['ts', 'target', 'holder', 'ident', 'xmin_age', 'age_s', 'datname', 'state', 'query'],
          rows: [
            [now, 'main', 'session', '4242', 1234, 61.5, 'app', 'idle in transaction', 'SELECT 1'],
            [now, 'main', 'replication_slot', 'old_slot', 99999, null, '', 'inactive', null],
          ],
        },
      },
    };
    const res = await push(agent, batch);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const seqs = await store.pool.query(
      'SELECT last_value::text, max_value::text FROM pgvigil.pg_sequences WHERE server_id = $1',
      [agent.serverId],
    );
    assert.deepEqual(seqs.rows, [{ last_value: '9223372036854770000', max_value: '9223372036854775807' }]);
    const holders = await store.pool.query(
      'SELECT holder, ident, xmin_age::int, age_s FROM pgvigil.pg_xmin_holders WHERE server_id = $1 ORDER BY 1',
      [agent.serverId],
    );
    assert.deepEqual(holders.rows, [
      { holder: 'replication_slot', ident: 'old_slot', xmin_age: 99999, age_s: null },
      { holder: 'session', ident: '4242', xmin_age: 1234, age_s: 61.5 },
    ]);
  });

  test('a_response_lost_after_commit_is_retried_as_a_duplicate_without_doubling_rows', async () => {
    // A proxy that forwards the request but cuts the connection when the answer (sent after commit) comes.
    const upstream = new URL(base);
    let cut = 0;
    const proxy: Server = createServer((client: Socket) => {
      const up = connect(Number(upstream.port), upstream.hostname);
      client.pipe(up);
      up.once('data', (chunk) => {
        if (cut === 0) {
          cut++;
          client.destroy();
          up.destroy();
          return;
        }
        client.write(chunk);
        up.pipe(client);
      });
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const addr = proxy.address() as { port: number };
    const url = `http://127.0.0.1:${addr.port}`;
    try {
      const before = await cpuRows(agent.serverId);
      const b = hostBatch(agent.agentId, 300);
      await assert.rejects(push(agent, b, { url }), 'the first answer is lost');
      const retry = await push(agent, b, { url });
      assert.equal(retry.body.status, 'duplicate');
      assert.equal((await cpuRows(agent.serverId)) - before, 3);
    } finally {
      proxy.close();
    }
  });
});

describe(`bad input gets its 4xx and leaves the server healthy (${testPgLabel})`, () => {
  let agent: Agent;
  let other: Agent;
  let seq = 1000;
  before(async () => {
    agent = await enroll('bad-input-host');
    other = await enroll('other-host');
  });

  async function stillHealthy(): Promise<void> {
    const res = await push(agent, hostBatch(agent.agentId, ++seq));
    assert.equal(res.status, 200, `a good batch after the bad one: ${JSON.stringify(res.body)}`);
  }

  const cases: Array<
    [string, number, RegExp, () => Promise<{ status: number; body: Record<string, unknown> }>]
  > = [
    ['no credential', 401, /CREDENTIAL_MISSING/, () => push({ credential: '' }, hostBatch(randomUUID(), 1))],
    [
      'wrong credential',
      401,
      /CREDENTIAL_INVALID/,
      () => push({ credential: 'pgv_agent_nope' }, hostBatch(randomUUID(), 1)),
    ],
    [
      'malformed gzip',
      400,
      /not valid gzip/,
      () => push(agent, null, { raw: Buffer.from('not gzip at all') }),
    ],
    [
      'decompression bomb',
      413,
      /exceeds/,
      () => push(agent, null, { raw: gzipSync(Buffer.alloc(64 * 1024 * 1024, 32)) }),
    ],
    [
      'oversized body',
      413,
      /BATCH_TOO_LARGE/,
      () => push(agent, null, { raw: Buffer.alloc(2 * 1024 * 1024, 7) }),
    ],
    [
      'wrong version',
      415,
      /unsupported batch version 2/,
      () => push(agent, { ...hostBatch(agent.agentId, 1), v: 2 }),
    ],
    [
      'wrong content type',
      415,
      /application\/vnd\.pgvigil\.batch\.v1\+json/,
      () => push(agent, hostBatch(agent.agentId, 1), { type: 'application/json' }),
    ],
    [
      'wrong type in a field',
      400,
      /families\.host_load\.rows\[0\]\[1\]: expected a finite number, got string/,
      () => {
        const b = hostBatch(agent.agentId, 1);
        (b.families as Record<string, { rows: unknown[][] }>).host_load!.rows[0]![1] = 'high';
        return push(agent, b);
      },
    ],
    [
      'NaN and Infinity',
      400,
      /not valid JSON|finite number/,
      () =>
        push(agent, null, {
          raw: gzipSync(Buffer.from(JSON.stringify(hostBatch(agent.agentId, 1)).replace('0.5', 'NaN'))),
        }),
    ],
    [
      'unknown family',
      400,
      /families\.host_gpu: unknown family/,
      () =>
        push(agent, {
          ...hostBatch(agent.agentId, 1),
          families: { host_gpu: { columns: ['ts'], rows: [] } },
        }),
    ],
    [
      'a million rows in one batch',
      413,
      /BATCH_TOO_LARGE/,
      () => {
        const rows = Array.from({ length: 1_000_000 }, () => [Date.now(), 1, 1, 1]);
        const b = {
          ...hostBatch(agent.agentId, 1),
          families: { host_load: { columns: ['ts', 'load1', 'load5', 'load15'], rows } },
        };
        return push(agent, b);
      },
    ],
    ['a seq from another agent', 403, /AGENT_MISMATCH/, () => push(agent, hostBatch(other.agentId, 5))],
  ];

  for (const [name, status, message, send] of cases) {
    test(`${name.replace(/ /g, '_')}_is_refused_with_${status}`, async () => {
      const res = await send();
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.match(JSON.stringify(res.body), message);
      await stillHealthy();
    });
  }

  test('a_revoked_credential_is_refused', async () => {
    const victim = await enroll('revoked-host');
    assert.equal((await push(victim, hostBatch(victim.agentId, 1))).status, 200);
    assert.ok(await revokeAgentCredential(store.pool, victim.agentId));
    const res = await push(victim, hostBatch(victim.agentId, 2));
    assert.equal(res.status, 401);
    assert.match(JSON.stringify(res.body), /CREDENTIAL_REVOKED/);
    await stillHealthy();
  });

  test('the_server_metrics_count_what_was_refused', async () => {
    assert.equal((await fetch(`${base}/metrics`)).status, 401, 'the server metrics need a viewer');
    const res = await fetch(`${base}/metrics`, { headers: await roleHeaders(store.pool, 'viewer') });
    const text = await res.text();
    assert.match(text, /pgvigil_ingest_rejected_batches_total\{reason="bad-gzip"\} [1-9]/);
    assert.match(text, /pgvigil_ingest_batches_total\{outcome="accepted"\} [1-9]/);
    assert.match(text, /# TYPE pgvigil_ingest_write_seconds histogram/);
  });
});

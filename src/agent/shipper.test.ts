import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { until } from '../../test/helpers/wait.js';
import { silentLogger } from '../log.js';
import { AgentHttp } from './http.js';
import { answerAction, backoffDelay, retryAfterMs, Shipper, type ShipperSpool } from './shipper.js';

test('backoff_uses_full_jitter_and_is_capped_at_60_s', () => {
  assert.equal(
    backoffDelay(0, 500, 60_000, () => 0.999),
    499,
  );
  assert.equal(
    backoffDelay(3, 500, 60_000, () => 0.5),
    2000,
  );
  assert.equal(
    backoffDelay(40, 500, 60_000, () => 0.999),
    59_940,
  );
  assert.equal(
    backoffDelay(5, 500, 60_000, () => 0),
    0,
  );
});

test('retry_after_accepts_seconds_and_http_dates', () => {
  assert.equal(retryAfterMs('7'), 7000);
  const now = Date.parse('2026-11-22T10:00:00Z');
  assert.equal(retryAfterMs('Sun, 22 Nov 2026 10:00:30 GMT', now), 30_000);
  assert.equal(retryAfterMs(undefined), undefined);
  assert.equal(retryAfterMs('soon'), undefined);
});

test('every_4xx_is_final_but_credential_timeout_and_rate_limit', () => {
  assert.equal(answerAction(200), 'ack');
  for (const s of [400, 404, 409, 413, 415, 422]) assert.equal(answerAction(s), 'dead-letter', String(s));
  for (const s of [401, 403]) assert.equal(answerAction(s), 'pause', String(s));
  for (const s of [408, 429, 500, 502, 503, 504, 302]) assert.equal(answerAction(s), 'retry', String(s));
});

/** A spool in memory: enough to watch what the shipper acknowledges and dead-letters. */
function memorySpool(seqs: number[]) {
  const queue = seqs.map((seq) => ({ seq, payload: Buffer.from(`batch ${seq}`) }));
  const acked: number[] = [];
  const dead: Array<[number, string]> = [];
  const spool: ShipperSpool = {
    peek: async () => queue[0],
    ack: async (seq) => {
      assert.equal(queue[0]?.seq, seq);
      queue.shift();
      acked.push(seq);
    },
    deadLetter: async (seq, reason) => {
      queue.shift();
      dead.push([seq, reason]);
    },
  };
  return { spool, acked, dead, left: () => queue.length };
}

async function scriptedServer(script: Array<(res: ServerResponse) => void>) {
  const seen: Array<{ auth?: string; type?: string; encoding?: string }> = [];
  const srv = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({
        auth: req.headers.authorization,
        type: req.headers['content-type'],
        encoding: req.headers['content-encoding'],
      });
      const step = script.shift() ?? ((r: ServerResponse) => r.writeHead(200).end('{"status":"accepted"}'));
      step(res);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => srv.close() };
}

test('a_batch_the_server_can_never_take_is_dead_lettered_and_does_not_block_the_next', async () => {
  const json = (status: number, body: unknown) => (r: ServerResponse) =>
    r.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const server = await scriptedServer([
    json(400, { error: { code: 'BATCH_INVALID', message: 'families.x: unknown family' } }),
    json(503, { error: { code: 'STORE_UNAVAILABLE' } }),
    json(200, { status: 'accepted' }),
    json(409, { error: { code: 'BATCH_CONFLICT', message: 'seq 3 holds another batch' } }),
    json(200, { status: 'duplicate' }),
  ]);
  const { spool, acked, dead } = memorySpool([1, 2, 3, 4]);
  const http = new AgentHttp(server.url);
  const shipper = new Shipper({
    http,
    spool,
    credential: () => 'pgv_agent_x',
    log: silentLogger(),
    backoffBaseMs: 10,
  });
  shipper.start();
  try {
    await until(() => acked.length === 2);
    assert.deepEqual(
      dead.map((d) => d[0]),
      [1, 3],
    );
    assert.match(dead[0]![1], /HTTP 400: BATCH_INVALID families\.x: unknown family/);
    assert.match(dead[1]![1], /HTTP 409: BATCH_CONFLICT seq 3 holds another batch/);
    assert.deepEqual(acked, [2, 4]);
    assert.equal(shipper.stats.duplicates, 1);
    assert.equal(shipper.stats.retries, 1);
    assert.deepEqual(shipper.stats.failuresByStatus, { '400': 1, '503': 1, '409': 1 });
    assert.deepEqual(shipper.stats.retriesByStatus, { '503': 1 });
    assert.ok(shipper.stats.lastSuccessAt !== null && Date.now() - shipper.stats.lastSuccessAt < 5000);
    assert.equal(server.seen[0]!.auth, 'Bearer pgv_agent_x');
    assert.equal(server.seen[0]!.type, 'application/vnd.pgvigil.batch.v1+json');
    assert.equal(server.seen[0]!.encoding, 'gzip');
  } finally {
    await shipper.stop();
    http.close();
    server.close();
  }
});

test('a_rejected_credential_pauses_sending_and_keeps_the_data', async () => {
  const server = await scriptedServer([
    (r) =>
      r.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"CREDENTIAL_REVOKED"}}'),
  ]);
  const { spool, acked, left } = memorySpool([1]);
  const http = new AgentHttp(server.url);
  const shipper = new Shipper({
    http,
    spool,
    credential: () => 'pgv_agent_x',
    log: silentLogger(),
    authPauseMs: 300,
  });
  shipper.start();
  try {
    await until(() => shipper.stats.state === 'auth-rejected');
    assert.equal(left(), 1, 'the batch stays in the spool');
    await until(() => acked.length === 1);
  } finally {
    await shipper.stop();
    http.close();
    server.close();
  }
});

test('retry_after_is_honoured_on_429', async () => {
  const server = await scriptedServer([
    (r) =>
      r
        .writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' })
        .end('{"error":{"code":"RATE_LIMITED"}}'),
  ]);
  const { spool, acked } = memorySpool([1]);
  const http = new AgentHttp(server.url);
  const shipper = new Shipper({
    http,
    spool,
    credential: () => 'pgv_agent_x',
    log: silentLogger(),
    backoffBaseMs: 1,
  });
  const t0 = Date.now();
  shipper.start();
  try {
    await until(() => acked.length === 1);
    assert.ok(Date.now() - t0 >= 950, `waited ${Date.now() - t0} ms`);
  } finally {
    await shipper.stop();
    http.close();
    server.close();
  }
});

test('a_server_that_does_not_answer_is_retried_and_counted_as_network', async () => {
  const server = await scriptedServer([]);
  server.close();
  const { spool, acked, left } = memorySpool([1]);
  const http = new AgentHttp(server.url);
  const shipper = new Shipper({
    http,
    spool,
    credential: () => 'pgv_agent_x',
    log: silentLogger(),
    backoffBaseMs: 1,
    backoffCapMs: 5,
  });
  shipper.start();
  try {
    await until(() => (shipper.stats.retriesByStatus.network ?? 0) >= 3);
    assert.equal(left(), 1, 'the batch stays in the spool');
    assert.deepEqual(acked, []);
    assert.ok((shipper.stats.failuresByStatus.network ?? 0) >= 3);
    assert.equal(shipper.stats.lastSuccessAt, null);
  } finally {
    await shipper.stop();
    http.close();
  }
});

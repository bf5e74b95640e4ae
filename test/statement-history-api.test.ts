/**
 * Statements over time through the read API, in-process on a real store: sparklines of a top list in the
 * same answer, one statement's history per step, its text for roles that may read it, and every column a
 * top list can be ranked by.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type App, buildServerApp } from '../src/server/app.js';
import { createTestStore, quietLog, type TestStore } from './helpers/db.js';
import { getAsRole, getOkAsRole } from './helpers/users.js';

let ts: TestStore;
let server: App;
type Json = Record<string, unknown>;
type Role = 'viewer' | 'user' | 'admin';

// Steps of 60 s aligned on the epoch; rows every 30 s, so two rows fall in each step.
const base = Math.floor(Date.now() / 60_000) * 60_000 - 20 * 60_000;
const at = (s: number) => new Date(base + s * 1000);
const bigQueryId = '-8765432109876543210';
let path: string;

const get = (url: string, role: Role = 'viewer') => getAsRole(server.app, ts.store.pool, url, role);
const ok = (url: string, role: Role = 'viewer') => getOkAsRole(server.app, ts.store.pool, url, role);

before(async () => {
  ts = await createTestStore('stmthistory');
  server = await buildServerApp({
    store: ts.store,
    log: quietLog,
    latestMigration: ts.latest,
    credentialCacheMs: 0,
  });
  const pool = ts.store.pool;
  const s = await pool.query<{ server_id: number }>(
    `INSERT INTO pgvigil.servers (name) VALUES ('db') RETURNING server_id`,
  );
  const serverId = Number(s.rows[0]!.server_id);
  const t = await pool.query<{ target_id: number }>(
    `INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, 'postgres', 'main') RETURNING target_id`,
    [serverId],
  );
  const targetId = Number(t.rows[0]!.target_id);
  path = `/servers/${serverId}/targets/main/statements`;
  const row = async (
    sec: number,
    queryid: string,
    dbid: number,
    v: { calls: number; exec: number; rows: number; hit: number; read: number },
  ) =>
    pool.query(
      `INSERT INTO pgvigil.pg_statements (server_id, target_id, ts, queryid, dbid, userid, datname, usename,
         interval_s, calls, exec_time_ms, plan_time_ms, rows, shared_blks_hit, shared_blks_read)
       VALUES ($1, $2, $3, $4, $5, 10, $6, 'alice', 30, $7, $8, 0, $9, $10, $11)`,
      [serverId, targetId, at(sec), queryid, dbid, `db${dbid}`, v.calls, v.exec, v.rows, v.hit, v.read],
    );
  // The big one: in steps 0 and 2 (not 1: it missed the top lists then), in two databases.
  await row(10, bigQueryId, 5, { calls: 10, exec: 100, rows: 10, hit: 1, read: 50 });
  await row(40, bigQueryId, 5, { calls: 20, exec: 200, rows: 20, hit: 2, read: 50 });
  await row(130, bigQueryId, 5, { calls: 30, exec: 60, rows: 30, hit: 3, read: 50 });
  await row(130, bigQueryId, 6, { calls: 1, exec: 5, rows: 1, hit: 0, read: 0 });
  // A cheap, frequent one with many rows and hits.
  await row(10, '42', 5, { calls: 500, exec: 50, rows: 5000, hit: 900, read: 1 });
  await row(70, '42', 5, { calls: 500, exec: 50, rows: 5000, hit: 900, read: 1 });
  await pool.query(
    `INSERT INTO pgvigil.pg_statement_texts (server_id, target_id, ts, queryid, dbid, userid, query, truncated)
     VALUES ($1, $2, $3, $4, 5, 10, 'SELECT * FROM t WHERE id = $1', false)`,
    [serverId, targetId, at(10), bigQueryId],
  );
});

after(async () => {
  await server?.app.close();
  await ts?.close();
});

const range = () => `from=${base - 60_000}&to=${base + 5 * 60_000}`;

test('a_top_list_carries_each_statements_time_per_step_with_missed_steps_as_gaps', async () => {
  const body = await ok(`${path}?${range()}&spark=6`);
  assert.equal(body.sparkStepSeconds, 60, 'six steps over six minutes');
  const list = body.statements as Json[];
  assert.deepEqual(
    list.map((s) => [s.queryid, s.dbid, s.spark]),
    [
      [
        bigQueryId,
        5,
        [
          [base, 300],
          [base + 120_000, 60],
        ],
      ],
      [
        '42',
        5,
        [
          [base, 50],
          [base + 60_000, 50],
        ],
      ],
      [bigQueryId, 6, [[base + 120_000, 5]]],
    ],
  );
  const plain = await ok(`${path}?${range()}`);
  assert.equal(plain.sparkStepSeconds, null);
  assert.equal((plain.statements as Json[])[0]!.spark, undefined, 'no sparklines unless asked');
});

test('a_sparkline_step_is_never_shorter_than_the_collection_interval', async () => {
  const body = await ok(`${path}?${range()}&spark=240`);
  assert.equal(body.sparkStepSeconds, 30, '360 s / 240 would be 2 s; rows are 30 s apart');
});

test('a_top_list_ranks_by_mean_time_rows_and_shared_blocks', async () => {
  const order = async (o: string) =>
    ((await ok(`${path}?${range()}&order=${o}`)).statements as Json[]).map((s) => `${s.queryid}/${s.dbid}`);
  assert.deepEqual(await order('mean_time'), [`${bigQueryId}/5`, `${bigQueryId}/6`, '42/5']);
  assert.deepEqual(await order('rows'), ['42/5', `${bigQueryId}/5`, `${bigQueryId}/6`]);
  assert.deepEqual(await order('shared_blks_hit'), ['42/5', `${bigQueryId}/5`, `${bigQueryId}/6`]);
  assert.deepEqual(await order('shared_blks_read'), [`${bigQueryId}/5`, '42/5', `${bigQueryId}/6`]);
});

test('a_statements_history_sums_its_deltas_per_step_and_names_where_it_ran', async () => {
  const body = await ok(`${path}/${bigQueryId}?${range()}&steps=6`);
  assert.equal(body.stepSeconds, 60);
  assert.deepEqual(
    (body.steps as Json[]).map((s) => [
      s.ts,
      s.intervals,
      s.covered_s,
      s.calls,
      s.exec_time_ms,
      s.shared_blks_read,
    ]),
    [
      [base, 2, 60, 30, 300, 100],
      [base + 120_000, 2, 60, 31, 65, 50],
    ],
    'both databases summed; the missed step is absent',
  );
  assert.deepEqual(
    (body.runsAs as Json[]).map((r) => [r.dbid, r.datname, r.usename]),
    [
      [5, 'db5', 'alice'],
      [6, 'db6', 'alice'],
    ],
  );
  const one = await ok(`${path}/${bigQueryId}?${range()}&steps=6&dbid=6`);
  assert.deepEqual(
    (one.steps as Json[]).map((s) => [s.ts, s.calls]),
    [[base + 120_000, 1]],
  );
  assert.equal('query' in body, false, 'a history carries no text');
});

test('a_statements_text_is_refused_to_a_viewer_and_given_to_a_user', async () => {
  const viewer = await get(`${path}/${bigQueryId}/text`, 'viewer');
  assert.equal(viewer.status, 403);
  for (const role of ['user', 'admin'] as const) {
    const body = await ok(`${path}/${bigQueryId}/text`, role);
    assert.deepEqual(body.texts, [
      { dbid: 5, userid: 10, query: 'SELECT * FROM t WHERE id = $1', truncated: false },
    ]);
  }
  assert.deepEqual((await ok(`${path}/42/text`, 'user')).texts, [], 'no text stored');
  const listed = (await ok(`${path}?${range()}&text=false`, 'admin')).statements as Json[];
  assert.deepEqual(
    listed.map((s) => s.query),
    [null, null, null],
    'text=false leaves texts out of a list',
  );
});

test('a_query_id_outside_64_bits_or_not_a_number_is_a_400', async () => {
  for (const bad of ['99999999999999999999', 'abc', '1.5']) {
    const res = await get(`${path}/${bad}?${range()}`);
    assert.equal(res.status, 400, `${bad}: ${JSON.stringify(res.body)}`);
    assert.match(JSON.stringify(res.body), /queryid/);
  }
});

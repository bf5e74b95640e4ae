/**
 * Several COPYs in one round trip (src/storage/copy-pipeline.ts) against a real PostgreSQL: every row
 * lands in its table, the rows statements return come back, and a refused statement fails the call and
 * leaves the connection usable.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCopyPipeline } from '../src/storage/copy-pipeline.js';
import { createTestDatabase, type TestDatabase, testPgLabel } from './helpers/db.js';

let db: TestDatabase;

const lines = (text: string) => Buffer.from(text, 'utf8');

describe(`copy pipeline (${testPgLabel})`, () => {
  before(async () => {
    db = await createTestDatabase('copypipe');
    await db.pool.query('CREATE TABLE a (id int PRIMARY KEY, note text)');
    await db.pool.query('CREATE TABLE b (id int, v float8)');
  });
  after(async () => {
    await db.drop();
  });

  test('rows_a_statement_returns_after_the_copies_come_back_as_text', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      const results = await runCopyPipeline(
        client,
        [
          'COPY b (id, v) FROM STDIN',
          'UPDATE b SET v = v * 2 WHERE id = 100',
          `UPDATE b SET v = v + 1 WHERE id >= 100 RETURNING id, v, NULL::text AS nothing, 'it''s ✓' AS note`,
          'UPDATE b SET v = 0 WHERE false RETURNING id',
        ].join(';\n'),
        [[lines('100\t1.5\n101\t-2\n')]],
      );
      await client.query('ROLLBACK');
      // Only the statements that return rows have a result, in order; an empty one still has its columns.
      results[0]?.rows.sort((x, y) => Number(x[0]) - Number(y[0]));
      assert.deepEqual(results, [
        {
          fields: ['id', 'v', 'nothing', 'note'],
          rows: [
            ['100', '4', null, "it's ✓"],
            ['101', '-1', null, "it's ✓"],
          ],
        },
        { fields: ['id'], rows: [] },
      ]);
    } finally {
      client.release();
    }
  });

  test('several_copies_and_statements_in_one_round_trip_store_every_row', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await runCopyPipeline(
        client,
        [
          'COPY a (id, note) FROM STDIN',
          'CREATE TEMP TABLE IF NOT EXISTS a_in (LIKE a) ON COMMIT DELETE ROWS',
          'COPY a_in (id, note) FROM STDIN',
          'INSERT INTO a SELECT * FROM a_in ON CONFLICT DO NOTHING',
          'COPY b (id, v) FROM STDIN',
        ].join(';\n'),
        [
          [lines('1\tfirst\n2\tsecond, ünïcödé ✓\n'), lines('3\t\\N\n')],
          [lines('3\tkept out: already there\n4\ttab\\there\n')],
          [lines('1\t0.5\n'), lines(''), lines('2\t-1e300\n')],
        ],
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const { rows: a } = await db.pool.query('SELECT id, note FROM a ORDER BY id');
    assert.deepEqual(a, [
      { id: 1, note: 'first' },
      { id: 2, note: 'second, ünïcödé ✓' },
      { id: 3, note: null },
      { id: 4, note: 'tab\there' },
    ]);
    const { rows: b } = await db.pool.query('SELECT id, v FROM b ORDER BY id');
    assert.deepEqual(b, [
      { id: 1, v: 0.5 },
      { id: 2, v: -1e300 },
    ]);
  });

  test('a_refused_copy_fails_the_call_and_leaves_the_connection_usable', async () => {
    const client = await db.pool.connect();
    try {
      for (const [sql, copies] of [
        // Bad data in the second COPY, with more data and a COPY behind it.
        [
          'COPY b (id, v) FROM STDIN;\nCOPY b (id, v) FROM STDIN;\nCOPY b (id, v) FROM STDIN',
          [
            [lines('10\t1\n')],
            [lines('11\t2\n'), lines('12\tnot a number\n'), lines('13\t3\n')],
            [lines('14\t4\n')],
          ],
        ],
        // A statement before the COPY fails: its data is never read as a COPY's.
        ['SELECT * FROM no_such_table;\nCOPY b (id, v) FROM STDIN', [[lines('15\t5\n')]]],
      ] as const) {
        await client.query('BEGIN');
        await assert.rejects(runCopyPipeline(client, sql, copies), (err: Error & { code?: string }) => {
          assert.ok(err.code === '22P02' || err.code === '42P01', `${err.code}: ${err.message}`);
          return true;
        });
        await client.query('ROLLBACK');
        const { rows } = await client.query('SELECT 1 AS one');
        assert.deepEqual(rows, [{ one: 1 }]);
      }
      // And the next pipeline on the same connection works.
      await runCopyPipeline(client, 'COPY b (id, v) FROM STDIN', [[lines('20\t7\n')]]);
    } finally {
      client.release();
    }
    const { rows } = await db.pool.query('SELECT id FROM b WHERE id >= 10 ORDER BY id');
    assert.deepEqual(rows, [{ id: 20 }]);
  });
});

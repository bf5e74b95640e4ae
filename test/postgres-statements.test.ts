/**
 * Statement history on a real pg_stat_statements: per-interval deltas across pg_stat_statements_reset(),
 * a new statement's text sent exactly once, texts cut to the configured length.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createPostgresCollector } from '../src/agent/collectors/postgres/collector.js';
import type { FamilyRows, Row } from '../src/agent/collectors/types.js';
import { createTestDatabase, type TestDatabase, testPgLabel } from './helpers/db.js';
import { collectContext, rowsOf } from './helpers/pg-cluster.js';

const valueColumns = [
  'calls',
  'plans',
  'exec_time_ms',
  'plan_time_ms',
  'rows',
  'shared_blks_hit',
  'shared_blks_read',
  'shared_blks_written',
  'temp_blks_read',
  'temp_blks_written',
  'wal_records',
  'wal_bytes',
];

function statementMatching(
  result: FamilyRows[],
  texts: Map<string, string>,
  pattern: RegExp,
): Row | undefined {
  return rowsOf(result, 'pg_statements').find((r) => pattern.test(texts.get(String(r.queryid)) ?? ''));
}

describe(`pg_stat_statements history on ${testPgLabel}`, () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('pgstmt');
    await db.pool.query('CREATE EXTENSION pg_stat_statements');
    await db.pool.query(
      'CREATE TABLE stmt_probe (a int); INSERT INTO stmt_probe SELECT generate_series(1, 100)',
    );
  });
  after(() => db.drop());

  test('a_reset_between_collections_gives_no_negative_delta_and_a_new_query_appears_with_its_text_once', async () => {
    // Top N as large as the instance's statements: which statements other test files run does not matter.
    const options = {
      includeDatabases: [db.name],
      statementsTopN: 100_000,
      families: ['pg_statements', 'pg_statement_texts'],
    };
    const collector = createPostgresCollector(db.url, options);
    const short = createPostgresCollector(db.url, { ...options, statementTextMaxLength: 16 });
    const texts = new Map<string, string>();
    const textRows: Row[] = [];
    const collect = async () => {
      const result = await collector.collect(collectContext());
      for (const t of rowsOf(result, 'pg_statement_texts')) {
        textRows.push(t);
        texts.set(String(t.queryid), String(t.query));
      }
      return result;
    };
    try {
      const baseline = await collect();
      await short.collect(collectContext());
      assert.equal(rowsOf(baseline, 'pg_statements').length, 0, 'the first collection is a baseline');

      for (let i = 0; i < 5; i++) await db.pool.query('SELECT count(*) FROM stmt_probe WHERE a > $1', [i]);
      const second = await collect();
      const probe = statementMatching(second, texts, /FROM stmt_probe WHERE a > \$1/);
      assert.ok(probe, 'the probe statement is reported with its text');
      assert.equal(probe.calls, 5);
      assert.equal(probe.datname, db.name);

      // This database's entries only: a reset of the whole instance would reach other files' tests.
      await db.pool.query(
        'SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)',
      );
      for (let i = 0; i < 3; i++) await db.pool.query('SELECT count(*) FROM stmt_probe WHERE a > $1', [i]);
      for (let i = 0; i < 2; i++)
        await db.pool.query('SELECT sum(a) AS fresh_after_reset FROM stmt_probe WHERE a < $1', [i]);
      const textsBefore = textRows.length;
      const third = await collect();
      for (const r of rowsOf(third, 'pg_statements')) {
        for (const col of valueColumns) assert.ok(Number(r[col]) >= 0, `${col} of ${r.queryid} is ${r[col]}`);
      }
      const probeAfter = statementMatching(third, texts, /FROM stmt_probe WHERE a > \$1/);
      assert.equal(probeAfter?.calls, 3, 'counts since the reset: not 3 − 5, not 5 + 3');
      const fresh = statementMatching(third, texts, /fresh_after_reset/);
      assert.ok(fresh, 'the new statement appears');
      assert.equal(fresh.calls, 2);
      const newTexts = textRows.slice(textsBefore);
      assert.equal(newTexts.filter((t) => /fresh_after_reset/.test(String(t.query))).length, 1);
      assert.equal(
        newTexts.filter((t) => /FROM stmt_probe WHERE a > \$1/.test(String(t.query))).length,
        0,
        'a text already sent is not sent again after a reset',
      );
      assert.match(
        texts.get(String(fresh.queryid)) ?? '',
        /SELECT sum\(a\) AS fresh_after_reset FROM stmt_probe WHERE a < \$1/,
      );

      await db.pool.query('SELECT sum(a) AS fresh_after_reset FROM stmt_probe WHERE a < $1', [7]);
      const textsBeforeFourth = textRows.length;
      const fourth = await collect();
      assert.equal(statementMatching(fourth, texts, /fresh_after_reset/)?.calls, 1);
      assert.equal(
        textRows.slice(textsBeforeFourth).filter((t) => /fresh_after_reset/.test(String(t.query))).length,
        0,
        'sent once',
      );

      // The short collector cuts texts to 16 characters and says so.
      await db.pool.query('SELECT sum(a) AS fresh_after_reset FROM stmt_probe WHERE a < $1', [8]);
      const cut = await short.collect(collectContext());
      const cutText = rowsOf(cut, 'pg_statement_texts').find((t) => t.queryid === fresh.queryid);
      assert.ok(cutText);
      assert.equal(String(cutText.query).length, 16);
      assert.equal(cutText.truncated, true);
    } finally {
      await collector.close();
      await short.close();
    }
  });

  test('statements_rows_stay_bounded_by_the_top_n_of_each_ranking', async () => {
    const collector = createPostgresCollector(db.url, {
      includeDatabases: [db.name],
      statementsTopN: 3,
      families: ['pg_statements', 'pg_statements_info'],
    });
    try {
      await collector.collect(collectContext());
      for (let i = 0; i < 20; i++)
        // aliases and constants do not make statements distinct; expression trees do
        await db.pool.query(`SELECT a FROM stmt_probe WHERE ${'a + '.repeat(i)}a > 0 LIMIT 1`);
      const result = await collector.collect(collectContext());
      const rows = rowsOf(result, 'pg_statements');
      assert.ok(rows.length > 0 && rows.length <= 9, `${rows.length} rows for top 3 × 3 rankings`);
      for (const r of rows) assert.match(String(r.top_by), /^(time|calls|io)(,(time|calls|io))*$/);
      const info = rowsOf(result, 'pg_statements_info')[0];
      assert.ok(info && Number(info.entries) >= 20 && Number(info.max) >= 100);
    } finally {
      await collector.close();
    }
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findTableReference, maxColumns, whereColumns } from './sql-where.js';

describe('whereColumns', () => {
  test('reads_equality_and_range_columns_equality_first', () => {
    assert.deepEqual(
      whereColumns('SELECT * FROM orders WHERE created_at > $1 AND customer_id = $2', 'public', 'orders'),
      ['customer_id', 'created_at'],
    );
  });

  test('follows_the_schema_the_alias_and_quoted_names', () => {
    assert.deepEqual(
      whereColumns(
        'SELECT o.id FROM public.orders AS o JOIN customers c ON c.id = o.customer_id WHERE o.status = $1 AND c.region = $2 ORDER BY o.id',
        'public',
        'orders',
      ),
      ['status'],
    );
    assert.deepEqual(
      whereColumns('select 1 from "Sales"."Orders" where "Region" = $1 limit $2', 'Sales', 'Orders'),
      ['Region'],
    );
    assert.deepEqual(
      whereColumns('UPDATE accounts SET balance = $1 WHERE owner IN ($2, $3)', 'public', 'accounts'),
      ['owner'],
    );
  });

  test('between_and_or_and_a_subquery_end', () => {
    assert.deepEqual(
      whereColumns('SELECT * FROM t WHERE (a BETWEEN $1 AND $2 OR b LIKE $3) AND c IS NULL', 'public', 't'),
      ['c', 'a', 'b'],
    );
    assert.deepEqual(
      whereColumns('SELECT x FROM u WHERE id = (SELECT max(id) FROM t WHERE k = $1)', 'public', 't'),
      ['k'],
    );
  });

  test('nothing_it_cannot_read', () => {
    assert.deepEqual(whereColumns('SELECT * FROM orders', 'public', 'orders'), []);
    assert.deepEqual(whereColumns('SELECT * FROM other WHERE a = $1', 'public', 'orders'), []);
    assert.deepEqual(whereColumns('SELECT * FROM orders_archive WHERE a = $1', 'public', 'orders'), []);
    assert.deepEqual(whereColumns('SELECT * FROM orders WHERE lower(email) = $1', 'public', 'orders'), []);
    assert.deepEqual(whereColumns('SELECT * FROM orders WHERE $1 = a', 'public', 'orders'), []);
    // Unqualified columns with a join could belong to either table.
    assert.deepEqual(
      whereColumns('SELECT * FROM orders JOIN c ON c.id = orders.cid WHERE region = $1', 'public', 'orders'),
      [],
    );
    assert.equal(findTableReference('', 'public', 'orders'), null);
  });

  test('hostile_texts_are_bounded', () => {
    const many = Array.from({ length: 50 }, (_, i) => `c${i} = $${i + 1}`).join(' AND ');
    assert.equal(whereColumns(`SELECT * FROM t WHERE ${many}`, 'public', 't').length, maxColumns);
    const huge = `SELECT * FROM t WHERE a = $1 AND ${'('.repeat(200_000)}`;
    const started = performance.now();
    assert.deepEqual(whereColumns(huge, 'public', 't'), ['a']);
    assert.ok(performance.now() - started < 500);
    assert.deepEqual(whereColumns('SELECT * FROM t WHERE a = $1 AND a = $2', 'public', 't'), ['a']);
  });
});

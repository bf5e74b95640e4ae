import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CustomMetricDef, parseCustomMetrics } from '../../../protocol/custom-metrics.js';
import { customRows, maxLabelsBytes } from './custom.js';

function def(extra: Record<string, unknown> = {}): CustomMetricDef {
  const r = parseCustomMetrics([
    {
      name: 'sizes',
      sql: { 130000: 'SELECT …' },
      columns: [
        { name: 'db', type: 'label' },
        { name: 'kind', type: 'label' },
        { name: 'size', type: 'gauge' },
        { name: 'commits', type: 'counter' },
      ],
      ...extra,
    },
  ]);
  assert.ok(r.ok, JSON.stringify(r));
  return r.metrics[0]!;
}

const fields = ['db', 'kind', 'size', 'commits', 'extra'];

test('each_value_column_becomes_one_row_with_canonical_labels', () => {
  const r = customRows(def(), fields, [{ db: 'app', kind: 'a"b', size: '1024', commits: 7, extra: 'x' }]);
  assert.equal(r.error, null);
  assert.deepEqual(r.rows, [
    {
      metric: 'sizes',
      name: 'size',
      labels: 'db="app",kind="a\\"b"',
      gauge: 1024,
      counter: null,
      warn_above: null,
      crit_above: null,
    },
    {
      metric: 'sizes',
      name: 'commits',
      labels: 'db="app",kind="a\\"b"',
      gauge: null,
      counter: 7,
      warn_above: null,
      crit_above: null,
    },
  ]);
});

test('a_null_value_gives_no_row_and_a_null_label_is_empty', () => {
  const r = customRows(def(), fields, [{ db: null, kind: 'k', size: null, commits: true }]);
  assert.deepEqual(r.rows, [
    {
      metric: 'sizes',
      name: 'commits',
      labels: 'db="",kind="k"',
      gauge: null,
      counter: 1,
      warn_above: null,
      crit_above: null,
    },
  ]);
});

test('rows_over_max_rows_are_dropped_and_counted', () => {
  const many = Array.from({ length: 5 }, (_, i) => ({ db: `d${i}`, kind: '', size: i, commits: i }));
  const r = customRows(def({ max_rows: 3 }), fields, many);
  assert.equal(r.rows.length, 6);
  assert.equal(r.dropped, 2);
});

test('long_label_values_are_cut_and_counted_and_oversized_label_sets_dropped', () => {
  const r = customRows(def(), fields, [{ db: 'x'.repeat(500), kind: 'k', size: 1, commits: null }]);
  assert.equal(r.cut, 1);
  assert.equal(r.rows[0]!.labels, `db="${'x'.repeat(128)}",kind="k"`);
  // 16 labels of 128 quotes each: escaped, the text is over the byte bound.
  const labels = Array.from({ length: 16 }, (_, i) => ({ name: `l${i}`, type: 'label' }));
  const wide = def({ columns: [...labels, { name: 'v', type: 'gauge' }] });
  const row = Object.fromEntries([...labels.map((l) => [l.name, '"'.repeat(128)]), ['v', 1]]);
  const w = customRows(wide, Object.keys(row), [row]);
  assert.ok(Buffer.byteLength(`${'"'.repeat(256)}`) * 16 > maxLabelsBytes);
  assert.equal(w.rows.length, 0);
  assert.equal(w.dropped, 1);
});

test('a_missing_column_or_a_non_number_is_an_error_and_stores_nothing', () => {
  const missing = customRows(def(), ['db', 'size'], [{ db: 'a', size: 1 }]);
  assert.match(
    missing.error ?? '',
    /columns kind, commits not in the query's result \(it returned: db, size\)/,
  );
  const text = customRows(def(), fields, [{ db: 'a', kind: 'b', size: 'big', commits: 1 }]);
  assert.match(text.error ?? '', /column size: expected a number, got "big"/);
  assert.equal(text.rows.length, 0);
});

test('a_row_repeating_the_label_values_of_an_earlier_one_is_dropped_and_counted', () => {
  // Two values for one series at one time would be refused by the store with the whole batch.
  const r = customRows(def(), fields, [
    { db: 'a', kind: 'k', size: 1, commits: 1 },
    { db: 'a', kind: 'k', size: 2, commits: 2 },
    { db: 'b', kind: 'k', size: 3, commits: 3 },
  ]);
  assert.equal(r.duplicates, 1);
  assert.deepEqual(
    r.rows.filter((x) => x.name === 'size').map((x) => [x.labels, x.gauge]),
    [
      ['db="a",kind="k"', 1],
      ['db="b",kind="k"', 3],
    ],
  );
});

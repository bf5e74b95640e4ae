import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRemoteConfig } from './agent-config.js';
import { canonicalLabels, customMetricBounds, parseCustomMetrics, pickCustomSql } from './custom-metrics.js';

const good = {
  name: 'slot_retained',
  help: 'WAL kept by each slot',
  sql: { 150000: 'SELECT 1 AS a, 2 AS v', 180000: 'SELECT 1 AS a, 3 AS v' },
  interval: 30,
  columns: [
    { name: 'a', type: 'label' },
    { name: 'v', type: 'gauge', unit: 'bytes' },
  ],
};

function refused(def: unknown): string {
  const r = parseCustomMetrics([def]);
  assert.equal(r.ok, false, `accepted: ${JSON.stringify(def).slice(0, 200)}`);
  return (r as { error: string }).error;
}

test('a_valid_definition_gets_its_defaults_and_parses_again_to_itself', () => {
  const r = parseCustomMetrics([good]);
  assert.ok(r.ok, JSON.stringify(r));
  const m = r.metrics[0]!;
  assert.equal(m.interval, 30);
  assert.equal(m.timeout, customMetricBounds.timeoutS.default);
  assert.equal(m.max_rows, customMetricBounds.maxRows.default);
  assert.deepEqual(Object.keys(m.sql), ['150000', '180000']);
  // What the server stores is the parsed form: the agent must accept it as it is.
  const again = parseCustomMetrics(JSON.parse(JSON.stringify(r.metrics)));
  assert.ok(again.ok);
  assert.deepEqual(again.metrics, r.metrics);
});

test('the_highest_min_version_not_above_the_server_wins', () => {
  const r = parseCustomMetrics([good]);
  assert.ok(r.ok);
  const m = r.metrics[0]!;
  assert.equal(pickCustomSql(m, 150004), 'SELECT 1 AS a, 2 AS v');
  assert.equal(pickCustomSql(m, 170000), 'SELECT 1 AS a, 2 AS v');
  assert.equal(pickCustomSql(m, 180001), 'SELECT 1 AS a, 3 AS v');
  assert.equal(pickCustomSql(m, 140010), undefined);
});

test('hostile_definitions_are_refused_naming_the_metric_and_the_field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ ...good, name: 'Bad Name' }, /custom metric #1: name must be a lower-case identifier/],
    [{ ...good, name: '__proto__' }, /name must be a lower-case identifier/],
    [{ ...good, name: 'x'.repeat(64) }, /at most 63/],
    [{ ...good, sql: 'SELECT 1' }, /custom metric "slot_retained": sql must be a table/],
    [{ ...good, sql: {} }, /"slot_retained": sql has no query/],
    [{ ...good, sql: { '15': 'SELECT 1' } }, /sql\.15: the key must be a server_version_num/],
    [{ ...good, sql: { abc: 'SELECT 1' } }, /sql\.abc: the key must be/],
    [{ ...good, sql: { 150000: '   ' } }, /sql\.150000: expected the SQL text/],
    [{ ...good, sql: { 150000: 42 } }, /sql\.150000: expected the SQL text/],
    [{ ...good, sql: { 150000: `SELECT ${'1,'.repeat(9000)}1` } }, /sql\.150000: longer than 16384/],
    [{ ...good, sql: { 150000: 'SELECT 1\0' } }, /NUL/],
    [{ ...good, interval: 1 }, /"slot_retained": interval must be a whole number from 10 to 86400, got 1/],
    [{ ...good, interval: '60s' }, /interval must be a whole number/],
    [{ ...good, timeout: 3600 }, /timeout must be a whole number from 1 to 60/],
    [{ ...good, max_rows: 1e9 }, /max_rows must be a whole number from 1 to 10000/],
    [{ ...good, columns: [] }, /"slot_retained": columns must be a non-empty list/],
    [{ ...good, columns: [{ name: 'a', type: 'label' }] }, /no gauge or counter column/],
    [
      { ...good, columns: [{ name: 'v', type: 'histogram' }] },
      /columns\[0\] \(v\): type must be one of label, gauge, counter/,
    ],
    [{ ...good, columns: [{ name: 'a;drop', type: 'gauge' }] }, /columns\[0\]: name must be a column name/],
    [
      {
        ...good,
        columns: [
          { name: 'v', type: 'gauge' },
          { name: 'v', type: 'counter' },
        ],
      },
      /column v is declared twice/,
    ],
    [
      { ...good, columns: [{ name: 'v', type: 'gauge', help: 'h'.repeat(301) }] },
      /\(v\): help is longer than 300/,
    ],
    [
      { ...good, columns: Array.from({ length: 33 }, (_, i) => ({ name: `c${i}`, type: 'gauge' })) },
      /33 columns; at most 32/,
    ],
    [{ ...good, colums: [] }, /"slot_retained": unknown key "colums"/],
    [
      { ...good, columns: [{ name: 'v', type: 'counter', warn_above: 1 }] },
      /\(v\): warn_above applies to gauge columns only/,
    ],
    [
      { ...good, columns: [{ name: 'v', type: 'gauge', crit_above: 'high' }] },
      /\(v\): crit_above must be a number/,
    ],
    [
      { ...good, columns: [{ name: 'v', type: 'gauge', warn_above: 10, crit_above: 5 }] },
      /\(v\): crit_above \(5\) is below warn_above \(10\)/,
    ],
    ['SELECT 1', /custom metric #1: expected a table/],
  ];
  for (const [def, expected] of cases) assert.match(refused(def), expected);
});

test('too_many_or_twice_defined_metrics_are_refused', () => {
  const many = Array.from({ length: 51 }, (_, i) => ({ ...good, name: `m${i}` }));
  assert.match((parseCustomMetrics(many) as { error: string }).error, /51 definitions; at most 50/);
  assert.match(
    (parseCustomMetrics([good, good]) as { error: string }).error,
    /"slot_retained" is defined twice/,
  );
  assert.match((parseCustomMetrics({}) as { error: string }).error, /expected a list/);
});

test('a_pushed_config_with_a_bad_custom_metric_is_refused_with_its_reason', () => {
  const ok = parseRemoteConfig({ customMetrics: [good] });
  assert.ok(ok.ok);
  assert.equal(ok.config.customMetrics?.[0]?.name, 'slot_retained');
  const bad = parseRemoteConfig({ customMetrics: [{ ...good, interval: 0 }] });
  assert.equal(bad.ok, false);
  assert.match(
    (bad as { error: string }).error,
    /^customMetrics: custom metric "slot_retained": interval must be/,
  );
});

test('canonical_labels_are_sorted_and_escaped', () => {
  assert.equal(canonicalLabels({}), '');
  assert.equal(canonicalLabels({ b: '2', a: '1' }), 'a="1",b="2"');
  assert.equal(canonicalLabels({ k: 'say "hi"\\\nbye' }), 'k="say \\"hi\\"\\\\\\nbye"');
});

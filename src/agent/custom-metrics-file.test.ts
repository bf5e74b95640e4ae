import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgvigilError } from '../errors.js';
import { parseCustomMetricsText } from './custom-metrics-file.js';

const toml = `
[[metric]]
name = "backends"
interval = 30

[metric.sql]
150000 = "SELECT datname, count(*) AS n FROM pg_stat_activity GROUP BY 1"
180000 = "SELECT datname, count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1"

[[metric.columns]]
name = "datname"
type = "label"

[[metric.columns]]
name = "n"
type = "gauge"
help = "sessions"
`;

test('a_toml_file_of_metric_tables_gives_its_definitions', () => {
  const defs = parseCustomMetricsText(toml, 'toml', 'm.toml');
  assert.equal(defs.length, 1);
  assert.deepEqual(Object.keys(defs[0]!.sql), ['150000', '180000']);
  assert.deepEqual(
    defs[0]!.columns.map((c) => c.type),
    ['label', 'gauge'],
  );
});

test('the_same_definitions_in_json', () => {
  const json = JSON.stringify({ metric: parseCustomMetricsText(toml, 'toml', 'm.toml') });
  assert.deepEqual(
    parseCustomMetricsText(json, 'json', 'm.json'),
    parseCustomMetricsText(toml, 'toml', 'm.toml'),
  );
});

test('a_bad_file_is_refused_naming_the_file_the_metric_and_the_field', () => {
  const bad = (text: string, format: 'toml' | 'json' = 'toml') => {
    try {
      parseCustomMetricsText(text, format, '/etc/pgvigil/custom.toml');
    } catch (err) {
      assert.ok(err instanceof PgvigilError);
      return err.message;
    }
    assert.fail('accepted');
  };
  assert.match(
    bad(toml.replace('interval = 30', 'interval = 5')),
    /^--custom-metrics-file \/etc\/pgvigil\/custom.toml: custom metric "backends": interval must be a whole number from 10/,
  );
  assert.match(bad('[[metric]\nname='), /not valid TOML at line 1/);
  assert.match(bad('{', 'json'), /not valid JSON/);
  assert.match(bad('metrics = []'), /unknown top-level key "metrics"/);
});

test('the_example_file_in_docs_is_valid', async () => {
  const { packageRoot } = await import('../version.js');
  const { readCustomMetricsFile } = await import('./custom-metrics-file.js');
  const defs = readCustomMetricsFile(`${packageRoot}/docs/examples/custom-metrics.toml`);
  assert.deepEqual(
    defs.map((d) => [d.name, Object.keys(d.sql)]),
    [
      ['client_sessions', ['130000']],
      ['checkpoints', ['130000', '170000']],
    ],
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgvigilError } from '../errors.js';
import { silentLogger } from '../log.js';
import { expositionContentType, formatValue, renderExposition, startExporter } from './exporter.js';

test('renders_one_help_and_type_per_metric_with_its_samples_together_sorted_by_name', () => {
  const text = renderExposition([
    { name: 'node_load1', help: '1m load average.', type: 'gauge', samples: [{ value: 0.5 }] },
    { name: 'a_total', help: 'A.', type: 'counter', samples: [{ labels: { x: '1' }, value: 1 }] },
    { name: 'a_total', help: 'ignored', type: 'counter', samples: [{ labels: { x: '2' }, value: 2 }] },
    { name: 'empty', help: 'no samples', type: 'gauge', samples: [] },
  ]);
  assert.equal(
    text,
    [
      '# HELP a_total A.',
      '# TYPE a_total counter',
      'a_total{x="1"} 1',
      'a_total{x="2"} 2',
      '# HELP node_load1 1m load average.',
      '# TYPE node_load1 gauge',
      'node_load1 0.5',
      '',
    ].join('\n'),
  );
});

test('escapes_label_values_and_help_text', () => {
  const text = renderExposition([
    {
      name: 'm',
      help: 'back\\slash\nnewline',
      type: 'gauge',
      samples: [{ labels: { watch: '/a"b\\c\nd/' }, value: 1 }],
    },
  ]);
  assert.match(text, /^# HELP m back\\\\slash\\nnewline$/m);
  assert.match(text, /^m\{watch="\/a\\"b\\\\c\\nd\/"\} 1$/m);
});

test('refuses_invalid_metric_and_label_names', () => {
  assert.throws(
    () => renderExposition([{ name: 'bad-name', help: '', type: 'gauge', samples: [] }]),
    /invalid metric name/,
  );
  assert.throws(
    () =>
      renderExposition([
        { name: 'm', help: '', type: 'gauge', samples: [{ labels: { 'a-b': 'x' }, value: 1 }] },
      ]),
    /invalid label name "a-b" on m/,
  );
});

test('formats_special_values_as_the_text_format_spells_them', () => {
  assert.equal(formatValue(Number.NaN), 'NaN');
  assert.equal(formatValue(Number.POSITIVE_INFINITY), '+Inf');
  assert.equal(formatValue(Number.NEGATIVE_INFINITY), '-Inf');
  assert.equal(formatValue(26.58), '26.58');
  assert.equal(formatValue(270553174016), '270553174016');
});

test('serves_metrics_and_answers_other_paths_and_methods_plainly', async () => {
  const exporter = await startExporter({
    host: '127.0.0.1',
    port: 0,
    log: silentLogger(),
    metrics: () => [{ name: 'up_test', help: 'x', type: 'gauge', samples: [{ value: 1 }] }],
  });
  try {
    const res = await fetch(`${exporter.url}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), expositionContentType);
    assert.match(await res.text(), /^up_test 1$/m);
    assert.equal((await fetch(`${exporter.url}/nope`)).status, 404);
    assert.equal((await fetch(`${exporter.url}/metrics`, { method: 'POST' })).status, 405);
    assert.match(await (await fetch(`${exporter.url}/`)).text(), /href="\/metrics"/);
  } finally {
    await exporter.close();
  }
});

test('a_listen_port_in_use_is_a_port_in_use_error', async () => {
  const first = await startExporter({ host: '127.0.0.1', port: 0, log: silentLogger(), metrics: () => [] });
  try {
    await assert.rejects(
      startExporter({ host: '127.0.0.1', port: first.port, log: silentLogger(), metrics: () => [] }),
      (err: unknown) =>
        err instanceof PgvigilError && err.code === 'PORT_IN_USE' && /port is in use/.test(err.message),
    );
  } finally {
    await first.close();
  }
});

test('a_rendering_failure_is_a_500_not_a_crash', async () => {
  const exporter = await startExporter({
    host: '127.0.0.1',
    port: 0,
    log: silentLogger(),
    metrics: () => [{ name: 'bad name', help: '', type: 'gauge', samples: [{ value: 1 }] }],
  });
  try {
    assert.equal((await fetch(`${exporter.url}/metrics`)).status, 500);
  } finally {
    await exporter.close();
  }
});

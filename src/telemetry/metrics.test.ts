import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from './metrics.js';

test('the_registry_renders_declared_metrics_with_help_type_and_samples_in_declaration_order', async () => {
  const r = new Registry();
  const rows = r.counter('pgvigil_test_rows_total', 'Rows \\ written.\nSecond line.');
  const refused = r.counter('pgvigil_test_refused_total', 'Refused, by reason.');
  r.counter('pgvigil_test_unused_total', 'Never counted.');
  let queued = 3;
  r.gauge('pgvigil_test_queue_rows', 'Rows waiting.').set(() => queued);
  const seconds = r.histogram('pgvigil_test_seconds', 'Time taken.', [0.1, 1]);
  rows.inc(undefined, 1200);
  refused.inc({ reason: 'say "no"' });
  refused.inc({ reason: 'say "no"' }, 2);
  seconds.observe(0.5, { phase: 'write' });
  queued = 7;
  assert.equal(
    await r.render(),
    [
      '# HELP pgvigil_test_rows_total Rows \\\\ written.\\nSecond line.',
      '# TYPE pgvigil_test_rows_total counter',
      'pgvigil_test_rows_total 1200',
      '# HELP pgvigil_test_refused_total Refused, by reason.',
      '# TYPE pgvigil_test_refused_total counter',
      'pgvigil_test_refused_total{reason="say \\"no\\""} 3',
      '# HELP pgvigil_test_queue_rows Rows waiting.',
      '# TYPE pgvigil_test_queue_rows gauge',
      'pgvigil_test_queue_rows 7',
      '# HELP pgvigil_test_seconds Time taken.',
      '# TYPE pgvigil_test_seconds histogram',
      'pgvigil_test_seconds_bucket{le="0.1",phase="write"} 0',
      'pgvigil_test_seconds_bucket{le="1",phase="write"} 1',
      'pgvigil_test_seconds_bucket{le="+Inf",phase="write"} 1',
      'pgvigil_test_seconds_sum{phase="write"} 0.5',
      'pgvigil_test_seconds_count{phase="write"} 1',
      '',
    ].join('\n'),
    'the never-counted metric is left out, as before',
  );
});

test('gauges_hold_values_per_label_set_and_a_metric_name_is_declared_once', async () => {
  const r = new Registry();
  const runs = r.gauge('pgvigil_test_job_runs', 'Runs per job.');
  runs.set(5, { job: 'rollup' });
  runs.set(2, { job: 'retention' });
  runs.set(6, { job: 'rollup' });
  const text = await r.render();
  assert.match(text, /^pgvigil_test_job_runs\{job="rollup"\} 6$/m);
  assert.match(text, /^pgvigil_test_job_runs\{job="retention"\} 2$/m);
  assert.throws(() => r.gauge('pgvigil_test_job_runs', 'again'), /declared twice/);
  assert.throws(() => runs.set(1, { other: 'x' }), /labelset/, 'label names are fixed by the first sample');
});

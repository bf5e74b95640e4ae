import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { packageRoot } from '../version.js';
import { parsePrometheusText, parseValue } from './prometheus.js';
import {
  canonicalLabels,
  defaultParseLimits,
  limitSeries,
  type ScrapedSample,
  ScrapeParseError,
} from './samples.js';

const fixture = (f: string) => readFileSync(`${packageRoot}/test/fixtures/scrape/${f}`, 'utf8');
const find = (ss: ScrapedSample[], name: string, labels = '') =>
  ss.find((s) => s.name === name && s.labels === labels);

test('reads_the_text_format_example_with_types_escapes_and_timestamps', () => {
  const { samples, dropped } = parsePrometheusText(fixture('prometheus-0.0.4.txt'));
  assert.deepEqual(find(samples, 'http_requests_total', 'code="200",method="post"'), {
    name: 'http_requests_total',
    labels: 'code="200",method="post"',
    value: 1027,
    kind: 'counter',
  });
  assert.equal(find(samples, 'http_requests_total', 'code="400",method="post"')?.value, 3);
  const escaped = samples.find((s) => s.name === 'msdos_file_access_time_seconds')!;
  assert.equal(escaped.labels, 'error="Cannot find file:\\n\\"FILE.TXT\\"",path="C:\\\\DIR\\\\FILE.TXT"');
  assert.equal(escaped.value, 1.458255915e9);
  assert.equal(escaped.kind, 'gauge', 'untyped is stored as a gauge');
  assert.equal(find(samples, 'metric_without_timestamp_and_labels')?.value, 12.47);
  assert.equal(find(samples, 'http_request_duration_seconds_bucket', 'le="+Inf"')?.kind, 'counter');
  assert.equal(find(samples, 'http_request_duration_seconds_bucket', 'le="0.05"')?.value, 24054);
  assert.equal(find(samples, 'http_request_duration_seconds_sum')?.kind, 'counter');
  assert.equal(find(samples, 'http_request_duration_seconds_count')?.value, 144320);
  assert.equal(find(samples, 'rpc_duration_seconds', 'quantile="0.5"')?.kind, 'gauge');
  assert.equal(find(samples, 'rpc_duration_seconds_sum')?.value, 1.7560473e7);
  assert.equal(find(samples, 'rpc_duration_seconds_count')?.kind, 'counter');
  // +Inf gauge and NaN quantile: no number to store, counted.
  assert.equal(dropped.non_finite, 2);
  assert.equal(samples.length, 18);
});

test('reads_openmetrics_with_units_created_exemplars_and_eof', () => {
  const { samples, dropped } = parsePrometheusText(fixture('openmetrics.txt'));
  assert.equal(
    find(samples, 'acme_http_router_request_seconds_count', 'method="GET",path="/api/v1"')?.kind,
    'counter',
  );
  assert.equal(find(samples, 'process_cpu_seconds_total')?.kind, 'counter');
  assert.equal(find(samples, 'process_cpu_seconds_total')?.value, 4.20072246e6);
  assert.equal(find(samples, 'go_goroutines')?.kind, 'gauge');
  assert.equal(find(samples, 'foo_bucket', 'le="0.1"')?.value, 8, 'the exemplar is skipped');
  assert.equal(find(samples, 'foo_bucket', 'le="1"')?.value, 11);
  assert.equal(find(samples, 'build_info', 'version="1.2.3"')?.kind, 'gauge');
  assert.equal(dropped.created, 2, 'the _created samples are start times, not values');
  assert.equal(find(samples, 'after_eof'), undefined, '# EOF ends the text');
});

test('a_malformed_line_fails_the_scrape_naming_its_line', () => {
  assert.throws(
    () => parsePrometheusText('ok 1\nbad{x="1" 2\n'),
    (e: Error) => {
      assert.ok(e instanceof ScrapeParseError);
      assert.match(e.message, /^line 2: /);
      return true;
    },
  );
  assert.throws(() => parsePrometheusText('a 1\nb one\n'), /line 2: "one" is not a number/);
  assert.throws(() => parsePrometheusText('# TYPE a bogus\n'), /line 1: unknown metric type/);
  assert.throws(() => parsePrometheusText('a{x="1",x="2"} 1\n'), /label x given twice/);
});

test('a_series_served_twice_keeps_its_first_value_and_is_counted', () => {
  const r = parsePrometheusText('a{x="1",y="2"} 1\na{y="2",x="1"} 5\n');
  assert.equal(r.samples.length, 1);
  assert.equal(r.samples[0]!.value, 1);
  assert.equal(r.dropped.duplicate, 1);
});

test('bounds_are_checked_before_and_while_walking', () => {
  const limits = { ...defaultParseLimits, maxBytes: 10 };
  assert.throws(() => parsePrometheusText('a_long_metric 1\n', limits), /over the 10 limit/);
  assert.throws(
    () => parsePrometheusText('a 1\nb 2\nc 3\n', { ...defaultParseLimits, maxLines: 2 }),
    /more than 2 lines/,
  );
  const small = { ...defaultParseLimits, maxLabels: 2, maxNameLength: 5, maxLabelValueLength: 4 };
  const r = parsePrometheusText(
    'ok{a="1",b="2",c="3"} 1\ntoolongname 1\nok{v="12345"} 1\nok{n="x"} 2\n',
    small,
  );
  assert.deepEqual(
    r.samples.map((s) => s.labels),
    ['n="x"'],
  );
  assert.equal(r.dropped.label_bounds, 2);
  assert.equal(r.dropped.name_too_long, 1);
});

test('values_as_go_reads_them', () => {
  assert.equal(parseValue('1e3'), 1000);
  assert.equal(parseValue('-0.5'), -0.5);
  assert.equal(parseValue('+Inf'), Number.POSITIVE_INFINITY);
  assert.ok(Number.isNaN(parseValue('NaN')!));
  assert.equal(parseValue(''), undefined);
  assert.equal(parseValue('1,5'), undefined);
});

test('canonical_labels_sort_and_escape', () => {
  assert.equal(
    canonicalLabels([
      ['b', 'x"y'],
      ['a', 'c:\\d\ne'],
    ]),
    'a="c:\\\\d\\ne",b="x\\"y"',
  );
  assert.equal(canonicalLabels([]), '');
});

test('the_series_limit_drops_and_counts_the_excess_and_keeps_earlier_series_first', () => {
  const mk = (n: number): ScrapedSample[] =>
    Array.from({ length: n }, (_, i) => ({
      name: 'm',
      labels: `i="${i}"`,
      value: i,
      kind: 'gauge' as const,
    }));
  const first = limitSeries(mk(5), 3);
  assert.deepEqual(
    first.samples.map((s) => s.value),
    [0, 1, 2],
  );
  assert.equal(first.dropped.series_limit, 2);
  // The endpoint now serves a new series first: the three kept before keep their places.
  const next = [{ name: 'm', labels: 'i="new"', value: 9, kind: 'gauge' as const }, ...mk(5)];
  const second = limitSeries(next, 3, first.kept);
  assert.deepEqual(
    second.samples.map((s) => s.value),
    [0, 1, 2],
  );
  assert.equal(second.dropped.series_limit, 3);
});

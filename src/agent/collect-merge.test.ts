/** `collect --once`'s two collections merged into one report (mergeCollections, pure). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FamilyRows } from './collectors/types.js';
import { mergeCollections } from './run.js';

const custom = (metric: string, ts: number, value: number): FamilyRows => ({
  family: 'pg_custom',
  ts,
  rows: [{ metric, name: 'v', labels: '', gauge: value }],
});
const status = (family: string, ok: boolean): FamilyRows => ({
  family: 'pg_collector',
  ts: 1,
  rows: [{ family, datname: null, ok }],
});

/** One column of a merged family's rows, sorted. */
const column = (merged: Map<string, FamilyRows>, family: string, name: string) =>
  merged
    .get(family)
    ?.rows.map((r) => r[name])
    .sort();

test('custom_metrics_handed_on_by_different_collections_are_all_kept', () => {
  // The first collection handed on one query's run, the second the other's.
  const first = new Map([
    ['postgres:main', [custom('client_sessions', 1, 3), status('pg_custom:client_sessions', true)]],
  ]);
  const second = new Map([
    ['postgres:main', [custom('checkpoints', 2, 7), status('pg_custom:checkpoints', true)]],
  ]);
  const merged = mergeCollections(first, second);
  assert.deepEqual(column(merged, 'pg_custom', 'metric'), ['checkpoints', 'client_sessions']);
  assert.deepEqual(column(merged, 'pg_collector', 'family'), [
    'pg_custom:checkpoints',
    'pg_custom:client_sessions',
  ]);
});

test('a_metric_in_both_collections_is_the_second_ones', () => {
  const first = new Map([['postgres:main', [custom('checkpoints', 1, 5), custom('client_sessions', 1, 3)]]]);
  const second = new Map([['postgres:main', [custom('checkpoints', 2, 7)]]]);
  const rows = mergeCollections(first, second).get('pg_custom')?.rows ?? [];
  assert.deepEqual(rows.map((r) => [r.metric, r.gauge]).sort(), [
    ['checkpoints', 7],
    ['client_sessions', 3],
  ]);
});

test('other_families_of_the_second_collection_replace_the_first_ones_and_the_first_fills_gaps', () => {
  const load = (ts: number, v: number): FamilyRows => ({ family: 'host_load', ts, rows: [{ load1: v }] });
  const db = (ts: number): FamilyRows => ({ family: 'pg_database', ts, rows: [{ datname: 'a' }] });
  const first = new Map([
    ['host', [load(1, 0.5)]],
    ['postgres:main', [db(1)]],
  ]);
  const second = new Map([
    ['host', [load(2, 0.7)]],
    ['postgres:main', []],
  ]);
  const merged = mergeCollections(first, second);
  assert.deepEqual(merged.get('host_load')?.rows, [{ load1: 0.7 }]);
  assert.equal(merged.get('pg_database')?.ts, 1);
});

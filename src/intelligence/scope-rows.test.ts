import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ValidBatch, ValidTable } from '../protocol/batch.js';
import { SampleMemory, scopesOf, sinceMaxGapMs } from './scope-rows.js';

function table(name: string, columns: string[], rows: unknown[][]): ValidTable {
  const all = ['ts', ...columns];
  return {
    table: name,
    columns: all,
    types: [],
    rows,
    tsIndex: 0,
    targetIndex: all.indexOf('target'),
  };
}

function batch(tables: ValidTable[]): ValidBatch {
  return {
    agentId: 'a',
    seq: 1,
    sealedAt: 0,
    tables,
    gaps: [],
    rowCount: 0,
    rejected: { future: 0, tooOld: 0 },
  };
}

const db = (ts: number, datname: string, deadlocks: number) => [ts, 'main', datname, deadlocks];
const dbCols = ['target', 'datname', 'deadlocks'];

test('scopes_split_host_and_each_target_and_skip_unknown_targets', () => {
  const m = new SampleMemory();
  const scopes = scopesOf(
    1,
    batch([
      table('host_load', ['load1', 'load5', 'load15'], [[1000, 0.5, 0.4, 0.3]]),
      table('pg_database', dbCols, [db(1000, 'app', 1), [1000, 'ghost', 'x', 1]]),
    ]),
    new Map([['main', 7]]),
    m,
  );
  assert.deepEqual(
    scopes.map((s) => [s.targetId, [...s.tables.keys()]]),
    [
      [null, ['host_load']],
      [7, ['pg_database']],
    ],
  );
});

test('rows_hold_each_column_as_their_own_property_and_nothing_inherited', () => {
  const m = new SampleMemory();
  // Names a row must not read from a prototype, or write into one (scopesOf trusts its batch's columns to
  // be registry names; the constructor it makes must still hold any name as data).
  const odd = ['__proto__', 'constructor', 'toString', 'it\'s "odd" \\ \u2028'];
  const rowsOf = (cols: string[], values: unknown[][]) =>
    scopesOf(1, batch([table('host_load', cols, values)]), new Map(), m)[0]!.rows('host_load');
  const [r] = rowsOf(odd, [[1000, 1, 2, 3, 4]]);
  assert.deepEqual(Object.keys(r!), ['ts', ...odd]);
  assert.deepEqual(
    odd.map((c) => r![c]),
    [1, 2, 3, 4],
  );
  assert.equal(Object.getPrototypeOf(Object.getPrototypeOf(r)), null);
  assert.deepEqual(Object.getOwnPropertyNames(Object.getPrototypeOf(r)), []);
  assert.equal('hasOwnProperty' in r!, false);
  // Another column order for the same family, then the first again: each row has its own columns.
  const [a, b] = [...rowsOf(['load5', 'load1'], [[1000, 5, 1]]), ...rowsOf(odd, [[2000, 9, 8, 7, 6]])];
  assert.deepEqual({ ...a }, { ts: 1000, load5: 5, load1: 1 });
  assert.deepEqual(Object.entries(b!), [['ts', 2000], ...odd.map((c, i) => [c, 9 - i])]);
  // A missing column reads as undefined, as before.
  assert.equal(a!.load15, undefined);
});

test('pairs_come_from_the_batch_or_the_remembered_sample_and_never_from_one_sample', () => {
  const m = new SampleMemory();
  const ids = new Map([['main', 7]]);
  const first = scopesOf(1, batch([table('pg_database', dbCols, [db(1000, 'app', 1)])]), ids, m)[0]!;
  assert.equal(first.pairs('pg_database').length, 0, 'first sample: no pair');
  first.commit();
  const second = scopesOf(1, batch([table('pg_database', dbCols, [db(11_000, 'app', 4)])]), ids, m)[0]!;
  const [p] = second.pairs('pg_database');
  assert.equal(p?.seconds, 10);
  assert.equal(Number(p?.cur.deadlocks) - Number(p?.prev.deadlocks), 3);
  // Two samples in one batch pair with each other.
  const both = scopesOf(
    1,
    batch([table('pg_database', dbCols, [db(31_000, 'app', 9), db(21_000, 'app', 5)])]),
    ids,
    m,
  )[0]!;
  assert.deepEqual(
    both.pairs('pg_database').map((x) => [x.prev.ts, x.cur.ts]),
    [[21_000, 31_000]],
  );
});

test('host_facts_and_settings_are_remembered_for_later_batches', () => {
  const m = new SampleMemory();
  const ids = new Map([['main', 7]]);
  scopesOf(
    1,
    batch([
      table('host_memory', ['total_bytes'], [[1000, 8 * 2 ** 30]]),
      table(
        'host_cpu',
        ['cpu'],
        [
          [1000, '0'],
          [1000, '1'],
          [1000, 'total'],
        ],
      ),
      table('pg_settings', ['target', 'name', 'setting'], [[1000, 'main', 'work_mem', '4096']]),
    ]),
    ids,
    m,
  );
  const later = scopesOf(1, batch([table('pg_database', dbCols, [db(2000, 'app', 0)])]), ids, m)[0]!;
  assert.equal(later.host.memoryTotalBytes, 8 * 2 ** 30);
  assert.equal(later.host.cores, 2);
  assert.equal(later.setting('work_mem'), '4096');
  assert.equal(later.setting('constructor'), undefined);
});

function batchOfFilesystems(rows: unknown[][]): ValidBatch {
  return {
    agentId: 'a',
    seq: 1,
    sealedAt: 0,
    tables: [
      {
        table: 'host_filesystem',
        columns: ['ts', 'mountpoint', 'size_bytes', 'avail_bytes'],
        types: [],
        rows,
        tsIndex: 0,
        targetIndex: -1,
      },
    ],
    gaps: [],
    rowCount: rows.length,
    rejected: { future: 0, tooOld: 0 },
  };
}

test('host_facts_keep_the_newest_filesystem_snapshot_without_failed_mounts', () => {
  const memory = new SampleMemory();
  scopesOf(
    7,
    batchOfFilesystems([
      [1000, '/old', 10, 5],
      [2000, '/', '100', '40'],
      [2000, '/nfs', null, null],
      [2000, '/data', 500, 200],
    ]),
    new Map(),
    memory,
  );
  assert.deepEqual(memory.hostOf(7).filesystems, [
    { mountpoint: '/', availBytes: 40, sizeBytes: 100 },
    { mountpoint: '/data', availBytes: 200, sizeBytes: 500 },
  ]);
  // A later batch without host_filesystem keeps what was known; one with it replaces it.
  scopesOf(7, { ...batchOfFilesystems([]), tables: [] }, new Map(), memory);
  assert.equal(memory.hostOf(7).filesystems?.length, 2);
  scopesOf(7, batchOfFilesystems([[3000, '/', 100, 10]]), new Map(), memory);
  assert.deepEqual(memory.hostOf(7).filesystems, [{ mountpoint: '/', availBytes: 10, sizeBytes: 100 }]);
});

test('host_filesystem_facts_are_bounded', () => {
  const memory = new SampleMemory();
  const rows = Array.from({ length: 500 }, (_, i) => [1, `/m${i}`, 10, 1]);
  scopesOf(1, batchOfFilesystems(rows), new Map(), memory);
  assert.equal(memory.hostOf(1).filesystems?.length, 64);
});

const t0 = 1_000_000;

test('a_condition_counts_the_seconds_it_held_without_a_break', () => {
  const m = new SampleMemory();
  assert.equal(m.since('k', true, t0), 0, 'just started');
  assert.equal(m.since('k', true, t0 + 10_000), 10);
  assert.equal(m.since('k', true, t0 + 60_000), 60);
  assert.equal(m.since('k', false, t0 + 70_000), 0, 'a break ends it');
  assert.equal(m.since('k', true, t0 + 80_000), 0, 'and it starts again from there');
  assert.equal(m.since('other', true, t0 + 80_000), 0, 'conditions are apart');
});

test('a_gap_longer_than_the_limit_between_sightings_starts_it_again', () => {
  const m = new SampleMemory();
  m.since('k', true, t0);
  m.since('k', true, t0 + 30_000);
  assert.equal(m.since('k', true, t0 + 30_000 + sinceMaxGapMs + 1), 0);
});

test('an_older_sighting_than_the_last_changes_nothing', () => {
  const m = new SampleMemory();
  m.since('k', true, t0);
  m.since('k', true, t0 + 20_000);
  assert.equal(m.since('k', false, t0 + 5_000), 0);
  assert.equal(m.since('k', true, t0 + 30_000), 30, 'the late "false" did not break it');
});

test('the_conditions_remembered_are_bounded', () => {
  const m = new SampleMemory(3);
  for (const k of ['a', 'b', 'c', 'd']) m.since(k, true, t0);
  assert.equal(m.since('a', true, t0 + 10_000), 0, 'the oldest was forgotten');
  assert.equal(m.since('d', true, t0 + 10_000), 10);
});

describe('scopesOf', () => {
  test('host_facts_of_a_batch_reach_a_target_scope_listed_before_the_host_rows', () => {
    const batch: ValidBatch = {
      agentId: 'a',
      seq: 1,
      sealedAt: 0,
      // The target's table comes first in the batch, the host's memory after it.
      tables: [
        {
          table: 'pg_instance',
          columns: ['ts', 'target', 'up'],
          types: [],
          rows: [[1000, 'main', true]],
          tsIndex: 0,
          targetIndex: 1,
        },
        {
          table: 'host_memory',
          columns: ['ts', 'total_bytes'],
          types: [],
          rows: [[1000, 16 * 1024 ** 3]],
          tsIndex: 0,
          targetIndex: -1,
        },
      ],
      gaps: [],
      rowCount: 2,
      rejected: { future: 0, tooOld: 0 },
    };
    const scopes = scopesOf(7, batch, new Map([['main', 3]]), new SampleMemory());
    const target = scopes.find((s) => s.targetId === 3);
    assert.ok(target);
    assert.equal(scopes.indexOf(target), 0, 'the target scope is the first evaluated');
    assert.equal(target.host.memoryTotalBytes, 16 * 1024 ** 3);
  });
});

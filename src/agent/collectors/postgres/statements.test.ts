import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  computeStatementDeltas,
  entryKey,
  extensionVersionKey,
  SentTexts,
  type StatementCounters,
  type StatementEntry,
  type StatementsSnapshot,
  selectTopStatements,
  zeroCounters,
} from './statements.js';

function entry(
  queryid: string,
  counters: Partial<StatementCounters>,
  extra: Partial<Omit<StatementEntry, 'counters'>> = {},
): StatementEntry {
  return {
    queryid,
    dbid: 5,
    userid: 10,
    toplevel: true,
    statsSince: null,
    ...extra,
    counters: { ...zeroCounters(), ...counters },
  };
}

function snapshot(
  serverNow: number,
  entries: StatementEntry[],
  info: { statsReset?: number | null; dealloc?: number | null } = {},
): StatementsSnapshot {
  return {
    serverNow,
    statsReset: info.statsReset ?? null,
    dealloc: info.dealloc ?? null,
    entries: new Map(entries.map((e) => [entryKey(e), e])),
  };
}

describe('statement deltas', () => {
  test('the_first_snapshot_is_a_baseline_without_deltas', () => {
    const r = computeStatementDeltas(undefined, snapshot(1000, [entry('1', { calls: 5 })]));
    assert.deepEqual(r.deltas, []);
  });

  test('a_growing_entry_gives_the_difference_over_the_interval', () => {
    const prev = snapshot(1000, [entry('1', { calls: 5, exec_time_ms: 10, rows: 50 })]);
    const cur = snapshot(31_000, [entry('1', { calls: 8, exec_time_ms: 16, rows: 80 })]);
    const [d] = computeStatementDeltas(prev, cur).deltas;
    assert.equal(d?.counters.calls, 3);
    assert.equal(d?.counters.exec_time_ms, 6);
    assert.equal(d?.counters.rows, 30);
    assert.equal(d?.intervalS, 30);
  });

  test('an_idle_entry_gives_no_row', () => {
    const prev = snapshot(1000, [entry('1', { calls: 5 })]);
    const cur = snapshot(2000, [entry('1', { calls: 5 })]);
    assert.deepEqual(computeStatementDeltas(prev, cur).deltas, []);
  });

  test('a_full_reset_makes_every_delta_the_current_value_never_negative_nor_inflated', () => {
    const prev = snapshot(1000, [entry('1', { calls: 100 }), entry('2', { calls: 3 })], { statsReset: 0 });
    // entry 2 outgrew its old counters after the reset: current − old would be 7, the truth is 10
    const cur = snapshot(2000, [entry('1', { calls: 4 }), entry('2', { calls: 10 })], { statsReset: 1500 });
    const r = computeStatementDeltas(prev, cur);
    assert.equal(r.reset, true);
    const byId = new Map(r.deltas.map((d) => [d.queryid, d.counters.calls]));
    assert.equal(byId.get('1'), 4);
    assert.equal(byId.get('2'), 10);
  });

  test('an_entry_whose_counters_went_down_was_recreated_and_counts_from_zero', () => {
    const prev = snapshot(1000, [entry('1', { calls: 100, exec_time_ms: 500 })], { dealloc: 3 });
    const cur = snapshot(2000, [entry('1', { calls: 2, exec_time_ms: 900 })], { dealloc: 4 });
    const r = computeStatementDeltas(prev, cur);
    assert.equal(r.recreated, 1);
    assert.equal(r.evicted, 1);
    assert.equal(r.deltas[0]?.counters.calls, 2);
    assert.equal(r.deltas[0]?.counters.exec_time_ms, 900);
  });

  test('stats_since_reveals_a_recreated_entry_that_outgrew_its_old_counters', () => {
    const prev = snapshot(10_000, [entry('1', { calls: 5 }, { statsSince: 1000 })]);
    const cur = snapshot(20_000, [entry('1', { calls: 9 }, { statsSince: 15_000 })]);
    assert.equal(computeStatementDeltas(prev, cur).deltas[0]?.counters.calls, 9);
  });

  test('an_entry_that_existed_before_but_was_unseen_is_a_baseline_not_a_delta', () => {
    const prev = snapshot(10_000, []);
    const cur = snapshot(20_000, [
      entry('old', { calls: 1000 }, { statsSince: 1000 }),
      entry('new', { calls: 3 }, { statsSince: 12_000 }),
    ]);
    const r = computeStatementDeltas(prev, cur);
    assert.equal(r.skipped, 1);
    assert.deepEqual(
      r.deltas.map((d) => [d.queryid, d.counters.calls]),
      [['new', 3]],
    );
  });

  test('a_new_entry_without_creation_time_counts_everything_it_holds', () => {
    const prev = snapshot(1000, [entry('1', { calls: 1 })]);
    const cur = snapshot(2000, [entry('1', { calls: 1 }), entry('2', { calls: 7 })]);
    assert.deepEqual(
      computeStatementDeltas(prev, cur).deltas.map((d) => [d.queryid, d.counters.calls]),
      [['2', 7]],
    );
  });

  test('toplevel_and_nested_parts_are_differenced_apart_then_summed', () => {
    const prev = snapshot(1000, [
      entry('1', { calls: 100 }, { toplevel: true }),
      entry('1', { calls: 50 }, { toplevel: false }),
    ]);
    // the nested part was evicted and re-created with 2 calls; the toplevel part grew by 10
    const cur = snapshot(2000, [
      entry('1', { calls: 110 }, { toplevel: true }),
      entry('1', { calls: 2 }, { toplevel: false }),
    ]);
    const r = computeStatementDeltas(prev, cur);
    assert.equal(r.deltas.length, 1);
    assert.equal(r.deltas[0]?.counters.calls, 12, 'not 112 (the sum went down) nor −38');
  });

  test('float_noise_never_yields_a_negative_value', () => {
    const prev = snapshot(1000, [entry('1', { calls: 1, exec_time_ms: 0.30000000000000004 })]);
    const cur = snapshot(2000, [entry('1', { calls: 2, exec_time_ms: 0.3 })]);
    const d = computeStatementDeltas(prev, cur).deltas[0];
    assert.ok(d && d.counters.exec_time_ms >= 0);
  });
});

describe('top statements', () => {
  const d = (queryid: string, calls: number, time: number, io: number) => ({
    queryid,
    dbid: 1,
    userid: 1,
    intervalS: 30,
    counters: { ...zeroCounters(), calls, exec_time_ms: time, shared_blks_read: io },
  });

  test('the_union_of_top_n_by_time_calls_and_io_names_its_rankings', () => {
    const deltas = [d('a', 1, 100, 0), d('b', 1000, 1, 0), d('c', 1, 1, 500), d('e', 2, 2, 0)];
    const top = selectTopStatements(deltas, 1);
    assert.deepEqual(
      top.map((t) => [t.delta.queryid, t.topBy.join(',')]),
      [
        ['a', 'time'],
        ['b', 'calls'],
        ['c', 'io'],
      ],
    );
  });

  test('rows_are_bounded_by_three_times_n_whatever_the_statement_count', () => {
    const deltas = Array.from({ length: 5000 }, (_, i) => d(String(i), i + 1, 5000 - i, i % 7));
    const top = selectTopStatements(deltas, 100);
    assert.ok(top.length <= 300 && top.length >= 100);
  });

  test('statements_without_io_do_not_enter_the_io_ranking', () => {
    const top = selectTopStatements([d('a', 1, 1, 0)], 10);
    assert.deepEqual(top[0]?.topBy, ['time', 'calls']);
  });
});

describe('statement texts and versions', () => {
  test('texts_are_remembered_as_sent_and_the_memory_is_bounded', () => {
    const sent = new SentTexts(3);
    for (const k of ['a', 'b', 'c']) sent.add(k);
    assert.ok(sent.has('a'));
    sent.add('d');
    assert.equal(sent.size, 1);
    assert.ok(sent.has('d') && !sent.has('a'));
  });

  test('extension_versions_map_to_comparable_keys', () => {
    assert.equal(extensionVersionKey('1.8'), 108);
    assert.equal(extensionVersionKey('1.11'), 111);
    assert.equal(extensionVersionKey('1.12'), 112);
    assert.equal(extensionVersionKey('dev'), undefined);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogLevel } from '../../protocol/logs.js';
import type { ChunkPattern, UpsertedPattern } from '../../storage/queries/log-analysis.sql.js';
import { dropTally, newPatternMessages, planAdmission } from './log-analysis.js';

const t = new Date('2026-03-01T12:00:00Z');

function group(fingerprint: string, level: LogLevel, count: number, known = false): ChunkPattern {
  return {
    fingerprint,
    source: 'app',
    level,
    component: '',
    count,
    first: t,
    last: t,
    sample: `m ${fingerprint}`,
    event: null,
    known,
    stored: 0,
    totalEntries: 0,
    totalFingerprints: 0,
  };
}

function chunk(groups: ChunkPattern[], totalEntries: number, totalFingerprints: number): ChunkPattern[] {
  return groups.map((g) => ({ ...g, totalEntries, totalFingerprints }));
}

test('tracked_patterns_are_always_updated_and_new_ones_are_admitted_most_severe_then_most_frequent', () => {
  const c = chunk(
    [group('a', 'info', 5, true), group('b', 'info', 50), group('c', 'error', 2), group('d', 'info', 9)],
    66,
    4,
  );
  const plan = planAdmission(c, 10, 100, 500);
  assert.deepEqual(
    plan.known.map((g) => g.fingerprint),
    ['a'],
  );
  assert.deepEqual(
    plan.candidates.map((g) => g.fingerprint),
    ['c', 'b', 'd'],
  );
  assert.equal(plan.room, 90);
  assert.equal(plan.evict, 0);
  assert.deepEqual(dropTally(c, plan, 3), { droppedPatterns: 0, droppedEntries: 0, entries: 66 });
});

test('at_the_bound_candidates_need_evictions_and_what_finds_no_room_is_counted_as_dropped', () => {
  const c = chunk([group('a', 'warning', 4, true), group('b', 'error', 3), group('c', 'info', 7)], 20, 5);
  const plan = planAdmission(c, 100, 101, 500);
  assert.equal(plan.room, 1);
  assert.equal(plan.evict, 1);
  // No resolved pattern to evict: only the error gets the one place; c and the two groups beyond the
  // query's limit are dropped, with their entries.
  assert.deepEqual(dropTally(c, plan, 1), { droppedPatterns: 3, droppedEntries: 13, entries: 20 });
  assert.equal(planAdmission(c, 500, 101, 500).room, 0, 'more tracked than the bound (lowered) is no room');
});

test('new_patterns_per_chunk_are_capped', () => {
  const groups = Array.from({ length: 20 }, (_, i) => group(`f${String(i).padStart(2, '0')}`, 'info', 1));
  const plan = planAdmission(chunk(groups, 20, 20), 0, 1000, 5);
  assert.equal(plan.candidates.length, 5);
  assert.deepEqual(
    plan.candidates.map((g) => g.fingerprint),
    ['f00', 'f01', 'f02', 'f03', 'f04'],
  );
});

test('only_new_error_patterns_first_seen_recently_are_live_news', () => {
  const now = t.getTime() + 60_000;
  const u = (fingerprint: string, level: LogLevel, inserted: boolean, firstSeen = t): UpsertedPattern => ({
    fingerprint,
    inserted,
    reopenedAt: null,
    level,
    source: 'app',
    sample: 'x'.repeat(1000),
    firstSeen,
    count: 3,
  });
  const news = newPatternMessages(
    4,
    [
      u('e', 'error', true),
      u('f', 'fatal', true),
      u('w', 'warning', true),
      u('old', 'error', false),
      u('backfill', 'panic', true, new Date(now - 3_600_000)),
    ],
    now,
  );
  assert.deepEqual(
    news.map((m) => m.fingerprint),
    ['e', 'f'],
  );
  assert.equal(news[0]?.type, 'log_pattern_new');
  assert.equal(news[0]?.serverId, 4);
  assert.equal(news[0]?.sample.length, 300);
  assert.equal(news[0]?.firstSeen, t.getTime());
});

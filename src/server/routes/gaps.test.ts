import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentPeriods } from './gaps.js';

const t = (min: number) => new Date(Date.UTC(2026, 0, 1, 12, min));
const minute = 60_000;
const base = { enrolledAt: t(0), revokedAt: null, before: null, first: null, last: null, interior: [] };
const show = (p: Array<{ start: Date; end: Date; ongoing: boolean }>) =>
  p.map((x) => [x.start.toISOString().slice(11, 16), x.end.toISOString().slice(11, 16), x.ongoing]);

test('a_silence_that_began_before_the_range_starts_at_the_last_batch_before_it', () => {
  const p = silentPeriods(
    { ...base, before: t(5), first: t(30), last: t(50) },
    t(10),
    t(55),
    t(55),
    2 * minute,
  );
  assert.deepEqual(show(p), [
    ['12:05', '12:30', false],
    ['12:50', '12:55', true],
  ]);
});

test('an_agent_that_never_delivered_is_silent_from_the_range_start_or_its_enrollment', () => {
  assert.deepEqual(show(silentPeriods(base, t(10), t(40), t(60), 2 * minute)), [['12:10', '12:40', false]]);
  const late = { ...base, enrolledAt: t(20) };
  assert.deepEqual(show(silentPeriods(late, t(10), t(40), t(40), 2 * minute)), [['12:20', '12:40', true]]);
});

test('a_revoked_agent_is_silent_only_until_its_revocation_and_never_ongoing', () => {
  const p = silentPeriods(
    { ...base, revokedAt: t(30), first: t(11), last: t(12) },
    t(10),
    t(59),
    t(59),
    2 * minute,
  );
  assert.deepEqual(show(p), [['12:12', '12:30', false]]);
});

test('pauses_up_to_the_threshold_are_not_silences', () => {
  const p = silentPeriods(
    { ...base, before: t(9), first: t(11), last: t(58) },
    t(10),
    t(60),
    t(60),
    2 * minute,
  );
  assert.deepEqual(p, []);
});

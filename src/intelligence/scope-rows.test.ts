import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SampleMemory, sinceMaxGapMs } from './scope-rows.js';

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

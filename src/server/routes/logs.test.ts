import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgvigilError } from '../../errors.js';
import { logSelection } from './logs.js';

const from = new Date('2026-01-01T00:00:00Z');
const to = new Date('2026-01-02T00:00:00Z');

test('a_minimum_level_narrows_the_exact_levels_given', () => {
  const s = logSelection({ level: 'info, ERROR,warning', minLevel: 'warning' }, from, to);
  assert.deepEqual(s.levels?.slice().sort(), ['error', 'warning']);
});

test('sources_are_trimmed_and_deduplicated', () => {
  const s = logSelection({ source: ' pg , syslog,pg,' }, from, to);
  assert.deepEqual(s.sources, ['pg', 'syslog']);
});

test('an_unknown_level_or_too_many_sources_is_a_bad_argument_naming_the_filter', () => {
  assert.throws(
    () => logSelection({ level: 'loud' }, from, to),
    (e) => e instanceof PgvigilError && e.code === 'BAD_ARGUMENT' && /^level: "loud"/.test(e.message),
  );
  const many = Array.from({ length: 51 }, (_, i) => `s${i}`).join(',');
  assert.throws(
    () => logSelection({ source: many }, from, to),
    (e) => e instanceof PgvigilError && e.code === 'BAD_ARGUMENT' && /^source:/.test(e.message),
  );
});

test('filters_not_given_are_absent_from_the_selection', () => {
  assert.deepEqual(logSelection({}, from, to), { from, to });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextAttempt, Refusals } from './refusals.js';

const refused = (code: string) => Object.assign(new Error('refused'), { code });
const why = 'permission denied for function pg_current_wal_lsn (SQLSTATE 42501)';

test('a_lasting_refusal_pauses_its_key_and_each_one_after_doubles_the_pause_up_to_its_most', () => {
  let now = Date.parse('2026-12-04T12:00:00Z');
  const r = new Refusals({ firstMs: 60_000, maxMs: 200_000 }, () => now);
  assert.equal(r.failed('pg_wal@', refused('42501'), why), 60_000);
  assert.equal(r.paused('pg_wal@'), `${why}; not asked again before 2026-12-04T12:01:00.000Z`);
  assert.equal(r.paused('pg_locks@'), undefined, 'other keys are not paused');
  now += 59_999;
  assert.ok(r.paused('pg_wal@'));
  now += 1;
  assert.equal(r.paused('pg_wal@'), undefined, 'asked again once the pause is over');
  assert.equal(r.failed('pg_wal@', refused('42501'), why), 120_000);
  assert.equal(r.failed('pg_wal@', refused('42883'), why), 200_000, 'doubled, then held at the most');
  assert.equal(r.failed('pg_wal@', refused('42P01'), 'gone'), 200_000);
  assert.equal(
    r.paused('pg_wal@'),
    'gone; not asked again before 2026-12-04T12:04:20.000Z',
    'the newest reason',
  );
});

test('a_passing_failure_or_a_success_ends_the_pause', () => {
  const r = new Refusals({ firstMs: 1_000, maxMs: 8_000 }, () => 0);
  r.failed('k', refused('42501'), why);
  r.failed('k', refused('42501'), why);
  assert.equal(r.failed('k', refused('57014'), 'timeout'), undefined, 'a statement timeout: the next turn');
  assert.equal(r.paused('k'), undefined);
  assert.equal(r.failed('k', refused('28000'), 'pg_hba'), 1_000, 'and the pause starts over');
  r.succeeded('k');
  assert.equal(r.paused('k'), undefined);
  assert.equal(r.failed('k', new Error('no code'), why), undefined);
  assert.equal(r.failed('k', null, why), undefined);
  assert.equal(r.failed('k', 'text', why), undefined);
});

test('the_agents_log_says_when_it_is_asked_again', () => {
  assert.equal(nextAttempt(60_000), 'asked again in 60 s');
  assert.equal(nextAttempt(undefined), 'retrying next interval');
});

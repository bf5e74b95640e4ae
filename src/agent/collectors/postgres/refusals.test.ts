import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextAttempt, pausedReason, Refusals } from './refusals.js';

const refused = (code: string) => Object.assign(new Error('refused'), { code });

test('a_lasting_refusal_pauses_its_key_and_each_one_after_doubles_the_pause_up_to_its_most', () => {
  let now = 1_000_000;
  const r = new Refusals({ firstMs: 60_000, maxMs: 200_000 }, () => now);
  assert.equal(r.failed('pg_wal@', refused('42501')), 60_000);
  assert.equal(r.pausedUntil('pg_wal@'), 1_060_000);
  assert.equal(r.pausedUntil('pg_locks@'), undefined, 'other keys are not paused');
  now = 1_059_999;
  assert.equal(r.pausedUntil('pg_wal@'), 1_060_000);
  now = 1_060_000;
  assert.equal(r.pausedUntil('pg_wal@'), undefined, 'asked again once the pause is over');
  assert.equal(r.failed('pg_wal@', refused('42501')), 120_000);
  assert.equal(r.failed('pg_wal@', refused('42883')), 200_000, 'doubled, then held at the most');
  assert.equal(r.failed('pg_wal@', refused('42P01')), 200_000);
});

test('a_passing_failure_or_a_success_ends_the_pause', () => {
  const now = 0;
  const r = new Refusals({ firstMs: 1_000, maxMs: 8_000 }, () => now);
  r.failed('k', refused('42501'));
  r.failed('k', refused('42501'));
  assert.equal(r.failed('k', refused('57014')), undefined, 'a statement timeout is asked at the next turn');
  assert.equal(r.pausedUntil('k'), undefined);
  assert.equal(r.failed('k', refused('42501')), 1_000, 'and the pause starts over');
  r.succeeded('k');
  assert.equal(r.pausedUntil('k'), undefined);
  assert.equal(r.failed('k', new Error('no code')), undefined);
  assert.equal(r.failed('k', null), undefined);
  assert.equal(r.failed('k', 'text'), undefined);
});

test('the_reason_while_paused_and_the_agents_log_say_when_it_is_asked_again', () => {
  assert.equal(
    pausedReason(
      'permission denied for function pg_current_wal_lsn (SQLSTATE 42501)',
      Date.parse('2026-12-04T12:50:00Z'),
    ),
    'permission denied for function pg_current_wal_lsn (SQLSTATE 42501); not asked again before 2026-12-04T12:50:00.000Z',
  );
  assert.equal(nextAttempt(60_000), 'asked again in 60 s');
  assert.equal(nextAttempt(undefined), 'retrying next interval');
});

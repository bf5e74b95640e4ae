import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtureScope } from '../../../test/helpers/scope-fixture.js';
import { pgWalArchiving } from './postgres-archiver.js';
import type { Row } from './types.js';

const t = Object.fromEntries(Object.entries(pgWalArchiving.thresholds).map(([k, v]) => [k, v.default]));

const archiver = (extra: Row): Row => ({
  archive_mode: 'on',
  archived_count: 120,
  failed_count: 0,
  last_archived_wal: '000000010000000000000078',
  last_archived_time: '2026-12-03T08:00:00.000Z',
  last_archive_age_s: 30,
  last_failed_wal: null,
  last_failed_time: null,
  stats_reset: '2026-12-01T00:00:00.000Z',
  ...extra,
});

/** Two collections 30 s apart. */
function interval(prev: Row, cur: Row) {
  return fixtureScope([
    { ts: 0, families: { pg_archiver: [archiver(prev)] } },
    { ts: 30_000, families: { pg_archiver: [archiver(cur)] } },
  ]);
}

const failing = {
  failed_count: 6,
  last_failed_wal: '000000010000000000000079',
  last_failed_time: '2026-12-03T08:05:00.000Z',
  last_archive_age_s: 330,
};

test('archiving_that_succeeds_and_archiving_off_give_nothing', () => {
  assert.deepEqual(pgWalArchiving.evaluate(interval({}, { archived_count: 121 }), t), []);
  const off = { archive_mode: 'off', archived_count: 0, last_archived_time: null, last_archive_age_s: null };
  assert.deepEqual(pgWalArchiving.evaluate(interval(off, off), t), []);
});

test('a_last_failure_newer_than_the_last_success_is_a_warning_with_the_segment_and_the_diagnostic', () => {
  const [f, ...rest] = pgWalArchiving.evaluate(interval({ ...failing, failed_count: 3 }, failing), t);
  assert.equal(rest.length, 0);
  assert.ok(f);
  assert.equal(f.severity, 'warning');
  assert.equal(f.object, '');
  assert.match(f.title, /000000010000000000000079 could not be archived/);
  assert.match(f.title, /archived 6 min ago/);
  assert.equal(f.evidence.failed_in_interval, 3);
  assert.equal(f.evidence.last_failed_wal, '000000010000000000000079');
  assert.equal(f.evidence.last_archived_wal, '000000010000000000000078');
  assert.equal(f.value, 330);
  assert.match(f.action, /^SELECT \* FROM pg_stat_archiver;/);
  assert.match(f.action, /archive command failed/);
  assert.match(f.explanation, /until the disk holding it is full/);
});

test('it_is_failing_from_one_sample_without_a_rise_in_the_interval', () => {
  // The archiver waits a minute between rounds of retries: a collection can see no new failure yet.
  const [f] = pgWalArchiving.evaluate(interval(failing, failing), t);
  assert.equal(f?.severity, 'warning');
  assert.equal(f?.evidence.failed_in_interval, 0);
  const [first] = pgWalArchiving.evaluate(
    fixtureScope([{ ts: 0, families: { pg_archiver: [archiver(failing)] } }]),
    t,
  );
  assert.equal(first?.severity, 'warning');
  assert.equal(first?.evidence.failed_in_interval, null, 'no rate from one sample');
});

test('stuck_for_longer_than_the_threshold_or_never_archived_is_critical', () => {
  const old = { ...failing, last_archive_age_s: 7200 };
  assert.equal(pgWalArchiving.evaluate(interval(old, old), t)[0]?.severity, 'critical');
  assert.equal(pgWalArchiving.evaluate(interval(old, old), { critical_s: 10_000 })[0]?.severity, 'warning');
  const never = {
    ...failing,
    archived_count: 0,
    last_archived_wal: null,
    last_archived_time: null,
    last_archive_age_s: null,
  };
  const [f] = pgWalArchiving.evaluate(interval(never, never), t);
  assert.equal(f?.severity, 'critical');
  assert.match(f!.title, /no segment has ever been archived/);
  assert.equal(f?.value, null);
});

test('failures_followed_by_a_success_are_info_and_old_failures_are_nothing', () => {
  const recovered = {
    failed_count: 4,
    last_failed_wal: '000000010000000000000079',
    last_failed_time: '2026-12-03T08:05:00.000Z',
    archived_count: 121,
    last_archived_wal: '000000010000000000000079',
    last_archived_time: '2026-12-03T08:05:02.000Z',
    last_archive_age_s: 5,
  };
  const [f] = pgWalArchiving.evaluate(interval({ failed_count: 1 }, recovered), t);
  assert.equal(f?.severity, 'info');
  assert.match(f!.title, /failed 3 times in the last 30 s, then succeeded/);
  // The same state in the next interval: no new failure, nothing to say.
  assert.deepEqual(pgWalArchiving.evaluate(interval(recovered, recovered), t), []);
});

test('a_statistics_reset_gives_no_interval_count', () => {
  const [f] = pgWalArchiving.evaluate(
    interval({ ...failing, failed_count: 50 }, { ...failing, stats_reset: '2026-12-03T08:04:00.000Z' }),
    t,
  );
  assert.equal(f?.evidence.failed_in_interval, null);
  assert.equal(f?.severity, 'warning');
});

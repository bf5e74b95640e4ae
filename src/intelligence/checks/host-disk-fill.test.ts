import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FilesystemTrendRow } from '../../storage/queries/findings-host.sql.js';
import { hostDiskFill } from './host-disk-fill.js';
import type { Thresholds } from './types.js';

const now = Date.parse('2026-03-01T18:00:00Z');
const gb = 2 ** 30;

function trend(extra: Partial<FilesystemTrendRow> = {}): FilesystemTrendRow {
  return {
    serverId: 7,
    mountpoint: '/var/lib/postgresql',
    device: '/dev/sdb1',
    fstype: 'xfs',
    points: 2160,
    spanSeconds: 6 * 3600,
    // 1 GiB an hour with 3 GiB left: full in 3 h.
    slopeBytesPerSecond: gb / 3600,
    r2: 0.99,
    usedBytes: 97 * gb,
    availBytes: 3 * gb,
    sizeBytes: 100 * gb,
    lastTs: now,
    ...extra,
  };
}

const defaults: Thresholds = Object.fromEntries(
  Object.entries(hostDiskFill.thresholds).map(([k, v]) => [k, v.default]),
);
const evaluate = (rows: FilesystemTrendRow[]) => hostDiskFill.evaluate(rows, () => defaults, now);

test('a_steady_fill_with_3_hours_left_is_critical_with_the_hours_and_the_du_command', () => {
  const { observations, scopes } = evaluate([trend()]);
  assert.deepEqual(scopes, [{ serverId: 7, targetId: null }]);
  const [o] = observations;
  assert.equal(o?.severity, 'critical');
  assert.equal(o?.object, '/var/lib/postgresql');
  assert.equal(o?.evidence.hours_left, 3);
  assert.equal(o?.evidence.growth_bytes_per_hour, gb);
  assert.equal(o?.evidence.full_at, '2026-03-01T21:00:00.000Z');
  assert.match(o!.title, /full in 3 h/);
  assert.match(o!.action, /^du -xh --max-depth=2 \/var\/lib\/postgresql/);
});

test('hours_left_count_from_the_last_sample_and_grade_warning_under_24_hours', () => {
  const [w] = evaluate([trend({ availBytes: 12 * gb })]).observations;
  assert.equal(w?.severity, 'warning');
  assert.equal(w?.evidence.hours_left, 12);
  const [late] = evaluate([trend({ availBytes: 12 * gb, lastTs: now - 2 * 3_600_000 })]).observations;
  assert.equal(late?.evidence.hours_left, 10);
  assert.deepEqual(evaluate([trend({ availBytes: 48 * gb })]).observations, []);
  // A line fitted to real samples never lands on the hour: 9 h 59 min 59.9 s reads "10 h".
  const [round] = evaluate([trend({ availBytes: 10 * gb - 100_000 })]).observations;
  assert.match(round!.title, /full in 10 h at/);
});

test('flat_shrinking_noisy_short_or_odd_trends_say_nothing_but_still_count_as_looked_at', () => {
  for (const extra of [
    { slopeBytesPerSecond: 0, r2: 1 },
    { slopeBytesPerSecond: -gb / 3600 },
    { r2: 0.3 },
    { points: 5 },
    { spanSeconds: 600 },
    { slopeBytesPerSecond: null },
    { r2: null },
    { availBytes: null },
    { slopeBytesPerSecond: 'fast' as unknown as number },
  ] as Partial<FilesystemTrendRow>[]) {
    const { observations, scopes } = evaluate([trend(extra)]);
    assert.deepEqual(observations, [], JSON.stringify(extra));
    assert.equal(scopes.length, 1, 'the server was evaluated: its open forecast clears');
  }
});

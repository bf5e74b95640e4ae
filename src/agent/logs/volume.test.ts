import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LogEntry } from '../../protocol/logs.js';
import { fingerprintOf } from './fingerprint.js';
import { VolumeLimiter } from './volume.js';

/** `i` in letters only (aa, ab, …): fingerprints normalise numbers away, letters make them distinct. */
function letters(i: number): string {
  let out = '';
  for (let n = i + 26; n > 0; n = Math.floor(n / 26)) out = String.fromCharCode(97 + (n % 26)) + out;
  return out;
}

function entry(message: string): LogEntry {
  return {
    ts: new Date(0).toISOString(),
    source: 's',
    level: 'error',
    component: 'x',
    message,
    context: {},
    fingerprint: fingerprintOf('s', 'error', message),
  };
}

describe('volume control', () => {
  test('lets_a_flood_of_one_message_through_up_to_its_limit_and_reports_the_rest', () => {
    const v = new VolumeLimiter('s', { intervalMs: 1000, maxPerInterval: 100, maxPerFingerprint: 5 });
    const flood = Array.from({ length: 50 }, (_, i) => entry(`crash loop ${i}`));
    const kept = v.apply([...flood, entry('something else')], 0);
    assert.equal(kept.length, 6);
    assert.equal(kept.at(-1)!.message, 'something else');
    assert.deepEqual(v.tick(500), [], 'no report before the interval ends');
    const [report] = v.tick(1000);
    assert.equal(report!.context.event, 'log_entries_dropped');
    assert.equal(report!.context.dropped, 45);
    assert.equal(report!.context.dropped_by_flood, 45);
    assert.equal(report!.level, 'warning');
    const fps = report!.context.fingerprints as Array<{ count: number; sample: string }>;
    assert.equal(fps[0]!.count, 45);
    assert.match(fps[0]!.sample, /^crash loop/);
    assert.deepEqual(v.stats(), { admitted: 6, dropped: 45, droppedByCap: 0, droppedByFlood: 45 });
  });

  test('caps_entries_per_interval_and_counts_what_it_drops', () => {
    const v = new VolumeLimiter('s', { intervalMs: 1000, maxPerInterval: 10, maxPerFingerprint: 1000 });
    const kept = v.apply(
      Array.from({ length: 25 }, (_, i) => entry(`distinct message ${'x'.repeat(i)}`)),
      0,
    );
    assert.equal(kept.length, 10);
    const next = v.apply([entry('next interval')], 1500);
    assert.equal(next.length, 2, 'the report and the new entry');
    assert.equal(next[0]!.context.dropped_by_cap, 15);
    assert.equal(v.stats().droppedByCap, 15);
  });

  test('counts_a_flood_of_all_different_entries_under_one_counter_past_its_fingerprint_bound', () => {
    const v = new VolumeLimiter('s', {
      intervalMs: 1000,
      maxPerInterval: 100_000,
      maxPerFingerprint: 50,
      maxTrackedFingerprints: 100,
    });
    // 100 distinct fingerprints are tracked; the 400 after them share one counter, so flood
    // protection lets 50 of those through and drops (and counts) the other 350.
    const kept = v.apply(
      Array.from({ length: 500 }, (_, i) => entry(`unique ${letters(i)}`)),
      0,
    );
    assert.equal(kept.length, 150);
    const [report] = v.tick(1000);
    assert.equal(report!.context.dropped, 350);
    assert.equal(report!.context.dropped_by_flood, 350);
    assert.deepEqual(v.stats(), { admitted: 150, dropped: 350, droppedByCap: 0, droppedByFlood: 350 });
  });

  test('keeps_samples_of_at_most_1000_dropped_fingerprints_and_counts_the_rest', () => {
    const v = new VolumeLimiter('s', { intervalMs: 1000, maxPerInterval: 0, maxTrackedFingerprints: 5000 });
    v.apply(
      Array.from({ length: 3000 }, (_, i) => entry(`only ${letters(i)}`)),
      0,
    );
    const [report] = v.tick(1000);
    assert.equal(report!.context.dropped, 3000);
    assert.equal(report!.context.dropped_unlisted, 2000);
    assert.equal((report!.context.fingerprints as unknown[]).length, 20);
    assert.equal(report!.context.other_fingerprints, 980);
  });
});

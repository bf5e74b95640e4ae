import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ErrorBaselineRow, RecentErrors } from '../../storage/queries/log-analysis.sql.js';
import {
  type ErrorSpikeInput,
  errorSpikeCheck,
  errorSpread,
  evaluateErrorSpikes,
  spikeCommand,
} from './log-spike.js';
import type { Thresholds } from './types.js';

const hour = 3_600_000;
const now = Date.parse('2026-03-01T18:02:30Z');
const baselineTo = Date.parse('2026-03-01T18:00:00Z');

const defaults: Thresholds = Object.fromEntries(
  Object.entries(errorSpikeCheck.thresholds).map(([k, v]) => [k, v.default]),
);

function recent(count: number, extra: Partial<RecentErrors> = {}): RecentErrors {
  return {
    serverId: 7,
    source: 'api',
    count,
    first: new Date(now - 240_000),
    last: new Date(now - 1000),
    top: [
      {
        fingerprint: '0123456789abcdef',
        count: Math.ceil(count * 0.75),
        level: 'error',
        sample: 'upstream timed out',
      },
      {
        fingerprint: 'fedcba9876543210',
        count: Math.floor(count * 0.25),
        level: 'error',
        sample: 'pool exhausted',
      },
    ],
    ...extra,
  };
}

/** A server counted for `hours` hours whose source `api` wrote `errors` errors in them. */
function baseline(hours: number, errors: number, serverId = 7): ErrorBaselineRow[] {
  const firstHour = new Date(baselineTo - hours * hour);
  return [
    { serverId, source: null, errors: errors + 500, firstHour },
    { serverId, source: 'api', errors, firstHour },
  ];
}

function input(rows: RecentErrors[], baselines: ErrorBaselineRow[]): ErrorSpikeInput {
  return {
    servers: [7],
    windowFrom: now - 300_000,
    windowTo: now,
    baselineFrom: baselineTo - 168 * hour,
    baselineTo,
    recent: rows,
    baselines,
  };
}

const evaluate = (i: ErrorSpikeInput, t: Thresholds = defaults) => evaluateErrorSpikes(i, () => t);

test('errors_far_above_the_hourly_baseline_are_a_spike_with_count_baseline_ratio_top_patterns_and_the_query', () => {
  // 168 h with 12 errors an hour: 1 per 5 minutes, floored to 4; 50 now is 12.5×: critical.
  const { observations, scopes } = evaluate(input([recent(50)], baseline(168, 168 * 12)));
  assert.deepEqual(scopes, [{ serverId: 7, targetId: null }]);
  const [o] = observations;
  assert.equal(o?.severity, 'critical');
  assert.equal(o?.object, 'api');
  assert.equal(o?.evidence.count, 50);
  assert.equal(o?.evidence.baseline_per_5min, 1);
  assert.equal(o?.evidence.baseline_floored, 4);
  assert.equal(o?.evidence.baseline_mean_hourly, 12);
  assert.equal(o?.evidence.baseline_hours, 168);
  assert.equal(o?.evidence.ratio, 12.5);
  assert.equal(o?.evidence.window_from, '2026-03-01T17:57:30.000Z');
  const top = o?.evidence.top_fingerprints as Array<{ fingerprint: string; sample: string }>;
  assert.equal(top[0]?.fingerprint, '0123456789abcdef');
  assert.equal(top[0]?.sample, 'upstream timed out');
  assert.equal(
    o?.action,
    `curl -s -H "Authorization: Bearer $PGVIGIL_TOKEN" "$PGVIGIL_URL"'/api/v1/logs?server=7&source=api&minLevel=error&from=2026-03-01T17%3A57%3A30.000Z&to=2026-03-01T18%3A02%3A30.000Z&limit=200'`,
  );
});

test('a_busy_source_at_its_usual_rate_is_no_spike_and_three_to_ten_times_is_a_warning', () => {
  // 120 errors an hour = 10 per 5 minutes.
  const base = baseline(168, 168 * 120);
  assert.deepEqual(evaluate(input([recent(25)], base)).observations, []);
  assert.deepEqual(evaluate(input([recent(30)], base)).observations, [], 'exactly 3× is not above 3×');
  const [w] = evaluate(input([recent(31)], base)).observations;
  assert.equal(w?.severity, 'warning');
  assert.equal(w?.evidence.ratio, 3.1);
});

test('the_floor_keeps_a_quiet_sources_first_errors_from_being_a_spike', () => {
  // Never an error before: baseline 0, floored to 4 — 6 errors are 1.5×, 12 are 3×, 13 are 3.25×.
  const quiet = baseline(168, 0);
  assert.deepEqual(evaluate(input([recent(6)], quiet)).observations, []);
  assert.deepEqual(evaluate(input([recent(12)], quiet)).observations, []);
  const [o] = evaluate(input([recent(13)], quiet)).observations;
  assert.equal(o?.severity, 'warning');
  assert.equal(o?.evidence.baseline_per_5min, 0);
  assert.match(o!.explanation, /compared with at least 4/);
  // The floor is a threshold: raised to 5, 13 errors are no longer a spike.
  assert.deepEqual(evaluate(input([recent(13)], quiet), { ...defaults, baseline_floor: 5 }).observations, []);
});

test('a_bursty_source_is_judged_against_its_own_5_minute_spread', () => {
  // 168 h averaging 24 errors an hour (2 per 5 minutes). Steady: every hour 24. Bursty: most hours 0,
  // one in 12 hours 288 (the same mean, hourly sd ≈ 80, ≈ 23 per 5 minutes).
  const steady = baseline(168, 168 * 24).map((r) => (r.source ? { ...r, errorsSq: 168 * 24 * 24 } : r));
  const bursty = baseline(168, 168 * 24).map((r) => (r.source ? { ...r, errorsSq: 14 * 288 * 288 } : r));
  assert.equal(evaluate(input([recent(30)], steady)).observations[0]?.severity, 'warning');
  assert.deepEqual(
    evaluate(input([recent(30)], bursty)).observations,
    [],
    'an ordinary burst of that source',
  );
  const [big] = evaluate(input([recent(120)], bursty)).observations;
  assert.equal(big?.severity, 'critical');
  assert.ok(Number(big?.evidence.usual_high_5min) > 90, String(big?.evidence.usual_high_5min));
});

test('error_spread_is_the_sd_of_hourly_counts_and_a_twelfth_of_its_variance_for_5_minutes', () => {
  assert.deepEqual(errorSpread(0, 0, 0), { perHour: 0, per5min: 0 });
  const s = errorSpread(10 * 4, 5 * 64, 10); // five hours of 8, five of 0: mean 4, sd 4
  assert.equal(s.perHour, 4);
  assert.ok(Math.abs(s.per5min - 4 / Math.sqrt(12)) < 1e-12);
});

test('a_source_missing_from_the_baseline_counts_as_zero_errors_over_the_servers_covered_hours', () => {
  const b = baseline(48, 100).map((r) => (r.source === 'api' ? { ...r, source: 'worker' } : r));
  const [o] = evaluate(input([recent(50)], b)).observations;
  assert.equal(o?.evidence.baseline_per_5min, 0);
  assert.equal(o?.evidence.baseline_hours, 48);
});

test('no_baseline_or_too_few_hours_of_it_means_no_verdict_but_the_server_still_counts_as_looked_at', () => {
  for (const b of [[], baseline(10, 0), baseline(23.5, 0)]) {
    const r = evaluate(input([recent(500)], b));
    assert.deepEqual(r.observations, []);
    assert.deepEqual(r.scopes, [{ serverId: 7, targetId: null }]);
  }
  // Counted hours older than the 7-day range do not lengthen it.
  const [o] = evaluate(input([recent(500)], baseline(400, 0))).observations;
  assert.equal(o?.evidence.baseline_hours, 168);
});

test('hostile_source_names_are_cut_and_quoted_in_the_query_and_findings_per_server_are_capped', () => {
  const source = `a'b;rm -rf /$(x)${'z'.repeat(300)}`;
  const rows = [recent(100, { source })];
  for (let i = 0; i < 30; i++) rows.push(recent(100, { source: `s${i}` }));
  const base = [...baseline(168, 0), { serverId: 7, source, errors: 0, firstHour: new Date(0) }];
  const { observations } = evaluate(input(rows, base));
  assert.equal(observations.length, 20);
  const o = observations[0]!;
  assert.ok(String(o.evidence.source).length <= 101);
  assert.equal(o.action.split("'").length, 3, 'the path is one single-quoted word: the name cannot end it');
  assert.match(o.action, /source=a%27b%3Brm%20-rf%20%2F%24%28x%29z/);
  assert.match(spikeCommand(1, "it's", 0, 1), /source=it%27s/);
});

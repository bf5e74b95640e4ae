import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HostFeed } from '../../../test/helpers/host-scope.js';
import type { Row } from '../../agent/collectors/types.js';
import {
  processChecks,
  processCpu,
  processFds,
  processMemory,
  processMissing,
  processState,
  processThreads,
} from './process.js';
import type { Draft, IngestCheck } from './types.js';

const t0 = Date.parse('2026-03-01T10:00:00Z');
const mb = 2 ** 20;

function proc(extra: Row = {}): Row {
  return {
    watch: 'pgbouncer',
    up: true,
    processes: 1,
    pid: 4242,
    state: 'sleeping',
    cpu_pct: 1,
    rss_bytes: 20 * mb,
    fds: 40,
    threads: 1,
    uptime_s: 86_400,
    ...extra,
  };
}

const missing: Row = {
  watch: 'pgbouncer',
  up: false,
  processes: 0,
  pid: null,
  state: 'missing',
  cpu_pct: null,
  rss_bytes: null,
  fds: null,
  threads: null,
  uptime_s: null,
};

function once(check: IngestCheck, ...rows: Row[]): Draft[] {
  return new HostFeed().feed([check], [{ family: 'host_process', ts: t0, rows }]);
}

function stream(feed: HostFeed, check: IngestCheck, row: (i: number) => Row, seconds: number): Draft[] {
  let last: Draft[] = [];
  for (let i = 0; i * 10 <= seconds; i++) {
    last = feed.feed([check], [{ family: 'host_process', ts: t0 + i * 10_000, rows: [row(i)] }]);
  }
  return last;
}

describe('process.missing', () => {
  test('a_watch_matching_nothing_is_critical_with_the_units_status_and_log', () => {
    const [f] = once(processMissing, missing);
    assert.equal(f?.severity, 'critical');
    assert.equal(f?.object, 'pgbouncer');
    assert.equal(f?.action, 'systemctl status pgbouncer; journalctl -u pgbouncer --since "-15 min"');
    assert.deepEqual(once(processMissing, proc()), []);
  });

  test('a_missing_pattern_watch_proposes_pgrep_with_the_pattern_quoted', () => {
    const [f] = once(processMissing, { ...missing, watch: '/postgres: checkpointer/' });
    assert.equal(f?.action, "pgrep -af 'postgres: checkpointer'");
  });

  test('odd_rows_are_not_a_missing_process', () => {
    assert.deepEqual(once(processMissing, { ...missing, up: 'false' }), []);
    assert.deepEqual(once(processMissing, { ...missing, state: 'sleeping' }), []);
  });
});

describe('process resources are judged per process', () => {
  test('a_healthy_postgres_with_a_hundred_backends_shows_nothing', () => {
    const postgres = proc({
      watch: 'postgres',
      processes: 100,
      cpu_pct: 400,
      rss_bytes: 100 * 150 * mb,
      fds: 100 * 60,
      threads: 100,
    });
    for (const c of processChecks)
      assert.deepEqual(
        stream(new HostFeed(), c, () => postgres, 600),
        [],
        c.id,
      );
  });

  test('one_process_over_500_mb_is_a_warning_and_over_1_gb_critical', () => {
    const [w] = once(processMemory, proc({ rss_bytes: 600 * mb }));
    assert.equal(w?.severity, 'warning');
    assert.equal(w?.evidence.per_process, 600 * mb);
    assert.match(
      w!.action,
      /^systemctl status 4242; ps -o pid,stat,rss,etime,cmd -C pgbouncer; cat \/proc\/4242\/status$/,
    );
    assert.equal(once(processMemory, proc({ rss_bytes: 1.5 * 2 ** 30 }))[0]?.severity, 'critical');
    // Four workers of 300 MB: 1.2 GB summed, 300 MB each.
    assert.deepEqual(once(processMemory, proc({ processes: 4, rss_bytes: 1200 * mb })), []);
  });

  test('fds_grade_info_at_500_and_warning_at_1000_and_threads_warn_at_500', () => {
    assert.equal(once(processFds, proc({ fds: 600 }))[0]?.severity, 'info');
    assert.equal(once(processFds, proc({ fds: 1200 }))[0]?.severity, 'warning');
    assert.deepEqual(once(processFds, proc({ fds: null })), [], 'fds not readable');
    assert.equal(once(processThreads, proc({ threads: 700 }))[0]?.severity, 'warning');
    assert.deepEqual(once(processThreads, proc({ threads: 200 })), []);
  });

  test('cpu_over_30_percent_for_5_minutes_is_a_warning_and_a_spike_is_nothing', () => {
    const [f] = stream(new HostFeed(), processCpu, () => proc({ cpu_pct: 50 }), 300);
    assert.equal(f?.severity, 'warning');
    assert.equal(f?.evidence.held_s, 300);
    assert.equal(
      stream(new HostFeed(), processCpu, () => proc({ cpu_pct: 95 }), 300)[0]?.severity,
      'critical',
    );
    assert.deepEqual(
      stream(new HostFeed(), processCpu, (i) => proc({ cpu_pct: i === 5 ? 99 : 2 }), 600),
      [],
    );
    assert.deepEqual(
      stream(new HostFeed(), processCpu, () => proc({ cpu_pct: 50 }), 200),
      [],
    );
  });

  test('odd_values_say_nothing', () => {
    for (const extra of [
      { processes: 0, rss_bytes: 10 * 2 ** 30 },
      { processes: null, rss_bytes: 10 * 2 ** 30 },
      { rss_bytes: 'huge' },
      { rss_bytes: -1 },
      { up: false, rss_bytes: 10 * 2 ** 30 },
    ] as Row[]) {
      assert.deepEqual(once(processMemory, proc(extra)), [], JSON.stringify(extra));
    }
  });
});

describe('process.state', () => {
  test('a_main_process_in_d_state_for_2_minutes_is_a_warning_and_for_one_sample_nothing', () => {
    const [f] = stream(new HostFeed(), processState, () => proc({ state: 'disk-sleep' }), 120);
    assert.equal(f?.severity, 'warning');
    assert.match(f!.action, /cat \/proc\/4242\/stack/);
    assert.deepEqual(
      stream(
        new HostFeed(),
        processState,
        (i) => proc({ state: i % 4 === 0 ? 'disk-sleep' : 'running' }),
        600,
      ),
      [],
    );
  });

  test('a_zombie_main_process_is_a_warning_and_running_or_missing_are_not_states_to_report', () => {
    assert.equal(
      stream(new HostFeed(), processState, () => proc({ state: 'zombie' }), 120)[0]?.severity,
      'warning',
    );
    assert.deepEqual(
      stream(new HostFeed(), processState, () => proc({ state: 'running' }), 600),
      [],
    );
    assert.deepEqual(
      stream(new HostFeed(), processState, () => missing, 600),
      [],
    );
    assert.deepEqual(
      stream(new HostFeed(), processState, () => proc({ state: '__proto__' }), 600),
      [],
    );
  });
});

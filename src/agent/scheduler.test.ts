import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { type Collector, NotApplicableError } from './collectors/types.js';
import { Scheduler } from './scheduler.js';

interface LogLine {
  level: number;
  msg: string;
  collector?: string;
}

function capturingLogger(): { log: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}

const ok = (name: string): Collector => ({
  name,
  defaultEnabled: true,
  intervalMs: 10_000,
  async collect(ctx) {
    ctx.expose?.([{ name: `test_${name}`, help: 'x', type: 'gauge', samples: [{ value: 1 }] }]);
    return [{ family: 'host_load', ts: ctx.now(), rows: [{ load1: 1, load5: 1, load15: 1 }] }];
  },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function scheduler(
  collectors: Collector[],
  log: pino.Logger,
  extra: { intervalMs?: number; timeoutMs?: number } = {},
) {
  return new Scheduler({ collectors, procRoot: '/proc', sysRoot: '/sys', log, intervalMs: 40, ...extra });
}

test('a_failing_collector_keeps_the_others_running_and_is_reported_once', async () => {
  const { log, lines } = capturingLogger();
  const failing: Collector = {
    ...ok('broken'),
    collect: async () => {
      throw new Error('EACCES: permission denied, open /proc/diskstats');
    },
  };
  const s = scheduler([ok('fine'), failing], log);
  await s.start();
  await sleep(180);
  await s.stop();
  const health = new Map(s.health().map((h) => [h.name, h]));
  assert.equal(health.get('fine')!.status, 'ok');
  assert.ok(health.get('fine')!.runs >= 3, `fine ran ${health.get('fine')!.runs} times`);
  assert.equal(health.get('broken')!.status, 'failing');
  assert.ok(health.get('broken')!.failures >= 3);
  assert.match(health.get('broken')!.lastError!, /permission denied/);
  const warnings = lines.filter((l) => l.msg === 'collector failing');
  assert.equal(warnings.length, 1, 'reported once, not on every run');
  assert.equal(warnings[0]!.level, 40);
});

test('not_applicable_is_its_own_state_logged_once_at_debug_and_not_a_failure', async () => {
  const { log, lines } = capturingLogger();
  const psi: Collector = {
    ...ok('pressure'),
    collect: async () => {
      throw new NotApplicableError('no pressure stall information');
    },
  };
  const s = scheduler([psi], log);
  await s.start();
  await sleep(100);
  await s.stop();
  const h = s.health()[0]!;
  assert.equal(h.status, 'not_applicable');
  assert.equal(h.failures, 0);
  const reported = lines.filter((l) => l.msg === 'collector not applicable on this host');
  assert.equal(reported.length, 1);
  assert.equal(reported[0]!.level, 20);
});

test('a_hung_collector_times_out_is_not_doubled_up_and_others_keep_running', async () => {
  const { log } = capturingLogger();
  let started = 0;
  const hung: Collector = {
    ...ok('hung'),
    collect: () => {
      started++;
      return new Promise(() => {});
    },
  };
  const s = scheduler([hung, ok('fine')], log, { intervalMs: 30, timeoutMs: 20 });
  await s.start();
  await sleep(150);
  const health = new Map(s.health().map((h) => [h.name, h]));
  assert.equal(health.get('hung')!.status, 'failing');
  assert.match(health.get('hung')!.lastError!, /did not finish within 20 ms/);
  assert.equal(started, 1, 'the hung run is never started twice');
  assert.ok(health.get('hung')!.skipped >= 2);
  assert.ok(health.get('fine')!.runs >= 3);
  // stop() would wait for the hung promise forever; the test just stops scheduling.
  void s.stop();
});

test('a_failed_run_withdraws_the_collectors_exposition_and_recovery_is_logged', async () => {
  const { log, lines } = capturingLogger();
  let fail = false;
  const flaky: Collector = {
    ...ok('flaky'),
    async collect(ctx) {
      if (fail) throw new Error('gone');
      return ok('flaky').collect(ctx);
    },
  };
  const s = scheduler([flaky], log, { intervalMs: 60_000 });
  await s.runOnce();
  assert.ok(s.exposition().some((m) => m.name === 'test_flaky'));
  fail = true;
  await s.runOnce();
  assert.ok(!s.exposition().some((m) => m.name === 'test_flaky'), 'stale numbers are not served');
  fail = false;
  await s.runOnce();
  assert.ok(s.exposition().some((m) => m.name === 'test_flaky'));
  assert.equal(lines.filter((l) => l.msg === 'collector recovered').length, 1);
});

test('health_is_exposed_as_pgvigil_collector_metrics', async () => {
  const { log } = capturingLogger();
  const broken: Collector = {
    ...ok('broken'),
    collect: async () => {
      throw new Error('x');
    },
  };
  const s = scheduler([ok('fine'), broken], log);
  await s.runOnce();
  const m = new Map(s.exposition().map((x) => [x.name, x]));
  const up = m.get('pgvigil_collector_up')!;
  assert.deepEqual(
    up.samples.map((x) => [x.labels?.collector, x.value]),
    [
      ['fine', 1],
      ['broken', 0],
    ],
  );
  const status = m.get('pgvigil_collector_status')!;
  assert.equal(
    status.samples.find((x) => x.labels?.collector === 'broken' && x.labels.status === 'failing')?.value,
    1,
  );
  assert.equal(m.get('pgvigil_collector_failures_total')!.type, 'counter');
  assert.ok(m.get('pgvigil_collector_duration_seconds')!.samples.every((x) => x.value >= 0));
});

test('a_collector_that_throws_synchronously_fails_like_any_other', async () => {
  const { log } = capturingLogger();
  const sync: Collector = {
    ...ok('sync'),
    collect: () => {
      throw new Error('thrown before a promise');
    },
  };
  const s = scheduler([sync], log);
  await s.runOnce();
  assert.equal(s.health()[0]!.status, 'failing');
});

test('two_collectors_with_one_name_are_refused', () => {
  const { log } = capturingLogger();
  assert.throws(() => scheduler([ok('a'), ok('a')], log), /two collectors are named a/);
});

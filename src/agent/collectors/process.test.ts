import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { collectFixturePair, fakeContext, fixture, metricOf, rowsOf } from '../../../test/helpers/collect.js';
import {
  createProcessCollector,
  matchesWatch,
  parsePidStat,
  parseProcessWatch,
  parseStatusRss,
} from './process.js';

const watches = ['postgres', '/checkpointer/', 'pgbouncer', 'nginx', 'very-long-daemon-name'].map(
  parseProcessWatch,
);

test('parses_pid_stat_whose_name_has_spaces_and_parentheses', () => {
  const s = parsePidStat(readFileSync(fixture('proc', '6.1.0', '1500', 'stat'), 'utf8'));
  assert.equal(s.pid, 1500);
  assert.equal(s.comm, '(sd-pam)');
  assert.equal(s.state, 'S');
  assert.equal(s.ppid, 1499);
  const weird = parsePidStat(`77 (a) b) c) R 1 ${'0 '.repeat(9)}15 25 0 0 20 0 3 0 999 0 0 0`);
  assert.equal(weird.comm, 'a) b) c');
  assert.equal(weird.utimeTicks, 15);
  assert.equal(weird.stimeTicks, 25);
  assert.equal(weird.threads, 3);
  assert.equal(weird.startTicks, 999);
});

test('malformed_pid_stat_is_a_clear_error', () => {
  assert.throws(
    () => parsePidStat('12 sleepy S 1', '/proc/12/stat'),
    /\/proc\/12\/stat line 1: expected "pid \(name\) state …"/,
  );
  assert.throws(() => parsePidStat('12 (x) S 1 2 3'), /expected at least 22 fields, got 6/);
});

test('status_without_vmrss_is_a_process_without_address_space', () => {
  assert.equal(parseStatusRss(readFileSync(fixture('proc', '6.1.0', '1200', 'status'), 'utf8')), 0);
  assert.equal(parseStatusRss('Name:\tx\nVmRSS:\t   30000 kB\n'), 30000 * 1024);
});

test('watch_values_are_names_or_slash_delimited_patterns', () => {
  assert.deepEqual(parseProcessWatch('postgres'), { spec: 'postgres', name: 'postgres' });
  assert.equal(parseProcessWatch('/pg.*bouncer/').pattern?.source, 'pg.*bouncer');
  assert.equal(parseProcessWatch('/PGBOUNCER/i').pattern?.test('pgbouncer'), true);
  assert.throws(
    () => parseProcessWatch('/(unclosed/'),
    /--watch-process \/\(unclosed\/: not a valid regular expression/,
  );
  assert.throws(() => parseProcessWatch('  '), /empty process name/);
  assert.throws(() => parseProcessWatch('/usr/bin/postgres'), /a process name has no "\/"/);
});

test('a_name_longer_than_the_kernel_keeps_also_matches_argv0', () => {
  const comm = 'very-long-daemo';
  const w = parseProcessWatch('very-long-daemon-name');
  assert.equal(matchesWatch(w, { comm, cmdline: '/opt/app/very-long-daemon-name --serve' }), true);
  assert.equal(matchesWatch(w, { comm, cmdline: '/opt/app/very-long-daemon-other' }), false);
  assert.equal(matchesWatch(parseProcessWatch('very-long-daemo'), { comm, cmdline: '' }), true);
});

test('watched_processes_are_summed_per_watch_with_cpu_over_the_interval', async () => {
  const collector = createProcessCollector({ watches, selfPid: 999_999 });
  const { first, second, ctx } = await collectFixturePair(collector);
  assert.equal(
    rowsOf(first, 'host_process').find((r) => r.watch === 'postgres')!.cpu_pct,
    null,
    'first sample',
  );
  const rows = new Map(rowsOf(second, 'host_process').map((r) => [r.watch, r]));
  const kB = 1024;
  // postmaster +50 ticks (5 %), checkpointer +10 (1 %), bgwriter +20 (2 %) in 10 s; the backend 3000
  // started in between and has no rate yet.
  assert.deepEqual(rows.get('postgres'), {
    watch: 'postgres',
    up: true,
    processes: 4,
    pid: 812,
    state: 'sleeping',
    cpu_pct: 8,
    rss_bytes: (30000 + 15000 + 9000 + 8000) * kB,
    fds: 9 + 8 + 8 + 10,
    threads: 4,
    uptime_s: 100010 - 2500,
  });
  assert.equal(rows.get('/checkpointer/')!.processes, 1);
  assert.equal(rows.get('/checkpointer/')!.pid, 840);
  assert.equal(rows.get('/checkpointer/')!.cpu_pct, 1);
  assert.equal(rows.get('pgbouncer')!.cpu_pct, 10);
  const daemon = rows.get('very-long-daemon-name')!;
  assert.equal(daemon.state, 'disk-sleep');
  assert.equal(daemon.threads, 12);
  assert.equal(daemon.cpu_pct, 0, 'no CPU used: a measured zero');
  const cpu = metricOf(ctx.exposed, 'pgvigil_process_cpu_seconds_total');
  assert.equal(cpu.samples.find((s) => s.labels?.watch === 'postgres')?.value, 0.8);
  assert.equal(
    metricOf(ctx.exposed, 'pgvigil_process_start_time_seconds').samples.find(
      (s) => s.labels?.watch === 'postgres',
    )?.value,
    1700000000 + 2500,
  );
});

test('a_watch_matching_nothing_is_reported_missing_without_invented_values', async () => {
  const ctx = fakeContext();
  const rows = rowsOf(await createProcessCollector({ watches }).collect(ctx), 'host_process');
  assert.deepEqual(
    rows.find((r) => r.watch === 'nginx'),
    {
      watch: 'nginx',
      up: false,
      processes: 0,
      pid: null,
      state: 'missing',
      cpu_pct: null,
      rss_bytes: null,
      fds: null,
      threads: null,
      uptime_s: null,
    },
  );
  assert.equal(
    metricOf(ctx.exposed, 'pgvigil_process_up').samples.find((s) => s.labels?.watch === 'nginx')?.value,
    0,
  );
  assert.equal(
    metricOf(ctx.exposed, 'pgvigil_process_resident_memory_bytes').samples.some(
      (s) => s.labels?.watch === 'nginx',
    ),
    false,
  );
});

test('the_agent_never_matches_itself', async () => {
  const rows = rowsOf(
    await createProcessCollector({ watches: [parseProcessWatch('/checkpointer/')], selfPid: 840 }).collect(
      fakeContext(),
    ),
    'host_process',
  );
  assert.equal(rows[0]!.up, false);
});

test('a_process_counted_by_two_watches_has_its_cpu_in_both', async () => {
  const collector = createProcessCollector({
    watches: [parseProcessWatch('postgres'), parseProcessWatch('/postgres: 15\\/main: checkpointer/')],
  });
  const { second } = await collectFixturePair(collector);
  const rows = rowsOf(second, 'host_process');
  assert.equal(rows[1]!.cpu_pct, 1);
  assert.equal(rows[0]!.cpu_pct, 8);
});

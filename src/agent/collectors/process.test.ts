import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { collectFixturePair, fakeContext, fixture, metricOf, rowsOf } from '../../../test/helpers/collect.js';
import {
  createProcessCollector,
  matchesWatch,
  pageSizeFromAuxv,
  parsePidStat,
  parseProcessWatch,
  parseStatmRss,
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

test('a_process_that_takes_a_watched_name_later_is_found_by_the_next_full_scan', async () => {
  const procRoot = mkdtempSync(join(tmpdir(), 'pgvigil-proc-'));
  try {
    cpSync(fixture('proc', '6.1.0'), procRoot, { recursive: true });
    const pid = join(procRoot, '4000');
    mkdirSync(join(pid, 'fd'), { recursive: true });
    const stat = (comm: string) => `4000 (${comm}) S 1 ${'0 '.repeat(9)}5 5 0 0 20 0 1 0 9000 0 0 0\n`;
    writeFileSync(join(pid, 'comm'), 'sh\n');
    writeFileSync(join(pid, 'stat'), stat('sh'));
    writeFileSync(join(pid, 'status'), 'Name:\tsh\nVmRSS:\t     100 kB\n');
    const collector = createProcessCollector({ watches: [parseProcessWatch('nginx')], fullScanMs: 60_000 });
    const ctx = fakeContext({ procRoot });
    const up = async () => rowsOf(await collector.collect(ctx), 'host_process')[0]!.up;
    assert.equal(await up(), false);
    ctx.advance(10_000);
    assert.equal(await up(), false, 'read a second time: "sh" is now a confirmed name');
    // Much later the shell execs nginx: same pid, new name.
    writeFileSync(join(pid, 'comm'), 'nginx\n');
    writeFileSync(join(pid, 'stat'), stat('nginx'));
    ctx.advance(10_000);
    assert.equal(await up(), false, 'a confirmed name is trusted until the next full scan');
    ctx.advance(40_000);
    assert.equal(await up(), true, 'found by the full scan, 60 s after the last one');
  } finally {
    rmSync(procRoot, { recursive: true, force: true });
  }
});

test('a_process_caught_between_fork_and_exec_is_matched_on_the_next_collection', async () => {
  const procRoot = mkdtempSync(join(tmpdir(), 'pgvigil-proc-'));
  try {
    cpSync(fixture('proc', '6.1.0'), procRoot, { recursive: true });
    const pid = join(procRoot, '4001');
    mkdirSync(join(pid, 'fd'), { recursive: true });
    const stat = (comm: string) => `4001 (${comm}) S 1 ${'0 '.repeat(9)}5 5 0 0 20 0 1 0 9000 0 0 0\n`;
    // First seen still under its parent's name, a moment before exec.
    writeFileSync(join(pid, 'comm'), 'systemd\n');
    writeFileSync(join(pid, 'stat'), stat('systemd'));
    writeFileSync(join(pid, 'status'), 'Name:\tsystemd\nVmRSS:\t     100 kB\n');
    const collector = createProcessCollector({ watches: [parseProcessWatch('nginx')] });
    const ctx = fakeContext({ procRoot });
    assert.equal(rowsOf(await collector.collect(ctx), 'host_process')[0]!.up, false);
    writeFileSync(join(pid, 'comm'), 'nginx\n');
    writeFileSync(join(pid, 'stat'), stat('nginx'));
    ctx.advance(10_000);
    assert.equal(
      rowsOf(await collector.collect(ctx), 'host_process')[0]!.up,
      true,
      'a new name is read twice',
    );
  } finally {
    rmSync(procRoot, { recursive: true, force: true });
  }
});

test('a_matching_process_renamed_away_stops_matching_at_once', async () => {
  const procRoot = mkdtempSync(join(tmpdir(), 'pgvigil-proc-'));
  try {
    cpSync(fixture('proc', '6.1.0'), procRoot, { recursive: true });
    const collector = createProcessCollector({ watches: [parseProcessWatch('pgbouncer')] });
    const ctx = fakeContext({ procRoot });
    assert.equal(rowsOf(await collector.collect(ctx), 'host_process')[0]!.processes, 1);
    const statFile = join(procRoot, '900', 'stat');
    writeFileSync(statFile, readFileSync(statFile, 'utf8').replace('(pgbouncer)', '(pgbouncer-old)'));
    ctx.advance(10_000);
    assert.equal(rowsOf(await collector.collect(ctx), 'host_process')[0]!.up, false);
  } finally {
    rmSync(procRoot, { recursive: true, force: true });
  }
});

test('on_the_real_procfs_kept_files_read_what_fresh_reads_do_and_are_let_go', async () => {
  // A private copy of sleep under a name nothing else on the host has.
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-watch-'));
  const name = `pgvw${process.pid % 100_000}`;
  const bin = join(dir, name);
  cpSync('/bin/sleep', bin);
  chmodSync(bin, 0o755);
  const children = [spawn(bin, ['60']), spawn(bin, ['60'])];
  /** Descriptors of this process open on the children's /proc files. */
  const openFds = () =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        const target = readlinkSync(`/proc/self/fd/${fd}`);
        return children.some((c) => target.startsWith(`/proc/${c.pid}/`));
      } catch {
        return false; // closed meanwhile (the listing's own descriptor)
      }
    }).length;
  const before = openFds();
  const collector = createProcessCollector({ watches: [parseProcessWatch(name)] });
  const ctx = fakeContext({ procRoot: '/proc' });
  try {
    await new Promise((r) => setTimeout(r, 200)); // exec done: comm is the copy's name
    const direct = (pid: number) => ({
      rss: parseStatusRss(readFileSync(`/proc/${pid}/status`, 'utf8')),
      threads: parsePidStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).threads,
      fds: readdirSync(`/proc/${pid}/fd`).length,
    });
    for (let round = 0; round < 3; round++) {
      const row = rowsOf(await collector.collect(ctx), 'host_process')[0]!;
      const expected = children.map((c) => direct(c.pid!));
      assert.equal(row.processes, 2, `round ${round}`);
      assert.equal(row.rss_bytes, expected[0]!.rss + expected[1]!.rss);
      assert.equal(row.threads, expected[0]!.threads + expected[1]!.threads);
      assert.equal(row.fds, expected[0]!.fds + expected[1]!.fds);
      ctx.advance(10_000);
    }
    assert.equal(openFds(), before + 6, 'stat, status and fd directory of two processes kept open');
    const exited = new Promise((r) => children[0]!.once('exit', r));
    children[0]!.kill('SIGKILL');
    await exited;
    const row = rowsOf(await collector.collect(ctx), 'host_process')[0]!;
    assert.equal(row.processes, 1);
    assert.equal(row.pid, children[1]!.pid);
    assert.equal(openFds(), before + 3, 'the exited process’s files are closed');
    await collector.close?.();
    assert.equal(openFds(), before);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('statm_resident_pages_give_the_bytes_of_status_vmrss', () => {
  const pageSize = 4096;
  assert.equal(parseStatmRss('6153 2391 1632 180 0 489 0\n', pageSize), 2391 * 4096);
  assert.throws(
    () => parseStatmRss('6153\n', pageSize, '/proc/7/statm'),
    /\/proc\/7\/statm line 1: resident/,
  );
  // The page size from the auxiliary vector: (AT_PAGESZ = 6, 4096), then the end (AT_NULL).
  const auxv = Buffer.alloc(48);
  auxv.writeBigUInt64LE(33n, 0);
  auxv.writeBigUInt64LE(1n, 8);
  auxv.writeBigUInt64LE(6n, 16);
  auxv.writeBigUInt64LE(4096n, 24);
  assert.equal(pageSizeFromAuxv(auxv, true), 4096);
  assert.equal(pageSizeFromAuxv(Buffer.alloc(32), true), undefined, 'no AT_PAGESZ before AT_NULL');
});

test('pid_stat_with_negative_priority_or_odd_spacing_parses_like_a_plain_one', () => {
  // Field 18 (priority) and 19 (nice) are negative for a real-time or reniced process.
  const plain = parsePidStat(`42 (postgres) S 1 ${'0 '.repeat(9)}15 25 0 0 20 0 3 0 999 0 0 0\n`);
  const reniced = parsePidStat(`42 (postgres) S 1 ${'0 '.repeat(9)}15 25 0 0 -51 -5 3 0 999 0 0 0\n`);
  const spaced = parsePidStat(`42  (postgres) S  1 ${'0 '.repeat(9)}15 25 0 0 20 0 3 0 999`);
  assert.deepEqual(reniced, plain);
  assert.deepEqual(spaced, plain);
  assert.deepEqual(plain, {
    pid: 42,
    comm: 'postgres',
    state: 'S',
    ppid: 1,
    utimeTicks: 15,
    stimeTicks: 25,
    threads: 3,
    startTicks: 999,
  });
  for (const pid of ['1500', '900']) {
    const text = readFileSync(fixture('proc', '6.1.0', pid, 'stat'), 'utf8');
    assert.equal(parsePidStat(text).pid, Number(pid));
  }
});

/**
 * `pgvigil collect --once` on the real machine (the command a user and a test both use): the host as
 * the agent sees it, printed as JSON, and clear refusals of bad arguments.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CollectReport } from '../src/agent/run.js';
import { packageRoot } from '../src/version.js';
import { runCli } from './helpers/cli.js';

async function collect(args: string[]): Promise<CollectReport> {
  const r = await runCli(['collect', '--once', '--json', '--interval', '500ms', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as CollectReport;
}

test('collect_once_prints_every_host_family_with_rates_from_two_samples', async () => {
  const report = await collect(['--only', 'host']);
  const cpu = report.families.host_cpu!;
  assert.equal(cpu.rows.length, cpus().length + 1, 'one row per core plus the total');
  const total = cpu.rows.find((r) => r.cpu === 'total')!;
  for (const col of cpu.columns.filter((c) => c !== 'cpu')) assert.equal(typeof total[col], 'number', col);
  const memory = report.families.host_memory!.rows[0]!;
  assert.ok((memory.total_bytes as number) > 0);
  const root = report.families.host_filesystem!.rows.find((r) => r.mountpoint === '/')!;
  const s = statfsSync('/');
  assert.equal(root.size_bytes, s.blocks * s.bsize);
  assert.ok(report.families.host_network!.rows.length >= 1);
  assert.ok(report.families.host_disk, 'disk family present');
  assert.ok(!report.families.host_container, '--only host leaves containers out');
  for (const c of report.collectors)
    assert.ok(c.status === 'ok' || c.status === 'not_applicable', `${c.name}: ${c.error}`);
  assert.deepEqual(report.families.host_load!.columns, ['load1', 'load5', 'load15']);
});

test('collect_watches_a_process_by_pattern_and_reports_a_missing_one', async () => {
  const marker = `${300 + Math.floor(Math.random() * 1000)}.${process.pid}`;
  const child = spawn('sleep', [marker], { stdio: 'ignore' });
  try {
    const report = await collect([
      '--only',
      'process',
      '--watch-process',
      `/^sleep ${marker.replace('.', '\\.')}$/`,
      '--watch-process',
      'no-such-process-pgvigil',
    ]);
    const [found, missing] = report.families.host_process!.rows;
    assert.equal(found!.up, true);
    assert.equal(found!.processes, 1);
    assert.equal(found!.pid, child.pid);
    assert.equal(found!.state, 'sleeping');
    assert.equal(found!.threads, 1);
    assert.ok((found!.rss_bytes as number) > 0);
    assert.ok((found!.fds as number) >= 3);
    assert.equal(found!.cpu_pct, 0, 'a sleeping process uses no CPU: a measured zero');
    assert.ok((found!.uptime_s as number) >= 0);
    assert.equal(missing!.up, false);
    assert.equal(missing!.state, 'missing');
    assert.equal(missing!.rss_bytes, null);
  } finally {
    child.kill('SIGKILL');
  }
});

test('collect_finds_containers_in_the_cgroup_tree_of_this_host', async () => {
  const report = await collect(['--only', 'container']);
  const status = report.collectors.find((c) => c.name === 'container')!;
  assert.equal(status.status, 'ok', String(status.error));
  assert.ok(Array.isArray(report.families.host_container!.rows));
});

test('collect_from_a_kernel_without_psi_reports_pressure_not_applicable_and_still_succeeds', async () => {
  const report = await collect([
    '--only',
    'pressure,load',
    '--proc-root',
    `${packageRoot}/test/fixtures/proc/4.14.0`,
  ]);
  const pressure = report.collectors.find((c) => c.name === 'pressure')!;
  assert.equal(pressure.status, 'not_applicable');
  assert.match(pressure.error!, /CONFIG_PSI/);
  assert.equal(report.families.host_load!.rows[0]!.load1, 0.52);
  assert.ok(!report.families.host_pressure);
});

test('collect_without_json_prints_readable_lines', async () => {
  const r = await runCli(['collect', '--once', '--only', 'load', '--interval', '100ms']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^host_load {2}\(.+, 1 row\)\n {2}load1=\d/);
});

test('collect_refuses_bad_arguments_with_exit_2_and_a_clear_message', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['collect', '--json'], /collect needs --once/],
    [['collect', '--once', '--only', 'hosts'], /--only hosts: unknown; groups are host, process, container/],
    [
      ['collect', '--once', '--only', 'process'],
      /--only process: nothing to collect without --watch-process/,
    ],
    [['collect', '--once', '--interval', 'soon'], /--interval "soon": expected a duration/],
    [
      ['collect', '--once', '--sys-root', `${packageRoot}/test/fixtures/proc`],
      /--sys-root .+: does not look like a sysfs/,
    ],
    [['collect', '--once', '--watch-process', '/usr/bin/x'], /a process name has no "\/"/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  }
});

test('a_collector_whose_file_is_missing_says_so_in_one_line_without_a_stack', async () => {
  // A container's partial procfs: everything but net/dev.
  const root = mkdtempSync(join(tmpdir(), 'pgvigil-proc-'));
  try {
    cpSync(`${packageRoot}/test/fixtures/proc/4.14.0`, root, { recursive: true });
    rmSync(join(root, 'net', 'dev'));
    const r = await runCli([
      'collect',
      '--once',
      '--json',
      '--only',
      'network,load',
      '--interval',
      '100ms',
      '--proc-root',
      root,
    ]);
    assert.equal(r.code, 1, 'a failing collector fails the command');
    const logLines = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.collector === 'network');
    assert.equal(logLines.length, 1, `one log line over two runs: ${r.stderr}`);
    assert.equal(logLines[0]!.code, 'ENOENT');
    assert.match(String(logLines[0]!.reason), /net\/dev/);
    assert.ok(!('err' in logLines[0]!), 'no error object, so no stack');
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace anywhere');
    const report = JSON.parse(r.stdout) as CollectReport;
    assert.equal(report.families.host_load!.rows[0]!.load1, 0.52, 'the other collectors carry on');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('secrets_typed_on_the_command_line_earn_one_warning_that_does_not_repeat_them', async () => {
  const canary = 'canary-pw-7f3a';
  const collectRun = await runCli([
    'collect',
    '--once',
    '--json',
    '--only',
    'load',
    '--interval',
    '100ms',
    '--postgres',
    `postgres://watcher:${canary}@127.0.0.1:1/postgres`,
  ]);
  assert.equal(collectRun.code, 0, collectRun.stderr);
  assert.equal(collectRun.stderr.match(/on the command line/g)?.length, 1, collectRun.stderr);
  assert.match(collectRun.stderr, /--postgres/);
  assert.ok(!collectRun.stderr.includes(canary), 'the password is not repeated');

  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-token-'));
  try {
    const token = 'pgv_enroll_canary7f3a';
    // Nothing listens on port 1: enrollment fails either way; what matters is what was said first.
    const onCli = await runCli(
      ['agent', '--server', 'http://127.0.0.1:1', '--enroll-token', token, '--state-dir', dir],
      {},
      30_000,
    );
    assert.notEqual(onCli.code, 0);
    assert.match(onCli.stderr, /"flags":\["--enroll-token"\]/);
    assert.equal(onCli.stderr.match(/on the command line/g)?.length, 1, onCli.stderr);
    assert.ok(!onCli.stderr.includes(token) && !onCli.stdout.includes(token), 'the token is not repeated');

    const file = join(dir, 'token');
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    for (const [args, env] of [
      [['--enroll-token-file', file], {}],
      [[], { PGVIGIL_ENROLL_TOKEN: token }],
    ] as const) {
      const quiet = await runCli(
        ['agent', '--server', 'http://127.0.0.1:1', '--state-dir', dir, ...args],
        env,
        30_000,
      );
      assert.notEqual(quiet.code, 0);
      assert.doesNotMatch(quiet.stderr, /on the command line/);
      assert.doesNotMatch(quiet.stderr, /not enrolled/, 'the token was read');
    }
    const missing = await runCli([
      'agent',
      '--server',
      'http://127.0.0.1:1',
      '--enroll-token-file',
      join(dir, 'nope'),
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--enroll-token-file .*nope: cannot read the file \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

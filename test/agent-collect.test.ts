/**
 * `pgvigil collect --once` on the real machine (the command a user and a test both use): the host as
 * the agent sees it, printed as JSON, and clear refusals of bad arguments.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statfsSync } from 'node:fs';
import { cpus } from 'node:os';
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

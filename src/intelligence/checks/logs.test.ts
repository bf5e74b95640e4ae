import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type {
  DiskErrorGroup,
  ErrorPattern,
  FatalBurst,
  ReportedLogSource,
} from '../../storage/queries/security.sql.js';
import { ThresholdBook } from '../thresholds.js';
import {
  diskErrorCheck,
  errorPatternCheck,
  patternCommand,
  pgFatalBurst,
  sourceFiles,
  wholeDisk,
} from './logs.js';
import type { Check } from './types.js';

const now = Date.parse('2026-12-02T12:00:00Z');
const first = new Date(now - 200_000);
const last = new Date(now - 5_000);

/** The thresholds' defaults, as the engine hands them to evaluate. */
const defaults = (check: Check) => () => new ThresholdBook([check]).for(check.id, 1, null);

function burst(over: Partial<FatalBurst>): FatalBurst {
  return {
    serverId: 1,
    source: 'postgresql',
    fatal: 11,
    panic: 0,
    first,
    last,
    top: [{ message: 'terminating connection due to administrator command', count: 11, sqlstate: '57P01' }],
    ...over,
  };
}

describe('logs.pg_fatal_burst', () => {
  const run = (bursts: FatalBurst[], sources: ReportedLogSource[] = []) =>
    pgFatalBurst.evaluate({ servers: [1], bursts, sources }, defaults(pgFatalBurst as Check), now);

  test('more_than_ten_fatal_in_five_minutes_warns_with_the_top_messages', () => {
    const { observations, scopes } = run([burst({})]);
    assert.equal(observations[0]?.severity, 'warning');
    assert.equal(observations[0]?.object, 'postgresql');
    assert.equal((observations[0]!.evidence.top_messages as unknown[]).length, 1);
    assert.deepEqual(scopes, [{ serverId: 1, targetId: null }]);
  });

  test('the_command_reads_the_files_the_agent_reports_in_their_format', () => {
    assert.match(
      run([burst({})]).observations[0]!.action,
      /^grep -E ' \(FATAL\|PANIC\): ' \/var\/log\/postgresql\/\*\.log/,
    );
    const reported = (parser: unknown, paths: unknown): ReportedLogSource[] => [
      { serverId: 1, source: 'postgresql', parser, paths },
    ];
    const stderr = run([burst({})], reported('postgresql', ['/srv/pg/18/data/log/postgresql-*.log']))
      .observations[0]!;
    assert.match(
      stderr.action,
      /^grep -E ' \(FATAL\|PANIC\): ' \/srv\/pg\/18\/data\/log\/postgresql-\*\.log \| tail -n 50; psql/,
    );
    assert.deepEqual(stderr.evidence.log_files, ['/srv/pg/18/data/log/postgresql-*.log']);
    const json = run([burst({})], reported('postgresql_json', ['/srv/log/pg-*.json'])).observations[0]!;
    assert.match(json.action, /^grep -E '"error_severity":"\(FATAL\|PANIC\)"' \/srv\/log\/pg-\*\.json /);
    const csv = run([burst({})], reported('postgresql_csv', ['/srv/log/pg-*.csv'])).observations[0]!;
    assert.match(csv.action, /^grep -E ',\(FATAL\|PANIC\),' \/srv\/log\/pg-\*\.csv /);
    // Another server's or another source's report is not this one's.
    const other = run(
      [burst({})],
      [{ serverId: 2, source: 'postgresql', parser: 'postgresql', paths: ['/x/*.log'] }],
    );
    assert.match(other.observations[0]!.action, /\/var\/log\/postgresql/);
  });

  test('reported_paths_a_shell_would_read_as_more_than_a_path_are_left_out', () => {
    const files = sourceFiles([
      {
        serverId: 1,
        source: 'postgresql',
        parser: 'postgresql',
        paths: [
          '/var/log/pg/x.log; rm -rf /',
          '/var/log/$(id).log',
          'relative/*.log',
          '-r',
          "/var/log/it's.log",
          '/var/log/a b.log',
          `/var/log/${'x'.repeat(2000)}.log`,
          42,
          '/var/lib/pgsql/18/data/log/postgresql-[MT]*.log',
        ],
      },
      { serverId: 1, source: 'auth', parser: 'syslog', paths: 'not a list' },
      { serverId: 1, source: 'kernel', parser: { x: 1 }, paths: ['/var/log/kern.log'] },
    ]);
    assert.deepEqual(files.get('1 postgresql'), {
      parser: 'postgresql',
      paths: ['/var/lib/pgsql/18/data/log/postgresql-[MT]*.log'],
    });
    assert.equal(files.has('1 auth'), false);
    assert.deepEqual(files.get('1 kernel'), { parser: '', paths: ['/var/log/kern.log'] });
    const none = sourceFiles([{ serverId: 1, source: 'x', parser: 'p', paths: ['/a;b'] }]);
    assert.equal(none.size, 0, 'no path left: no files');
  });

  test('ten_is_nothing_and_any_panic_is_critical', () => {
    assert.equal(run([burst({ fatal: 10 })]).observations.length, 0);
    assert.equal(run([burst({ fatal: 0, panic: 1 })]).observations[0]?.severity, 'critical');
  });

  test('odd_rows_do_not_throw', () => {
    const odd = burst({ fatal: 'x' as unknown as number, top: null as unknown as FatalBurst['top'] });
    assert.equal(run([odd]).observations.length, 0);
    const strings = burst({
      fatal: '50' as unknown as number,
      top: [{ message: 'm'.repeat(9000), count: 50, sqlstate: null }],
    });
    const o = run([strings]).observations[0]!;
    assert.ok(((o.evidence.top_messages as Array<{ message: string }>)[0]?.message.length ?? 0) <= 301);
  });
});

describe('logs.disk_errors', () => {
  const g = (over: Partial<DiskErrorGroup>): DiskErrorGroup => ({
    serverId: 1,
    kind: 'io_error',
    device: 'sdb1',
    source: 'kernel',
    count: 2,
    first,
    last,
    samples: ['Buffer I/O error on dev sdb1, logical block 256'],
    ...over,
  });
  const run = (groups: DiskErrorGroup[]) =>
    diskErrorCheck.evaluate({ servers: [1], groups }, () => ({}), now);

  test('an_io_error_is_critical_with_smartctl_on_the_whole_disk', () => {
    const o = run([g({})]).observations[0]!;
    assert.equal(o.severity, 'critical');
    assert.equal(o.object, 'io:sdb1');
    assert.equal(o.action, 'dmesg -T | tail -n 50; smartctl -a /dev/sdb');
  });

  test('a_full_disk_is_critical_with_df', () => {
    const o = run([g({ kind: 'disk_full', device: '', source: 'postgresql' })]).observations[0]!;
    assert.equal(o.object, 'enospc:postgresql');
    assert.match(o.action, /^df -h; df -i/);
  });

  test('a_device_name_that_is_not_one_gets_no_smartctl', () => {
    const o = run([g({ device: 'sdb;reboot' })]).observations[0]!;
    assert.equal(o.action, 'dmesg -T | tail -n 50');
    assert.equal(run([g({ count: 0 })]).observations.length, 0);
  });

  test('whole_disk_names', () => {
    assert.equal(wholeDisk('sda1'), 'sda');
    assert.equal(wholeDisk('nvme0n1p2'), 'nvme0n1');
    assert.equal(wholeDisk('nvme0n1'), 'nvme0n1');
    assert.equal(wholeDisk('mmcblk0p1'), 'mmcblk0');
    assert.equal(wholeDisk('dm-0'), 'dm-0');
  });
});

describe('logs.error_patterns', () => {
  const p = (over: Partial<ErrorPattern>): ErrorPattern => ({
    serverId: 1,
    source: 'postgresql',
    component: 'client backend',
    fingerprint: '0123456789abcdef',
    level: 'error',
    count: 11,
    first,
    last,
    message: 'relation "orders_old" does not exist',
    context: { sqlstate: '42P01', database: 'shop' },
    ...over,
  });
  const run = (patterns: ErrorPattern[], sources: ReportedLogSource[] = []) =>
    errorPatternCheck.evaluate(
      { servers: [1], patterns, sources },
      defaults(errorPatternCheck as Check),
      now,
    );

  test('more_than_ten_in_an_hour_is_a_recommendation_with_a_command_for_its_source', () => {
    const o = run([p({})]).observations[0]!;
    assert.equal(o.severity, 'info');
    assert.equal(o.object, 'postgresql:0123456789abcdef');
    assert.match(o.action, /FROM pg_stat_activity .*AND datname = 'shop'/);
    assert.equal(run([p({ count: 10 })]).observations.length, 0);
    assert.equal(run([p({ count: 5000 })]).observations[0]?.severity, 'warning');
  });

  test('commands_per_source', () => {
    assert.equal(
      patternCommand({ source: 'syslog', component: 'cron', message: 'x', context: {} }),
      'journalctl -t cron --since "-1h" -p err',
    );
    assert.equal(
      patternCommand({ source: 'kernel', component: 'kernel', message: 'x', context: {} }),
      'journalctl -k --since "-1h" -p err',
    );
    assert.equal(
      patternCommand({
        source: 'nginx_error',
        component: 'bad name!',
        message: 'upstream timed out (110: x)',
        context: {},
      }),
      "grep -rcF -- 'upstream timed out (' /var/log/ | grep -v ':0$'",
    );
    const nginx = p({
      source: 'nginx_error',
      component: 'bad name!',
      message: 'upstream timed out (110: x)',
    });
    const reported: ReportedLogSource[] = [
      { serverId: 1, source: 'nginx_error', parser: 'nginx_error', paths: ['/var/log/nginx/*error.log'] },
    ];
    assert.equal(
      run([nginx], reported).observations[0]!.action,
      "grep -cHF -- 'upstream timed out (' /var/log/nginx/*error.log | grep -v ':0$'",
    );
  });

  test('hostile_context_is_kept_as_plain_json', () => {
    const o = run([p({ context: JSON.parse('{"__proto__": {"x": 1}, "detail": "d"}') })]).observations[0]!;
    assert.equal((o.evidence.context as Record<string, unknown>).detail, 'd');
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });
});

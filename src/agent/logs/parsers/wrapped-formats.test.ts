import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LogEntry } from '../../../protocol/logs.js';
import { EntryAssembler } from '../assemble.js';
import { classifyLine, detectParser } from './detect.js';
import { parsers } from './index.js';
import { createPostgresRdsParser } from './postgres-rds.js';
import { createPostgresSyslogParser, unescapeRsyslog } from './postgres-syslog.js';
import { boundedJsonObject, jsonDepthWithin, own } from './postgres-wrapped.js';

const now = Date.UTC(2026, 11, 3, 8);

function entries(parser: string, lines: string[], prefix?: string): LogEntry[] {
  const asm = new EntryAssembler(parsers[parser]!, { source: 'pg', prefix, timezone: 'UTC' });
  const out: LogEntry[] = [];
  for (const line of lines) {
    const e = asm.push(line, now, 0);
    if (e) out.push(e);
  }
  out.push(...asm.flush());
  return out;
}

describe('postgresql_syslog', () => {
  test('restores_rsyslog_control_character_escapes_only', () => {
    assert.equal(unescapeRsyslog('#011a#011#011b #123 #177 #400'), '\ta\t\tb #123 \u007f #400');
  });

  test('joins_the_rest_of_a_line_postgres_cut_at_900_bytes', () => {
    const got = entries('postgresql_syslog', [
      'Dec  3 07:45:57 vm postgres[2199]: [4-1] 2026-12-03 07:45:57.297 UTC [2199] bob@app ERROR:  division by zero',
      "Dec  3 07:45:57 vm postgres[2199]: [4-2] 2026-12-03 07:45:57.297 UTC [2199] bob@app STATEMENT:  SELECT 'word0 word1",
      "Dec  3 07:45:57 vm postgres[2199]: [4-3]  word2 word3' || 1/0",
      'Dec  3 07:45:58 vm postgres[2199]: [5-1] 2026-12-03 07:45:58.000 UTC [2199] bob@app LOG:  next',
    ]);
    assert.equal(got.length, 2);
    assert.equal(got[0]!.context.statement, "SELECT 'word0 word1\n word2 word3' || 1/0");
    assert.equal(got[1]!.message, 'next');
  });

  test('takes_time_and_pid_from_the_header_when_the_prefix_has_none', () => {
    const parse = createPostgresSyslogParser({ prefix: '%u@%d ', timezone: 'UTC' });
    const rec = parse(
      '<172>1 2026-12-03T07:45:49.941125+00:00 vm postgres 2045 - -  [4-1] bob@app ERROR:  boom',
      now,
    );
    assert.equal(rec.ts, Date.UTC(2026, 11, 3, 7, 45, 49, 941));
    assert.deepEqual(rec.context, { user: 'bob', database: 'app', pid: 2045, syslog_host: 'vm' });
    assert.equal(rec.level, 'error');
    assert.equal(rec.message, 'boom');
  });

  test('reads_lines_without_sequence_numbers', () => {
    const parse = createPostgresSyslogParser({ timezone: 'UTC' });
    const rec = parse(
      'Dec  3 07:45:49 vm postgres[77]: 2026-12-03 07:45:49.100 UTC [77] LOG:  checkpoint starting: time',
      now,
    );
    assert.equal(rec.message, 'checkpoint starting: time');
    assert.equal(rec.context.pid, 77);
  });
});

describe('postgresql_rds', () => {
  test('reads_ipv6_clients_and_background_processes', () => {
    const parse = createPostgresRdsParser({ timezone: 'UTC' });
    const fg = parse(
      '2026-12-03 07:50:05 UTC:2001:db8::5(51240):bob@app:[2046]:ERROR:  division by zero',
      now,
    );
    assert.deepEqual(fg.context, {
      host: '2001:db8::5',
      port: 51240,
      user: 'bob',
      database: 'app',
      pid: 2046,
    });
    assert.equal(fg.ts, Date.UTC(2026, 11, 3, 7, 50, 5));
    const bg = parse('2026-12-03 07:50:00 UTC::@:[2001]:LOG:  checkpoint starting: time', now);
    assert.deepEqual(bg.context, { pid: 2001 });
    assert.equal(bg.message, 'checkpoint starting: time');
    const local = parse(
      '2026-12-03 07:50:00 UTC:[local]:rdsadmin@rdsadmin:[9]:LOG:  connection authorized: user=rdsadmin',
      now,
    );
    assert.equal(local.context.host, '[local]');
  });
});

describe('postgresql_heroku', () => {
  test('reads_the_heroku_logs_form_with_the_addon_and_sqlstate', () => {
    const got = entries('postgresql_heroku', [
      '2026-12-03T07:50:03.010000+00:00 app[postgres.2045]: [HEROKU_POSTGRESQL_RED] [4-1] sql_error_code = 28P01 FATAL:  password authentication failed for user "bob"',
      '2026-12-03T07:50:03.010000+00:00 app[postgres.2045]: [HEROKU_POSTGRESQL_RED] [4-2] sql_error_code = 28P01 DETAIL:  Connection matched pg_hba.conf line 99',
    ]);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.context.event, 'auth_failed');
    assert.equal(got[0]!.context.sqlstate, '28P01');
    assert.equal(got[0]!.context.addon, 'HEROKU_POSTGRESQL_RED');
    assert.equal(got[0]!.context.pid, 2045);
    assert.equal(got[0]!.context.detail, 'Connection matched pg_hba.conf line 99');
    assert.equal(got[0]!.ts, '2026-12-03T07:50:03.010Z');
  });
});

describe('postgresql_cnpg', () => {
  test('reads_epoch_ts_plain_postgres_text_and_other_loggers', () => {
    const got = entries('postgresql_cnpg', [
      '{"level":"info","ts":1796283000.5,"logger":"postgres","msg":"2026-12-03 07:30:00.500 UTC [22] LOG:  checkpoint starting: time"}',
      '{"level":"error","ts":1796283001,"logger":"instance-manager","msg":"backup failed","logging_pod":"pg-1"}',
      '{"level":"info","ts":"x","logger":"postgres","msg":"record","record":{"log_time":"2026-12-03 07:30:02.000 UTC","process_id":"23","error_severity":"FATAL","sql_state_code":"28P01","message":"password authentication failed for user \\"bob\\"","user_name":"bob","constructor":"x"}}',
    ]);
    assert.deepEqual(
      got.map((e) => [e.ts, e.level, e.component, e.context.event ?? null]),
      [
        ['2026-12-03T07:30:00.500Z', 'info', 'postgres', 'checkpoint_starting'],
        ['2026-12-03T07:30:01.000Z', 'error', 'instance-manager', null],
        ['2026-12-03T07:30:02.000Z', 'fatal', 'postgres', 'auth_failed'],
      ],
    );
    assert.equal(got[1]!.context.pod, 'pg-1');
    assert.equal(got[2]!.context.user, 'bob');
  });
});

describe('parser detection', () => {
  test('classifies_single_lines_of_each_format', () => {
    const cases: Array<[string, string | undefined]> = [
      [
        '2026-11-22 10:00:00.123 UTC,"bob","db",4242,"127.0.0.1:5555",6740a1b2.1092,3,"SELECT",2026-11-22 09:00:00 UTC,3/4,0,ERROR,22012,"division by zero",,,,,,"SELECT 1/0",,,"psql","client backend",,0',
        'postgresql_csv',
      ],
      [
        '{"timestamp":"2026-11-22 10:00:00.500 UTC","pid":5,"error_severity":"LOG","message":"x"}',
        'postgresql_json',
      ],
      ['{"MESSAGE":"x","PRIORITY":"3","__REALTIME_TIMESTAMP":"1795345872345678"}', 'journald'],
      ['Nov 22 10:00:01 db1 sshd[811]: Failed password for x from 1.2.3.4 port 5 ssh2', 'syslog'],
      [
        '2026-02-15T00:00:54.808228-06:00 db1 postgres[77]: [3-1] 2026-02-15 06:00:54.808 UTC [77] LOG:  x',
        'postgresql_syslog',
      ],
      ['2026-11-22 10:00:00 UTC [42]: [1-1] user=a,db=b LOG:  checkpoint starting: time', 'postgresql'],
      ['[Wed Oct 11 14:32:52.123456 2026] [core:error] [pid 35708] AH00037: x', undefined],
      ['{"a":1}', undefined],
      ['[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[', undefined],
    ];
    for (const [line, want] of cases) assert.equal(classifyLine(line), want, line);
  });

  test('the_majority_wins_and_unknown_input_falls_back_to_stderr_saying_so', () => {
    const syslogLine = 'Nov 22 10:00:01 db1 sshd[811]: Accepted publickey for a from 1.2.3.4 port 5 ssh2';
    const pgLine = 'Nov 22 10:00:01 db1 postgres[9]: [1-1] 2026-11-22 10:00:01.000 UTC [9] LOG:  x';
    assert.equal(detectParser([syslogLine, pgLine, pgLine, '']).parser, 'postgresql_syslog');
    const none = detectParser(['hello', 'world']);
    assert.equal(none.parser, 'postgresql');
    assert.match(none.reason, /no known format in the first 2 line/);
  });

  test('looks_at_no_more_than_20_lines', () => {
    const lines = [
      ...Array.from({ length: 20 }, () => 'Nov 22 10:00:01 db1 sshd[811]: x'),
      ...Array.from(
        { length: 50 },
        () => '2026-12-03 07:50:00 UTC::@:[2001]:LOG:  checkpoint starting: time',
      ),
    ];
    const d = detectParser(lines);
    assert.equal(d.parser, 'syslog');
    assert.equal(d.lines, 20);
  });
});

describe('hostile input', () => {
  test('json_nesting_is_checked_before_parsing', () => {
    assert.equal(jsonDepthWithin('{"a":[{"b":"[[[[[[["}]}', 3), true);
    assert.equal(jsonDepthWithin('[[[[', 3), false);
    assert.equal(boundedJsonObject(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), undefined);
    assert.deepEqual(boundedJsonObject('{"a":1}'), { a: 1 });
  });

  test('a_line_that_almost_fits_a_prefix_takes_bounded_time', () => {
    // Unbounded lazy fields made this cubic: 16,000 characters took minutes under RDS's prefix.
    const started = performance.now();
    for (const parser of Object.values(parsers)) {
      const parse = parser.create({ timezone: 'UTC' });
      parse(`2026-12-03 07:50:00 UTC:${':@'.repeat(32_000)}x`, now);
      parse(`2026-12-03 07:50:00.100 UTC [1] ${'a@b '.repeat(16_000)}`, now);
    }
    assert.ok(performance.now() - started < 5_000, `took ${performance.now() - started} ms`);
  });

  test('fields_are_own_properties_only', () => {
    const o = boundedJsonObject('{"a":1}');
    assert.equal(own(o, 'constructor'), undefined);
    assert.equal(own(o, '__proto__'), undefined);
    assert.equal(own(boundedJsonObject('{"__proto__":{"x":1}}'), '__proto__') !== undefined, true);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LogEntry } from '../../../protocol/logs.js';
import { EntryAssembler } from '../assemble.js';
import { parsers } from './index.js';
import { compileLogLinePrefix, createPostgresStderrParser } from './postgres.js';
import { splitCsvRecord } from './postgres-csv.js';

const now = Date.UTC(2026, 10, 22);

function entries(parser: string, text: string, prefix?: string): LogEntry[] {
  const asm = new EntryAssembler(parsers[parser]!, { source: 'pg', prefix, timezone: 'UTC' });
  const out: LogEntry[] = [];
  for (const line of text.split('\n')) {
    const e = asm.push(line, now, 0);
    if (e) out.push(e);
  }
  out.push(...asm.flush());
  return out;
}

describe('postgresql stderr parser', () => {
  test('reads_every_prefix_escape_into_context_fields', () => {
    const prefix = '%m|%n|%p|%c|%l|%s|%v|%x|%u|%d|%a|%h|%r|%b|%i|%e|%Q|%% ';
    const line =
      '2026-11-22 10:11:12.345 UTC|1795342272.345|4242|6740a1b2.1092|7|2026-11-22 10:00:00 UTC|3/17|991|bob|shop|my app|10.0.0.5|10.0.0.5(51234)|client backend|SELECT|42P01|-123456|% ERROR:  relation "x" does not exist';
    const rec = createPostgresStderrParser({ prefix, timezone: 'UTC' })(line, now);
    assert.equal(rec.ts, Date.UTC(2026, 10, 22, 10, 11, 12, 345));
    assert.equal(rec.level, 'error');
    assert.equal(rec.message, 'relation "x" does not exist');
    assert.equal(rec.component, 'client backend');
    assert.deepEqual(rec.context, {
      pid: 4242,
      session_id: '6740a1b2.1092',
      line_num: 7,
      session_start: '2026-11-22 10:00:00 UTC',
      vxid: '3/17',
      xid: 991,
      user: 'bob',
      database: 'shop',
      application: 'my app',
      host: '10.0.0.5',
      port: 51234,
      backend_type: 'client backend',
      command_tag: 'SELECT',
      sqlstate: '42P01',
      query_id: -123456,
    });
  });

  test('accepts_lines_without_the_part_after_q_from_background_processes', () => {
    const parse = createPostgresStderrParser({ prefix: '%m [%p] %q%u@%d ', timezone: 'UTC' });
    const bg = parse('2026-11-22 10:11:12.345 UTC [77] LOG:  checkpoint starting: time', now);
    assert.equal(bg.message, 'checkpoint starting: time');
    assert.deepEqual(bg.context, { pid: 77 });
    const fg = parse('2026-11-22 10:11:12.345 UTC [78] alice@db1 LOG:  statement: SELECT 1', now);
    assert.deepEqual(fg.context, { pid: 78, user: 'alice', database: 'db1' });
  });

  test('reads_padded_escapes', () => {
    const parse = createPostgresStderrParser({ prefix: '%t [%-6p] %-10u ', timezone: 'UTC' });
    const r = parse('2026-11-22 10:11:12 UTC [42    ] bob        WARNING:  careful', now);
    assert.equal(r.context.pid, 42);
    assert.equal(r.context.user, 'bob');
    assert.equal(r.level, 'warning');
  });

  test('honours_the_zone_written_in_the_timestamp', () => {
    const parse = createPostgresStderrParser({ prefix: '%m ' });
    assert.equal(parse('2026-07-01 12:00:00.000 CEST LOG:  x', now).ts, Date.UTC(2026, 6, 1, 10));
    assert.equal(parse('2026-07-01 12:00:00.000 +0530 LOG:  x', now).ts, Date.UTC(2026, 6, 1, 6, 30));
    assert.equal(parse('2026-07-01 12:00:00.000 -03 LOG:  x', now).ts, Date.UTC(2026, 6, 1, 15));
    const epoch = createPostgresStderrParser({ prefix: '%n ' })('1795345872.345 LOG:  x', now);
    assert.equal(epoch.ts, 1795345872345);
  });

  test('attaches_detail_hint_context_statement_and_tab_continuations', () => {
    const text = [
      '2026-11-22 10:00:00.000 UTC [9] bob@db ERROR:  duplicate key value violates unique constraint "t_pkey"',
      '2026-11-22 10:00:00.000 UTC [9] bob@db DETAIL:  Key (id)=(1) already exists.',
      '2026-11-22 10:00:00.000 UTC [9] bob@db HINT:  Try another.',
      '2026-11-22 10:00:00.000 UTC [9] bob@db CONTEXT:  SQL function "f"',
      '2026-11-22 10:00:00.000 UTC [9] bob@db STATEMENT:  INSERT INTO t',
      '\tVALUES (1)',
      '2026-11-22 10:00:01.000 UTC [9] bob@db LOG:  duration: 0.5 ms  statement: SELECT 1',
    ].join('\n');
    const [err, next] = entries('postgresql', text);
    assert.equal(err!.context.detail, 'Key (id)=(1) already exists.');
    assert.equal(err!.context.hint, 'Try another.');
    assert.equal(err!.context.context, 'SQL function "f"');
    assert.equal(err!.context.statement, 'INSERT INTO t\nVALUES (1)');
    assert.equal(next!.context.event, 'slow_statement');
  });

  test('reads_the_sqlstate_written_by_verbose_error_verbosity', () => {
    const [e] = entries(
      'postgresql',
      '2026-11-22 10:00:00.000 UTC [9] ERROR:  42P01: relation "x" does not exist',
    );
    assert.equal(e!.context.sqlstate, '42P01');
    assert.equal(e!.message, 'relation "x" does not exist');
  });

  test('salvages_lines_that_do_not_fit_the_prefix', () => {
    const parse = createPostgresStderrParser({ prefix: '%m [%p] ' });
    const r = parse('Nov 22 10:00:00 db postgres[123]: [5-1] LOG:  database system is ready', now);
    assert.equal(r.level, 'info');
    assert.equal(r.message, 'database system is ready');
    const junk = parse('pg_ctl: another server might be running', now);
    assert.equal(junk.message, 'pg_ctl: another server might be running');
    assert.equal(junk.context.unparsed, true);
  });

  test('compiles_a_prefix_with_regex_characters_as_literals', () => {
    const { regex } = compileLogLinePrefix('(%p) [%u] * ');
    assert.ok(regex.test('(12) [bob] * LOG:  x'));
  });
});

describe('postgresql csvlog parser', () => {
  test('joins_a_record_whose_quoted_field_spans_lines', () => {
    const text = [
      '2026-11-22 10:00:00.123 UTC,"bob","db",4242,"127.0.0.1:5555",6740a1b2.1092,3,"SELECT",2026-11-22 09:00:00 UTC,3/4,0,ERROR,22012,"division by zero",,,,,,"SELECT 1/0',
      'FROM t",,,"psql","client backend",,0',
      '2026-11-22 10:00:01.000 UTC,,,77,,6740a1b2.4d,1,,2026-11-22 09:00:00 UTC,,0,LOG,00000,"checkpoint starting: time",,,,,,,,,"","checkpointer",,0',
    ].join('\n');
    const [a, b] = entries('postgresql_csv', text);
    assert.equal(a!.message, 'division by zero');
    assert.equal(a!.level, 'error');
    assert.equal(a!.context.statement, 'SELECT 1/0\nFROM t');
    assert.equal(a!.context.host, '127.0.0.1');
    assert.equal(a!.context.port, 5555);
    assert.equal(a!.context.application, 'psql');
    assert.equal(a!.ts, '2026-11-22T10:00:00.123Z');
    assert.equal(b!.context.event, 'checkpoint_starting');
    assert.equal(b!.component, 'checkpointer');
  });

  test('splits_quoted_fields_with_doubled_quotes', () => {
    assert.deepEqual(splitCsvRecord('a,"b ""c"", d",,e'), ['a', 'b "c", d', '', 'e']);
    assert.deepEqual(splitCsvRecord('"unterminated'), ['unterminated']);
  });
});

describe('postgresql jsonlog parser', () => {
  test('maps_jsonlog_keys_to_context_fields', () => {
    const line = JSON.stringify({
      timestamp: '2026-11-22 10:00:00.500 UTC',
      user: 'bob',
      dbname: 'db',
      pid: 5,
      remote_host: '10.1.1.1',
      remote_port: 4000,
      error_severity: 'FATAL',
      state_code: '28P01',
      message: 'password authentication failed for user "bob"',
      detail: 'Connection matched file "pg_hba.conf" line 5',
      backend_type: 'client backend',
      query_id: 0,
      txid: 0,
    });
    const [e] = entries('postgresql_json', line);
    assert.equal(e!.level, 'fatal');
    assert.equal(e!.context.event, 'auth_failed');
    assert.equal(e!.context.user, 'bob');
    assert.equal(e!.context.host, '10.1.1.1');
    assert.equal(e!.context.port, 4000);
    assert.equal(e!.context.query_id, undefined);
    assert.equal(e!.ts, '2026-11-22T10:00:00.500Z');
  });

  test('reads_the_default_prefix_by_hand_as_its_regex_does', () => {
    // '%q' twice compiles to the same regex as the default prefix, but is not it: the regex alone reads it.
    const byHand = createPostgresStderrParser({ timezone: 'UTC' });
    const byRegex = createPostgresStderrParser({ prefix: '%m [%p] %q%u@%d %q', timezone: 'UTC' });
    const heads = [
      '2026-11-22 10:11:12.345 UTC [42] ',
      '2026-11-22 10:11:12 UTC [42] ',
      '2026-11-22 10:11:12.5 [42] ',
      '2026-11-22 10:11:12.345 +01:00 [42] ',
      '2026-11-22 10:11:12. UTC [42] ',
      `2026-11-22 10:11:12.345 ${'Z'.repeat(41)} [42] `,
      '2026-11-22 10:11:12.345 UTC [1234567890123456789] ',
      '2026-11-22 10:11:12.345 UTC [] ',
      '2026-11-22 1:11:12.345 UTC [42] ',
    ];
    const tails = [
      'bob@shop ERROR:  relation "x" does not exist',
      ' bob @shop ERROR:  x',
      '@ LOG:  empty user and database',
      '[unknown]@[unknown] LOG:  connection received: host=127.0.0.1 port=5',
      'LOG:  checkpoint starting: time',
      'LOG:  mail from a@b c LOG:  twice',
      'b o b@s h o p DETAIL:  spaces in names',
      'bob@shop WARNING: one space only',
      'bob\r@shop ERROR:  a carriage return in the user',
      `${'u'.repeat(256)}@shop ERROR:  a user past 255 characters`,
      `bob@${'d'.repeat(256)} ERROR:  a database past 255 characters`,
      'bob@shop@x ERROR:  two at signs',
      'bob@shop DEBUG3:  debug',
      'bob@shop DEBUG9:  not a severity',
      'bob@shop LOCATION:  x.c:1',
      'bob@shop STATEMENT:  SELECT 1',
      'bob@shop XERROR:  no',
      'bob@shop FATAL:  ',
      'HINT:  background hint',
      '',
      'bob@shop',
      'bob@shop DEB',
      'DEBUG1:  ',
      'bob@shop ERROR:',
      'LOG: ',
    ];
    // The same lines read from their bytes (as parseStream gives ASCII lines), with bytes after each line
    // that would complete a prefix if they were read.
    const byBytes = createPostgresStderrParser({ timezone: 'UTC' });
    for (const head of heads) {
      for (const tail of tails) {
        const line = head + tail;
        const span = { bytes: Buffer.from(`\n${line}ERROR:  @x [1] `, 'latin1'), at: 1 };
        for (const continuing of [false, true]) {
          const expected = byRegex(line, now, continuing);
          assert.deepEqual(byHand(line, now, continuing), expected, line);
          assert.deepEqual(byBytes(line, now, continuing, span), expected, `bytes: ${line}`);
        }
      }
    }
  });
});

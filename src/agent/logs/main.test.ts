import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { plainParseFlags } from './main.js';

describe('logs entry', () => {
  test('reads_a_plain_logs_parse_without_the_command_line_library', () => {
    assert.deepEqual(plainParseFlags(['--parser', 'postgresql']), { parser: 'postgresql' });
    assert.deepEqual(
      plainParseFlags(['--parser=postgresql', '--prefix', '%m [%p] ', '--timezone', 'UTC', '--source=pg']),
      { parser: 'postgresql', prefix: '%m [%p] ', timezone: 'UTC', source: 'pg' },
    );
    assert.deepEqual(plainParseFlags(['--parser', 'syslog', '--prefix=']), { parser: 'syslog', prefix: '' });
  });

  test('leaves_anything_else_to_the_command_line_library', () => {
    for (const args of [
      [],
      ['--help'],
      ['-h'],
      ['--prefix', '%m '],
      ['--parser', 'postgresql', '--parser', 'syslog'],
      ['--parser', 'postgresql', '--verbose'],
      ['--parser'],
      ['--parser', '--prefix'],
      ['--parser', 'postgresql', '--prefix', '-x'],
      ['--parser', 'postgresql', 'extra'],
      ['--constructor', 'x', '--parser', 'postgresql'],
    ]) {
      assert.equal(plainParseFlags(args), undefined, args.join(' '));
    }
  });
});

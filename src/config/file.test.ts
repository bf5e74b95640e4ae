import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Command, InvalidArgumentError, Option } from 'commander';
import { checkConfigText, formatIssue, suggestKey, topLevelKeyLines } from './file.js';
import { configKeys } from './keys.js';

function append(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function sampleCommand(): Command {
  return new Command('sample')
    .addOption(new Option('--tls-cert <file>', 'x'))
    .addOption(
      new Option('--port <port>', 'x').default(8470).argParser((v) => {
        const n = Number(v);
        if (!Number.isInteger(n)) throw new InvalidArgumentError('expected a port number 0-65535');
        return n;
      }),
    )
    .addOption(new Option('--fsync <policy>', 'x').choices(['seal', 'never']).default('seal'))
    .option('--watch-process <name>', 'x', append, [])
    .option('--no-logs', 'x')
    .option('--node-exporter-memory-names', 'x')
    .option('--interval <duration>', 'x', '10s')
    .option('--config <file>', 'not a key');
}

describe('config keys', () => {
  test('every_flag_has_a_snake_case_key_with_its_toml_type', () => {
    const keys = configKeys(sampleCommand());
    assert.deepEqual(
      [...keys.values()].map((k) => [k.key, k.type]),
      [
        ['tls_cert', 'string'],
        ['port', 'string'],
        ['fsync', 'string'],
        ['watch_process', 'list'],
        ['logs', 'boolean'],
        ['node_exporter_memory_names', 'boolean'],
        ['interval', 'string'],
      ],
    );
  });
});

describe('config files', () => {
  const keys = configKeys(sampleCommand());

  test('an_unknown_key_is_reported_with_its_line_and_the_key_it_resembles', () => {
    const text = '# agent\n\ninterval = "5s"\n\n\n\nintervl = "1s"\n';
    const r = checkConfigText('/etc/pgvigil/agent.toml', text, keys);
    assert.deepEqual(r.issues.map(formatIssue), [
      '/etc/pgvigil/agent.toml:7: key "intervl": unknown key (did you mean "interval"?)',
    ]);
    assert.equal(r.entries.size, 0, 'a file with a problem applies nothing');
  });

  test('a_dashed_key_is_pointed_to_its_snake_case_spelling', () => {
    const r = checkConfigText('f.toml', '"tls-cert" = "/x.pem"\n', keys);
    assert.deepEqual(r.issues.map(formatIssue), [
      'f.toml:1: key "tls-cert": unknown key (did you mean "tls_cert"?)',
    ]);
  });

  test('wrong_types_are_refused_each_with_line_and_key', () => {
    const text = [
      'watch_process = "postgres"',
      'logs = "no"',
      'tls_cert = ["a"]',
      'fsync = "sometimes"',
      'port = "http"',
      '[interval]',
      'value = 1',
    ].join('\n');
    const r = checkConfigText('a.toml', text, keys);
    assert.deepEqual(r.issues.map(formatIssue), [
      'a.toml:1: key "watch_process": expected an array of strings, e.g. ["a", "b"], got a string',
      'a.toml:2: key "logs": expected true or false, got a string',
      'a.toml:3: key "tls_cert": expected a string, got an array',
      'a.toml:4: key "fsync": Allowed choices are seal, never.',
      'a.toml:5: key "port": expected a port number 0-65535',
      'a.toml:6: key "interval": expected a string, got a table',
    ]);
  });

  test('values_go_through_the_options_own_parser_and_lists_collect', () => {
    const r = checkConfigText(
      'a.toml',
      'port = 9000\nwatch_process = ["postgres", "/pgbouncer/"]\nlogs = false\n',
      keys,
    );
    assert.deepEqual(r.issues, []);
    assert.equal(r.entries.get('port')?.value, 9000);
    assert.deepEqual(r.entries.get('watch_process')?.value, ['postgres', '/pgbouncer/']);
    assert.equal(r.entries.get('logs')?.value, false);
    assert.equal(r.entries.get('logs')?.line, 3);
  });

  test('a_toml_syntax_error_names_file_line_and_column', () => {
    const r = checkConfigText('b.toml', 'port = 9000\ninterval = "10s\n', keys);
    assert.equal(r.issues.length, 1);
    assert.match(formatIssue(r.issues[0]!), /^b\.toml:2:\d+: TOML syntax error: /);
  });

  test('key_lines_skip_multi_line_strings_and_keys_inside_tables', () => {
    const text = 'a = """\nb = 1\n"""\n[t]\nc = 2\nd.e = 3\n';
    const lines = topLevelKeyLines(text);
    assert.deepEqual(
      [...lines],
      [
        ['a', 1],
        ['t', 4],
      ],
    );
    assert.deepEqual(
      [...topLevelKeyLines('x.y = 1\n "q k" = 2\n')],
      [
        ['x', 1],
        ['q k', 2],
      ],
    );
  });

  test('a_suggestion_is_made_only_for_a_near_miss', () => {
    assert.equal(suggestKey('bogus', ['logs', 'interval']), undefined);
    assert.equal(suggestKey('watch_processes', ['watch_process', 'postgres']), 'watch_process');
  });
});

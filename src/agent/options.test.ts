import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PgvigilError } from '../errors.js';
import {
  checkRoot,
  parseDuration,
  parseListenAddress,
  parseOnly,
  parsePostgresTargets,
  parseServerUrl,
  parseWatches,
  postgresValues,
  readSecretFile,
  secretsOnCommandLine,
  urlHasPassword,
} from './options.js';

const badArgument = (re: RegExp) => (err: unknown) =>
  err instanceof PgvigilError && err.code === 'BAD_ARGUMENT' && re.test(err.message);

test('durations_take_a_unit', () => {
  assert.equal(parseDuration('500ms', '--interval'), 500);
  assert.equal(parseDuration('1s', '--interval'), 1000);
  assert.equal(parseDuration('1.5s', '--interval'), 1500);
  assert.equal(parseDuration('2m', '--interval'), 120_000);
  assert.throws(
    () => parseDuration('10', '--interval'),
    badArgument(/--interval "10": expected a duration such as 500ms/),
  );
  assert.throws(() => parseDuration('5ms', '--interval'), badArgument(/must be at least 100ms/));
});

test('listen_addresses_are_host_and_port', () => {
  assert.deepEqual(parseListenAddress('127.0.0.1:9100'), { host: '127.0.0.1', port: 9100 });
  assert.deepEqual(parseListenAddress('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListenAddress(':9100'), { host: '0.0.0.0', port: 9100 });
  assert.throws(() => parseListenAddress('9100'), badArgument(/--listen "9100": expected HOST:PORT/));
  assert.throws(() => parseListenAddress('127.0.0.1:70000'), badArgument(/port 0-65535/));
});

test('only_takes_groups_and_collector_names', () => {
  assert.deepEqual([...parseOnly('host, process')], ['host', 'process']);
  assert.deepEqual([...parseOnly('cpu,disk')], ['cpu', 'disk']);
  assert.throws(
    () => parseOnly('hosts'),
    badArgument(/--only hosts: unknown; groups are host, process, container/),
  );
  assert.throws(() => parseOnly(','), badArgument(/at least one/));
});

test('watches_are_checked_and_deduplicated', () => {
  assert.equal(parseWatches(['postgres', 'postgres', '/pgbouncer/']).length, 2);
  assert.throws(() => parseWatches(['/[/']), badArgument(/not a valid regular expression/));
});

test('roots_must_look_like_what_they_stand_for', () => {
  assert.equal(checkRoot('--proc-root', '/proc'), '/proc');
  assert.throws(
    () => checkRoot('--proc-root', '/nonexistent'),
    badArgument(/--proc-root \/nonexistent: no such directory/),
  );
  assert.throws(() => checkRoot('--proc-root', '/sys'), badArgument(/does not look like a procfs/));
  assert.throws(() => checkRoot('--sys-root', '/proc/self'), badArgument(/does not look like a sysfs/));
});

test('postgres_targets_add_up_from_the_flag_a_file_and_the_environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-opts-'));
  try {
    const file = join(dir, 'targets');
    writeFileSync(file, '# main and replica\nmain=postgres://a@h1/db\n\n  replica=postgres://a@h2/db  \n');
    assert.deepEqual(
      postgresValues(['postgres://x@h0/db'], file, ' e1=postgres://e@h3/db\ne2=postgres://e@h4/db '),
      [
        'postgres://x@h0/db',
        'main=postgres://a@h1/db',
        'replica=postgres://a@h2/db',
        'e1=postgres://e@h3/db',
        'e2=postgres://e@h4/db',
      ],
    );
    assert.deepEqual(postgresValues([], undefined, undefined), []);
    assert.throws(
      () => postgresValues([], join(dir, 'missing'), undefined),
      badArgument(/--postgres-file .*missing: cannot read the file \(ENOENT\)/),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a_secret_file_gives_its_first_line_and_an_empty_one_is_refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-opts-'));
  try {
    writeFileSync(join(dir, 'token'), '  pgv_enroll_abc \nignored\n');
    assert.equal(readSecretFile('--enroll-token-file', join(dir, 'token')), 'pgv_enroll_abc');
    writeFileSync(join(dir, 'empty'), '\n');
    assert.throws(
      () => readSecretFile('--enroll-token-file', join(dir, 'empty')),
      badArgument(/--enroll-token-file .*empty: the file is empty/),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('passwords_and_tokens_on_the_command_line_are_named_by_flag', () => {
  assert.equal(urlHasPassword('postgres://u:secret@h/db'), true);
  assert.equal(urlHasPassword('main=postgres://u:secret@h/db'), true);
  assert.equal(urlHasPassword('postgres://u@h/db?password=secret'), true);
  assert.equal(urlHasPassword('postgres://u@h/db'), false);
  assert.equal(urlHasPassword('not a url'), false);
  assert.deepEqual(secretsOnCommandLine({ postgres: ['postgres://u@h/db'] }), []);
  assert.deepEqual(secretsOnCommandLine({ enrollToken: true, postgres: ['postgres://u:pw@h/db'] }), [
    '--enroll-token',
    '--postgres (a URL with a password)',
  ]);
});

test('server_lists_are_normalised_deduplicated_and_of_one_scheme', () => {
  assert.equal(parseServerUrl('http://a:8470/'), 'http://a:8470');
  assert.equal(
    parseServerUrl(' https://a:8470, https://b:8470 ,https://a:8470/,'),
    'https://a:8470,https://b:8470',
  );
  assert.throws(
    () => parseServerUrl('http://a:1,https://b:2'),
    badArgument(/all http:\/\/ or all https:\/\//),
  );
  assert.throws(() => parseServerUrl(','), badArgument(/expected http/));
  assert.throws(() => parseServerUrl('ftp://a'), badArgument(/expected http/));
  const many = Array.from({ length: 17 }, (_, i) => `http://h${i}:1`).join(',');
  assert.throws(() => parseServerUrl(many), badArgument(/at most 16/));
});

test('a_postgres_target_is_named_host_port_and_a_socket_one_localhost', () => {
  assert.deepEqual(
    parsePostgresTargets([
      'postgres://mon@db1.example:5433/postgres',
      'postgresql:///postgres?host=/var/run/postgresql',
      'postgres://mon@%2Fvar%2Frun%2Fpostgresql:5434/postgres',
      'postgresql:///postgres?host=/run/pg&port=5435',
      'main=postgres://mon@localhost/postgres',
    ]).map((t) => t.name),
    ['db1.example:5433', 'localhost:5432', 'localhost:5434', 'localhost:5435', 'main'],
  );
  assert.throws(
    () => parsePostgresTargets(['postgresql:///a?host=/run/pg', 'postgresql:///b?host=/var/run/postgresql']),
    badArgument(/two targets named localhost:5432; name them with NAME=URL/),
  );
  assert.throws(
    () => parsePostgresTargets(['postgres://mon:s3cret@db1.example/%zz']),
    (e: unknown) => badArgument(/not valid percent-encoding/)(e) && !(e as Error).message.includes('s3cret'),
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgvigilError } from '../errors.js';
import { checkRoot, parseDuration, parseListenAddress, parseOnly, parseWatches } from './options.js';

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

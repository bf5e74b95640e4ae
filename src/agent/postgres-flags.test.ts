import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgvigilError } from '../errors.js';
import { parseRemoteConfig } from '../protocol/agent-config.js';
import { parseDatabasePatterns, parsePostgresOption, postgresSettingsFromFlags } from './postgres-flags.js';

const badArgument = (re: RegExp) => (err: unknown) =>
  err instanceof PgvigilError && err.code === 'BAD_ARGUMENT' && re.test(err.message);

const noFlags = { postgresIncludeDatabases: [], postgresExcludeDatabases: [] };

test('postgres_durations_and_counts_are_read_in_their_units', () => {
  assert.equal(parsePostgresOption('statementTimeoutMs', '2s'), 2000);
  assert.equal(parsePostgresOption('lockTimeoutMs', '250ms'), 250);
  assert.equal(parsePostgresOption('intervalMs', '1m'), 60_000);
  assert.equal(parsePostgresOption('databaseIntervalMs', '0'), 0);
  assert.equal(parsePostgresOption('statementsTopN', '3'), 3);
  assert.equal(parsePostgresOption('keepDatabaseConnections', 0), 0);
  // A number from a config file arrives as its text.
  assert.equal(parsePostgresOption('maxTablesPerDatabase', 20), 20);
});

test('a_postgres_option_out_of_bounds_is_refused_naming_the_flag_and_the_range', () => {
  assert.throws(
    () => parsePostgresOption('statementsTopN', '0'),
    badArgument(/^--postgres-statements-top 0: must be a whole number from 1 to 1000$/),
  );
  assert.throws(
    () => parsePostgresOption('statementsTopN', '1e9'),
    badArgument(/--postgres-statements-top "1e9": expected a whole number from 1 to 1000/),
  );
  assert.throws(
    () => parsePostgresOption('statementsTopN', '-3'),
    badArgument(/--postgres-statements-top "-3": expected a whole number/),
  );
  assert.throws(
    () => parsePostgresOption('lockTimeoutMs', '2m'),
    badArgument(/^--postgres-lock-timeout 2m: must be a duration from 10ms to 1m$/),
  );
  assert.throws(
    () => parsePostgresOption('statementTimeoutMs', '5000'),
    badArgument(/--postgres-statement-timeout "5000": expected a duration such as 500ms/),
  );
  assert.throws(
    () => parsePostgresOption('intervalMs', '0'),
    badArgument(/--postgres-interval 0: must be a duration from 1s to 1h$/),
  );
  assert.throws(
    () => parsePostgresOption('databaseIntervalMs', '500ms'),
    badArgument(/from 1s to 24h, or 0 for every collection/),
  );
  assert.throws(
    () => parsePostgresOption('maxIndexesPerDatabase', '50001'),
    badArgument(/--postgres-max-indexes 50001: must be a whole number from 1 to 50000/),
  );
  assert.throws(
    () => parsePostgresOption('keepDatabaseConnections', '51'),
    badArgument(/--postgres-keep-connections 51: must be a whole number from 0 to 50/),
  );
  assert.throws(
    () => parsePostgresOption('lockTimeoutMs', '0.5ms'),
    badArgument(/--postgres-lock-timeout 0.5ms: must be a duration/),
  );
});

test('database_names_are_comma_separated_repeatable_and_bounded', () => {
  assert.deepEqual(parseDatabasePatterns('includeDatabases', 'app*, shop'), ['app*', 'shop']);
  assert.deepEqual(parseDatabasePatterns('includeDatabases', 'shop,crm', ['app*', 'shop']), [
    'app*',
    'shop',
    'crm',
  ]);
  assert.throws(
    () => parseDatabasePatterns('excludeDatabases', ' , '),
    badArgument(/--postgres-exclude-databases: give at least one database name/),
  );
  assert.throws(
    () => parseDatabasePatterns('includeDatabases', 'x'.repeat(64)),
    badArgument(/--postgres-include-databases "x{64}": longer than 63 characters; expected database names/),
  );
  assert.throws(
    () => parseDatabasePatterns('includeDatabases', 'a\u0000b'),
    badArgument(/a comma or a control character/),
  );
  const many = Array.from({ length: 101 }, (_, i) => `db${i}`).join(',');
  assert.throws(
    () => parseDatabasePatterns('excludeDatabases', many),
    badArgument(/--postgres-exclude-databases: at most 100 database names, got 101/),
  );
});

test('only_the_options_given_are_set_so_the_collector_defaults_fill_the_rest', () => {
  assert.deepEqual(postgresSettingsFromFlags(noFlags), {});
  assert.deepEqual(
    postgresSettingsFromFlags({
      postgresIncludeDatabases: ['app*'],
      postgresExcludeDatabases: ['app_test'],
      postgresStatementsTop: '3',
      postgresStatementTimeout: '2s',
      postgresKeepConnections: '2',
    }),
    {
      includeDatabases: ['app*'],
      excludeDatabases: ['app_test'],
      statementsTopN: 3,
      statementTimeoutMs: 2000,
      keepDatabaseConnections: 2,
    },
  );
  assert.throws(
    () => postgresSettingsFromFlags({ ...noFlags, postgresMaxTables: '0' }),
    badArgument(/--postgres-max-tables 0/),
  );
});

test('pushed_postgres_options_are_checked_with_the_same_bounds', () => {
  const ok = parseRemoteConfig({
    postgres: { includeDatabases: ['app*'], statementsTopN: 3, lockTimeoutMs: 250, databaseIntervalMs: 0 },
  });
  assert.ok(ok.ok);
  assert.deepEqual(ok.ok && ok.config.postgres, {
    includeDatabases: ['app*'],
    statementsTopN: 3,
    lockTimeoutMs: 250,
    databaseIntervalMs: 0,
  });
  const top = parseRemoteConfig({ postgres: { statementsTopN: 5000 } });
  assert.deepEqual(top, {
    ok: false,
    error: 'postgres.statementsTopN: statementsTopN 5000: must be a whole number from 1 to 1000',
  });
  const timeout = parseRemoteConfig({ postgres: { statementTimeoutMs: 50 } });
  assert.ok(
    !timeout.ok &&
      /statementTimeoutMs 50: must be a duration from 100ms to 1m \(in milliseconds: 100 to 60000\)/.test(
        timeout.error,
      ),
  );
  const name = parseRemoteConfig({ postgres: { excludeDatabases: ['ok', ''] } });
  assert.ok(
    !name.ok && /^postgres\.excludeDatabases\.1: excludeDatabases "": an empty name/.test(name.error),
  );
  const unknown = parseRemoteConfig({ postgres: { statementTopN: 3 } });
  assert.ok(!unknown.ok && /statementTopN/.test(unknown.error));
  const many = parseRemoteConfig({ postgres: { includeDatabases: Array.from({ length: 101 }, () => 'a') } });
  assert.ok(!many.ok && /at most 100 names/.test(many.error));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeConnectError, parseDatabaseUrl, redactDatabaseUrl } from './connection.js';

const target = { host: 'db.example', port: 5433, user: 'mon', database: 'metrics' };

test('a_url_that_is_not_postgres_is_refused_with_its_scheme_named', () => {
  assert.throws(() => parseDatabaseUrl('mysql://x@y/z'), /scheme "mysql"/);
  assert.throws(() => parseDatabaseUrl('not a url'), /not a URL/);
  assert.throws(
    () => parseDatabaseUrl('postgres://h:99999/db'),
    (e: Error) => /port|URL/.test(e.message),
  );
});

test('parses_host_port_user_and_database', () => {
  assert.deepEqual(parseDatabaseUrl('postgresql://mon:s3cret@db.example:5433/metrics'), target);
  assert.deepEqual(parseDatabaseUrl('postgres://u@[::1]/d'), {
    host: '::1',
    port: 5432,
    user: 'u',
    database: 'd',
  });
});

test('redaction_hides_the_password_everywhere', () => {
  const r = redactDatabaseUrl('postgres://mon:canary-pw@db:5432/m?password=canary-pw');
  assert.ok(!r.includes('canary-pw'));
  assert.match(r, /mon:\*\*\*@db/);
});

test('connection_errors_name_the_problem', () => {
  assert.match(
    describeConnectError({ code: 'ENOTFOUND' }, target).message,
    /resolve the store host "db.example"/,
  );
  assert.match(describeConnectError({ code: 'ECONNREFUSED' }, target).message, /db.example:5433/);
  const auth = describeConnectError(
    { code: '28P01', message: 'password authentication failed for user "mon"' },
    target,
  );
  assert.equal(auth.code, 'STORE_AUTH_FAILED');
  assert.equal(auth.exitCode, 2);
  assert.match(describeConnectError({ code: '3D000' }, target).message, /database "metrics" does not exist/);
});

test('a_unix_socket_store_is_named_by_its_socket_file', () => {
  const encoded = parseDatabaseUrl('postgres://mon:pw@%2Fvar%2Frun%2Fpostgresql:5433/metrics');
  assert.deepEqual(encoded, { host: '/var/run/postgresql', port: 5433, user: 'mon', database: 'metrics' });
  const param = parseDatabaseUrl('postgresql:///metrics?host=/var/run/postgresql');
  assert.deepEqual(param, { host: '/var/run/postgresql', port: 5432, user: 'postgres', database: 'metrics' });
  // No socket at that path: node's connect fails with ENOENT.
  const missing = describeConnectError({ code: 'ENOENT' }, encoded);
  assert.equal(missing.code, 'STORE_UNREACHABLE');
  assert.equal(
    missing.message,
    'no PostgreSQL listens at /var/run/postgresql/.s.PGSQL.5433 (no such socket file)',
  );
  // A URL libpq reads but WHATWG does not (credentials without a host) is refused with the socket forms named.
  assert.throws(() => parseDatabaseUrl('postgres://mon:pw@/metrics'), /Unix socket: postgres:\/\/user/);
  // Malformed escapes are kept as written, not thrown.
  assert.equal(parseDatabaseUrl('postgres://h/%zz').database, '%zz');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgvigilError } from '../../errors.js';
import { checkCaBundle, parseTargetUrl, sslOptions } from './connection.js';

test('a_target_url_is_split_into_what_is_shown_and_what_is_sealed', () => {
  const c = parseTargetUrl('postgresql://mon:s3cr%40t@db.example.com:6543/app?sslmode=verify-ca');
  assert.equal(c.host, 'db.example.com');
  assert.equal(c.port, 6543);
  assert.equal(c.dbname, 'app');
  assert.equal(c.username, 'mon');
  assert.equal(c.sslmode, 'verify-ca');
  // The sealed URL keeps the password and drops the ssl parameters (TLS is given apart).
  assert.equal(c.sealedUrl, 'postgres://mon:s3cr%40t@db.example.com:6543/app');
});

test('sslmode_defaults_to_verify_full_and_the_database_to_the_user', () => {
  const c = parseTargetUrl('postgres://mon:pw@db.example.com');
  assert.equal(c.sslmode, 'verify-full');
  assert.equal(c.port, 5432);
  assert.equal(c.dbname, 'mon');
});

test('a_password_in_the_query_string_is_sealed_too', () => {
  const c = parseTargetUrl('postgres://mon@db.example.com/app?password=qpw&sslmode=require');
  assert.equal(c.sealedUrl, 'postgres://mon:qpw@db.example.com/app');
});

test('refusals_name_the_parameter_never_the_password', () => {
  const secret = 'hunter2-very-secret';
  for (const url of [
    `postgres://mon:${secret}@db.example.com/app?sslmode=prefer`,
    `postgres://mon:${secret}@db.example.com/app?sslrootcert=/etc/ca.pem`,
    `postgres://mon:${secret}@db.example.com/app?options=${secret}`,
    `http://mon:${secret}@db.example.com/app`,
    `postgres://:${secret}@db.example.com/app`,
    // A malformed escape in the database name threw URIError (a 500 at the route) before.
    `postgres://mon:${secret}@db.example.com/%zz`,
  ]) {
    assert.throws(
      () => parseTargetUrl(url),
      (e: unknown) => e instanceof PgvigilError && e.code === 'BAD_ARGUMENT' && !e.message.includes(secret),
      url.replace(secret, '***'),
    );
  }
});

test('ssl_options_follow_libpq_meaning_of_each_sslmode', () => {
  assert.equal(sslOptions('disable', null), false);
  assert.deepEqual(sslOptions('require', 'PEM'), { rejectUnauthorized: false });
  const ca = sslOptions('verify-ca', 'PEM');
  assert.ok(ca && ca.rejectUnauthorized === true && ca.ca === 'PEM');
  assert.equal(typeof ca.checkServerIdentity, 'function');
  const full = sslOptions('verify-full', 'PEM');
  assert.ok(full && full.rejectUnauthorized === true && full.ca === 'PEM');
  assert.equal(full.checkServerIdentity, undefined);
});

test('a_ca_bundle_without_certificates_or_with_a_key_is_refused', () => {
  assert.throws(() => checkCaBundle('hello'), /no PEM certificate/);
  assert.throws(
    () => checkCaBundle('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
    /cannot be read/,
  );
});

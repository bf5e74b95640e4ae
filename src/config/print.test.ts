import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSecretKey, maskUrlPassword, maskValue } from './print.js';

test('passwords_in_urls_are_masked_and_the_rest_kept', () => {
  assert.equal(
    maskUrlPassword('postgres://pg:s3cret@db:5432/x?sslmode=require'),
    'postgres://pg:********@db:5432/x?sslmode=require',
  );
  assert.equal(maskUrlPassword('main=postgres://pg:s%40c@db/x'), 'main=postgres://pg:********@db/x');
  assert.equal(
    maskUrlPassword('postgres://db/x?password=abc&sslmode=disable'),
    'postgres://db/x?password=********&sslmode=disable',
  );
  assert.equal(maskUrlPassword('postgres://pg@db/x'), 'postgres://pg@db/x');
  assert.equal(maskUrlPassword('/var/lib/pgvigil'), '/var/lib/pgvigil');
});

test('secret_keys_are_masked_whole_but_paths_to_secrets_are_shown', () => {
  assert.ok(isSecretKey('enroll_token'));
  assert.ok(!isSecretKey('enroll_token_file'));
  assert.ok(!isSecretKey('tls_key'));
  assert.equal(maskValue('enroll_token', 'pgv_enroll_abc'), '********');
  assert.deepEqual(maskValue('postgres', ['a=postgres://u:p@h/d', 'postgres://h/d']), [
    'a=postgres://u:********@h/d',
    'postgres://h/d',
  ]);
});

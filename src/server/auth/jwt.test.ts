import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { type AccessClaims, signAccessToken, verifyAccessToken } from './jwt.js';

const key = Buffer.from('a-32-byte-signing-key-for-tests!');
const claims: AccessClaims = {
  sub: '7',
  sid: 's-1',
  role: 'user',
  name: 'ada',
  iat: 1_800_000_000,
  exp: 1_800_000_900,
};
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
/** A token made the way the server made them before jose: HS256 over header.claims with node:crypto. */
function handMade(head: unknown, body: unknown, hash = 'sha256'): string {
  const input = `${b64(head)}.${b64(body)}`;
  return `${input}.${createHmac(hash, key).update(input).digest('base64url')}`;
}

test('tokens_are_the_same_bytes_as_before_so_issued_tokens_still_verify', async () => {
  const before = handMade({ alg: 'HS256', typ: 'JWT' }, claims);
  assert.equal(await signAccessToken(claims, key), before);
  assert.deepEqual(await verifyAccessToken(before, key, 1_800_000_000_000), claims);
});

test('a_token_is_refused_from_its_expiry_second_on', async () => {
  const token = await signAccessToken(claims, key);
  assert.ok(await verifyAccessToken(token, key, claims.exp * 1000 - 1));
  assert.equal(await verifyAccessToken(token, key, claims.exp * 1000), undefined);
});

test('other_algorithms_other_keys_and_missing_claims_are_refused', async () => {
  const now = 1_800_000_000_000;
  const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
  assert.equal(await verifyAccessToken(none, key, now), undefined, 'alg none');
  const hs512 = handMade({ alg: 'HS512', typ: 'JWT' }, claims, 'sha512');
  assert.equal(await verifyAccessToken(hs512, key, now), undefined, 'alg HS512');
  const other = await signAccessToken(claims, Buffer.alloc(32, 1));
  assert.equal(await verifyAccessToken(other, key, now), undefined, 'another key');
  const { exp: _exp, ...noExp } = claims;
  assert.equal(await verifyAccessToken(handMade({ alg: 'HS256' }, noExp), key, now), undefined, 'no exp');
  const badRole = handMade({ alg: 'HS256' }, { ...claims, role: 'root' });
  assert.equal(await verifyAccessToken(badRole, key, now), undefined, 'unknown role');
  assert.equal(await verifyAccessToken('x'.repeat(5000), key, now), undefined, 'oversized');
  assert.equal(await verifyAccessToken('not a token', key, now), undefined, 'garbage');
});

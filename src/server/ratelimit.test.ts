import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimiter } from './ratelimit.js';

test('a_full_bucket_allows_the_burst_then_one_request_per_token_with_the_wait_in_seconds', () => {
  const limiter = new RateLimiter(0.1, 10); // the sign-in default: 10 at once, then one every 10 s
  const t0 = 1_000_000;
  for (let i = 0; i < 10; i++) assert.equal(limiter.take('ada', t0), 0, `attempt ${i + 1}`);
  assert.equal(limiter.take('ada', t0), 10, 'the next token is 10 s away');
  assert.equal(limiter.take('ada', t0 + 4_000), 6, 'and comes nearer as time passes');
  assert.equal(limiter.take('ada', t0 + 10_000), 0, 'one token after 10 s');
  assert.equal(limiter.take('ada', t0 + 10_000), 10, 'and only one');
  assert.equal(limiter.take('bob', t0), 0, 'keys have their own buckets');
});

test('a_steady_rate_below_the_limit_is_never_refused_however_long_it_goes_on', () => {
  const limiter = new RateLimiter(20, 100); // the per-agent ingest default
  for (let i = 0; i < 100; i++) assert.equal(limiter.take('agent', i * 50), 0, `push ${i}`);
});

test('the_tracked_keys_are_bounded_and_the_least_recently_used_are_forgotten', () => {
  const limiter = new RateLimiter(1, 1, 4);
  for (const k of ['a', 'b', 'c', 'd']) assert.equal(limiter.take(k, 0), 0);
  assert.equal(limiter.take('a', 0), 1, 'a is empty and now the most recent');
  limiter.take('e', 0); // over the bound: b and c (least recently used) are forgotten
  assert.equal(limiter.take('b', 0), 0, 'b starts again full');
  assert.equal(limiter.take('a', 0), 1, 'a is still remembered');
});

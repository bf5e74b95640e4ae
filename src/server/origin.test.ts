import assert from 'node:assert/strict';
import { test } from 'node:test';
import { originAllowed } from './origin.js';

test('the_origin_check_allows_no_origin_the_own_origin_and_listed_ones_only', () => {
  const allowed = new Set(['https://dash.example']);
  const own = 'https://monitor.example';
  assert.equal(originAllowed(undefined, own, allowed), true);
  assert.equal(originAllowed('https://monitor.example', own, allowed), true);
  assert.equal(originAllowed('https://MONITOR.example:443', own, allowed), true);
  assert.equal(originAllowed('https://dash.example', own, allowed), true);
  assert.equal(originAllowed('http://monitor.example', own, allowed), false, 'another scheme');
  assert.equal(originAllowed('https://monitor.example:8443', own, allowed), false, 'another port');
  assert.equal(originAllowed('https://monitor.example.evil.example', own, allowed), false);
  assert.equal(originAllowed('null', own, allowed), false);
  assert.equal(originAllowed('https://monitor.example', undefined, allowed), false, 'no Host header');
});

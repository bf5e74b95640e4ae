import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bodyShapeLimits, checkJsonShape, type JsonShapeLimits } from './json-guard.js';

const limits: JsonShapeLimits = { maxDepth: 8, maxKeys: 5, maxStringLength: 10, maxValues: 50 };

/** `{"x": [[[…]]]}` nested `depth` arrays deep, parsed (JSON.parse copes; recursion after it would not). */
function deep(depth: number): unknown {
  return JSON.parse(`{"x":${'['.repeat(depth)}${']'.repeat(depth)}}`);
}

test('a_value_nested_100000_deep_is_refused_with_its_path_without_overflowing_the_stack', () => {
  const r = checkJsonShape(deep(100_000), bodyShapeLimits);
  assert.ok(!r.ok);
  assert.equal(r.kind, 'invalid');
  assert.match(r.message, /nested deeper than 32 levels/);
  assert.equal(r.path, `x${'[0]'.repeat(31)}`);
});

test('a_value_within_every_limit_passes', () => {
  assert.deepEqual(checkJsonShape({ a: [1, 'two', null, true, { b: [] }] }, limits), { ok: true });
  assert.deepEqual(checkJsonShape(deep(7), limits), { ok: true });
});

test('too_many_keys_in_one_object_are_refused', () => {
  const r = checkJsonShape({ o: { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 } }, limits);
  assert.ok(!r.ok && r.kind === 'too-large' && r.path === 'o' && /more than 5 keys/.test(r.message));
});

test('a_long_string_or_key_is_refused', () => {
  const r = checkJsonShape({ a: ['x'.repeat(11)] }, limits);
  assert.ok(!r.ok && r.path === 'a[0]' && /longer than 10/.test(r.message));
  const k = checkJsonShape({ ['k'.repeat(11)]: 1 }, limits);
  assert.ok(!k.ok && /^key: string longer/.test(k.message));
});

test('NUL_characters_and_lone_surrogates_are_refused_in_values_and_keys', () => {
  const nul = checkJsonShape(JSON.parse('{"a":{"b c":"x\\u0000y"}}'), limits);
  assert.ok(!nul.ok && nul.path === 'a["b c"]' && /NUL/.test(nul.message));
  const sur = checkJsonShape(JSON.parse('["ok","\\ud800"]'), limits);
  assert.ok(!sur.ok && sur.path === '[1]' && /surrogate/.test(sur.message));
  const key = checkJsonShape(JSON.parse('{"\\u0000":1}'), limits);
  assert.ok(!key.ok && /^key: .*NUL/.test(key.message));
  assert.ok(checkJsonShape('a pair: \ud83d\ude00', limits).ok);
});

test('too_many_values_in_the_document_are_refused_as_too_large', () => {
  const r = checkJsonShape(
    Array.from({ length: 60 }, () => 1),
    limits,
  );
  assert.ok(!r.ok && r.kind === 'too-large' && /more than 50 values/.test(r.message));
});

test('an_own___proto___key_is_walked_as_data', () => {
  const v = JSON.parse('{"__proto__":{"x":"y\\u0000"}}');
  const r = checkJsonShape(v, limits);
  assert.ok(!r.ok && r.path === '__proto__.x');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseList } from './fleet.sql.js';

test('a list from PostgreSQL parses to its numbers with empty items as nulls', () => {
  assert.deepEqual(parseList(null), []);
  assert.deepEqual(parseList(''), []);
  assert.deepEqual(parseList('1,2.5,-3'), [1, 2.5, -3]);
  assert.deepEqual(parseList(',1,,2,'), [null, 1, null, 2, null]);
  assert.deepEqual(parseList(','), [null, null]);
  assert.deepEqual(parseList(',,,'), [null, null, null, null]);
  assert.deepEqual(parseList('1e+30,-3.2e-05,1700000000000'), [1e30, -3.2e-5, 1700000000000]);
  assert.deepEqual(parseList('NaN,Infinity,,-Infinity'), [Number.NaN, Infinity, null, -Infinity]);
});

/**
 * The literals of statements sent without parameters (src/storage/queries/literals.ts) read back as the
 * values they were made of, against a real PostgreSQL, whatever `standard_conforming_strings` says; and
 * values they cannot carry are refused before anything is sent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { byteaArray, floatArray, intArray, textArray, textLiteral } from '../src/storage/queries/literals.js';
import { createTestDatabase, type TestDatabase, testPgLabel } from './helpers/db.js';

let db: TestDatabase;

const texts = [
  "it's",
  'back\\slash',
  "\\' both",
  "E'x'",
  '$$dollar$$',
  'ünïcödé ✓ \t\n\r',
  '',
  '{"a":"b\\"c","d":[1,null]}',
  ');DROP TABLE x;--',
];

describe(`SQL literals (${testPgLabel})`, () => {
  before(async () => {
    db = await createTestDatabase('literals');
  });
  after(async () => {
    await db.drop();
  });

  for (const conforming of ['on', 'off']) {
    test(`values_read_back_unchanged_with_standard_conforming_strings_${conforming}`, async () => {
      const client = await db.pool.connect();
      try {
        await client.query(`SET standard_conforming_strings = ${conforming}`);
        await client.query('SET escape_string_warning = off');
        const { rows } = await client.query(
          `SELECT ${textArray([...texts, null])} AS t, ${textArray(
            ['00000000-0000-0000-0000-00000000000a', null],
            'uuid',
          )}::text[] AS u, ${intArray([0, -1, Number.MAX_SAFE_INTEGER, null])}::text[] AS i,
           ${floatArray([0.5, -1e300, 5e-324, 1764810000000])} AS f,
           ${byteaArray([Buffer.from([0, 0x5c, 0x27, 0xff]), Buffer.alloc(0)])} AS b,
           ${textLiteral(texts[1]!)} AS one, ${textArray([])} AS empty`,
        );
        const r = rows[0];
        assert.deepEqual(r.t, [...texts, null]);
        assert.deepEqual(r.u, ['00000000-0000-0000-0000-00000000000a', null]);
        assert.deepEqual(r.i, ['0', '-1', String(Number.MAX_SAFE_INTEGER), null]);
        assert.deepEqual(r.f, [0.5, -1e300, 5e-324, 1764810000000]);
        assert.deepEqual(r.b, [Buffer.from([0, 0x5c, 0x27, 0xff]), Buffer.alloc(0)]);
        assert.equal(r.one, texts[1]);
        assert.deepEqual(r.empty, []);
      } finally {
        client.release(true);
      }
    });
  }

  test('values_a_literal_cannot_carry_are_refused', () => {
    assert.throws(() => textLiteral('a\0b'), /NUL/);
    assert.throws(() => intArray([1.5]), /safe integer/);
    assert.throws(() => intArray([2 ** 53]), /safe integer/);
    assert.throws(() => floatArray([Number.NaN]), /finite/);
    assert.throws(() => floatArray([Number.POSITIVE_INFINITY]), /finite/);
  });
});

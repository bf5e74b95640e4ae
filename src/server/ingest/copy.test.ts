import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ValidTable } from '../../protocol/batch.js';
import { encodeTable } from './copy.js';

const t0 = Date.UTC(2026, 11, 3, 13, 59, 59, 500);
const pgEpochMs = Date.UTC(2000, 0, 1);

/** Binary COPY tuples back into fields: a Buffer each, null for NULL. */
function tuples(b: Buffer): Array<Array<Buffer | null>> {
  const out: Array<Array<Buffer | null>> = [];
  let o = 0;
  while (o < b.length) {
    const n = b.readInt16BE(o);
    o += 2;
    const fields: Array<Buffer | null> = [];
    for (let k = 0; k < n; k++) {
      const len = b.readInt32BE(o);
      o += 4;
      if (len < 0) fields.push(null);
      else {
        fields.push(b.subarray(o, o + len));
        o += len;
      }
    }
    out.push(fields);
  }
  return out;
}

const msOf = (f: Buffer | null) => (f === null ? null : Number(f.readBigInt64BE(0) / 1000n) + pgEpochMs);

function table(rows: unknown[][]): ValidTable {
  return {
    table: 'host_load',
    columns: ['ts', 'load1', 'note'],
    types: ['timestamptz', 'float8', 'text'],
    rows,
    tsIndex: 0,
    targetIndex: -1,
  };
}

test('rows_sharing_a_timestamp_and_rows_with_their_own_each_get_their_own_time', () => {
  const c = encodeTable(
    table([
      [t0, 0.5, 'a'],
      [t0, 1, 'b'],
      [t0 + 1000, 2, 'c'],
      [t0, 3, 'd'],
    ]),
    7,
  );
  const rows = tuples(c.tuples);
  assert.deepEqual(
    rows.map((f) => [Number(f[0]!.readBigInt64BE(0)), msOf(f[1]!), f[2]!.readDoubleBE(0), f[3]!.toString()]),
    [
      [7, t0, 0.5, 'a'],
      [7, t0, 1, 'b'],
      [7, t0 + 1000, 2, 'c'],
      [7, t0, 3, 'd'],
    ],
  );
  assert.equal(c.rows, 4);
  assert.deepEqual(c.columns, ['server_id', 'ts', 'load1', 'note']);
  assert.deepEqual(c.hours.sort(), [Date.UTC(2026, 11, 3, 13), Date.UTC(2026, 11, 3, 14)]);
  assert.equal(c.minTs, t0);
});

test('a_row_with_two_timestamps_keeps_each_columns_own_time', () => {
  const t: ValidTable = {
    table: 'pg_tables',
    columns: ['ts', 'last_vacuum'],
    types: ['timestamptz', 'timestamptz'],
    rows: [
      [t0, t0 - 60_000],
      [t0, null],
      [t0, t0 - 120_000],
    ],
    tsIndex: 0,
    targetIndex: -1,
  };
  assert.deepEqual(
    tuples(encodeTable(t, 2).tuples).map((f) => [msOf(f[1]!), msOf(f[2]!)]),
    [
      [t0, t0 - 60_000],
      [t0, null],
      [t0, t0 - 120_000],
    ],
  );
});

test('a_timestamp_given_as_text_nulls_and_control_characters_are_encoded_for_copy', () => {
  const c = encodeTable(table([['2026-12-03T10:00:00Z', null, 'tab\there\\nl\n ✓']]), 1);
  const [f] = tuples(c.tuples);
  assert.equal(msOf(f![1]!), Date.UTC(2026, 11, 3, 10));
  assert.equal(f![2], null);
  // Binary text is the value's UTF-8 bytes, nothing escaped.
  assert.equal(f![3]!.toString('utf8'), 'tab\there\\nl\n ✓');
});

test('a_huge_table_leaves_no_huge_buffer_behind_and_the_next_table_is_encoded_alone', () => {
  const big = 'x'.repeat(16_000);
  const rows = Array.from({ length: 400 }, (_, i) => [t0 + i, i, big]);
  const c = encodeTable(table(rows), 1);
  assert.equal(tuples(c.tuples).length, 400);
  const small = encodeTable(table([[t0, 1, 'y']]), 1);
  assert.deepEqual(
    tuples(small.tuples).map((f) => f[3]!.toString()),
    ['y'],
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ValidTable } from '../../protocol/batch.js';
import { encodeTable } from './copy.js';

const t0 = Date.UTC(2026, 11, 3, 13, 59, 59, 500);

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

test('rows_sharing_a_timestamp_and_rows_with_their_own_each_get_their_own_time_text', () => {
  const c = encodeTable(
    table([
      [t0, 0.5, 'a'],
      [t0, 1, 'b'],
      [t0 + 1000, 2, 'c'],
      [t0, 3, 'd'],
    ]),
    7,
  );
  assert.equal(
    c.lines.toString(),
    [
      '7\t2026-12-03T13:59:59.500Z\t0.5\ta',
      '7\t2026-12-03T13:59:59.500Z\t1\tb',
      '7\t2026-12-03T14:00:00.500Z\t2\tc',
      '7\t2026-12-03T13:59:59.500Z\t3\td',
      '',
    ].join('\n'),
  );
  assert.deepEqual(c.columns, ['server_id', 'ts', 'load1', 'note']);
  assert.deepEqual(c.hours.sort(), [Date.UTC(2026, 11, 3, 13), Date.UTC(2026, 11, 3, 14)]);
  assert.equal(c.minTs, t0);
});

test('a_row_with_two_timestamps_keeps_each_columns_own_text', () => {
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
  assert.equal(
    encodeTable(t, 2).lines.toString(),
    [
      '2\t2026-12-03T13:59:59.500Z\t2026-12-03T13:58:59.500Z',
      '2\t2026-12-03T13:59:59.500Z\t\\N',
      '2\t2026-12-03T13:59:59.500Z\t2026-12-03T13:57:59.500Z',
      '',
    ].join('\n'),
  );
});

test('a_timestamp_given_as_text_nulls_and_control_characters_are_encoded_for_copy', () => {
  const c = encodeTable(table([['2026-12-03T10:00:00Z', null, 'tab\there\\nl\n']]), 1);
  assert.equal(c.lines.toString(), '1\t2026-12-03T10:00:00.000Z\t\\N\ttab\\there\\\\nl\\n\n');
});

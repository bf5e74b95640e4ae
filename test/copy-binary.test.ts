/**
 * Ingest writes COPY's binary format (src/server/ingest/copy.ts). Against a real PostgreSQL: rows with
 * every column type and their edge values are stored exactly as the text format stored them before —
 * the text encoding of the earlier writer is kept here as the reference.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { maxTimestampMs, type ValidTable } from '../src/protocol/batch.js';
import type { ColumnType } from '../src/protocol/families/index.js';
import { encodeTable } from '../src/server/ingest/copy.js';
import { runCopyPipeline } from '../src/storage/copy-pipeline.js';
import { pgTypeNames } from '../src/storage/ddl.js';
import { copyTables } from '../src/storage/queries/ingest.sql.js';
import { createTestDatabase, type TestDatabase, testPgLabel } from './helpers/db.js';

/** The text format as the writer encoded it before (its escaping, its timestamps, String for numbers). */
function textLines(t: ValidTable, serverId: number, targetIds: Map<string, number>): string {
  const esc = (s: string) =>
    s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
  const value = (v: unknown, type: ColumnType): string => {
    if (v === null || v === undefined) return '\\N';
    switch (type) {
      case 'text':
        return esc(v as string);
      case 'timestamptz':
        return new Date(typeof v === 'number' ? v : Date.parse(v as string)).toISOString();
      case 'bool':
        return v ? 't' : 'f';
      case 'jsonb':
        return esc(JSON.stringify(v));
      default:
        return String(v);
    }
  };
  let out = '';
  for (const row of t.rows) {
    const fields = [String(serverId)];
    if (t.targetIndex >= 0) fields.push(String(targetIds.get(row[t.targetIndex] as string) ?? '\\N'));
    row.forEach((v, i) => {
      if (i !== t.targetIndex) fields.push(value(v, t.types[i]!));
    });
    out += `${fields.join('\t')}\n`;
  }
  return out;
}

const t0 = Date.UTC(2026, 11, 4, 0, 59, 59, 999);

const table: ValidTable = {
  table: 'copy_check',
  columns: ['ts', 'target', 'f8', 'f4', 'i4', 'i8', 'b', 'txt', 'j', 'other_ts'],
  types: ['timestamptz', 'text', 'float8', 'float4', 'int4', 'int8', 'bool', 'text', 'jsonb', 'timestamptz'],
  tsIndex: 0,
  targetIndex: 1,
  rows: [
    [t0, 'db1', 0.1, 0.1, 0, 0, true, 'plain', { a: [1, 'x\n'], b: null }, t0],
    [t0, 'db2', -0, -0, -2147483648, 9007199254740991, false, 'ünïcödé ✓ 𝄞', [], t0 + 0.7],
    [t0 + 1, 'missing', 1e300, 3.4028234663852886e38, 2147483647, -9007199254740991, null, '', {}, null],
    [
      t0,
      'db1',
      -1.5e-300,
      1.1754943508222875e-38,
      -1,
      '9223372036854775807',
      true,
      'tab\there\\n\r\n',
      null,
      1,
    ],
    [t0, 'db1', 5e-324, 16777217, 42, '-9223372036854775808', false, null, { s: '\\"' }, maxTimestampMs],
    [t0, null, 123456789.123, 0.3, 7, -1, true, 'x', { n: 1.5 }, '2026-02-12T10:00:00.123456+01:00'],
    [t0, 'db2', -123.456e-7, -65504.5, 1, 4294967296, false, 'y', null, '1999-12-31T23:59:59.999Z'],
    [t0, 'db2', null, null, null, null, null, null, null, '2000-01-01T00:00:00Z'],
  ],
};

let db: TestDatabase;

describe(`COPY binary against the text format (${testPgLabel})`, () => {
  before(async () => {
    db = await createTestDatabase('copybin');
    await db.pool.query('CREATE SCHEMA pgvigil');
    const cols = table.columns
      .filter((_, i) => i !== table.targetIndex)
      .map((c) => `"${c}" ${pgTypeNames[table.types[table.columns.indexOf(c)]!]}`);
    for (const name of ['copy_check', 'copy_text']) {
      await db.pool.query(
        `CREATE TABLE pgvigil.${name} (server_id bigint, target_id bigint, ${cols.join(', ')})`,
      );
    }
  });
  after(async () => {
    await db.drop();
  });

  test('every_type_and_edge_value_is_stored_as_the_text_format_stored_it', async () => {
    const ids = new Map([
      ['db1', 11],
      ['db2', 9007199254740000],
    ]);
    const rows = table.rows.map((r) => [...r]);
    // Two batches' parts, as a group has them.
    const first = encodeTable({ ...table, rows: rows.slice(0, 3) }, 3, ids);
    const second = encodeTable({ ...table, rows: rows.slice(3) }, 3, ids);
    assert.deepEqual(first.columns, [
      'server_id',
      'target_id',
      ...table.columns.filter((c) => c !== 'target'),
    ]);
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await copyTables(client, [
        { table: 'copy_check', once: false, columns: first.columns, parts: [first.tuples, second.tuples] },
      ]);
      await runCopyPipeline(
        client,
        `COPY pgvigil.copy_text (${first.columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN`,
        [[Buffer.from(textLines(table, 3, ids))]],
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const read = async (name: string) =>
      (await db.pool.query(`SELECT t::text AS row FROM pgvigil.${name} t ORDER BY ctid`)).rows.map(
        (r: { row: string }) => r.row,
      );
    const binary = await read('copy_check');
    assert.equal(binary.length, table.rows.length);
    assert.deepEqual(binary, await read('copy_text'));
    // And a few values read back as numbers, not only as equal text.
    const { rows: back } = await db.pool.query(
      `SELECT f8, i8::text, target_id::text, extract(epoch FROM other_ts) * 1000 AS other_ms FROM pgvigil.copy_check ORDER BY ctid`,
    );
    assert.equal(back[0].f8, 0.1);
    assert.equal(Object.is(back[1].f8, -0), false);
    assert.equal(back[3].i8, '9223372036854775807');
    assert.equal(back[1].target_id, '9007199254740000');
    assert.equal(back[2].target_id, null);
    assert.equal(Number(back[4].other_ms), maxTimestampMs);
  });
});

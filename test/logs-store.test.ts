/** The log_entries table: shape matches the protocol, partitions come from the maintainer, lookups work. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fingerprintOf } from '../src/agent/logs/fingerprint.js';
import { type LogEntry, logEntryColumns } from '../src/protocol/logs.js';
import { migrate } from '../src/storage/migrate.js';
import { maintainPartitions } from '../src/storage/partitions.js';
import { createTestDatabase, quietLog, type TestDatabase } from './helpers/db.js';

const pgType: Record<string, string> = {
  text: 'text',
  timestamptz: 'timestamp with time zone',
  jsonb: 'jsonb',
};

describe('log_entries table', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('logs');
    await migrate(db.pool, quietLog);
    await maintainPartitions(db.pool, { log: quietLog });
  });
  after(async () => db?.drop());

  test('has_the_columns_of_the_protocol_after_server_id', async () => {
    const { rows } = await db.pool.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns
        WHERE table_schema = 'pgvigil' AND table_name = 'log_entries' ORDER BY ordinal_position`,
    );
    assert.deepEqual(
      rows.map((r) => [r.column_name, r.data_type]),
      [['server_id', 'bigint'], ...logEntryColumns.map((c) => [c.name, pgType[c.type]])],
    );
  });

  test('stores_entries_and_finds_them_by_fingerprint_and_event', async () => {
    const msg = (n: number) => `duration: ${n}.5 ms  statement: SELECT * FROM t WHERE id = ${n}`;
    const entries: LogEntry[] = [1, 2, 3].map((n) => ({
      ts: new Date().toISOString(),
      source: 'postgresql',
      level: 'info',
      component: 'client backend',
      message: msg(n),
      context: { event: 'slow_statement', duration_ms: n + 0.5, user: 'bob' },
      fingerprint: fingerprintOf('postgresql', 'info', msg(n)),
    }));
    for (const e of entries) {
      await db.pool.query(
        `INSERT INTO pgvigil.log_entries (server_id, ts, source, level, component, message, context, fingerprint)
         VALUES (1, $1, $2, $3, $4, $5, $6, $7)`,
        [e.ts, e.source, e.level, e.component, e.message, JSON.stringify(e.context), e.fingerprint],
      );
    }
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM pgvigil.log_entries WHERE server_id = 1 AND fingerprint = $1`,
      [entries[0]!.fingerprint],
    );
    assert.equal(rows[0].n, 3, 'the three statements share one fingerprint');
    const ev = await db.pool.query(
      `SELECT sum((context->>'duration_ms')::float8) AS total FROM pgvigil.log_entries
        WHERE server_id = 1 AND context->>'event' = 'slow_statement' AND context ? 'event'`,
    );
    assert.equal(Number(ev.rows[0].total), 7.5);
  });

  test('rejects_a_level_outside_the_seven', async () => {
    await assert.rejects(
      db.pool.query(
        `INSERT INTO pgvigil.log_entries (server_id, ts, source, level, message, fingerprint)
         VALUES (1, now(), 's', 'verbose', 'm', '0123456789abcdef')`,
      ),
      /check constraint/,
    );
  });
});

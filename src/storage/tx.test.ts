import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgvigilError } from '../errors.js';
import { isConnectionError, storeUnavailable, whileStoreAway } from './tx.js';

test('a_lost_or_frozen_store_counts_as_a_connection_error', () => {
  const lost = [
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:54329'), { code: 'ECONNREFUSED' }),
    Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    Object.assign(new Error('terminating connection due to unexpected postmaster exit'), { code: '57P02' }),
    Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
    new Error('Connection terminated unexpectedly'),
    new Error('timeout exceeded when trying to connect'),
    new Error('Query read timeout'),
    new PgvigilError('STORE_UNAVAILABLE', 'the store is not reachable'),
  ];
  for (const err of lost) assert.equal(isConnectionError(err), true, err.message);
});

test('a_statement_the_store_refused_is_not_a_connection_error', () => {
  const refused = [
    Object.assign(new Error('duplicate key value violates unique constraint "x_pkey"'), { code: '23505' }),
    Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }),
    new PgvigilError('NOT_FOUND', 'no such server'),
  ];
  for (const err of refused) assert.equal(isConnectionError(err), false, err.message);
  assert.equal(storeUnavailable(new Error('x')).code, 'STORE_UNAVAILABLE');
});

test('a start-up step is tried again while the store is away, then fails as STORE_UNAVAILABLE', async () => {
  let calls = 0;
  const timeout = () => new Error('Connection terminated due to connection timeout');
  const retried: number[] = [];
  const ok = await whileStoreAway(
    async () => {
      if (++calls < 3) throw timeout();
      return 'done';
    },
    { delayMs: 1, onRetry: (_e, attempt) => retried.push(attempt) },
  );
  assert.equal(ok, 'done');
  assert.deepEqual(retried, [1, 2]);

  calls = 0;
  await assert.rejects(
    whileStoreAway(
      async () => {
        calls++;
        throw timeout();
      },
      { attempts: 4, delayMs: 1 },
    ),
    (err: unknown) => err instanceof PgvigilError && err.code === 'STORE_UNAVAILABLE',
  );
  assert.equal(calls, 4);

  calls = 0;
  await assert.rejects(
    whileStoreAway(
      async () => {
        calls++;
        throw Object.assign(new Error('permission denied for table servers'), { code: '42501' });
      },
      { delayMs: 1 },
    ),
    /permission denied/,
  );
  assert.equal(calls, 1, 'a refused statement is not tried again');
});

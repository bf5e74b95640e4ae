import type pg from 'pg';

/**
 * What every query function takes first: the pool (one statement, autocommit), a pooled client inside a
 * transaction from `storage/tx.ts`, or a dedicated client — the caller chooses.
 */
export type Queryable = pg.Pool | pg.ClientBase;

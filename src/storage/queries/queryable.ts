import type pg from 'pg';

/**
 * What every query function takes first: the pool (one statement, autocommit) or a client inside a
 * transaction from `storage/tx.ts` — the caller chooses.
 */
export type Queryable = pg.Pool | pg.PoolClient;

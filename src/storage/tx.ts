/**
 * The one way code outside this folder holds a store connection: a transaction (`inTransaction`), a
 * read-only snapshot with a statement timeout (`inReadSnapshot`; `inBackgroundRead` for a job's, on one
 * core), and the test that tells a lost store from a refused statement (`isConnectionError`).
 *
 * Guarantees:
 * - A connection is always released; one whose state is unknown (a failed ROLLBACK, a lost link) is
 *   destroyed rather than handed back to the pool.
 * - A store that cannot be reached, or drops the connection, surfaces as `STORE_UNAVAILABLE` (503, the
 *   caller retries later) — never as a raw driver error that a route would answer with 500.
 * - A read that runs past its timeout surfaces as `QUERY_TIMEOUT`.
 */
import pg from 'pg';
import { PgvigilError } from '../errors.js';
import { type ReadRange, readReplicasOf } from './read-replicas.js';

/**
 * True when `err` means the store is away (connection refused, reset, terminated by an administrator,
 * starting up, out of connection slots, a connect or query timeout) rather than a statement it refused.
 */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof PgvigilError) return err.code === 'STORE_UNAVAILABLE';
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  if (code.startsWith('08') || code.startsWith('57P') || code === '53300') return true;
  return /ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH|terminat|Connection|timeout exceeded|Query read timeout/i.test(
    String((err as Error | null)?.message ?? ''),
  );
}

/** What a 503 for a store that is away tells the client to wait before retrying (seconds). */
export const storeRetryAfterSeconds = 5;

/** The coded error for a store that is away; `err` is kept as the cause (for the log, never the client). */
export function storeUnavailable(err: unknown): PgvigilError {
  if (err instanceof PgvigilError && err.code === 'STORE_UNAVAILABLE') return err;
  return new PgvigilError('STORE_UNAVAILABLE', `store unavailable: ${(err as Error).message}`, {
    cause: err,
  });
}

/**
 * Runs `fn`, again while the store is away (`isConnectionError`: a connect timeout when the store is
 * overloaded, a restart), `attempts` times in all `delayMs` apart; then the last such error as
 * `STORE_UNAVAILABLE`. Any other error is the caller's at once. For start-up steps, which have no caller to
 * retry them: a store slow to answer for a few seconds must not end the program with an unexpected error.
 */
export async function whileStoreAway<T>(
  fn: () => Promise<T>,
  opts: { attempts?: number; delayMs?: number; onRetry?: (err: unknown, attempt: number) => void } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      if (attempt >= attempts) throw storeUnavailable(err);
      opts.onRetry?.(err, attempt);
      await new Promise((r) => setTimeout(r, opts.delayMs ?? 2_000));
    }
  }
}

/**
 * Makes `pool` closable with `end`, which resolves only once every connection it opened is closed.
 * pg-pool's own `end` resolves when it has taken its idle connections off its lists, while their goodbyes
 * (Terminate, the socket's close) are still on their way: a server stopped right after — `pgvigil up`'s
 * embedded store on Ctrl-C — ends those sessions itself, and each reports "terminating connection due to
 * administrator command" as a lost connection. Call when the pool is made, so that every connection is
 * seen; `end` waits at most `timeoutMs` for the last ones.
 */
export function closeablePool(pool: pg.Pool): {
  /** The connections open now. */
  clients: ReadonlySet<pg.Client>;
  end(timeoutMs?: number): Promise<void>;
} {
  const open = new Set<pg.Client>();
  pool.on('connect', (client) => open.add(client));
  pool.on('remove', (client) => open.delete(client));
  return {
    clients: open,
    async end(timeoutMs = 5_000) {
      await pool.end();
      if (open.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      let onRemove = () => {};
      await new Promise<void>((resolve) => {
        onRemove = () => {
          if (open.size === 0) resolve();
        };
        pool.on('remove', onRemove);
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      pool.off('remove', onRemove);
    },
  };
}

/** A pooled connection, or STORE_UNAVAILABLE when none can be had. */
export async function connect(pool: pg.Pool): Promise<pg.PoolClient> {
  try {
    return await pool.connect();
  } catch (err) {
    throw storeUnavailable(err);
  }
}

export interface TransactionOptions {
  /**
   * Statement to open the transaction with (default `BEGIN`); null: `fn` opens it in its first statement
   * (saving a round trip).
   */
  begin?: string | null;
  /**
   * null: `fn` ends the transaction itself, with `commitAfter` (a statement and COMMIT in one round trip).
   * If `fn` throws, the transaction is rolled back as usual.
   * 'unawaited': COMMIT is sent but not waited for, and the connection goes back to the pool once it is
   * done (destroyed if it failed). Only for a read-only transaction, whose COMMIT changes nothing: its
   * answer is whole when `fn` resolves, and the caller need not wait a round trip more for it.
   */
  commit?: null | 'unawaited';
  /** Run after a rollback on the same connection (e.g. releasing advisory locks); a failure destroys it. */
  afterRollback?: string;
}

/**
 * One transaction on one pooled connection: committed when `fn` resolves, rolled back when it throws.
 * Connection errors become STORE_UNAVAILABLE; every other error is passed on as it is.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  opts: TransactionOptions = {},
): Promise<T> {
  const client = await connect(pool);
  let broken = false;
  let released = false;
  try {
    if (opts.begin !== null) await client.query(opts.begin ?? 'BEGIN');
    const out = await fn(client);
    if (opts.commit === 'unawaited') {
      released = true;
      // Released when done; pg-pool destroys a connection that errored meanwhile (its pool hears the error:
      // `handlePoolErrors`).
      client.query('COMMIT').then(
        () => client.release(),
        () => client.release(true),
      );
    } else if (opts.commit !== null) await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    if (opts.afterRollback && !broken) {
      await client.query(opts.afterRollback).catch(() => {
        broken = true;
      });
    }
    if (isConnectionError(err)) {
      broken = true;
      throw storeUnavailable(err);
    }
    throw err;
  } finally {
    if (!released) client.release(broken);
  }
}

/**
 * Commits the transaction of `inTransaction(…, { commit: null })`, sending `statement` (no parameters: see
 * ./queries/literals.ts) in the same simple-query message, just before COMMIT; resolves with its rows. If
 * the statement fails, COMMIT is not run and the caller's error path rolls back.
 */
export async function commitAfter(
  client: pg.ClientBase,
  statement: string,
): Promise<Array<Record<string, unknown>>> {
  const results = (await client.query(`${statement};\nCOMMIT`)) as unknown as pg.QueryResult[];
  return results[0]!.rows;
}

/** Commits the transaction of `inTransaction(…, { commit: null })`. */
export async function commit(client: pg.ClientBase): Promise<void> {
  await client.query('COMMIT');
}

export interface ReadSnapshotOptions {
  /**
   * Asked first, in the standby's snapshot: whether it holds what the read needs beyond the time range —
   * rows written long after the time they cover (a rolled hour, written when the hour is over), which the
   * range's freshness rule cannot vouch for. False: the read runs on the primary instead (the standby is
   * behind, not broken). Never asked on the primary.
   */
  holds?: (client: pg.PoolClient) => Promise<boolean>;
  /**
   * A background read (a job's): planned without parallel workers, so that it takes one core of the store
   * and leaves the others to ingest and to answers, which wait on it otherwise; its timeout is worded for
   * a job's log, not for an API client.
   */
  background?: boolean;
  /**
   * A statement without parameters (values written with ./queries/literals.ts) sent in the BEGIN's own
   * message, so in the snapshot at no round trip of its own: its rows are `fn`'s second argument.
   */
  first?: string;
}

/** The rows of `ReadSnapshotOptions.first` (none without it). */
export type FirstRows = Array<Record<string, unknown>>;

/** The standby's snapshot lacks what `holds` asked for: read on the primary. */
class StandbyBehind extends Error {}

/**
 * Runs `fn` in a read-only, repeatable-read transaction whose statements time out after `timeoutMs`:
 * the queries of one answer see one snapshot, and one expensive read cannot hold a connection for long.
 * With the time `range` a read covers, it may run on a streaming standby that holds that range
 * (./read-replicas.ts) and passes `opts.holds`; a standby that fails it hands it to the primary.
 */
export async function inReadSnapshot<T>(
  pool: pg.Pool,
  timeoutMs: number,
  fn: (client: pg.PoolClient, first: FirstRows) => Promise<T>,
  range?: ReadRange,
  opts: ReadSnapshotOptions = {},
): Promise<T> {
  const replicas = range ? readReplicasOf(pool) : undefined;
  const standby = range ? replicas?.choose(range) : undefined;
  if (replicas && standby) {
    const holds = opts.holds;
    try {
      const answer = await readSnapshotOn(
        standby.pool,
        timeoutMs,
        holds
          ? async (c, first) => {
              if (!(await holds(c))) throw new StandbyBehind();
              return fn(c, first);
            }
          : fn,
        opts,
      );
      replicas.served(standby.replica);
      return answer;
    } catch (err) {
      if (err instanceof StandbyBehind) replicas.behind(standby.replica);
      else if (!isConnectionError(err) && !isRecoveryConflict(err)) throw err;
      else replicas.failed(standby.replica, err);
    }
  }
  return readSnapshotOn(pool, timeoutMs, fn, opts);
}

/**
 * A job's read of a time range: `inReadSnapshot` on one core of the store (`background`), on a standby that
 * holds the range when there is one, when `db` is the pool; on `db` itself when it is a client (the
 * caller's transaction and snapshot).
 */
export function inBackgroundRead<T>(
  db: pg.Pool | pg.ClientBase,
  timeoutMs: number,
  range: ReadRange,
  fn: (client: pg.ClientBase) => Promise<T>,
): Promise<T> {
  return db instanceof pg.Pool ? inReadSnapshot(db, timeoutMs, fn, range, { background: true }) : fn(db);
}

/**
 * `fn` in a transaction of its own on a pool (`inTransaction`), or on a client in the caller's (which must
 * hold one open when `fn` relies on it: a transaction-scoped lock, say).
 */
export function inTransactionOf<T>(
  db: pg.Pool | pg.ClientBase,
  fn: (client: pg.ClientBase) => Promise<T>,
): Promise<T> {
  return db instanceof pg.Pool ? inTransaction(db, fn) : fn(db);
}

/** A query a standby cancelled because replay needed what it held (SQLSTATE 40001 on a hot standby). */
function isRecoveryConflict(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === '40001' && /conflict with recovery/i.test(String(e.message ?? ''));
}

async function readSnapshotOn<T>(
  pool: pg.Pool,
  timeoutMs: number,
  fn: (client: pg.PoolClient, first: FirstRows) => Promise<T>,
  opts: ReadSnapshotOptions,
): Promise<T> {
  const begin = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, Math.trunc(timeoutMs))}${opts.background ? '; SET LOCAL max_parallel_workers_per_gather = 0' : ''}`;
  try {
    // The answer is whole when `fn` resolves: the COMMIT of a read-only transaction is not waited for.
    return await inTransaction(
      pool,
      async (c) => {
        if (!opts.first) {
          await c.query(begin);
          return fn(c, []);
        }
        const results = (await c.query(`${begin};\n${opts.first}`)) as unknown as pg.QueryResult[];
        return fn(c, results.at(-1)!.rows);
      },
      { begin: null, commit: 'unawaited' },
    );
  } catch (err) {
    if ((err as { code?: string }).code === '57014') {
      throw new PgvigilError(
        'QUERY_TIMEOUT',
        opts.background
          ? `a background read took longer than its ${timeoutMs} ms statement timeout`
          : `the query took longer than ${timeoutMs} ms; narrow the time range or add filters`,
      );
    }
    throw err;
  }
}

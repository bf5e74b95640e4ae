/**
 * Forward-only schema migrations: `migrations/NNNN_name.sql`, applied in order, each in its own
 * transaction, recorded in `pgvigil.schema_migrations`. A new store (level 0, every migration pending) takes
 * them all in one transaction, each migration under its own savepoint: one commit instead of one a
 * migration on the first start, and a failure still leaves the level the migrations before it reached.
 * A migration's statements go to the store in one round trip (again one by one only to name a failing one).
 * Nobody else can use a store at level 0, so holding every lock to the end costs nothing there; a store
 * with data keeps one transaction a migration, so a long one releases its locks as soon as it is done.
 *
 * Guarantees:
 * - Serialized by a session advisory lock, so several servers starting at once on one database all come
 *   up: the first applies, the others wait and then find nothing to do.
 * - A failing migration rolls back entirely (the database stays at the previous level) and the error
 *   names the file, the line and the statement.
 * - A database whose schema is newer than this program is refused rather than written to.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { PgvigilError } from '../errors.js';
import type { Logger } from '../log.js';
import { splitSqlStatements } from './sql-split.js';

/** pg_advisory_lock key for migrations ("pgvigil" + 1 as ASCII). */
export const migrationLockKey = 0x7067766967696c01n;

export const defaultMigrationsDir = fileURLToPath(new URL('./migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  file: string;
  sql: string;
  checksum: string;
}

export interface MigrateResult {
  applied: Migration[];
  level: number;
  latest: number;
}

export async function loadMigrations(dir: string = defaultMigrationsDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const out: Migration[] = [];
  for (const file of files) {
    const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) throw new Error(`migration file name "${file}" must look like 0001_name.sql`);
    const sql = await readFile(`${dir}/${file}`, 'utf8');
    const version = Number(m[1]);
    if (out.some((x) => x.version === version)) throw new Error(`two migrations share version ${version}`);
    out.push({ version, name: m[2]!, file, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return out;
}

/** The level a database is at (0 when pgvigil never migrated it). */
export async function currentLevel(db: pg.Pool | pg.PoolClient): Promise<number> {
  // Two statements: PostgreSQL resolves every table a statement names before it evaluates anything, so
  // one statement that reads schema_migrations behind a CASE still fails where the table is missing.
  const present = await db.query<{ present: boolean }>(
    "SELECT to_regclass('pgvigil.schema_migrations') IS NOT NULL AS present",
  );
  if (present.rows[0]?.present !== true) return 0;
  const { rows } = await db.query<{ level: number }>(
    'SELECT coalesce(max(version), 0)::int AS level FROM pgvigil.schema_migrations',
  );
  return Number(rows[0]?.level ?? 0);
}

export async function migrate(pool: pg.Pool, log: Logger, migrations?: Migration[]): Promise<MigrateResult> {
  const all = migrations ?? (await loadMigrations());
  const latest = all.at(-1)?.version ?? 0;
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [migrationLockKey.toString()]);
    try {
      await client.query('CREATE SCHEMA IF NOT EXISTS pgvigil');
      await client.query(`CREATE TABLE IF NOT EXISTS pgvigil.schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const { rows } = await client.query<{ version: number; checksum: string; name: string }>(
        'SELECT version, checksum, name FROM pgvigil.schema_migrations ORDER BY version',
      );
      const done = new Map(rows.map((r) => [r.version, r]));
      const level = rows.at(-1)?.version ?? 0;
      if (level > latest) {
        throw new PgvigilError(
          'STORE_SCHEMA_NEWER',
          `the store schema is at migration ${level}, newer than this pgvigil knows (${latest}); upgrade pgvigil`,
        );
      }
      for (const m of all) {
        const prior = done.get(m.version);
        if (prior && prior.checksum !== m.checksum) {
          log.warn({ migration: m.file }, 'an applied migration file has changed since it was applied');
        }
      }
      const pending = all.filter((x) => !done.has(x.version));
      const applied: Migration[] = [];
      if (level === 0 && pending.length > 1) {
        const failure = await applyInOne(client, pending, applied);
        for (const m of applied) log.info({ migration: m.file }, 'migration applied');
        if (failure) throw failure;
      } else {
        for (const m of pending) {
          await applyOne(client, m);
          log.info({ migration: m.file }, 'migration applied');
          applied.push(m);
        }
      }
      return { applied, level: applied.at(-1)?.version ?? level, latest };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [migrationLockKey.toString()]).catch(() => {});
    }
  } finally {
    client.release();
  }
}

/**
 * A migration's statements and its record, inside a transaction the caller opened and marked with
 * `SAVEPOINT migration`. The statements go in one round trip; when that fails, they are rolled back and run
 * again one at a time, so that the error names the statement that fails and its line.
 */
async function runMigration(client: pg.PoolClient, m: Migration): Promise<void> {
  try {
    await client.query(m.sql);
  } catch (err) {
    await client.query('ROLLBACK TO SAVEPOINT migration');
    for (const stmt of splitSqlStatements(m.sql)) {
      try {
        await client.query(stmt.sql);
      } catch (again) {
        const first = (m.sql.split('\n')[stmt.line - 1] ?? '').trim().slice(0, 120);
        throw new PgvigilError(
          'MIGRATION_FAILED',
          `migration ${m.file} failed at line ${stmt.line} (${first}): ${(again as Error).message}`,
          { cause: again },
        );
      }
    }
    // It failed once and not again (a lock timeout, a deadlock): the first error, without a line.
    throw new PgvigilError('MIGRATION_FAILED', `migration ${m.file} failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  await client.query('INSERT INTO pgvigil.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
    m.version,
    m.name,
    m.checksum,
  ]);
}

async function applyOne(client: pg.PoolClient, m: Migration): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SAVEPOINT migration');
    await runMigration(client, m);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/**
 * Every migration of `ms` in one transaction, each under its savepoint; those committed are pushed to
 * `applied`. A failing migration is rolled back to its savepoint and the ones before it are committed, as
 * when each has its own transaction; the failure is returned for the caller to throw once it has logged them.
 */
async function applyInOne(
  client: pg.PoolClient,
  ms: readonly Migration[],
  applied: Migration[],
): Promise<unknown> {
  const done: Migration[] = [];
  await client.query('BEGIN');
  try {
    let failure: unknown;
    for (const m of ms) {
      await client.query('SAVEPOINT migration');
      try {
        await runMigration(client, m);
      } catch (err) {
        await client.query('ROLLBACK TO SAVEPOINT migration');
        failure = err;
        break;
      }
      await client.query('RELEASE SAVEPOINT migration');
      done.push(m);
    }
    await client.query('COMMIT');
    applied.push(...done);
    return failure;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/**
 * One database per test file on the run's PostgreSQL (started by scripts/run-tests.mjs and passed in
 * PGVIGIL_TEST_ADMIN_URL). Files run in parallel without seeing each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { silentLogger } from '../../src/log.js';
import { openStore, type Store } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { maintainPartitions } from '../../src/storage/partitions.js';

export const testPgLabel = process.env.PGVIGIL_TEST_PG ?? 'unknown';

export function adminUrl(): string {
  const url = process.env.PGVIGIL_TEST_ADMIN_URL;
  if (!url) {
    throw new Error(
      'PGVIGIL_TEST_ADMIN_URL is not set: run tests with `npm test` or `node scripts/run-tests.mjs FILE`',
    );
  }
  return url;
}

/** The URL of another database on the same server. */
export function databaseUrl(name: string): string {
  const u = new URL(adminUrl());
  u.pathname = `/${name}`;
  return u.toString();
}

export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`.toLowerCase();
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  await admin.end();
  const url = databaseUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  pool.on('error', () => {});
  return {
    name,
    url,
    pool,
    drop: async () => {
      await pool.end();
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`);
      await c.end();
    },
  };
}

export const quietLog = silentLogger();

export interface TestStore {
  db: TestDatabase;
  store: Store;
  /** The migration level the code knows (what the app is built with). */
  latest: number;
  close(): Promise<void>;
}

/** A test database opened as the server opens its store: migrated, today's partitions in place. */
export async function createTestStore(prefix: string): Promise<TestStore> {
  const db = await createTestDatabase(prefix);
  const store = await openStore({ databaseUrl: db.url, log: quietLog });
  const { latest } = await migrate(store.pool, quietLog);
  await maintainPartitions(store.pool, { log: quietLog });
  return {
    db,
    store,
    latest,
    close: async () => {
      await store.close();
      await db.drop();
    },
  };
}

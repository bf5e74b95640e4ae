/**
 * Records an event-rich PostgreSQL stderr log from a real server, for bench/log-parse.ts: most entries are
 * multi-line (ERROR with DETAIL / HINT / CONTEXT / STATEMENT, multi-line statements, deadlock reports, lock
 * waits, autovacuum reports) rather than duration lines.
 *
 * The embedded PostgreSQL runs with lock waits, autovacuum, checkpoints, connections and temp files
 * logged and a 10 ms deadlock_timeout, and these workloads run together until the log holds the bytes
 * asked for: workers that hit constraint violations, PL/pgSQL exceptions (CONTEXT lines), multi-line
 * syntax errors, statement timeouts and temp-file sorts; pairs of sessions that update two rows in
 * opposite orders (lock waits and deadlocks); clients with a wrong password or an unknown role (auth
 * failures); periodic CHECKPOINTs; autovacuum on the updated tables (naptime 1 s).
 *
 * Run alone: npm run build && node dist/bench/log-corpus-events.js [MiB=48] [dir=/tmp/pgvigil-bench-logs-events]
 */

import { createReadStream, createWriteStream, readdirSync, statSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { silentLogger } from '../src/log.js';
import { startCluster } from '../src/storage/cluster.js';
import { embeddedBinDir } from '../src/storage/embedded.js';

export interface CorpusMeta {
  lines: number;
  bytes: number;
  server: string;
  /** What made it, for the results table. */
  workload: string;
}

export async function countLines(path: string): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(path)) {
    const b = chunk as Buffer;
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  }
  return n;
}

const setupSql = `
CREATE TABLE owner (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE account (
  id int PRIMARY KEY,
  owner_id int NOT NULL REFERENCES owner (id),
  balance numeric NOT NULL CHECK (balance >= 0),
  note text
);
CREATE TABLE hot (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO owner SELECT g, 'owner ' || g FROM generate_series(1, 1000) g;
INSERT INTO account SELECT g, 1 + g % 1000, 100, NULL FROM generate_series(1, 10000) g;
INSERT INTO hot SELECT g, 0 FROM generate_series(1, 16) g;
CREATE FUNCTION transfer(a int, b int, amount numeric) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE account SET balance = balance - amount WHERE id = a;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % not found', a
      USING DETAIL = format('transfer of %s from account %s to account %s', amount, a, b),
            HINT = 'Check the account number against the owner table.';
  END IF;
  UPDATE account SET balance = balance + amount WHERE id = b;
END $$;
CREATE FUNCTION ratio(a int, b int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE r numeric;
BEGIN
  SELECT a::numeric / b INTO r;
  RETURN r;
END $$;
CREATE FUNCTION audit(n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE WARNING 'audit: % accounts below threshold', n
    USING DETAIL = E'first line of the audit detail\\nsecond line: threshold 10\\nthird line: run ' || n;
END $$;
`;

/** The erroring statements the workers cycle through; i varies the values so fingerprints repeat, texts not. */
function errorStatement(i: number): string {
  switch (i % 11) {
    case 0:
      return `INSERT INTO account (id, owner_id, balance) VALUES (${1 + (i % 10000)}, 1, 10)`;
    case 1:
      return `INSERT INTO account (id, owner_id, balance) VALUES (${20000 + i}, ${5000 + (i % 97)}, 10)`;
    case 2:
      return `UPDATE account SET balance = balance - ${1000 + (i % 50)} WHERE id = ${1 + (i % 10000)}`;
    case 3:
      return `SELECT transfer(${100000 + i}, ${1 + (i % 10000)}, ${i % 500}.50)`;
    case 4:
      return `SELECT ratio(${i}, 0)`;
    case 5:
      return `SELECT a.id,\n       a.balance,\n       o.name\n  FROM account a\n  JOIN owner o ON o.id = a.owner_id\n WHER a.id = ${i % 10000}\n ORDER BY a.balance DESC`;
    case 6:
      return `SELECT * FROM account_archive_${i % 7} WHERE id = ${i}`;
    case 7:
      return `INSERT INTO owner (id, name) VALUES (${5000 + i}, NULL)`;
    case 8:
      return `SELECT audit(${i % 1000})`;
    case 9:
      return `UPDATE account SET note = 'checked ' || now()::text WHERE id = ${1 + ((i * 7) % 10000)} AND balance > ${i % 3}`;
    default:
      return `SELECT count(*) FROM account WHERE note = '${"it''s"} ${i}' AND balance = 'x${i}'`;
  }
}

interface Running {
  stop: boolean;
  statements: number;
}

async function errorWorker(url: string, seed: number, state: Running): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  for (let i = seed; !state.stop; i += 13) {
    await c.query(errorStatement(i)).catch(() => {});
    state.statements++;
    if (i % 400 === seed % 400) {
      // A statement timeout and a sort that spills to a temporary file, now and then.
      await c.query("SET statement_timeout = '5ms'").catch(() => {});
      await c.query('SELECT pg_sleep(0.02)').catch(() => {});
      await c.query('RESET statement_timeout').catch(() => {});
      await c.query("SET work_mem = '64kB'").catch(() => {});
      await c.query('SELECT g FROM generate_series(1, 20000) g ORDER BY g DESC OFFSET 19999').catch(() => {});
      await c.query('RESET work_mem').catch(() => {});
    }
  }
  await c.end().catch(() => {});
}

/** Two sessions updating the same two rows in opposite orders: lock waits, and deadlocks. */
async function lockPair(url: string, rowA: number, rowB: number, state: Running): Promise<void> {
  const one = new pg.Client({ connectionString: url });
  const two = new pg.Client({ connectionString: url });
  for (const c of [one, two]) {
    c.on('error', () => {});
    await c.connect();
  }
  const txn = async (c: pg.Client, first: number, second: number) => {
    try {
      await c.query('BEGIN');
      await c.query(`UPDATE hot SET v = v + 1 WHERE id = ${first}`);
      await c.query('SELECT pg_sleep(0.015)');
      await c.query(`UPDATE hot SET v = v + 1 WHERE id = ${second}`);
      await c.query('COMMIT');
    } catch {
      await c.query('ROLLBACK').catch(() => {});
    }
  };
  for (let n = 0; !state.stop; n++) {
    // Every third round in the same order: a plain lock wait that is then acquired.
    if (n % 3 === 0) await Promise.all([txn(one, rowA, rowB), txn(two, rowA, rowB)]);
    else await Promise.all([txn(one, rowA, rowB), txn(two, rowB, rowA)]);
  }
  await Promise.all([one.end().catch(() => {}), two.end().catch(() => {})]);
}

async function authFailures(port: number, state: Running): Promise<void> {
  for (let n = 0; !state.stop; n++) {
    const c = new pg.Client({
      host: '127.0.0.1',
      port,
      user: n % 2 ? 'bench' : `ghost_${n % 5}`,
      password: 'wrong-password',
      database: 'postgres',
    });
    c.on('error', () => {});
    await c.connect().catch(() => {});
    await c.end().catch(() => {});
    await new Promise((r) => setTimeout(r, 5));
  }
}

function logBytes(logDir: string): number {
  let total = 0;
  try {
    for (const f of readdirSync(logDir)) total += statSync(join(logDir, f)).size;
  } catch {
    // not created yet
  }
  return total;
}

/**
 * Runs the workloads against a fresh embedded PostgreSQL until its log holds `wantedBytes`, and writes
 * the log to `outFile`. `prefix` is the log_line_prefix.
 */
export async function recordEventLog(
  workDir: string,
  outFile: string,
  wantedBytes: number,
  prefix: string,
): Promise<CorpusMeta> {
  await mkdir(workDir, { recursive: true });
  await chmod(workDir, 0o755);
  const pgdata = join(workDir, 'pgdata-events');
  await rm(pgdata, { recursive: true, force: true });
  const cluster = await startCluster({
    binDir: await embeddedBinDir(),
    pgdata,
    superuser: 'bench',
    password: 'bench-pw',
    logFile: join(workDir, 'server-events.log'),
    runAsUser: 'pgvigil',
    settings: {
      logging_collector: 'on',
      log_directory: 'log',
      log_filename: 'postgresql-%Y-%m-%d_%H%M%S.log',
      log_rotation_size: '0',
      log_file_mode: '0644',
      log_line_prefix: prefix,
      log_connections: 'on',
      log_disconnections: 'on',
      log_checkpoints: 'on',
      log_autovacuum_min_duration: '0',
      autovacuum_naptime: '1s',
      autovacuum_vacuum_threshold: '20',
      autovacuum_vacuum_scale_factor: '0.001',
      autovacuum_analyze_threshold: '20',
      autovacuum_analyze_scale_factor: '0.001',
      log_lock_waits: 'on',
      deadlock_timeout: '10ms',
      log_temp_files: '0',
      log_min_duration_statement: '50ms',
      fsync: 'off',
      synchronous_commit: 'off',
    },
    log: silentLogger(),
  });
  const logDir = join(pgdata, 'log');
  const url = cluster.url('postgres');
  let server = 'unknown';
  try {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(setupSql);
    server = `PostgreSQL ${(await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v}`;
    const state: Running = { stop: false, statements: 0 };
    const tasks = [
      ...[0, 1, 2, 3].map((s) => errorWorker(url, s, state)),
      lockPair(url, 1, 2, state),
      lockPair(url, 3, 4, state),
      authFailures(cluster.port, state),
    ];
    const started = Date.now();
    for (let last = 0; ; ) {
      await new Promise((r) => setTimeout(r, 2000));
      const bytes = logBytes(logDir);
      if (bytes >= wantedBytes) break;
      if (Date.now() - last > 5000) {
        await admin.query('CHECKPOINT').catch(() => {});
        last = Date.now();
        process.stderr.write(
          `  event log: ${(bytes / 1048576).toFixed(1)} of ${(wantedBytes / 1048576).toFixed(0)} MiB, ${Math.round((Date.now() - started) / 1000)} s\n`,
        );
      }
    }
    state.stop = true;
    await Promise.all(tasks);
    await admin.end();
    await cluster.stop();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  const files = readdirSync(logDir)
    .filter((f) => f.endsWith('.log'))
    .sort();
  const out = createWriteStream(outFile);
  for (const f of files) await pipeline(createReadStream(join(logDir, f)), out, { end: false });
  out.end();
  await new Promise<void>((r) => out.on('close', () => r()));
  await rm(pgdata, { recursive: true, force: true });
  return {
    lines: await countLines(outFile),
    bytes: statSync(outFile).size,
    server,
    workload:
      'constraint violations, PL/pgSQL exceptions, multi-line syntax errors, timeouts, temp files, lock waits and deadlocks, auth failures, CHECKPOINTs, autovacuum',
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mib = Number(process.argv[2] ?? 48);
  const dir = process.argv[3] ?? '/tmp/pgvigil-bench-logs-events';
  const { defaultLogLinePrefix } = await import('../src/agent/logs/parsers/postgres.js');
  const meta = await recordEventLog(dir, join(dir, 'postgresql.log'), mib * 1048576, defaultLogLinePrefix);
  await writeFile(join(dir, 'meta.json'), JSON.stringify(meta));
  process.stdout.write(`${JSON.stringify(meta)}\n`);
}

/**
 * A real PostgreSQL writes its log in stderr (under several log_line_prefix values), csvlog and jsonlog at
 * once; the test causes each event a DBA acts on and checks that all three parsers classify it with the
 * right fields. Runs on the embedded PostgreSQL 18, and on Debian's PostgreSQL 15 in that test run.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { EntryAssembler } from '../src/agent/logs/assemble.js';
import { parsers } from '../src/agent/logs/parsers/index.js';
import { silentLogger } from '../src/log.js';
import type { LogEntry } from '../src/protocol/logs.js';
import { type RunningCluster, startCluster } from '../src/storage/cluster.js';
import { embeddedBinDir } from '../src/storage/embedded.js';
import { runLogsParse } from './helpers/logs.js';
import { until } from './helpers/wait.js';

const pg15 = process.env.PGVIGIL_TEST_PG === 'debian-15';
const prefixes = [
  '%m [%p] %q%u@%d ',
  '%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ',
  '%n|%c|%l|%s|%v|%x|%e|%r|%b|%i|%P|%q%u|%d|%a| ',
];

interface PhaseFiles {
  prefix: string;
  stderr: string;
  csv: string;
  json: string;
}

function parseFile(path: string, parser: string, prefix?: string): LogEntry[] {
  const spec = parsers[parser]!;
  const asm = new EntryAssembler(spec, { source: 'postgresql', prefix, timezone: 'UTC' });
  const out: LogEntry[] = [];
  const text = readFileSync(path, 'utf8');
  let offset = 0;
  for (const line of text.split('\n')) {
    if (line === '' && offset >= text.length - 1) break;
    const e = asm.push(line, Date.now(), offset);
    offset += Buffer.byteLength(line) + 1;
    if (e) out.push(e);
  }
  out.push(...asm.flush());
  return out;
}

function find(entries: LogEntry[], event: string, pred: (e: LogEntry) => boolean = () => true): LogEntry {
  const hit = entries.find((e) => e.context.event === event && pred(e));
  assert.ok(
    hit,
    `no ${event} entry; events seen: ${[...new Set(entries.map((e) => String(e.context.event)))].join(', ')}`,
  );
  return hit;
}

describe('PostgreSQL log classification on a real server', { timeout: 240_000 }, () => {
  let dir: string;
  let cluster: RunningCluster;
  const phases: PhaseFiles[] = [];
  const role = 'dba_bob';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgvigil-logs-'));
    chmodSync(dir, 0o755);
    cluster = await startCluster({
      binDir: pg15 ? '/usr/lib/postgresql/15/bin' : await embeddedBinDir(),
      pgdata: join(dir, 'pgdata'),
      superuser: 'pgvigil_test',
      password: 'test-password',
      logFile: join(dir, 'server.log'),
      runAsUser: pg15 ? 'postgres' : 'pgvigil',
      settings: {
        logging_collector: 'on',
        log_destination: 'stderr,csvlog,jsonlog',
        log_directory: 'log',
        log_filename: 'pg-%H%M%S.log',
        log_file_mode: '0644',
        log_timezone: 'UTC',
        log_checkpoints: 'on',
        log_connections: 'on',
        log_autovacuum_min_duration: '0',
        autovacuum_naptime: '1',
        log_lock_waits: 'on',
        deadlock_timeout: '100ms',
        log_temp_files: '0',
        log_min_duration_statement: '50',
        fsync: 'off',
      },
      log: silentLogger(),
    });
    const admin = new pg.Client({ connectionString: cluster.url('postgres') });
    await admin.connect();
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'right-password' SUPERUSER`);
    await admin.query('CREATE DATABASE app');
    await admin.end();
    const url = cluster.url('app').replace('pgvigil_test:test-password', `${role}:right-password`);

    for (const [i, prefix] of prefixes.entries()) {
      const a = new pg.Client({ connectionString: cluster.url('postgres') });
      await a.connect();
      await a.query(`ALTER SYSTEM SET log_line_prefix = ${a.escapeLiteral(prefix)}`);
      await a.query('SELECT pg_reload_conf()');
      await sleep(1100); // a new second, so the rotated file gets a new name
      await a.query('SELECT pg_rotate_logfile()');
      await sleep(300);
      await a.end();

      const c1 = new pg.Client({ connectionString: url, application_name: 'phase-app' });
      const c2 = new pg.Client({ connectionString: url, application_name: 'phase-app' });
      await c1.connect();
      await c2.connect();
      // Checkpoint.
      await c1.query('CHECKPOINT');
      // Slow statement.
      await c1.query('SELECT pg_sleep(0.1)');
      // Temporary file.
      await c1.query("SET work_mem = '64kB'");
      await c1.query('SELECT count(*) FROM (SELECT g FROM generate_series(1, 200000) g ORDER BY g DESC) s');
      // Lock wait: c2 waits behind c1's lock longer than deadlock_timeout.
      await c1.query(`CREATE TABLE lockme_${i} (id int)`);
      await c1.query('BEGIN');
      await c1.query(`LOCK TABLE lockme_${i} IN ACCESS EXCLUSIVE MODE`);
      const waiting = c2.query(`SELECT count(*) FROM lockme_${i}`);
      await sleep(400);
      await c1.query('COMMIT');
      await waiting;
      // Deadlock.
      await c1.query(`CREATE TABLE dl_${i} (id int PRIMARY KEY, v int)`);
      await c1.query(`INSERT INTO dl_${i} VALUES (1, 0), (2, 0)`);
      await c1.query('BEGIN');
      await c2.query('BEGIN');
      await c1.query(`UPDATE dl_${i} SET v = 1 WHERE id = 1`);
      await c2.query(`UPDATE dl_${i} SET v = 2 WHERE id = 2`);
      const r1 = c1.query(`UPDATE dl_${i} SET v = 1 WHERE id = 2`).catch((e: Error) => e);
      await sleep(50);
      const r2 = c2.query(`UPDATE dl_${i} SET v = 2 WHERE id = 1`).catch((e: Error) => e);
      const results = await Promise.all([r1, r2]);
      assert.ok(
        results.some((r) => r instanceof Error && /deadlock/.test(r.message)),
        'a deadlock happened',
      );
      await c1.query('ROLLBACK');
      await c2.query('ROLLBACK');
      // Autovacuum: enough dead rows for the 1 s naptime to pick the table up.
      await c1.query(`CREATE TABLE vac_${i} (id int, pad text)`);
      await c1.query(`INSERT INTO vac_${i} SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g`);
      await c1.query(`DELETE FROM vac_${i} WHERE id <= 1500`);
      await until(
        async () =>
          (
            await c1.query(
              `SELECT last_autovacuum IS NOT NULL AS done FROM pg_stat_user_tables WHERE relname = 'vac_${i}'`,
            )
          ).rows[0]?.done === true,
        60_000,
        'autovacuum of the table',
      );
      // Failed authentication.
      const bad = new pg.Client({
        connectionString: cluster.url('app').replace('pgvigil_test:test-password', `${role}:wrong-password`),
      });
      await assert.rejects(bad.connect(), /password authentication failed/);
      await bad.end().catch(() => {});
      await sleep(300);
      const { rows } = await c1.query(
        "SELECT pg_current_logfile('stderr') AS stderr, pg_current_logfile('csvlog') AS csv, pg_current_logfile('jsonlog') AS json",
      );
      await c1.end();
      await c2.end();
      const pgdata = join(dir, 'pgdata');
      phases.push({
        prefix,
        stderr: join(pgdata, rows[0].stderr),
        csv: join(pgdata, rows[0].csv),
        json: join(pgdata, rows[0].json),
      });
    }
    await sleep(500); // let the logging collector write out its pipe
  });

  after(async () => {
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const variants = (): Array<{ label: string; entries: () => LogEntry[]; hasHost: boolean }> =>
    phases.flatMap((p, i) => [
      {
        label: `stderr '${p.prefix}'`,
        entries: () => parseFile(p.stderr, 'postgresql', p.prefix),
        hasHost: i > 0,
      },
      { label: `csvlog (phase ${i})`, entries: () => parseFile(p.csv, 'postgresql_csv'), hasHost: true },
      { label: `jsonlog (phase ${i})`, entries: () => parseFile(p.json, 'postgresql_json'), hasHost: true },
    ]);

  test('classifies_each_event_in_every_format_and_prefix', () => {
    assert.equal(phases.length, prefixes.length);
    for (const p of phases) for (const f of [p.stderr, p.csv, p.json]) assert.ok(existsSync(f), f);
    for (const v of variants()) {
      const entries = v.entries();
      const where = (msg: string) => `${v.label}: ${msg}`;
      for (const e of entries) assert.ok(!e.context.unparsed, where(`unparsed line: ${e.message}`));

      const cpStart = find(entries, 'checkpoint_starting', (e) =>
        (e.context.reasons as string[]).includes('immediate'),
      );
      assert.ok((cpStart.context.reasons as string[]).includes('force'), where('checkpoint reasons'));
      const cp = find(entries, 'checkpoint_complete');
      assert.equal(typeof cp.context.buffers_written, 'number', where('checkpoint buffers'));
      for (const k of ['write_s', 'sync_s', 'total_s', 'duration_ms'])
        assert.equal(typeof cp.context[k], 'number', where(`checkpoint ${k}`));

      const slow = find(entries, 'slow_statement', (e) => String(e.context.statement).includes('pg_sleep'));
      assert.ok((slow.context.duration_ms as number) >= 100, where('slow statement duration'));
      assert.equal(slow.context.statement, 'SELECT pg_sleep(0.1)', where('slow statement text'));
      assert.equal(slow.context.user, role, where('slow statement user'));
      assert.equal(slow.context.database, 'app', where('slow statement database'));

      const temp = find(entries, 'temp_file');
      assert.ok((temp.context.size_bytes as number) > 100_000, where('temp file size'));
      assert.match(String(temp.context.path), /pgsql_tmp/, where('temp file path'));
      assert.match(String(temp.context.statement), /generate_series/, where('temp file statement'));

      const wait = find(entries, 'lock_wait', (e) => String(e.context.lock_mode) === 'AccessShareLock');
      assert.ok((wait.context.wait_ms as number) >= 100, where('lock wait ms'));
      assert.equal(typeof wait.context.waiting_pid, 'number', where('lock wait pid'));
      assert.ok(Array.isArray(wait.context.blocking_pids), where('lock wait blockers'));
      find(entries, 'lock_acquired');

      const dl = find(entries, 'deadlock');
      const procs = dl.context.processes as Array<Record<string, unknown>>;
      assert.equal(procs.length, 2, where('deadlock processes'));
      for (const p of procs) {
        assert.equal(typeof p.pid, 'number', where('deadlock pid'));
        assert.equal(typeof p.blocked_by, 'number', where('deadlock blocked_by'));
        assert.match(String(p.query), /^UPDATE dl_\d SET v = \d WHERE id = \d$/, where('deadlock query'));
      }
      assert.equal(dl.level, 'error');
      assert.equal(dl.context.sqlstate ?? '40P01', '40P01');

      const av = find(entries, 'autovacuum', (e) => /\.vac_\d$/.test(String(e.context.table)));
      assert.equal(av.context.relation, String(av.context.table).split('.')[2], where('autovacuum relation'));
      assert.ok((av.context.tuples_removed as number) >= 1500, where('autovacuum tuples removed'));
      for (const k of ['pages_removed', 'pages_remain', 'duration_ms'])
        assert.equal(typeof av.context[k], 'number', where(`autovacuum ${k}`));

      const auth = find(entries, 'auth_failed');
      assert.equal(auth.context.user, role, where('auth user'));
      assert.equal(auth.context.auth_method, 'password', where('auth method'));
      assert.equal(auth.level, 'fatal');
      if (v.hasHost) assert.equal(auth.context.host, '127.0.0.1', where('auth host'));

      const conn = find(entries, 'connection_authorized', (e) => e.context.user === role);
      assert.equal(conn.context.database, 'app', where('connection database'));
      find(entries, 'connection_received', (e) => e.context.host === '127.0.0.1');
    }
  });

  test('parses_the_same_events_through_the_logs_parse_command', async () => {
    const p = phases[1]!;
    const r = await runLogsParse(
      ['--parser', 'postgresql', '--prefix', p.prefix, '--timezone', 'UTC'],
      p.stderr,
    );
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l: string) => JSON.parse(l) as LogEntry)
      .map((e: LogEntry) => e.context.event);
    for (const ev of [
      'checkpoint_complete',
      'slow_statement',
      'temp_file',
      'lock_wait',
      'deadlock',
      'autovacuum',
      'auth_failed',
    ])
      assert.ok(events.includes(ev), `${ev} in CLI output`);
  });

  test('stamps_times_in_utc_from_the_server_log_timezone', () => {
    const p = phases[0]!;
    const entries = parseFile(p.json, 'postgresql_json');
    const now = Date.now();
    for (const e of entries) {
      const t = Date.parse(e.ts);
      assert.ok(Math.abs(now - t) < 600_000, `entry time ${e.ts} is within 10 minutes of now`);
    }
  });
});

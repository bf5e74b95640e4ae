/**
 * The PostgreSQL collector's options as an operator sets them, through the real `pgvigil` command against
 * the run's PostgreSQL: flags of `pgvigil collect` (include/exclude, top N, table cap, lock and statement
 * timeouts) and keys of an agent's TOML file (include/exclude, its own interval, kept connections), each
 * observed in what the collector sends or in pg_stat_activity, never in its configuration; and options
 * a server pushes, applied by a running agent over its own.
 *
 * Other test files share the server, so every database here is this run's own (`po_<tag>_a|b|c`) and
 * every observation is limited to them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { PostgresTarget } from '../src/agent/collectors/postgres/session.js';
import { parsePostgresOption } from '../src/agent/postgres-flags.js';
import { PgvigilError } from '../src/errors.js';
import { storeAgentConfig } from '../src/server/agent-config.js';
import { buildServerApp } from '../src/server/app.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import { runCli, startCli } from './helpers/cli.js';
import { adminUrl, createTestStore, databaseUrl, quietLog } from './helpers/db.js';
import { waitFor } from './helpers/wait.js';

interface CollectJson {
  families: Record<string, { rows: Record<string, unknown>[] }>;
  collectors: { name: string; status: string; error: string | null }[];
}

const tag = randomBytes(4).toString('hex');
const names = { a: `po_${tag}_a`, b: `po_${tag}_b`, c: `po_${tag}_c` };
const mine = Object.values(names);
const dir = mkdtempSync(join(tmpdir(), 'pgvigil-pgopts-'));

function tokenFile(token: string): string {
  const path = join(dir, `token-${randomBytes(3).toString('hex')}`);
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return path;
}

function rows(out: CollectJson, family: string): Record<string, unknown>[] {
  return out.families[family]?.rows ?? [];
}

async function collect(args: string[]): Promise<CollectJson> {
  const r = await runCli([
    'collect',
    '--once',
    '--json',
    '--only',
    'postgres',
    '--postgres',
    databaseUrl(names.a),
    ...args,
  ]);
  assert.notEqual(r.stdout, '', r.stderr);
  return JSON.parse(r.stdout) as CollectJson;
}

describe('PostgreSQL collector options set by the operator', () => {
  let admin: pg.Client;
  const pools: Record<string, pg.Pool> = {};

  before(async () => {
    admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    for (const name of mine) {
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
      const pool = new pg.Pool({ connectionString: databaseUrl(name), max: 3 });
      pool.on('error', () => {});
      pools[name] = pool;
      for (let i = 1; i <= 5; i++) await pool.query(`CREATE TABLE t${i} (a int)`);
    }
    await pools[names.a]!.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  });

  after(async () => {
    for (const pool of Object.values(pools)) await pool.end();
    for (const name of mine)
      await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  });

  test('include_exclude_top_n_and_the_table_cap_change_what_collect_sends', async () => {
    // Distinct statements keep running while `collect` takes its two samples, so every ranking has more
    // than three candidates.
    // The excluded database runs statements of its own, which must take no place in the rankings.
    let stop = false;
    const loadOn = (db: string) =>
      (async () => {
        for (let i = 0; !stop; i++)
          await pools[db]!.query(`SELECT a FROM t1 WHERE ${'a + '.repeat(i % 25)}a > 0`);
      })();
    const load = Promise.all([loadOn(names.a), loadOn(names.b)]);
    let out: CollectJson;
    try {
      out = await collect([
        '--postgres-include-databases',
        `po_${tag}_*`,
        '--postgres-exclude-databases',
        names.b,
        '--postgres-statements-top',
        '3',
        '--postgres-max-tables',
        '2',
        '--postgres-database-interval',
        '0',
        // The collection timeout is the interval: long enough for a first collection on a loaded machine.
        '--interval',
        '4s',
      ]);
    } finally {
      stop = true;
      await load;
    }
    const listed = rows(out, 'pg_database').map((r) => String(r.datname));
    assert.deepEqual(listed.sort(), [names.a, names.c], 'pg_database: the included ones but the excluded');
    const tables = rows(out, 'pg_tables');
    const visited = [...new Set(tables.map((r) => String(r.datname)))].sort();
    assert.deepEqual(visited, [names.a, names.c], 'only included, not excluded, databases are visited');
    for (const db of [names.a, names.c])
      assert.equal(tables.filter((r) => r.datname === db).length, 2, `${db}: 5 tables, capped at 2`);

    const statements = rows(out, 'pg_statements');
    assert.ok(statements.length > 3, `${statements.length} statements: more than one ranking's worth`);
    for (const ranking of ['time', 'calls', 'io']) {
      const n = statements.filter((r) => String(r.top_by).split(',').includes(ranking)).length;
      assert.ok(n <= 3, `${n} statements in the ${ranking} ranking`);
    }
    assert.ok(
      statements.filter((r) => String(r.top_by).split(',').includes('calls')).length === 3,
      'the calls ranking is full: the cap, not the load, limited it',
    );
    assert.deepEqual(
      [...new Set(statements.map((r) => String(r.datname)))].filter((d) => d !== names.a && d !== names.c),
      [],
      'statements of the selected databases only',
    );

    // The same databases without the lists: the excluded one comes back.
    const all = await collect(['--postgres-include-databases', `po_${tag}_*`, '--interval', '4s']);
    assert.deepEqual(
      rows(all, 'pg_database')
        .map((r) => String(r.datname))
        .sort(),
      [...mine].sort(),
    );
  });

  test('lock_and_statement_timeouts_are_the_sessions_own', async () => {
    // The sessions the collector opens carry the values as given, as PostgreSQL reports them.
    const target = new PostgresTarget(databaseUrl(names.a), {
      statementTimeoutMs: parsePostgresOption('statementTimeoutMs', '700ms'),
      lockTimeoutMs: parsePostgresOption('lockTimeoutMs', '300ms'),
      connectTimeoutMs: parsePostgresOption('connectTimeoutMs', '2s'),
    });
    const session = await target.open(names.a, quietLog);
    try {
      const show = async (guc: string) => (await session.query(`SHOW ${guc}`)).rows[0]![guc] as string;
      assert.equal(await show('statement_timeout'), '700ms');
      assert.equal(await show('lock_timeout'), '300ms');
    } finally {
      await session.end();
    }

    // A table locked by another session: the collector's table query waits for the lock as long as its
    // timeouts allow, and says which one ended the wait.
    const holder = await pools[names.a]!.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE t3 IN ACCESS EXCLUSIVE MODE');
      const only = ['--postgres-include-databases', names.a, '--postgres-database-interval', '0'];
      const lockOut = await collect([...only, '--postgres-lock-timeout', '300ms', '--interval', '3s']);
      const lockStatus = rows(lockOut, 'pg_collector').find(
        (r) => r.family === 'pg_tables' && r.datname === names.a,
      );
      assert.ok(lockStatus, 'pg_tables status for the locked database');
      assert.equal(lockStatus.ok, false);
      assert.match(String(lockStatus.error), /lock timeout/);
      const lockMs = Number(lockStatus.duration_ms);
      assert.ok(lockMs >= 250 && lockMs < 2000, `waited ${lockMs} ms with lock_timeout 300ms`);

      const stmtOut = await collect([
        ...only,
        '--postgres-lock-timeout',
        '30s',
        '--postgres-statement-timeout',
        '600ms',
        '--interval',
        '5s',
      ]);
      const stmtStatus = rows(stmtOut, 'pg_collector').find(
        (r) => r.family === 'pg_tables' && r.datname === names.a,
      );
      assert.ok(stmtStatus);
      assert.equal(stmtStatus.ok, false);
      assert.match(String(stmtStatus.error), /statement timeout/);
      const stmtMs = Number(stmtStatus.duration_ms);
      assert.ok(stmtMs >= 550 && stmtMs < 3000, `waited ${stmtMs} ms with statement_timeout 600ms`);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
  });

  test('a_bad_value_is_refused_naming_the_flag_or_the_file_line', async () => {
    const flag = await runCli(['collect', '--once', '--only', 'postgres', '--postgres-statements-top', '0']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--postgres-statements-top 0: must be a whole number from 1 to 1000/);
    const path = join(dir, 'bad.toml');
    writeFileSync(path, ['listen = "127.0.0.1:0"', 'postgres_lock_timeout = "5 minutes"', ''].join('\n'));
    const file = await runCli(['agent', '--config', path]);
    assert.equal(file.code, 2);
    assert.match(
      file.stderr,
      new RegExp(`${path}:2: key "postgres_lock_timeout": "5 minutes": expected a duration`),
    );
    const env = await runCli(['collect', '--once', '--only', 'postgres'], {
      PGVIGIL_POSTGRES_EXCLUDE_DATABASES: 'x'.repeat(70),
    });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /--postgres-exclude-databases "x{70}": longer than 63 characters/);
  });

  test('toml_keys_set_the_databases_the_schedule_and_the_kept_connections_of_a_running_agent_and_sighup_applies_a_change', async () => {
    const path = join(dir, 'agent.toml');
    writeFileSync(
      path,
      [
        'listen = "127.0.0.1:0"',
        'interval = "60s"', // the agent's other collectors; PostgreSQL has its own below
        `postgres = ["${databaseUrl(names.a)}"]`,
        `postgres_include_databases = ["po_${tag}_*"]`,
        `postgres_exclude_databases = ["${names.c}"]`,
        'postgres_interval = "2s"',
        'postgres_database_interval = "0"',
        'postgres_keep_connections = 2',
        '',
      ].join('\n'),
    );
    const agent = startCli(['agent', '--config', path]);
    try {
      const url = (await agent.waitFor(/serving (http:\/\/127\.0\.0\.1:\d+\/metrics)/))[1]!;
      // Kept connections: the main one (a) and one to b stay open; c is never entered.
      const backends = async () =>
        (
          await admin.query<{ datname: string; pid: number; last: Date }>(
            `SELECT datname, pid, query_start AS last FROM pg_stat_activity
              WHERE application_name = 'pgvigil' AND datname = ANY($1) ORDER BY datname, pid`,
            [mine],
          )
        ).rows;
      const seen = await waitFor('a connection to b', async () => {
        const r = await backends();
        return r.some((x) => x.datname === names.b) ? r : undefined;
      });
      assert.deepEqual(
        seen.map((r) => r.datname),
        [names.a, names.b],
      );
      // Its own interval (2s) while the agent's is 60s: b is visited again, over the same kept backend.
      const first = seen.find((r) => r.datname === names.b)!;
      await waitFor(
        'another visit to b over the kept connection',
        async () => {
          const b = (await backends()).find((r) => r.pid === first.pid);
          return b && b.last.getTime() > first.last.getTime() + 500 ? true : undefined;
        },
        10_000,
      );
      assert.ok(!(await backends()).some((r) => r.datname === names.c), 'c is never entered');
      const listed = async () =>
        [...(await (await fetch(url)).text()).matchAll(/^pg_database_size_bytes\{[^}]*datname="([^"]+)"/gm)]
          .map((m) => m[1]!)
          .filter((d) => mine.includes(d))
          .sort();
      assert.deepEqual(await listed(), [names.a, names.b]);

      // SIGHUP applies a changed key without a restart: now b is left out and c visited.
      writeFileSync(path, readFileSync(path, 'utf8').replace(`"${names.c}"`, `"${names.b}"`));
      agent.child.kill('SIGHUP');
      await waitFor('the reloaded exclude list applied', async () =>
        (await listed()).join() === [names.a, names.c].join() ? true : undefined,
      );
      assert.doesNotMatch(agent.output().stderr, /takes a restart/);
    } finally {
      assert.equal(await agent.stop(), 0, agent.output().stderr);
    }
    // Stopped, the agent closed every connection it kept.
    const left = await admin.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgvigil' AND datname = ANY($1)",
      [mine],
    );
    assert.equal(left.rows[0].n, 0);
  });

  test('options_a_server_pushes_override_the_agents_own_and_a_bad_one_is_refused_before_it_is_stored', async () => {
    const ts = await createTestStore('pgopts_push');
    const server = await buildServerApp({ store: ts.store, log: quietLog, latestMigration: ts.latest });
    const serverUrl = await server.app.listen({ host: '127.0.0.1', port: 0 });
    const { token } = await createEnrollToken(ts.store.pool, {});
    const agent = startCli([
      'agent',
      '--server',
      serverUrl,
      '--enroll-token-file',
      tokenFile(token),
      '--state-dir',
      mkdtempSync(join(dir, 'state-')),
      '--listen',
      '127.0.0.1:0',
      '--no-logs',
      '--interval',
      '2s',
      '--postgres',
      databaseUrl(names.a),
      '--postgres-include-databases',
      `po_${tag}_*`,
    ]);
    try {
      const ready = await agent.waitFor(
        /serving (http:\/\/127\.0\.0\.1:\d+\/metrics); shipping to \S+ as agent (\S+) /,
      );
      const [metricsUrl, agentId] = [ready[1]!, ready[2]!];
      const listed = async () =>
        [
          ...(await (await fetch(metricsUrl)).text()).matchAll(
            /^pg_database_size_bytes\{[^}]*datname="([^"]+)"/gm,
          ),
        ]
          .map((m) => m[1]!)
          .filter((d) => mine.includes(d))
          .sort();
      assert.deepEqual(await listed(), [...mine].sort(), "the agent's own include list");

      // Refused where it is stored, naming the key and the range; nothing reaches the agent.
      await assert.rejects(
        storeAgentConfig(ts.store.pool, agentId, { postgres: { statementsTopN: 0 } }),
        (err: unknown) =>
          err instanceof PgvigilError &&
          err.code === 'CONFIG_INVALID' &&
          /postgres\.statementsTopN: statementsTopN 0: must be a whole number from 1 to 1000/.test(
            err.message,
          ),
      );
      await storeAgentConfig(ts.store.pool, agentId, { postgres: { excludeDatabases: [names.b] } });
      agent.child.kill('SIGHUP'); // pulls the config now rather than in 5 minutes
      await waitFor('the pushed exclude list applied', async () => {
        const now = await listed();
        return now.join() === [names.a, names.c].join() ? true : undefined;
      });
      const status = await ts.store.pool.query(
        'SELECT config_status FROM pgvigil.agents WHERE agent_id = $1',
        [agentId],
      );
      assert.equal(status.rows[0].config_status?.applied, true);
    } finally {
      assert.equal(await agent.stop(), 0, agent.output().stderr);
      await server.app.close();
      await ts.close();
    }
  });
});

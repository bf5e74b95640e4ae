/**
 * The agent finds a PostgreSQL server's log from the server's own settings: a real cluster logging through
 * its logging collector into `log/` under its data directory with a prefix of its own, a real server, the
 * `pgvigil agent` command with its default log sources and a --postgres target. The error the cluster logs
 * arrives in the store from that file, parsed with that prefix (the fields only it names are there); the
 * agent reports the file in its status, and a burst of FATALs raises a finding whose command reads it. A
 * target the server pushes later brings its log source along.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { discoverPostgresLogSource } from '../src/agent/logs/postgres-discovery.js';
import { storeAgentConfig } from '../src/server/agent-config.js';
import { buildServerApp } from '../src/server/app.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import { startCli } from './helpers/cli.js';
import { adminUrl, createTestStore, quietLog, type TestStore, testPgLabel } from './helpers/db.js';
import {
  capturingLogger,
  type PrivateCluster,
  removeDir,
  startPrivateCluster,
} from './helpers/pg-cluster.js';
import { until, waitFor } from './helpers/wait.js';

const prefix = '%m [%p] %qdb=%d,user=%u,app=%a ';

describe(`the PostgreSQL log source from the server's settings (${testPgLabel})`, () => {
  let server: PrivateCluster;
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-discovery-'));

  before(async () => {
    server = await startPrivateCluster({
      logging_collector: 'on',
      log_directory: 'log',
      log_line_prefix: prefix,
    });
  });

  after(async () => {
    await server?.stop();
    if (server) await removeDir(server.dir);
    rmSync(dir, { recursive: true, force: true });
  });

  /** A store, a server and `pgvigil agent` with its default log sources and PostgreSQL target `postgresUrl`. */
  async function startAgent(name: string, postgresUrl: string) {
    const ts = await createTestStore(name);
    const app = await buildServerApp({ store: ts.store, log: quietLog, latestMigration: ts.latest });
    const serverUrl = await app.app.listen({ host: '127.0.0.1', port: 0 });
    const { token } = await createEnrollToken(ts.store.pool, {});
    const tokenPath = join(dir, `token-${name}`);
    writeFileSync(tokenPath, `${token}\n`, { mode: 0o600 });
    const agent = startCli(
      [
        'agent',
        '--server',
        serverUrl,
        '--enroll-token-file',
        tokenPath,
        '--state-dir',
        mkdtempSync(join(dir, 'state-')),
        '--interval',
        '2s',
        '--push-interval',
        '1s',
        '--log-level',
        'info',
      ],
      { PGVIGIL_POSTGRES: postgresUrl },
    );
    const ready = await agent.waitFor(/shipping to \S+ as agent (\S+) /, 60_000);
    return {
      ts,
      app,
      agent,
      agentId: ready[1]!,
      close: async () => {
        assert.equal(await agent.stop(), 0, agent.output().stderr);
        await app.app.close();
        await ts.close();
      },
    };
  }

  /** Makes the cluster log an ERROR (with its STATEMENT) and returns that entry once it is in the store. */
  async function loggedError(ts: TestStore, output: () => string) {
    const table = `pgvigil_discovery_${randomBytes(4).toString('hex')}`;
    const client = new pg.Client({
      connectionString: server.url(),
      application_name: 'pgvigil-discovery-test',
    });
    await client.connect();
    await assert.rejects(client.query(`SELECT * FROM ${table}`), /does not exist/);
    await client.end();
    const entry = await waitFor(
      'the error in the store',
      async () =>
        (
          await ts.store.pool.query<{ source: string; context: Record<string, unknown> }>(
            `SELECT source, context FROM pgvigil.log_entries WHERE level = 'error' AND message LIKE $1`,
            [`relation "${table}" does not exist%`],
          )
        ).rows[0],
      30_000,
      output,
    );
    assert.equal(entry.source, 'postgresql');
    // The default prefix would have read none of these (its %u@%d is not in these lines).
    assert.equal(entry.context.application, 'pgvigil-discovery-test');
    assert.equal(entry.context.user, server.superuser);
    assert.equal(entry.context.database, 'postgres');
    assert.equal(entry.context.statement, `SELECT * FROM ${table}`);
  }

  test('the_agent_reads_the_log_file_the_settings_name_with_their_prefix', { timeout: 120_000 }, async () => {
    const { ts, app, agent, close } = await startAgent('pglogs_discovery', server.url());
    try {
      await until(
        () => /PostgreSQL log source from the server settings/.test(agent.output().stderr),
        10_000,
        'the agent saying where it found the log',
      );
      await loggedError(ts, () => agent.output().stderr.slice(-2000));

      // The agent reports the files it follows; a finding about them names them.
      const reported = await ts.store.pool.query(`SELECT status -> 'logSources' AS s FROM pgvigil.agents`);
      const paths = [join(server.pgdata, 'log', 'postgresql-*-*-*_*.log')];
      assert.deepEqual(
        (reported.rows[0].s as Array<{ name: string }>).find((x) => x.name === 'postgresql'),
        { name: 'postgresql', parser: 'postgresql', paths },
      );
      const missing = 'pgvigil_discovery_no_such_db';
      for (let i = 0; i < 12; i++) {
        const c = new pg.Client({ connectionString: server.url(missing) });
        c.on('error', () => {});
        await assert.rejects(c.connect(), /does not exist/);
      }
      await waitFor(
        'the twelve FATAL entries in the store',
        async () => {
          const { rows } = await ts.store.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pgvigil.log_entries WHERE level = 'fatal' AND message LIKE $1`,
            [`database "${missing}" does not exist%`],
          );
          return rows[0]!.n >= 12 ? true : undefined;
        },
        30_000,
      );
      await app.engine.runJobChecks(new Date(), { everyCheck: true });
      const finding = await ts.store.pool.query<{ action: string; evidence: Record<string, unknown> }>(
        `SELECT action, evidence FROM pgvigil.findings WHERE check_id = 'logs.pg_fatal_burst'`,
      );
      assert.equal(finding.rows.length, 1);
      assert.ok(
        finding.rows[0]!.action.startsWith(`grep -E ' (FATAL|PANIC): ' ${paths[0]} | tail -n 50; `),
        finding.rows[0]!.action,
      );
      assert.deepEqual(finding.rows[0]!.evidence.log_files, paths);
    } finally {
      await close();
    }
  });

  test('a_role_the_server_hides_its_log_settings_from_keeps_the_default_source_and_is_told_why', async () => {
    const admin = new pg.Client({ connectionString: server.url() });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE pgvigil_discovery_plain LOGIN PASSWORD 'plain-pw'`);
      await admin.query(`CREATE ROLE pgvigil_discovery_mon LOGIN PASSWORD 'mon-pw' IN ROLE pg_monitor`);
    } finally {
      await admin.end();
    }
    const as = (role: string, password: string) =>
      server.url().replace(`${server.superuser}:${server.password}@`, `${role}:${password}@`);
    const plain = capturingLogger();
    const hidden = await discoverPostgresLogSource(
      { name: 'plain', url: as('pgvigil_discovery_plain', 'plain-pw') },
      plain.log,
    );
    assert.deepEqual(hidden, { source: undefined });
    assert.match(plain.lines.join('\n'), /hides where it logs .*GRANT pg_monitor/);
    assert.match(plain.lines.join('\n'), /"hidden":\["data_directory","log_directory","log_filename"\]/);
    // pg_monitor is enough.
    const mon = await discoverPostgresLogSource(
      { name: 'mon', url: as('pgvigil_discovery_mon', 'mon-pw') },
      capturingLogger().log,
    );
    assert.ok('source' in mon && mon.source, JSON.stringify(mon));
    assert.deepEqual(mon.source.paths, [join(server.pgdata, 'log', 'postgresql-*-*-*_*.log')]);
    // A server that does not answer: a reason, to try again later.
    const down = await discoverPostgresLogSource(
      { name: 'down', url: 'postgres://x:y@127.0.0.1:1/postgres' },
      capturingLogger().log,
    );
    assert.ok('failed' in down && /connection refused/.test(down.failed), JSON.stringify(down));
  });

  test('a_target_the_server_pushes_brings_its_log_source_with_it', { timeout: 120_000 }, async () => {
    // The agent starts on the test store (no logging collector: nothing found), then is given the cluster.
    const { ts, agent, agentId, close } = await startAgent('pglogs_discovery_push', adminUrl());
    try {
      assert.doesNotMatch(agent.output().stderr, /PostgreSQL log source from the server settings/);
      await storeAgentConfig(ts.store.pool, agentId, { targets: [{ name: 'private', url: server.url() }] });
      agent.child.kill('SIGHUP'); // pulls the config now rather than in 5 minutes
      await until(
        () => /PostgreSQL log source from the server settings/.test(agent.output().stderr),
        30_000,
        'the log source of the pushed target',
        () => agent.output().stderr.slice(-2000),
      );
      await loggedError(ts, () => agent.output().stderr.slice(-2000));
    } finally {
      await close();
    }
  });
});

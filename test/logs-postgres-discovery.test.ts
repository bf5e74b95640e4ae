/**
 * The agent finds a PostgreSQL server's log from the server's own settings: a real cluster logging through
 * its logging collector into `log/` under its data directory with a prefix of its own, a real server, the
 * `pgvigil agent` command with its default log sources and a --postgres target. The error the cluster logs
 * arrives in the store from that file, parsed with that prefix (the fields only it names are there); the
 * agent reports the file in its status, and a burst of FATALs raises a finding whose command reads it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { buildServerApp } from '../src/server/app.js';
import { createEnrollToken } from '../src/server/auth/agents.js';
import { startCli } from './helpers/cli.js';
import { createTestStore, quietLog, testPgLabel } from './helpers/db.js';
import { type PrivateCluster, removeDir, startPrivateCluster } from './helpers/pg-cluster.js';
import { waitFor } from './helpers/wait.js';

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

  test('the_agent_reads_the_log_file_the_settings_name_with_their_prefix', { timeout: 120_000 }, async () => {
    const ts = await createTestStore('pglogs_discovery');
    const app = await buildServerApp({ store: ts.store, log: quietLog, latestMigration: ts.latest });
    const serverUrl = await app.app.listen({ host: '127.0.0.1', port: 0 });
    const { token } = await createEnrollToken(ts.store.pool, {});
    const tokenPath = join(dir, 'token');
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
      { PGVIGIL_POSTGRES: server.url() },
    );
    try {
      await agent.waitFor(/shipping to /, 60_000);
      assert.match(
        agent.output().stdout + agent.output().stderr,
        /PostgreSQL log source from the server settings/,
        'the agent says where it found the log',
      );
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
        () => agent.output().stderr.slice(-2000),
      );
      assert.equal(entry.source, 'postgresql');
      // The default prefix would have read none of these (its %u@%d is not in these lines).
      assert.equal(entry.context.application, 'pgvigil-discovery-test');
      assert.equal(entry.context.user, server.superuser);
      assert.equal(entry.context.database, 'postgres');
      assert.equal(entry.context.statement, `SELECT * FROM ${table}`);

      // The agent reports the files it follows; a finding about them names them.
      const reported = await ts.store.pool.query(`SELECT status -> 'logSources' AS s FROM pgvigil.agents`);
      const paths = [join(server.pgdata, 'log', 'postgresql-*-*-*_*.log')];
      assert.deepEqual(reported.rows[0].s, [{ name: 'postgresql', parser: 'postgresql', paths }]);
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
      assert.equal(await agent.stop(), 0, agent.output().stderr);
      await app.app.close();
      await ts.close();
    }
  });
});

/**
 * `pgvigil up --config FILE` with the embedded store: the file's port, interval, watched processes and log
 * files reach the server and its built-in agent, and the start-up ends with the summary a person needs
 * (dashboard, first sign-in, what is watched, where the data is, how to stop).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { freePort } from '../src/storage/cluster.js';
import { startCli } from './helpers/cli.js';
import { testPgLabel } from './helpers/db.js';
import { until } from './helpers/wait.js';

describe('pgvigil up --config', { skip: testPgLabel === 'debian-15' && 'embedded store only' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-up-config-'));
  chmodSync(dir, 0o755);
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the_files_settings_reach_server_and_agent_and_start_up_ends_with_a_summary', async () => {
    const dataDir = join(dir, 'data');
    const appLog = join(dir, 'app.log');
    writeFileSync(appLog, '');
    const port = await freePort();
    const config = join(dir, 'up.toml');
    writeFileSync(
      config,
      [
        `port = ${port}`,
        `data_dir = "${dataDir}"`,
        'interval = "1s"',
        'push_interval = "1s"',
        'watch_process = ["node"]',
        `log_file = ["syslog:${appLog}"]`,
      ].join('\n'),
    );
    const up = startCli(['up', '--config', config]);
    try {
      await up.waitFor(new RegExp(`is up: http://127\\.0\\.0\\.1:${port} `), 60_000);
      const stop = await up.waitFor(/^ {2}stop +Ctrl-C/m, 60_000);
      assert.ok(stop);
      const out = up.output().stdout;
      assert.match(out, new RegExp(`^ {2}dashboard +http://127\\.0\\.0\\.1:${port}/$`, 'm'));
      assert.match(out, /^ {2}sign in +as "admin" with password \S+ /m);
      assert.match(out, /^ {2}agent +local agent \S+ is watching host \S+$/m);
      assert.match(out, /^ {2}postgres +127\.0\.0\.1:\d+ +\(the store itself\)$/m);
      assert.match(out, /^ {2}processes +node$/m);
      assert.match(out, new RegExp(`^ {2}logs +.*${appLog.replace(/[.]/g, '\\.')}`, 'm'));
      assert.match(
        out,
        new RegExp(`^ {2}data +${dataDir} +\\(embedded PostgreSQL; agent state in ${dataDir}/agent\\)$`, 'm'),
      );

      // The watch from the file reached the built-in agent: its rows arrive in the store.
      const store = JSON.parse(readFileSync(join(dataDir, 'store.json'), 'utf8')) as {
        port: number;
        password: string;
      };
      const c = new pg.Client({
        connectionString: `postgres://pgvigil:${encodeURIComponent(store.password)}@127.0.0.1:${store.port}/pgvigil`,
      });
      await c.connect();
      try {
        await until(
          async () =>
            (await c.query("SELECT 1 FROM pgvigil.host_process WHERE watch = 'node' AND up LIMIT 1"))
              .rowCount === 1,
          20_000,
          'a host_process row for the watch "node"',
        );
      } finally {
        await c.end();
      }
    } finally {
      assert.equal(await up.stop(), 0, up.output().stderr);
    }
  });
});

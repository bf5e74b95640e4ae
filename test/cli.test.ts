/**
 * The `pgvigil` command as users run it: real processes, a real embedded store in a temp data directory,
 * and the run's PostgreSQL as the external store.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { freePort } from '../src/storage/cluster.js';
import { getJson, runCli, startCli } from './helpers/cli.js';
import { createTestDatabase, databaseUrl, testPgLabel } from './helpers/db.js';

interface Health {
  status: string;
  version: string;
  store: { kind: string; postgresVersion: string; reachable: boolean };
  migrations: { level: number; latest: number };
}

function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-cli-'));
  chmodSync(dir, 0o755);
  return dir;
}

const urlLine = /(?:is up|server listening): (http:\/\/\S+)/;

describe('pgvigil up with the embedded store', {
  skip: testPgLabel === 'debian-15' && 'embedded store only',
}, () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('answers_health_within_5_s_and_again_after_a_restart_with_data_kept', async () => {
    const dataDir = join(tempDataDir(), 'data');
    dirs.push(dataDir);
    const port = await freePort();
    const t0 = performance.now();
    const up = startCli(['up', '--data-dir', dataDir, '--port', String(port)]);
    try {
      const m = await up.waitFor(urlLine, 30_000);
      const health = await getJson(`${m[1]}/api/v1/health`);
      const elapsed = performance.now() - t0;
      assert.equal(health.status, 200);
      const body = health.body as Health;
      assert.equal(body.status, 'ok');
      assert.equal(body.store.kind, 'embedded');
      assert.match(body.store.postgresVersion, /^18\./);
      assert.equal(body.migrations.level, body.migrations.latest);
      assert.ok(elapsed < 5000, `first start answered health after ${Math.round(elapsed)} ms`);

      // Write a row straight into the store, then restart and find it.
      const store = JSON.parse(readFileSync(join(dataDir, 'store.json'), 'utf8')) as {
        port: number;
        password: string;
      };
      const url = `postgres://pgvigil:${encodeURIComponent(store.password)}@127.0.0.1:${store.port}/pgvigil`;
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query("INSERT INTO pgvigil.servers (name) VALUES ('kept-across-restart')");
      await c.end();
    } finally {
      assert.equal(await up.stop('SIGTERM'), 0, `clean exit on SIGTERM; stderr: ${up.output().stderr}`);
    }

    const t1 = performance.now();
    const again = startCli(['up', '--data-dir', dataDir, '--port', String(port)]);
    try {
      const m = await again.waitFor(urlLine, 30_000);
      const health = await getJson(`${m[1]}/api/v1/health`);
      assert.equal(health.status, 200);
      assert.ok(performance.now() - t1 < 5000, 'restart answers health within 5 s');
      const store = JSON.parse(readFileSync(join(dataDir, 'store.json'), 'utf8')) as {
        port: number;
        password: string;
      };
      const c = new pg.Client({
        connectionString: `postgres://pgvigil:${encodeURIComponent(store.password)}@127.0.0.1:${store.port}/pgvigil`,
      });
      await c.connect();
      const { rows } = await c.query(
        "SELECT count(*)::int AS n FROM pgvigil.servers WHERE name = 'kept-across-restart'",
      );
      await c.end();
      assert.equal(rows[0].n, 1);

      // A second `up` on the same data directory is refused while the first runs.
      const second = await runCli(['up', '--data-dir', dataDir, '--port', String(await freePort())]);
      assert.equal(second.code, 2);
      assert.match(second.stderr, /data directory .* is in use by another pgvigil \(pid \d+\)/);
      assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
    } finally {
      assert.equal(await again.stop('SIGINT'), 0, 'clean exit on SIGINT');
    }
  });

  test('recovers_after_being_killed_hard_with_its_postgres_left_running', async () => {
    const dataDir = join(tempDataDir(), 'data');
    dirs.push(dataDir);
    const first = startCli(['up', '--data-dir', dataDir, '--port', String(await freePort())]);
    await first.waitFor(urlLine, 30_000);
    await first.stop('SIGKILL');
    const pidLine = readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0];
    assert.doesNotThrow(() => process.kill(Number(pidLine), 0), 'the orphaned PostgreSQL is still running');

    const second = startCli(['up', '--data-dir', dataDir, '--port', String(await freePort())]);
    try {
      const m = await second.waitFor(urlLine, 60_000);
      assert.equal((await getJson(`${m[1]}/api/v1/health`)).status, 200);
    } finally {
      assert.equal(await second.stop(), 0);
    }
  });

  test('host_and_postgres_data_arrive_in_the_store_within_one_push_interval', async () => {
    const dataDir = join(tempDataDir(), 'data');
    dirs.push(dataDir);
    const up = startCli([
      'up',
      '--data-dir',
      dataDir,
      '--port',
      String(await freePort()),
      '--push-interval',
      '2s',
      '--interval',
      '1s',
    ]);
    try {
      await up.waitFor(/local agent \S+ is watching/, 30_000);
      const readyAt = Date.now();
      const store = JSON.parse(readFileSync(join(dataDir, 'store.json'), 'utf8')) as {
        port: number;
        password: string;
      };
      const c = new pg.Client({
        connectionString: `postgres://pgvigil:${encodeURIComponent(store.password)}@127.0.0.1:${store.port}/pgvigil`,
      });
      await c.connect();
      try {
        let counts = { cpu: 0, pg: 0, fs: 0 };
        while (Date.now() - readyAt < 10_000) {
          const { rows } = await c.query(
            `SELECT (SELECT count(*) FROM pgvigil.host_cpu)::int AS cpu, (SELECT count(*) FROM pgvigil.pg_database)::int AS pg,
                    (SELECT count(*) FROM pgvigil.host_filesystem)::int AS fs`,
          );
          counts = rows[0];
          if (counts.cpu > 0 && counts.pg > 0) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        const waited = Date.now() - readyAt;
        assert.ok(counts.cpu > 0 && counts.fs > 0, `host rows arrived: ${JSON.stringify(counts)}`);
        assert.ok(counts.pg > 0, `PostgreSQL rows arrived: ${JSON.stringify(counts)}`);
        // One push interval (2 s) plus the time the push itself takes.
        assert.ok(waited < 3000, `data visible ${waited} ms after start`);
      } finally {
        await c.end();
      }
    } finally {
      assert.equal(await up.stop(), 0, up.output().stderr);
    }
  });

  test('an_http_port_in_use_is_reported_clearly', async () => {
    const dataDir = join(tempDataDir(), 'data');
    dirs.push(dataDir);
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    try {
      const res = await runCli(['up', '--data-dir', dataDir, '--port', String(port)]);
      assert.equal(res.code, 2);
      assert.match(
        res.stderr,
        new RegExp(`port ${port} on 127.0.0.1 is in use by another program; choose another with --port`),
      );
    } finally {
      blocker.close();
    }
  });
});

describe(`pgvigil with an external store (${testPgLabel})`, () => {
  test('migrate_twice_applies_nothing_the_second_time', async () => {
    const db = await createTestDatabase('cli_migrate');
    try {
      const first = await runCli(['migrate'], { DATABASE_URL: db.url });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /applied \d+ migration\(s\): 0001_initial\.sql/);
      const second = await runCli(['migrate'], { DATABASE_URL: db.url });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /nothing to apply/);
    } finally {
      await db.drop();
    }
  });

  test('two_servers_started_at_the_same_moment_on_an_empty_database_both_become_healthy', async () => {
    const db = await createTestDatabase('cli_two');
    const ports = [await freePort(), await freePort()];
    const servers = ports.map((p) => startCli(['server', '--port', String(p)], { DATABASE_URL: db.url }));
    try {
      for (const s of servers) {
        const m = await s.waitFor(urlLine, 30_000);
        const h = await getJson(`${m[1]}/api/v1/health`);
        assert.equal(h.status, 200);
        const body = h.body as Health;
        assert.equal(body.store.kind, 'external');
        assert.equal(body.migrations.level, body.migrations.latest);
        assert.equal((await getJson(`${m[1]}/api/v1/ready`)).status, 200);
      }
    } finally {
      for (const s of servers) assert.equal(await s.stop(), 0, s.output().stderr);
      await db.drop();
    }
  });

  test('bad_database_urls_get_one_clear_line_and_exit_code_2', async () => {
    const admin = new URL(databaseUrl('postgres'));
    const wrongPassword = new URL(admin);
    wrongPassword.password = 'canary-wrong-password';
    const missingDb = new URL(admin);
    missingDb.pathname = '/no_such_database_here';
    const cases: Array<[string, RegExp]> = [
      ['this is not a url', /DATABASE_URL is not a URL/],
      ['mysql://u@localhost/db', /scheme "mysql"/],
      [`postgres://u:p@127.0.0.1:${await freePort()}/db`, /no PostgreSQL listens at 127\.0\.0\.1:\d+/],
      [
        'postgres://u:p@no-such-host.invalid:5432/db',
        /cannot resolve the store host "no-such-host\.invalid"/,
      ],
      [wrongPassword.toString(), /rejected user "pgvigil_test"/],
      [missingDb.toString(), /database "no_such_database_here" does not exist/],
    ];
    for (const [url, expected] of cases) {
      const res = await runCli(['migrate'], { DATABASE_URL: url });
      assert.equal(res.code, 2, `${url}: ${res.stderr}`);
      assert.match(res.stderr, expected);
      assert.equal(res.stderr.trim().split('\n').length, 1, `one line only: ${res.stderr}`);
      assert.doesNotMatch(res.stderr, /\bat .*\.js:\d+/, 'no stack trace');
      assert.doesNotMatch(res.stderr, /canary-wrong-password/, 'never the password');
    }
  });

  test('help_lists_commands_with_examples_and_version_prints_the_version', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    for (const cmd of ['up', 'server', 'agent', 'migrate'])
      assert.match(help.stdout, new RegExp(`\\n  ${cmd}\\b`));
    assert.match(help.stdout, /Examples:/);
    const v = await runCli(['--version']);
    assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+$/);
  });
});

/**
 * The `pgvigil` command against the run's PostgreSQL as an external store: migrations, two servers at
 * once, bad store URLs, help.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { freePort } from '../src/storage/cluster.js';
import { getJson, runCli, startCli } from './helpers/cli.js';
import { createTestDatabase, databaseUrl, testPgLabel } from './helpers/db.js';

interface Health {
  status: string;
  version: string;
  store: { kind: string; postgresVersion: string; reachable: boolean };
  migrations: { level: number; latest: number };
}

const urlLine = /(?:is up|server listening): (http:\/\/\S+)/;

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
        // Readiness asks the store for its migration level with a 500 ms bound; on a loaded machine, while
        // both servers still create partitions, a first answer may be 503 "did not answer in time".
        let ready = await getJson(`${m[1]}/api/v1/ready`);
        for (let i = 0; i < 20 && ready.status === 503; i++) {
          await new Promise((r) => setTimeout(r, 500));
          ready = await getJson(`${m[1]}/api/v1/ready`);
        }
        assert.equal(ready.status, 200, JSON.stringify(ready.body));
      }
    } finally {
      for (const s of servers) assert.equal(await s.stop(), 0, s.output().stderr);
      await db.drop();
    }
  });

  test('the_first_server_start_prints_an_admin_password_once_and_the_cli_manages_users_and_tokens', async () => {
    const db = await createTestDatabase('cli_users');
    const env = { DATABASE_URL: db.url };
    const port = await freePort();
    let server = startCli(['server', '--port', String(port)], env);
    try {
      const m = await server.waitFor(/sign in as "admin" with password (\S+)/, 30_000);
      const base = `http://127.0.0.1:${port}/api/v1`;
      const login = (name: string, password: string) =>
        fetch(`${base}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name, password }),
        });
      assert.equal((await login('admin', m[1]!)).status, 200);
      assert.equal(await server.stop(), 0);
      server = startCli(['server', '--port', String(port)], env);
      await server.waitFor(urlLine, 30_000);
      assert.doesNotMatch(server.output().stdout, /password/, 'a restart creates no second admin');

      const added = await runCli(['user', 'add', 'ops', '--role', 'user'], env);
      assert.equal(added.code, 0, added.stderr);
      const password = added.stdout.trim();
      assert.equal((await login('ops', password)).status, 200);
      const dup = await runCli(['user', 'add', 'OPS'], env);
      assert.equal(dup.code, 2);
      assert.match(dup.stderr, /exists already/);
      const badRole = await runCli(['user', 'add', 'x', '--role', 'root'], env);
      assert.equal(badRole.code, 2);
      assert.match(badRole.stderr, /--role root: expected viewer, user or admin/);

      const tok = await runCli(
        ['token', 'create', '--api', '--role', 'viewer', '--user', 'ops', '--expires', '1d'],
        env,
      );
      assert.equal(tok.code, 0, tok.stderr);
      const me = await fetch(`${base}/auth/me`, {
        headers: { authorization: `Bearer ${tok.stdout.trim()}` },
      });
      assert.deepEqual(await me.json(), { userId: 2, name: 'ops', role: 'viewer', via: 'api-token' });
      const neither = await runCli(['token', 'create'], env);
      assert.equal(neither.code, 2);
      assert.match(neither.stderr, /--enroll .* or --api/);
      const list = await runCli(['user', 'list'], env);
      assert.match(list.stdout, /^1\tadmin\tadmin\n2\tops\tuser\n$/);
    } finally {
      await server.stop();
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

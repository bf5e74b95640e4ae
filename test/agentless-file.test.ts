/**
 * Agentless targets declared in a file (`--agentless-targets-file`): what the parser refuses, and a real
 * `pgvigil server` process that registers the file's targets at start, applies an edit on SIGHUP, keeps
 * its targets when the edited file is bad — with the password in no answer and no log line.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PgvigilError } from '../src/errors.js';
import { parseTargetsText, readTargetsFile } from '../src/server/agentless/targets-file.js';
import { startCli } from './helpers/cli.js';
import { createTestStore, type TestStore, testPgLabel } from './helpers/db.js';
import { createTestUser } from './helpers/users.js';
import { until } from './helpers/wait.js';

const password = 'Pw0fTheFileTarget';
let dir: string;
let ts: TestStore;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgvigil-agentless-file-'));
  ts = await createTestStore('agentless_file');
});

after(async () => {
  await ts.close();
  rmSync(dir, { recursive: true, force: true });
});

function refused(fn: () => unknown, why: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PgvigilError, String(err));
    assert.equal(err.code, 'BAD_ARGUMENT');
    assert.match(err.message, why);
    assert.ok(!err.message.includes(password), `no password in: ${err.message}`);
    return true;
  });
}

test('a_targets_file_is_refused_whole_with_the_target_and_field_named_and_never_the_password', () => {
  const url = `postgres://mon:${password}@db.example.com/app`;
  const ok = parseTargetsText(
    `[[target]]\nname = "orders"\nurl = "${url}"\ninterval_seconds = 15\n`,
    'toml',
    'f.toml',
  );
  assert.deepEqual(ok, [{ name: 'orders', url, intervalSeconds: 15 }]);
  assert.deepEqual(parseTargetsText(JSON.stringify({ target: [{ name: 'a', url }] }), 'json', 'f.json'), [
    { name: 'a', url },
  ]);
  const t = (body: string) => () => parseTargetsText(body, 'toml', 'f.toml');
  refused(t(`[[target]]\nname = "a b"\nurl = "${url}"`), /target 1: name must be/);
  refused(t(`[[target]]\nname = "a"\nurl = "${url}"\npassword = "x"`), /target 1: unknown key "password"/);
  refused(t(`[[target]]\nname = "a"\nurl = "${url}"\ninterval_seconds = 61`), /target a: interval_seconds/);
  refused(
    t(`[[target]]\nname = "a"\nurl = "${url}"\n[[target]]\nname = "a"\nurl = "${url}"`),
    /declared twice/,
  );
  refused(t(`[[target]]\nname = "a"\nurl = "${url}`), /not valid TOML at line 3/);
  refused(t(`targets = 1`), /unknown top-level key "targets"/);
  refused(t(`[[target]]\nname = "a"`), /target a: url must be/);
  refused(
    t(Array.from({ length: 1001 }, (_, i) => `[[target]]\nname = "t${i}"\nurl = "${url}"`).join('\n')),
    /1001 targets; at most 1000/,
  );
});

test('a_targets_file_others_may_read_is_refused_because_it_holds_passwords', () => {
  const file = join(dir, 'open.toml');
  writeFileSync(file, `[[target]]\nname = "a"\nurl = "postgres://mon:${password}@db/app"\n`);
  chmodSync(file, 0o644);
  refused(() => readTargetsFile(file), /readable by its owner only \(chmod 600/);
  chmodSync(file, 0o600);
  assert.equal(readTargetsFile(file).length, 1);
  refused(() => readTargetsFile(join(dir, 'missing.toml')), /cannot read the file \(ENOENT\)/);
});

test(`a_server_registers_the_files_targets_applies_an_edit_on_sighup_and_keeps_them_when_the_file_turns_bad (${testPgLabel})`, async () => {
  const file = join(dir, 'agentless.toml');
  // Targets that are never reached (a closed port): this test is about what the server registers.
  const write = (interval: number, extra = '') => {
    writeFileSync(
      file,
      `[[target]]\nname = "file-orders"\nurl = "postgres://mon:${password}@127.0.0.1:1/orders?sslmode=disable"\ninterval_seconds = ${interval}\n${extra}`,
      { mode: 0o600 },
    );
    chmodSync(file, 0o600);
  };
  write(20);
  const viewer = await createTestUser(ts.store.pool, 'viewer');
  const server = startCli(['server', '--port', '0', '--agentless-targets-file', file], {
    DATABASE_URL: ts.db.url,
    PGVIGIL_LOG_LEVEL: 'debug',
    PGVIGIL_LOG_FORMAT: 'json',
  });
  try {
    const base = (await server.waitFor(/server listening: (http:\/\/\S+)/))[1]!;
    const list = async () => {
      const res = await fetch(`${base}/api/v1/agentless-targets`, { headers: viewer.headers });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.ok(!text.includes(password), 'the password is in no answer');
      // biome-ignore lint/suspicious/noExplicitAny: the API's JSON, checked below
      return (JSON.parse(text) as any).targets as Array<Record<string, unknown>>;
    };
    const [first] = await list();
    assert.equal(first?.name, 'file-orders');
    assert.equal(first?.port, 1);
    assert.equal(first?.intervalSeconds, 20);

    write(
      45,
      `[[target]]\nname = "file-billing"\nurl = "postgres://mon:${password}@127.0.0.1:1/billing?sslmode=disable"\n`,
    );
    server.child.kill('SIGHUP');
    let now: Array<Record<string, unknown>> = [];
    await until(async () => {
      now = await list();
      return now.length === 2 && now.some((t) => t.intervalSeconds === 45);
    });
    assert.deepEqual(
      now.map((t) => [t.name, t.intervalSeconds]),
      [
        ['file-billing', 30],
        ['file-orders', 45],
      ],
    );

    chmodSync(file, 0o644);
    server.child.kill('SIGHUP');
    await until(async () => server.output().stderr.includes('agentless targets file not applied'));
    assert.equal(server.child.exitCode, null, 'a bad file never stops the server');
    assert.equal((await list()).length, 2, 'the targets stay');
  } finally {
    assert.equal(await server.stop(), 0);
  }
  const { stdout, stderr } = server.output();
  assert.ok(!stdout.includes(password) && !stderr.includes(password), 'the password is in no log line');
  const { rows } = await ts.store.pool.query<{ clear: boolean }>(
    `SELECT bool_or(position(convert_to($1, 'UTF8') IN url_sealed) > 0) AS clear FROM pgvigil.agentless_targets`,
    [password],
  );
  assert.equal(rows[0]?.clear, false, 'the password is in no store column in clear');
});

/**
 * The published package as a user gets it: `npm pack` of this tree, `npm install -g` of the tarball into
 * an empty prefix (dependencies from the npm cache, the registry for what is missing), then the installed
 * `pgvigil` answers `--version` and `pgvigil up` serves health and the dashboard from its embedded
 * PostgreSQL. It catches a `files` list that leaves out what the program reads at run time (the web build,
 * the migrations, the agent entry) and dependencies that only the development tree has.
 *
 * Heavy (an install and a PostgreSQL start): one test, every step under a time limit, everything it made
 * removed at the end. It packs the compiled tree as it is (`--ignore-scripts`: the runner built it).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../src/storage/cluster.js';
import { packageRoot, version } from '../src/version.js';
import { testSecretKey } from './helpers/cli.js';
import { testPgLabel } from './helpers/db.js';

const run = promisify(execFile);

interface PackResult {
  filename: string;
  files: Array<{ path: string }>;
}

/** Paths the installed program reads at run time; a `files` list without one of them breaks installs. */
const required = [
  'bin/pgvigil.js',
  'package.json',
  'dist/src/cli.js',
  'dist/src/agent/main.js',
  'dist/src/storage/migrations/0001_initial.sql',
  'dist/web/index.html',
  'deploy/systemd/pgvigil-agent.service',
  'deploy/systemd/pgvigil-server.service',
];

describe('the npm package', {
  // It starts its own embedded store: a second run against Debian's PostgreSQL would only repeat it.
  skip: testPgLabel === 'debian-15' && 'embedded store only',
}, () => {
  const work = mkdtempSync(join(tmpdir(), 'pgvigil-pack-'));
  chmodSync(work, 0o755); // PostgreSQL's unprivileged user (when we are root) must reach the data directory
  let up: ChildProcess | undefined;
  after(async () => {
    if (up && up.exitCode === null && up.signalCode === null) {
      up.kill('SIGKILL');
      await once(up, 'exit');
    }
    rmSync(work, { recursive: true, force: true });
  });

  test('installs_globally_from_its_tarball_and_serves_health_and_the_dashboard', async () => {
    const { stdout: packed } = await run(
      'npm',
      ['pack', '--json', '--ignore-scripts', '--pack-destination', work],
      { cwd: packageRoot, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
    );
    const pack = (JSON.parse(packed) as PackResult[])[0]!;
    const paths = new Set(pack.files.map((f) => f.path));
    for (const p of required) assert.ok(paths.has(p), `the package lacks ${p}`);
    const strays = [...paths].filter((p) => /^dist\/(test|bench)\/|\.test\.(js|ts)$/.test(p));
    assert.deepEqual(strays, [], 'tests and benches stay out of the package');

    const prefix = join(work, 'prefix');
    await run(
      'npm',
      [
        'install',
        '-g',
        '--prefix',
        prefix,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        join(work, pack.filename),
      ],
      { timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
    );
    const bin = join(prefix, 'bin', 'pgvigil');
    const v = await run(bin, ['--version'], { timeout: 30_000 });
    assert.equal(v.stdout.trim(), version);
    const av = await run(bin, ['agent', '--help'], { timeout: 30_000 });
    assert.match(av.stdout, /--server <url>/);

    const port = await freePort();
    const child = spawn(bin, ['up', '--data-dir', join(work, 'data'), '--port', String(port)], {
      env: { ...process.env, PGVIGIL_LOG_LEVEL: 'warn', PGVIGIL_SECRET_KEY: testSecretKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    up = child;
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const deadline = Date.now() + 60_000;
    let base: string | undefined;
    while (base === undefined) {
      base = /(?:is up|server listening): (http:\/\/\S+)/.exec(stdout)?.[1];
      if (base !== undefined) break;
      assert.equal(child.exitCode, null, `up exited early: ${stderr}`);
      assert.ok(Date.now() < deadline, `up did not come up in 60 s: ${stdout} ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const health = await fetch(`${base}/api/v1/health`);
    assert.equal(health.status, 200);
    const body = (await health.json()) as {
      status: string;
      version: string;
      store: { kind: string };
      migrations: { level: number; latest: number };
    };
    assert.equal(body.status, 'ok');
    assert.equal(body.version, version);
    assert.equal(body.store.kind, 'embedded');
    assert.ok(body.migrations.latest > 0 && body.migrations.level === body.migrations.latest);
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script[^>]+src="\/assets\//, 'the dashboard build is served');

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, `clean exit on SIGTERM; stderr: ${stderr}`);
  });
});

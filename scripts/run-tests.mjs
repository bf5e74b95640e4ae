// The test runner: starts one real PostgreSQL for the whole run (the embedded one), runs every compiled
// test file with node's test runner against it, then — when PGVIGIL_TEST_PG15=1 — starts Debian's
// PostgreSQL 15 and runs the integration tests (dist/test) again against that.
//
// Usage: node scripts/run-tests.mjs [compiled test files…]   (after `npm run build`)
// Each test file gets its own database from test/helpers/db.ts, so files run in parallel.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { silentLogger } from '../dist/src/log.js';
import { startCluster } from '../dist/src/storage/cluster.js';
import { embeddedBinDir } from '../dist/src/storage/embedded.js';

const pg15BinDir = '/usr/lib/postgresql/15/bin';
const ci = process.env.CI === 'true';

function findTests(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(p));
    else if (entry.name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

async function startTestCluster(label, binDir, runAsUser) {
  const dir = mkdtempSync(join(tmpdir(), `pgvigil-test-${label}-`));
  chmodSync(dir, 0o755); // the server's unprivileged user must reach its data directory
  const cluster = await startCluster({
    binDir,
    pgdata: join(dir, 'pgdata'),
    superuser: 'pgvigil_test',
    password: 'test-password',
    logFile: join(dir, 'postgres.log'),
    runAsUser,
    settings: {
      shared_preload_libraries: 'pg_stat_statements',
      max_connections: '300',
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
    },
    log: silentLogger(),
  });
  return {
    adminUrl: cluster.url('postgres'),
    stop: async () => {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const totals = { pass: 0, fail: 0, skipped: 0 };

function runNodeTests(files, env, label, concurrency = 2) {
  return new Promise((resolve) => {
    process.stdout.write(`\n=== tests against ${label}: ${files.length} file(s) ===\n`);
    const child = spawn(
      process.execPath,
      [
        '--test',
        `--test-concurrency=${concurrency}`,
        '--test-timeout=300000',
        '--test-reporter=spec',
        ...files,
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      output += chunk.toString();
    });
    child.on('exit', (code) => {
      const count = (name) =>
        Number([...output.matchAll(new RegExp(`^ℹ ${name} (\\d+)$`, 'gm'))].at(-1)?.[1] ?? 0);
      totals.pass += count('pass');
      totals.fail += count('fail') + count('cancelled');
      totals.skipped += count('skipped');
      if (code !== 0 && count('fail') + count('cancelled') === 0) totals.fail += 1;
      resolve(code ?? 1);
    });
  });
}

const requested = process.argv.slice(2);
const all = requested.length > 0 ? requested : findTests('dist');
let exitCode = 0;

// Files named *.serial.test.js measure time (start-up within 5 s, data within one push interval) or aim
// kills at windows a few milliseconds wide: they run alone, after the others, so parallel files do not
// skew what they measure (and the package install, which loads both cores for a minute, skews nobody's).
const serial = all.filter((f) => f.endsWith('.serial.test.js'));
const parallel = all.filter((f) => !f.endsWith('.serial.test.js'));
const embedded = await startTestCluster('pg18', await embeddedBinDir(), 'pgvigil');
try {
  const env = { PGVIGIL_TEST_ADMIN_URL: embedded.adminUrl, PGVIGIL_TEST_PG: 'embedded-18' };
  if (parallel.length > 0 && (await runNodeTests(parallel, env, 'embedded PostgreSQL 18')) !== 0)
    exitCode = 1;
  if (
    serial.length > 0 &&
    (await runNodeTests(serial, env, 'embedded PostgreSQL 18, one file at a time', 1)) !== 0
  ) {
    exitCode = 1;
  }
} finally {
  await embedded.stop();
}

// The dashboard's browser tests (web-*) run their own `pgvigil up` with its embedded store: the shared
// cluster is not theirs, so a second run against PostgreSQL 15 would only repeat them.
const integration = parallel.filter(
  (f) => f.startsWith(join('dist', 'test')) && !basename(f).startsWith('web-'),
);
if (process.env.PGVIGIL_TEST_PG15 === '1') {
  if (!existsSync(join(pg15BinDir, 'postgres'))) {
    process.stdout.write(
      `\nPostgreSQL 15 run: FAILED — PGVIGIL_TEST_PG15=1 but ${pg15BinDir} is missing (apt-get install postgresql-15)\n`,
    );
    totals.fail += 1;
    exitCode = 1;
  } else if (integration.length > 0) {
    const pg15 = await startTestCluster('pg15', pg15BinDir, 'postgres');
    try {
      const code = await runNodeTests(
        integration,
        { PGVIGIL_TEST_ADMIN_URL: pg15.adminUrl, PGVIGIL_TEST_PG: 'debian-15' },
        'Debian PostgreSQL 15',
      );
      if (code !== 0) exitCode = 1;
    } finally {
      await pg15.stop();
    }
  }
} else {
  const msg = ci
    ? 'FAILED — CI must set PGVIGIL_TEST_PG15=1'
    : 'SKIPPED (set PGVIGIL_TEST_PG15=1 to run the integration tests on Debian PostgreSQL 15 too)';
  process.stdout.write(`\nPostgreSQL 15 run: ${msg}\n`);
  if (ci) {
    totals.fail += 1;
    exitCode = 1;
  }
}

process.stdout.write(`\n${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped\n`);
process.exit(exitCode);

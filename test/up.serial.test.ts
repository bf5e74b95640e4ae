/**
 * `pgvigil up` with the embedded store, as users run it: start-up time, restart with data kept, the
 * data-directory lock, recovery after a hard kill, data arriving from the built-in agent. Timing matters
 * here, so scripts/run-tests.mjs runs this file on its own, after the parallel files.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { freePort } from '../src/storage/cluster.js';
import { descendantsCpuSeconds, machineBusySeconds } from '../src/tools/proc-cpu.js';
import { getJson, runCli, startCli } from './helpers/cli.js';
import { testPgLabel } from './helpers/db.js';

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

  test('answers_health_within_5_s_and_again_after_a_restart_with_data_kept', async (t) => {
    const dataDir = join(tempDataDir(), 'data');
    dirs.push(dataDir);
    const port = await freePort();
    const busy0 = machineBusySeconds();
    const t0 = performance.now();
    const up = startCli(['up', '--data-dir', dataDir, '--port', String(port)]);
    try {
      const m = await up.waitFor(urlLine, 30_000);
      const health = await getJson(`${m[1]}/api/v1/health`);
      const elapsed = performance.now() - t0;
      // The 5 s are the start's own: time the machine's cores spent on other processes meanwhile (this
      // test's, other engineers' work on a shared machine) is not counted against it. Ours: `up`, initdb
      // and the store's PostgreSQL with its backends.
      const ours = descendantsCpuSeconds(up.child.pid as number) ?? 0;
      const others = Math.max(0, machineBusySeconds() - busy0 - ours);
      const own = elapsed - (others / availableParallelism()) * 1000;
      assert.equal(health.status, 200);
      const body = health.body as Health;
      assert.equal(body.status, 'ok');
      assert.equal(body.store.kind, 'embedded');
      assert.match(body.store.postgresVersion, /^18\./);
      assert.equal(body.migrations.level, body.migrations.latest);
      const took = `first start answered health after ${Math.round(elapsed)} ms (its CPU ${ours.toFixed(2)} s, other processes' ${others.toFixed(2)} s: ${Math.round(own)} ms its own)`;
      t.diagnostic(took);
      assert.ok(own < 5000, took);

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

    const busy1 = machineBusySeconds();
    const t1 = performance.now();
    const again = startCli(['up', '--data-dir', dataDir, '--port', String(port)]);
    try {
      const m = await again.waitFor(urlLine, 30_000);
      const health = await getJson(`${m[1]}/api/v1/health`);
      assert.equal(health.status, 200);
      const restart = performance.now() - t1;
      const ours = descendantsCpuSeconds(again.child.pid as number) ?? 0;
      const others = Math.max(0, machineBusySeconds() - busy1 - ours);
      const own = restart - (others / availableParallelism()) * 1000;
      const took = `restart answered health after ${Math.round(restart)} ms (its CPU ${ours.toFixed(2)} s, other processes' ${others.toFixed(2)} s: ${Math.round(own)} ms its own)`;
      t.diagnostic(took);
      assert.ok(own < 5000, took);
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
    const up = startCli(
      [
        'up',
        '--data-dir',
        dataDir,
        '--port',
        String(await freePort()),
        '--push-interval',
        '2s',
        '--interval',
        '1s',
      ],
      { PGVIGIL_LOG_LEVEL: 'info', PGVIGIL_LOG_FORMAT: 'json' },
    );
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
    // Its log (JSON, stderr not being a terminal): the built-in agent's parts named under it, each key once
    // in a line (pino repeats a key a child binds again; Elasticsearch refuses such a line).
    const lines = up
      .output()
      .stderr.split('\n')
      .filter((l) => l.startsWith('{'));
    for (const line of lines) {
      const keys = [...line.matchAll(/[{,]"([^"]+)":/g)].map((m) => m[1]!);
      assert.equal(new Set(keys).size, keys.length, `a key twice in ${line}`);
    }
    const components = new Set(lines.map((l) => (JSON.parse(l) as { component?: string }).component));
    assert.ok(components.has('agent.logs') && components.has('http'), [...components].join(' '));
  });

  test('an_http_port_in_use_or_not_of_this_machine_is_reported_clearly_before_the_store_starts', async () => {
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
        new RegExp(
          `cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use by another program; choose another with --port`,
        ),
      );
      // Told before the store's first start (initdb), not after it.
      assert.equal(existsSync(join(dataDir, 'postgres')), false, 'the embedded store was not started');
    } finally {
      blocker.close();
    }
    // 192.0.2.1 (TEST-NET-1) is never a local address: a clear refusal, not an "unexpected error".
    const elsewhere = await runCli([
      'up',
      '--data-dir',
      dataDir,
      '--host',
      '192.0.2.1',
      '--port',
      String(port),
    ]);
    assert.equal(elsewhere.code, 2);
    assert.match(elsewhere.stderr, /cannot listen on 192\.0\.2\.1:\d+: no such address on this machine/);
    assert.doesNotMatch(elsewhere.stderr, /unexpected error/);
  });
});

/**
 * Custom SQL metrics against real PostgreSQL: the run's own server (18) and a Debian PostgreSQL 15 read by
 * a pg_monitor role. One set of definitions on both: a version-keyed pair (the 15 text on 15, the 18 text on
 * 18), a query whose gauge and counter values must equal a direct read of the same table, a broken query
 * (degraded with its error while the others are stored), a write (refused: read-only, even where the role
 * may write), two statements joined by `;` (refused), and a pg_sleep cut by the definition's timeout. On
 * 18 the rows also go through the agent's collector, the ingest path and the series API, and a float8
 * counter with a reset rolls up as its increase.
 */
import assert from 'node:assert/strict';
import { chown, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createPostgresCollector } from '../src/agent/collectors/postgres/collector.js';
import { CustomMetricsRunner, type CustomRun } from '../src/agent/collectors/postgres/custom.js';
import { PostgresTarget } from '../src/agent/collectors/postgres/session.js';
import type { FamilyRows } from '../src/agent/collectors/types.js';
import { runAgent } from '../src/agent/run.js';
import { silentLogger } from '../src/log.js';
import { parseRemoteConfig } from '../src/protocol/agent-config.js';
import { type CustomMetricDef, parseCustomMetrics } from '../src/protocol/custom-metrics.js';
import { buildServerApp } from '../src/server/app.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { rollBucket } from '../src/server/jobs/rollups.js';
import { type RunningCluster, serverUser, startCluster } from '../src/storage/cluster.js';
import { runCli } from './helpers/cli.js';
import { createTestDatabase, createTestStore, quietLog, testPgLabel } from './helpers/db.js';
import { startFindingsServer } from './helpers/findings.js';
import {
  collectContext,
  debianPg15Bin,
  debianToolSkip,
  removeDir,
  rowsOf,
  runServerVersion,
} from './helpers/pg-cluster.js';
import { roleHeaders } from './helpers/users.js';
import { waitFor } from './helpers/wait.js';

const definitions: CustomMetricDef[] = (() => {
  const r = parseCustomMetrics([
    {
      name: 'versioned',
      help: 'which SQL text ran',
      sql: {
        150000: "SELECT 'pg15' AS branch, current_setting('server_version_num')::int AS version_num",
        180000: "SELECT 'pg18' AS branch, current_setting('server_version_num')::int AS version_num",
      },
      interval: 10,
      columns: [
        { name: 'branch', type: 'label' },
        { name: 'version_num', type: 'gauge' },
      ],
    },
    {
      name: 'src',
      sql: { 130000: 'SELECT k, k2, g, c FROM custom_src' },
      interval: 10,
      columns: [
        { name: 'k', type: 'label' },
        { name: 'k2', type: 'label' },
        { name: 'g', type: 'gauge', unit: 'bytes', warn_above: 2, crit_above: 100 },
        { name: 'c', type: 'counter' },
      ],
    },
    {
      name: 'broken',
      sql: { 130000: 'SELECT v FROM no_such_table' },
      interval: 10,
      columns: [{ name: 'v', type: 'gauge' }],
    },
    {
      name: 'writer',
      sql: {
        130000: "INSERT INTO custom_src VALUES ('w', 'w', 0, 0) RETURNING 1 AS v",
      },
      interval: 10,
      columns: [{ name: 'v', type: 'gauge' }],
    },
    {
      name: 'two_statements',
      sql: { 130000: 'SELECT 1 AS v; DELETE FROM custom_src' },
      interval: 10,
      columns: [{ name: 'v', type: 'gauge' }],
    },
    {
      name: 'slow',
      sql: { 130000: 'SELECT 1 AS v FROM pg_sleep(20)' },
      interval: 10,
      timeout: 1,
      columns: [{ name: 'v', type: 'gauge' }],
    },
  ]);
  assert.ok(r.ok, JSON.stringify(r));
  return r.metrics;
})();

const setupSql = `
  CREATE TABLE custom_src (k text, k2 text, g float8, c bigint);
  INSERT INTO custom_src VALUES ('a', 'x', 1.5, 10), ('b"q', 'y\\z', 2.25, 9007199254740000);`;

const sessionSettings = { statementTimeoutMs: 5000, lockTimeoutMs: 1000, connectTimeoutMs: 5000 };

function runner(url: string): CustomMetricsRunner {
  return new CustomMetricsRunner(
    new PostgresTarget(url, sessionSettings),
    definitions,
    { lockTimeoutMs: 1000, maxBackoffMs: 60_000 },
    silentLogger(),
  );
}

const byMetric = (runs: CustomRun[]) => new Map(runs.map((r) => [r.metric, r]));

/** What every server must show, whatever its version; `branch` is the label the version picked. */
async function assertRuns(client: pg.Client, runs: CustomRun[], branch: string): Promise<string[]> {
  const m = byMetric(runs);
  const notes: string[] = [];
  const versionNum = Number(
    (await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]!.v,
  );
  // The version pair: the text for this version ran.
  const versioned = m.get('versioned')!;
  assert.equal(versioned.status.ok, true, versioned.status.error ?? '');
  assert.deepEqual(versioned.rows, [
    {
      metric: 'versioned',
      name: 'version_num',
      labels: `branch="${branch}"`,
      gauge: versionNum,
      counter: null,
      warn_above: null,
      crit_above: null,
    },
  ]);
  notes.push(
    `server_version_num ${versionNum}: branch ${branch}; a run (BEGIN READ ONLY, SET LOCAL, query, ROLLBACK) took ${versioned.status.durationMs.toFixed(1)} ms`,
  );
  // Values equal a direct read; labels canonical (sorted, escaped).
  const src = m.get('src')!;
  assert.equal(src.status.ok, true, src.status.error ?? '');
  const direct = (
    await client.query<{ k: string; k2: string; g: number; c: string }>('SELECT * FROM custom_src ORDER BY k')
  ).rows;
  const expected = direct.flatMap((r) => {
    const labels = `k="${r.k.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}",k2="${r.k2.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    return [
      { metric: 'src', name: 'g', labels, gauge: r.g, counter: null, warn_above: 2, crit_above: 100 },
      {
        metric: 'src',
        name: 'c',
        labels,
        gauge: null,
        counter: Number(r.c),
        warn_above: null,
        crit_above: null,
      },
    ];
  });
  assert.deepEqual(
    [...src.rows].sort((a, b) => `${a.labels}${a.name}`.localeCompare(`${b.labels}${b.name}`)),
    [...expected].sort((a, b) => `${a.labels}${a.name}`.localeCompare(`${b.labels}${b.name}`)),
  );
  assert.ok(
    src.rows.some((r) => r.labels === 'k="b\\"q",k2="y\\\\z"'),
    'quote and backslash escaped',
  );
  // The broken one is degraded with its error; the others were stored anyway.
  const broken = m.get('broken')!;
  assert.equal(broken.status.ok, false);
  assert.equal(broken.status.family, 'pg_custom:broken');
  assert.match(broken.status.error ?? '', /relation "no_such_table" does not exist \(SQLSTATE 42P01\)/);
  assert.deepEqual(broken.rows, []);
  notes.push(`broken: ${broken.status.error}`);
  // A write is refused by the read-only transaction, and nothing was written.
  const writer = m.get('writer')!;
  assert.equal(writer.status.ok, false);
  assert.match(
    writer.status.error ?? '',
    /cannot execute INSERT in a read-only transaction \(SQLSTATE 25006\)/,
  );
  notes.push(`writer: ${writer.status.error}`);
  const two = m.get('two_statements')!;
  assert.equal(two.status.ok, false);
  assert.match(two.status.error ?? '', /cannot insert multiple commands into a prepared statement/);
  const count = await client.query<{ n: string }>('SELECT count(*) AS n FROM custom_src');
  assert.equal(Number(count.rows[0]!.n), 2, 'the table is as it was');
  // The slow one is cut by its own statement timeout (1 s), not by the session's (5 s).
  const slow = m.get('slow')!;
  assert.equal(slow.status.ok, false);
  assert.match(slow.status.error ?? '', /canceling statement due to statement timeout \(SQLSTATE 57014\)/);
  assert.ok(slow.status.durationMs < 3000, `cut after ${slow.status.durationMs} ms`);
  notes.push(`slow: ${slow.status.error} after ${Math.round(slow.status.durationMs)} ms`);
  return notes;
}

/** The branch of the version-keyed pair a server of this version runs (the suite runs on 18, then on 15). */
const branchOf = (version: number) => (version >= 180000 ? 'pg18' : 'pg15');

describe(`custom SQL metrics on ${testPgLabel} (the run's server)`, () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;
  before(async () => {
    db = await createTestDatabase('custom');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(setupSql);
  });
  after(async () => {
    await client?.end();
    await db?.drop();
  });

  test('the_sql_keyed_by_the_servers_version_runs_values_equal_a_direct_query_and_failures_are_degraded_alone', async (t) => {
    const r = runner(db.url);
    try {
      await r.runDue();
      for (const n of await assertRuns(client, r.drain(), branchOf(await runServerVersion())))
        t.diagnostic(n);
      // Not due again within its interval: a second call runs nothing.
      await r.runDue();
      assert.deepEqual(r.drain(), []);
    } finally {
      await r.close();
    }
  });

  test('a_query_refused_for_good_is_asked_again_after_a_growing_pause_and_reported_degraded_meanwhile', async () => {
    // Clocks of the test's own: each turn of the 10-s metric is a step of 11 s.
    let clock = Date.parse('2026-12-04T12:00:00Z');
    const def = definitions.find((d) => d.name === 'broken')!;
    const r = new CustomMetricsRunner(
      new PostgresTarget(db.url, sessionSettings),
      [def],
      {
        lockTimeoutMs: 1000,
        maxBackoffMs: 60_000,
        refusalPause: { firstMs: 30_000, maxMs: 60_000 },
        now: () => clock,
        monotonic: () => clock,
      },
      silentLogger(),
    );
    const turn = async () => {
      await r.runDue();
      const [run] = r.drain();
      assert.ok(run, 'a status every turn, asked or not');
      clock += 11_000;
      return run.status;
    };
    try {
      const missing = 'relation "no_such_table" does not exist';
      // Asked, refused (42P01): paused 30 s, so the next two turns only report it.
      const first = await turn();
      assert.equal(first.ok, false);
      assert.match(String(first.error), new RegExp(`^${missing}`));
      assert.doesNotMatch(String(first.error), /not asked again/);
      for (let i = 0; i < 2; i++) {
        const paused = await turn();
        assert.equal(paused.ok, false);
        assert.equal(paused.error, `${first.error}; not asked again before 2026-12-04T12:00:30.000Z`);
        assert.equal(paused.durationMs, 0, 'nothing asked of the server');
      }
      // 33 s on: asked again, refused again, and the pause doubles to 60 s (its most here).
      const again = await turn();
      assert.equal(again.error, first.error);
      assert.match(String((await turn()).error), /not asked again before 2026-12-04T12:01:33\.000Z$/);
      // The table created: the metric comes back at the first turn after the pause.
      await client.query('CREATE TABLE no_such_table (v float8); INSERT INTO no_such_table VALUES (4)');
      try {
        const turns: boolean[] = [];
        for (let i = 0; i < 6; i++) turns.push((await turn()).ok);
        assert.deepEqual(
          turns,
          [false, false, false, false, true, true],
          'back at 12:01:39, 66 s after the refusal',
        );
      } finally {
        await client.query('DROP TABLE no_such_table');
      }
    } finally {
      await r.close();
    }
  });

  test('collected_rows_go_through_ingest_and_read_back_through_the_series_api', async () => {
    const collector = createPostgresCollector(db.url, {
      families: ['pg_custom'],
      customMetrics: definitions.filter((d) => d.name === 'src' || d.name === 'broken'),
    });
    const fs = await startFindingsServer('custom');
    try {
      // The runner starts with the first collection and hands its runs to a later one.
      const collected: FamilyRows[] = [];
      await waitFor('the custom runs handed over', async () => {
        const result = await collector.collect(collectContext());
        collected.push(...result);
        const statuses = rowsOf(collected, 'pg_collector').map((s) => s.family);
        return statuses.includes('pg_custom:src') && statuses.includes('pg_custom:broken') ? true : undefined;
      });
      const status = rowsOf(collected, 'pg_collector');
      assert.equal(status.find((s) => s.family === 'pg_custom:src')?.ok, true);
      assert.equal(status.find((s) => s.family === 'pg_custom:broken')?.ok, false);
      const agent = await fs.enroll('custom-host');
      await fs.push(agent, collected);
      const pool = fs.ts.store.pool;
      const stored = await pool.query(
        'SELECT metric, name, labels, gauge, counter FROM pgvigil.pg_custom WHERE server_id = $1 ORDER BY labels, name',
        [agent.serverId],
      );
      assert.deepEqual(stored.rows, [
        { metric: 'src', name: 'c', labels: 'k="a",k2="x"', gauge: null, counter: 10 },
        { metric: 'src', name: 'g', labels: 'k="a",k2="x"', gauge: 1.5, counter: null },
        { metric: 'src', name: 'c', labels: 'k="b\\"q",k2="y\\\\z"', gauge: null, counter: 9007199254740000 },
        { metric: 'src', name: 'g', labels: 'k="b\\"q",k2="y\\\\z"', gauge: 2.25, counter: null },
      ]);
      // Checkable: g has warn_above 2 and crit_above 100; 2.25 is over the first, 1.5 under both.
      await fs.runJob();
      const findings = await fs.findings(`server=${agent.serverId}&check=pg.custom_threshold`);
      assert.deepEqual(
        findings.map((f) => [f.object, f.severity, f.state]),
        [['custom.src.g{k="b\\"q",k2="y\\\\z"}', 'warning', 'open']],
      );
      assert.match(findings[0]!.title, /is 2\.25 on local, above its warn_above 2/);
      // Chartable: the generic series API selects a custom series by its labels.
      const viewer = await roleHeaders(pool, 'viewer');
      const res = await fs.server.app.inject({
        method: 'GET',
        url: `/api/v1/series?${new URLSearchParams([
          ['family', 'pg_custom'],
          ['metrics', 'gauge'],
          ['server', String(agent.serverId)],
          ['label', 'metric:src'],
          ['label', 'name:g'],
          ['tier', 'raw'],
        ])}`,
        headers: viewer,
      });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as { series: { labels: Record<string, string>; points: [number, number][] }[] };
      const values = body.series.map((s) => [s.labels.labels, s.points.map((p) => p[1])]).sort();
      assert.deepEqual(values, [
        ['k="a",k2="x"', [1.5]],
        ['k="b\\"q",k2="y\\\\z"', [2.25]],
      ]);
      // Pushed config: stored when valid, and what the agent pulls parses again as the same definitions.
      const push = (config: unknown) =>
        fs.server.app.inject({
          method: 'PUT',
          url: `/api/v1/agents/${agent.agentId}/config`,
          headers: fs.admin,
          payload: config as Record<string, unknown>,
        });
      const pushed = definitions.filter((d) => d.name === 'versioned');
      assert.equal((await push({ customMetrics: pushed })).statusCode, 204);
      const pulled = await fs.server.app.inject({
        method: 'GET',
        url: `/api/v1/agents/${agent.agentId}/config`,
        headers: { authorization: `Bearer ${agent.credential}` },
      });
      assert.equal(pulled.statusCode, 200, pulled.body);
      const parsed = parseRemoteConfig((pulled.json() as { config: unknown }).config);
      assert.ok(parsed.ok, JSON.stringify(parsed));
      assert.deepEqual(parsed.config.customMetrics, pushed);
      const refused = await push({
        customMetrics: [{ ...pushed[0], sql: { 150000: 'SELECT 1' }, interval: 3 }],
      });
      assert.equal(refused.statusCode, 400);
      assert.match(
        refused.body,
        /customMetrics: custom metric \\"versioned\\": interval must be a whole number from 10/,
      );
    } finally {
      await collector.close();
      await fs.close();
    }
  });

  test('a_pushed_definition_reaches_a_running_agent_and_its_rows_the_store', async () => {
    const fs = await startFindingsServer('custompush');
    const stateDir = await mkdtemp(join(tmpdir(), 'pgvigil-custom-agent-'));
    let stop: (v: unknown) => void = () => {};
    const stopped = new Promise((r) => {
      stop = r;
    });
    let agentRun: Promise<void> | undefined;
    try {
      const agent = await fs.enroll('custom-agent');
      const put = await fs.server.app.inject({
        method: 'PUT',
        url: `/api/v1/agents/${agent.agentId}/config`,
        headers: fs.admin,
        payload: { customMetrics: definitions.filter((d) => d.name === 'versioned') },
      });
      assert.equal(put.statusCode, 204, put.body);
      // The agent has no definitions of its own: what runs is what the server pushed.
      agentRun = runAgent({
        procRoot: '/proc',
        sysRoot: '/sys',
        rootFs: '/',
        intervalMs: 2000,
        watches: [],
        nodeExporterMemoryNames: false,
        postgres: [{ name: 'main', url: db.url }],
        server: {
          url: fs.base,
          stateDir,
          identity: {
            serverUrl: fs.base,
            agentId: agent.agentId,
            serverId: agent.serverId,
            credential: agent.credential,
            enrolledAt: new Date().toISOString(),
          },
          pushIntervalMs: 1000,
        },
        log: quietLog,
        stopSignal: stopped,
      });
      const row = await waitFor(
        'the pushed custom metric stored',
        async () =>
          (
            await fs.ts.store.pool.query<{ labels: string; gauge: number }>(
              "SELECT labels, gauge FROM pgvigil.pg_custom WHERE server_id = $1 AND metric = 'versioned' LIMIT 1",
              [agent.serverId],
            )
          ).rows[0],
        60_000,
      );
      assert.equal(row.labels, `branch="${branchOf(await runServerVersion())}"`);
      assert.equal(row.gauge, await runServerVersion());
    } finally {
      stop(undefined);
      await agentRun;
      await fs.close();
      await removeDir(stateDir);
    }
  });

  test('pgvigil_collect_runs_the_example_definitions_file_and_refuses_a_bad_one', async () => {
    const { packageRoot } = await import('../src/version.js');
    const example = join(packageRoot, 'docs', 'examples', 'custom-metrics.toml');
    // The first collection starts the runner; the second, 5 s later, hands on the runs done by then.
    const r = await runCli([
      'collect',
      '--once',
      '--json',
      '--only',
      'postgres',
      '--interval',
      '5s',
      '--postgres',
      db.url,
      '--custom-metrics-file',
      example,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      families: Record<string, { rows: Record<string, unknown>[] }>;
    };
    const custom = report.families.pg_custom?.rows ?? [];
    const names = new Set(custom.map((row) => `${row.metric}.${row.name}`));
    assert.ok(names.has('checkpoints.timed') && names.has('checkpoints.requested'), JSON.stringify(custom));
    assert.ok(names.has('client_sessions.sessions'), JSON.stringify(custom));
    const statuses = report.families.pg_collector?.rows.filter((s) =>
      String(s.family).startsWith('pg_custom:'),
    );
    assert.deepEqual(statuses?.map((s) => [s.family, s.ok]).sort(), [
      ['pg_custom:checkpoints', true],
      ['pg_custom:client_sessions', true],
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'pgvigil-custom-file-'));
    try {
      const bad = join(dir, 'bad.toml');
      const { writeFile } = await import('node:fs/promises');
      await writeFile(bad, '[[metric]]\nname = "x"\ninterval = 1\n[metric.sql]\n150000 = "SELECT 1 AS v"\n');
      const refused = await runCli([
        'collect',
        '--once',
        '--only',
        'postgres',
        '--postgres',
        db.url,
        '--custom-metrics-file',
        bad,
      ]);
      assert.notEqual(refused.code, 0);
      assert.match(
        refused.stderr,
        /--custom-metrics-file .*bad\.toml: custom metric "x": interval must be a whole number from 10 to 86400, got 1/,
      );
    } finally {
      await removeDir(dir);
    }
  });

  test('a_float8_counter_rolls_up_as_its_increase_with_a_reset', async () => {
    const ts = await createTestStore('customroll');
    const server = await buildServerApp({ store: ts.store, log: quietLog, latestMigration: ts.latest });
    try {
      const pool = ts.store.pool;
      const viewer = await roleHeaders(pool, 'viewer');
      const id = await ensureServer(pool, 'custom-roll');
      const hourMs = 3_600_000;
      const h = Math.floor(Date.now() / hourMs) * hourMs - 3 * hourMs;
      // A counter growing 0.5 a minute, reset at minute 30; a gauge i.
      await pool.query(
        `INSERT INTO pgvigil.pg_custom (server_id, target_id, ts, metric, name, labels, gauge, counter)
         SELECT $1::bigint, 1, $2::timestamptz + i * interval '1 minute', 'm', 'c', 'k="v"', NULL,
                CASE WHEN i < 30 THEN 100 + i * 0.5 ELSE (i - 30) * 0.5 END
           FROM generate_series(0, 59) i
         UNION ALL
         SELECT $1::bigint, 1, $2::timestamptz + i * interval '1 minute', 'm', 'g', 'k="v"', i, NULL
           FROM generate_series(0, 59) i`,
        [id, new Date(h)],
      );
      const get = async (tier: string, name: string, metric: string) => {
        const res = await server.app.inject({
          method: 'GET',
          url: `/api/v1/series?${new URLSearchParams({ family: 'pg_custom', metrics: metric, server: String(id), label: `name:${name}`, from: String(h), to: String(h + hourMs), step: '1h', tier })}`,
          headers: viewer,
        });
        assert.equal(res.statusCode, 200, res.body);
        return (res.json() as { series: { kind: string; points: [number, number][] }[] }).series.map((s) => [
          s.kind,
          s.points,
        ]);
      };
      // 29 steps of 0.5, the reset counts its new value (0), 29 more: 29.
      const counter = [['counter', [[h, 29]]]];
      const gauge = [['gauge', [[h, 29.5]]]];
      assert.deepEqual(await get('raw', 'c', 'counter'), counter);
      assert.deepEqual(await get('raw', 'g', 'gauge'), gauge);
      await rollBucket(pool, { tier: 'hourly', serverId: id, bucketStart: new Date(h) });
      assert.deepEqual(await get('hourly', 'c', 'counter'), counter);
      assert.deepEqual(await get('hourly', 'g', 'gauge'), gauge);
    } finally {
      await server.app.close();
      await ts.close();
    }
  });
});

describe('custom SQL metrics on a Debian PostgreSQL 15, as a pg_monitor role', () => {
  const skip = debianToolSkip(join(debianPg15Bin, 'postgres'));
  let dir = '';
  let cluster: RunningCluster | undefined;
  let client: pg.Client;
  let monitorUrl = '';

  before(async () => {
    if (skip) return;
    dir = await mkdtemp(join(tmpdir(), 'pgvigil-custom-'));
    const user = await serverUser('pgvigil', silentLogger());
    if (user) await chown(dir, user.uid, user.gid);
    cluster = await startCluster({
      binDir: debianPg15Bin,
      pgdata: join(dir, 'pgdata'),
      superuser: 'pgvigil_test',
      password: 'custom-test-pw',
      logFile: join(dir, 'server.log'),
      runAsUser: 'pgvigil',
      settings: { fsync: 'off', shared_buffers: '32MB' },
      log: silentLogger(),
    });
    client = new pg.Client({ connectionString: cluster.url('postgres') });
    await client.connect();
    await client.query(setupSql);
    // The monitoring role may even write this table: what refuses the write is the read-only transaction.
    await client.query(`CREATE ROLE pgvigil_mon LOGIN PASSWORD 'mon-pw' IN ROLE pg_monitor;
      GRANT SELECT, INSERT, DELETE ON custom_src TO pgvigil_mon`);
    const u = new URL(cluster.url('postgres'));
    u.username = 'pgvigil_mon';
    u.password = 'mon-pw';
    monitorUrl = u.toString();
  });

  after(async () => {
    await client?.end();
    await cluster?.stop();
    if (dir) await removeDir(dir);
  });

  test('the_15_keyed_sql_runs_and_the_rest_behaves_as_on_18', { skip }, async (t) => {
    const r = runner(monitorUrl);
    try {
      await r.runDue();
      for (const n of await assertRuns(client, r.drain(), 'pg15')) t.diagnostic(n);
    } finally {
      await r.close();
    }
  });
});

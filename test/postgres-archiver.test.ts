/**
 * pg_archiver (pg_stat_archiver) against a Debian PostgreSQL 15 with WAL archiving on, compared with
 * Debian's postgres_exporter (0.11: pg_stat_archiver_archived_count, _failed_count, _last_archive_age) and
 * with the view itself, while archiving succeeds (archive_command copies the segment) and after it breaks
 * (archive_command 'false'); the pg.wal_archiving finding opening from those collections through ingest
 * and resolving once the stuck segment is archived; on the run's own server, archiving off, a clean row
 * rather than an error; and in the store, failed_count rolled up as an increase and the age as a gauge.
 *
 * The values that move with the clock (the age of the last success) are compared within the time that
 * passed between our read and the exporter's; everything else must be equal.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chown, mkdir, mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createPostgresCollector } from '../src/agent/collectors/postgres/collector.js';
import { postgresPrometheusMetrics } from '../src/agent/collectors/postgres/prometheus.js';
import type { FamilyRows, Row } from '../src/agent/collectors/types.js';
import { renderExposition } from '../src/agent/exporter.js';
import { pgWalArchiving } from '../src/intelligence/checks/postgres-archiver.js';
import { silentLogger } from '../src/log.js';
import { buildServerApp } from '../src/server/app.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { rollBucket } from '../src/server/jobs/rollups.js';
import { type RunningCluster, serverUser, startCluster } from '../src/storage/cluster.js';
import { adminUrl, createTestStore, quietLog, testPgLabel } from './helpers/db.js';
import { startFindingsServer } from './helpers/findings.js';
import {
  collectContext,
  debianPg15Bin,
  debianToolSkip,
  removeDir,
  rowsOf,
  sleep,
} from './helpers/pg-cluster.js';
import { exporterPath, startExporter } from './helpers/postgres-exporter.js';
import { type ParsedMetric, parsePromText, promtoolPath, sampleValue } from './helpers/prometheus.js';
import { fixtureScope } from './helpers/scope-fixture.js';
import { roleHeaders } from './helpers/users.js';
import { waitFor } from './helpers/wait.js';

interface ArchiverView {
  archived_count: number;
  failed_count: number;
  last_archived_wal: string | null;
  last_archived_time: Date | null;
  last_failed_wal: string | null;
  last_failed_time: Date | null;
  stats_reset: Date | null;
}

async function readView(client: pg.Client): Promise<ArchiverView> {
  const { rows } = await client.query<ArchiverView>(
    `SELECT archived_count::float8 AS archived_count, failed_count::float8 AS failed_count,
            last_archived_wal, last_archived_time, last_failed_wal, last_failed_time, stats_reset
       FROM pg_stat_archiver`,
  );
  return rows[0]!;
}

const ms = (v: Date | string | null | undefined) =>
  v === null || v === undefined ? null : new Date(v).getTime();

/**
 * One comparison: the view, our collection (rows and /metrics), the exporter's scrape and the view again,
 * in that order and timed, so the age of the last success can be bracketed.
 */
async function compareOnce(
  client: pg.Client,
  collect: () => Promise<FamilyRows[]>,
  scrape: () => Promise<Map<string, ParsedMetric>>,
) {
  const viewBefore = await readView(client);
  const t0 = Date.now();
  const result = await collect();
  const t1 = Date.now();
  const theirs = await scrape();
  const t2 = Date.now();
  const viewAfter = await readView(client);
  const status = rowsOf(result, 'pg_collector').find((r) => r.family === 'pg_archiver');
  assert.equal(status?.ok, true, `pg_archiver degraded: ${status?.error}`);
  const rows = rowsOf(result, 'pg_archiver');
  assert.equal(rows.length, 1);
  const ours = parsePromText(renderExposition(postgresPrometheusMetrics(result, { target: 't' })));
  return { viewBefore, viewAfter, row: rows[0]!, ours, theirs, t0, t1, t2 };
}

function assertAgree(c: Awaited<ReturnType<typeof compareOnce>>): string {
  const { viewBefore: v, viewAfter, row, ours, theirs } = c;
  // Nothing moved between the reads: equality below is meaningful.
  assert.deepEqual(viewAfter, v, 'pg_stat_archiver changed during the comparison');
  // Our row against the view.
  assert.equal(row.archive_mode, 'on');
  assert.equal(row.archived_count, v.archived_count);
  assert.equal(row.failed_count, v.failed_count);
  assert.equal(row.last_archived_wal, v.last_archived_wal);
  assert.equal(row.last_failed_wal, v.last_failed_wal);
  assert.equal(ms(row.last_archived_time as string | null), ms(v.last_archived_time));
  assert.equal(ms(row.last_failed_time as string | null), ms(v.last_failed_time));
  assert.equal(ms(row.stats_reset as string | null), ms(v.stats_reset));
  // Our /metrics against postgres_exporter's.
  const t = { target: 't', archive_mode: 'on' };
  const theirArchived = sampleValue(theirs, 'pg_stat_archiver_archived_count');
  const theirFailed = sampleValue(theirs, 'pg_stat_archiver_failed_count');
  assert.equal(theirArchived, v.archived_count);
  assert.equal(theirFailed, v.failed_count);
  assert.equal(sampleValue(ours, 'pg_stat_archiver_archived_count_total', t), theirArchived);
  assert.equal(sampleValue(ours, 'pg_stat_archiver_failed_count_total', t), theirFailed);
  assert.equal(ours.get('pg_stat_archiver_archived_count_total')?.type, 'counter');
  assert.equal(theirs.get('pg_stat_archiver_archived_count')?.type, 'counter');
  // The age: the exporter read it later than we did, by between (t2 - t1) - a little and (t2 - t0).
  const ourAge = sampleValue(ours, 'pg_stat_archiver_last_archive_age_seconds', t);
  const theirAge = sampleValue(theirs, 'pg_stat_archiver_last_archive_age');
  assert.equal(ourAge, row.last_archive_age_s);
  const later = theirAge - ourAge;
  assert.ok(
    later >= -0.05 && later <= (c.t2 - c.t0) / 1000 + 0.05,
    `exporter age ${theirAge} s, ours ${ourAge} s, ${c.t2 - c.t0} ms apart`,
  );
  // And against the view's own time.
  const expected = (c.t0 - ms(v.last_archived_time)!) / 1000;
  assert.ok(Math.abs(ourAge - expected) < 1, `age ${ourAge} s, ${expected} s by the client's clock`);
  assert.equal(
    sampleValue(ours, 'pg_stat_archiver_last_archived_timestamp_seconds', t),
    ms(v.last_archived_time)! / 1000,
  );
  return `archived ${v.archived_count}, failed ${v.failed_count}, last archive age ours ${ourAge.toFixed(3)} s / postgres_exporter ${theirAge.toFixed(3)} s (${c.t2 - c.t0} ms apart)`;
}

describe('pg_archiver against a Debian PostgreSQL 15 with archiving, and postgres_exporter', () => {
  const skip =
    debianToolSkip(join(debianPg15Bin, 'postgres')) ||
    debianToolSkip(exporterPath, 'prometheus-postgres-exporter');
  let dir = '';
  let archiveDir = '';
  let cluster: RunningCluster | undefined;
  let client: pg.Client;
  let exporter: Awaited<ReturnType<typeof startExporter>> | undefined;
  let collector: ReturnType<typeof createPostgresCollector> | undefined;

  before(async () => {
    if (skip) return;
    dir = await mkdtemp(join(tmpdir(), 'pgvigil-archiver-'));
    archiveDir = join(dir, 'archive');
    await mkdir(archiveDir);
    const user = await serverUser('pgvigil', silentLogger());
    if (user) {
      await chown(dir, user.uid, user.gid);
      await chown(archiveDir, user.uid, user.gid);
    }
    cluster = await startCluster({
      binDir: debianPg15Bin,
      pgdata: join(dir, 'pgdata'),
      superuser: 'pgvigil_test',
      password: 'archiver-test-pw',
      logFile: join(dir, 'server.log'),
      runAsUser: 'pgvigil',
      // archive_command is set with ALTER SYSTEM below: a command-line value would override it.
      settings: { archive_mode: 'on', fsync: 'off', shared_buffers: '32MB' },
      log: silentLogger(),
    });
    client = new pg.Client({ connectionString: cluster.url('postgres') });
    await client.connect();
    exporter = await startExporter(cluster.url('postgres'));
    collector = createPostgresCollector(cluster.url('postgres'), {
      families: ['pg_archiver'],
      includeDatabases: ['postgres'],
    });
  });

  after(async () => {
    await collector?.close();
    await exporter?.stop();
    await client?.end();
    await cluster?.stop();
    if (dir) await removeDir(dir);
  });

  /** Writes a little WAL and switches segment; the name of the segment just closed. */
  async function switchSegment(): Promise<string> {
    await client.query('CREATE TABLE IF NOT EXISTS filler (x int); INSERT INTO filler VALUES (1)');
    const { rows } = await client.query<{ wal: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS wal');
    return rows[0]!.wal;
  }

  async function setArchiveCommand(command: string): Promise<void> {
    await client.query(`ALTER SYSTEM SET archive_command = ${client.escapeLiteral(command)}`);
    await client.query('SELECT pg_reload_conf()');
    await waitFor('archive_command reloaded', async () => {
      const { rows } = await client.query<{ v: string }>("SELECT current_setting('archive_command') AS v");
      return rows[0]!.v === command ? true : undefined;
    });
  }

  test('while_archiving_succeeds_counts_and_last_archive_age_equal_postgres_exporters', {
    skip,
  }, async (t) => {
    await setArchiveCommand(`cp %p ${archiveDir}/%f`);
    const wal = await switchSegment();
    await waitFor('the segment archived', async () => {
      const v = await readView(client);
      return v.last_archived_wal === wal ? v : undefined;
    });
    assert.ok((await readdir(archiveDir)).includes(wal), `${wal} copied to the archive directory`);
    await sleep(1100); // an age of at least a second, so it is not compared at zero
    const c = await compareOnce(
      client,
      () => collector!.collect(collectContext()),
      () => exporter!.scrape(),
    );
    t.diagnostic(assertAgree(c));
    assert.ok(Number(c.row.archived_count) >= 1);
    assert.equal(c.row.failed_count, 0);
    assert.equal(c.row.last_failed_wal, null);
    assert.ok(Number(c.row.last_archive_age_s) >= 1);
    // The check has nothing to say about working archiving.
    const scope = fixtureScope([{ ts: Date.now(), families: { pg_archiver: [c.row] } }]);
    assert.deepEqual(pgWalArchiving.evaluate(scope, { critical_s: 3600 }), []);
  });

  test('when_archive_command_fails_failed_count_and_last_failure_equal_postgres_exporters', {
    skip,
  }, async (t) => {
    const before = await readView(client);
    await setArchiveCommand('false');
    const wal = await switchSegment();
    // The archiver tries a segment 3 times a second apart, then waits (60 s) for the next one: wait until
    // the count stands still so the comparison reads one state.
    let last = -1;
    await waitFor(
      'failed attempts to stop rising',
      async () => {
        const v = await readView(client);
        const settled = v.last_failed_wal === wal && v.failed_count === last;
        last = v.failed_count;
        if (!settled) await sleep(1200);
        return settled ? v : undefined;
      },
      30_000,
    );
    const c = await compareOnce(
      client,
      () => collector!.collect(collectContext()),
      () => exporter!.scrape(),
    );
    t.diagnostic(assertAgree(c));
    assert.ok(Number(c.row.failed_count) >= before.failed_count + 1);
    assert.equal(c.row.last_failed_wal, wal);
    assert.equal(c.row.archived_count, before.archived_count, 'nothing archived since');
    assert.ok(ms(c.row.last_failed_time as string)! > ms(c.row.last_archived_time as string)!);
    // The check reads this row as archiving failing now, naming the segment.
    const scope = fixtureScope([{ ts: Date.now(), families: { pg_archiver: [c.row] } }]);
    const [finding, ...more] = pgWalArchiving.evaluate(scope, { critical_s: 3600 });
    assert.equal(more.length, 0);
    assert.equal(finding?.severity, 'warning');
    assert.equal(finding?.evidence.last_failed_wal, wal);
    assert.match(finding!.action, /SELECT \* FROM pg_stat_archiver;/);
    // The rows pass promtool's lint as our /metrics text (counters end in _total).
    const run = spawnSync(promtoolPath, ['check', 'metrics'], {
      input: renderExposition(
        postgresPrometheusMetrics([{ family: 'pg_archiver', ts: Date.now(), rows: [c.row] }]),
      ),
      encoding: 'utf8',
    });
    if (run.error === undefined) assert.equal(`${run.stdout}${run.stderr}`.trim(), '');
  });
  test('the_finding_opens_through_ingest_while_failing_and_resolves_once_the_segment_is_archived', {
    skip,
  }, async () => {
    // Continues from the failing state the test above left.
    const fs = await startFindingsServer('archiver');
    try {
      const agent = await fs.enroll('archiver-host');
      const cycle = async () => {
        await fs.push(agent, await collector!.collect(collectContext()));
        await fs.settle();
      };
      const failedWal = (await readView(client)).last_failed_wal;
      await cycle();
      const f = await fs.waitFor(
        `server=${agent.serverId}&check=pg.wal_archiving`,
        (x) => x.object === '' && x.state === 'open',
      );
      assert.equal(f.severity, 'warning');
      assert.equal((f.evidence as Record<string, unknown>).last_failed_wal, failedWal);
      assert.match(f.title, /WAL archiving is failing/);

      // Repaired: the reload wakes the archiver, which archives the segment it was stuck on.
      await setArchiveCommand(`cp %p ${archiveDir}/%f`);
      await waitFor('the stuck segment archived', async () => {
        const v = await readView(client);
        return v.last_archived_wal === failedWal ? true : undefined;
      });
      await cycle();
      const still = (await fs.findings(`server=${agent.serverId}&check=pg.wal_archiving`)).find(
        (x) => x.id === f.id,
      );
      assert.notEqual(still?.state, 'resolved', 'one clear evaluation is not yet recovery');
      await cycle();
      await fs.waitFor(`server=${agent.serverId}&state=resolved`, (x) => x.id === f.id);
    } finally {
      await fs.close();
    }
  });
});

describe(`pg_archiver on ${testPgLabel} without archiving`, () => {
  test('archiving_off_gives_one_clean_row_not_an_error', async () => {
    const collector = createPostgresCollector(adminUrl(), { families: ['pg_archiver'] });
    try {
      const result = await collector.collect(collectContext());
      const status = rowsOf(result, 'pg_collector').find((r) => r.family === 'pg_archiver');
      assert.equal(status?.ok, true, `pg_archiver degraded: ${status?.error}`);
      const rows: Row[] = rowsOf(result, 'pg_archiver');
      assert.equal(rows.length, 1);
      const row = rows[0]!;
      assert.equal(row.archive_mode, 'off');
      assert.equal(row.archived_count, 0);
      assert.equal(row.failed_count, 0);
      assert.equal(row.last_archived_wal, null);
      assert.equal(row.last_archived_time, null);
      assert.equal(row.last_archive_age_s, null, 'no age is invented when nothing was archived');
      assert.equal(row.last_failed_time, null);
      // No age sample in /metrics either: absent, not 0.
      const text = renderExposition(postgresPrometheusMetrics(result));
      assert.match(text, /^pg_stat_archiver_archived_count_total\{archive_mode="off"\} 0$/m);
      assert.doesNotMatch(text, /pg_stat_archiver_last_archive_age_seconds/);
    } finally {
      await collector.close();
    }
  });
});

describe(`pg_archiver in the store on ${testPgLabel}`, () => {
  test('failed_count_rolls_up_as_an_increase_resets_included_and_the_age_as_a_gauge', async () => {
    const ts = await createTestStore('archiver');
    const server = await buildServerApp({ store: ts.store, log: quietLog, latestMigration: ts.latest });
    try {
      const pool = ts.store.pool;
      const viewer = await roleHeaders(pool, 'viewer');
      const id = await ensureServer(pool, 'archiver-host');
      const hourMs = 3_600_000;
      const h = Math.floor(Date.now() / hourMs) * hourMs - 3 * hourMs;
      // One sample a minute: a failure each minute, statistics reset at minute 30 (failed_count reads 0
      // again), nothing archived in the hour, the last success ageing by a minute a minute.
      await pool.query(
        `INSERT INTO pgvigil.pg_archiver (server_id, target_id, ts, archive_mode, archived_count, failed_count,
                                          last_archive_age_s)
         SELECT $1::bigint, 1, $2::timestamptz + i * interval '1 minute', 'on', 7,
                CASE WHEN i < 30 THEN 40 + i ELSE i - 30 END, i * 60
           FROM generate_series(0, 59) i`,
        [id, new Date(h)],
      );
      const get = async (query: Record<string, string | number>) => {
        const res = await server.app.inject({
          method: 'GET',
          url: `/api/v1/series?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`,
          headers: viewer,
        });
        assert.equal(res.statusCode, 200, res.body);
        return res.json() as {
          tier: string;
          series: { metric: string; kind: string; points: [number, number][] }[];
        };
      };
      const q = {
        family: 'pg_archiver',
        metrics: 'archived_count,failed_count,last_archive_age_s',
        server: id,
        from: h,
        to: h + hourMs,
      };
      const expect = (r: Awaited<ReturnType<typeof get>>) =>
        Object.fromEntries(r.series.map((x) => [x.metric, [x.kind, x.points]]));
      const wanted = {
        archived_count: ['counter', [[h, 0]]],
        // 29 steps of 1, the reset step counts its new value (0), then 29 more
        failed_count: ['counter', [[h, 58]]],
        last_archive_age_s: ['gauge', [[h, 1770]]],
      };
      assert.deepEqual(expect(await get({ ...q, tier: 'raw', step: '1h' })), wanted);
      await rollBucket(pool, { tier: 'hourly', serverId: id, bucketStart: new Date(h) });
      const hourly = await get({ ...q, tier: 'hourly' });
      assert.equal(hourly.tier, 'hourly');
      assert.deepEqual(expect(hourly), wanted);
    } finally {
      await server.app.close();
      await ts.close();
    }
  });
});

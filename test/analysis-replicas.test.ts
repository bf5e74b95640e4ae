/**
 * The analysis jobs' history reads on a real streaming standby (DATABASE_READ_URL): the baselines job reads
 * the hourly and minute tiers there while the standby is fresh and holds the rolled hour, writes its
 * baselines on the primary, and gets the same baselines from the primary when the standby lacks the hour
 * (a roll it has not replayed yet) or is gone; the slos job counts and judges its SLO's minutes there too,
 * the incidents job reads its members' series there, and the statement checks their hour of statements.
 * Runs on the version of the run: embedded 18, and Debian's
 * 15 in the PostgreSQL 15 pass.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { pgMissingIndex, pgSlowStatement } from '../src/intelligence/checks/postgres-statements.js';
import { runSlos } from '../src/intelligence/slo-store.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { refreshServerBaselines } from '../src/server/jobs/baselines.js';
import { runIncidents } from '../src/server/jobs/incidents.js';
import { openStore, type Store } from '../src/storage/db.js';
import { migrate } from '../src/storage/migrate.js';
import { maintainPartitions } from '../src/storage/partitions.js';
import { insertFinding } from '../src/storage/queries/findings.sql.js';
import { quietLog, testPgLabel } from './helpers/db.js';
import { type PrivateCluster, removeDir } from './helpers/pg-cluster.js';
import { query, startPrimaryAndStandby } from './helpers/standby.js';
import { until } from './helpers/wait.js';

const hourMs = 3_600_000;
const maxLagMs = 3000;

let primary: PrivateCluster;
let standby: PrivateCluster;
let store: Store;
let pool: pg.Pool;
let serverId: number;
let sloId: number;
/** The current hour: the hourly tier is seeded up to it. */
const H = Math.floor(Date.now() / hourMs) * hourMs;

const reads = (s: Store) => s.readReplicas()[0]!.reads;

/** Scans of a tier's tables (and partitions) counted by a server itself: on a standby, its own reads. */
async function scans(url: string, table: string): Promise<number> {
  const [r] = await query<{ n: string | null }>(
    url,
    `SELECT sum(seq_scan + coalesce(idx_scan, 0)) AS n FROM pg_stat_user_tables
      WHERE schemaname = 'pgvigil' AND relname LIKE '${table}%'`,
  );
  return Number(r?.n ?? 0);
}
const behind = (s: Store) => s.readReplicas()[0]!.behind;

/** The stored baselines of the server, as comparable JSON (their computation time left out). */
async function storedBaselines(): Promise<string> {
  const { rows } = await pool.query(
    `SELECT metric, object, through, stats_7d, stats_30d, hour_of_day, hour_of_week
       FROM pgvigil.baselines WHERE server_id = $1 ORDER BY metric, object`,
    [serverId],
  );
  return JSON.stringify(rows);
}

before(async () => {
  ({ primary, standby } = await startPrimaryAndStandby());
  store = await openStore({
    databaseUrl: primary.url(),
    log: quietLog,
    readReplicas: { urls: [standby.url()], maxLagMs },
  });
  pool = store.pool;
  await migrate(pool, quietLog);
  await maintainPartitions(pool, { log: quietLog });
  serverId = await ensureServer(pool, 'analysis-replica-host');
  // Nine days of hourly CPU rollups, 20 % ± 2 busy: what the baselines job learns from.
  await pool.query(
    `INSERT INTO pgvigil.host_cpu_hourly (server_id, cpu, ts, samples, idle_pct_avg, iowait_pct_avg)
     SELECT $1::bigint, 'total', $2::timestamptz - k * interval '1 hour', 360, 100 - 1 - (20 + (k % 5) - 2), 1
       FROM generate_series(1, 9 * 24) k`,
    [serverId, new Date(H)],
  );
  // An SLO on a PostgreSQL target: seven hours of minute rollups before H, 10 backends (good), the last
  // hour 90 (bad).
  const { rows: t } = await pool.query<{ id: number }>(
    `INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, 'postgres', 'main') RETURNING target_id::int AS id`,
    [serverId],
  );
  await pool.query(
    `INSERT INTO pgvigil.pg_instance_minute (server_id, target_id, ts, samples, backends_avg, backends_min, backends_max,
       server_version_num_avg, server_version_num_min, server_version_num_max)
     SELECT $1, $2, m, 6, b, b::int, b::int, 180001, 180001, 180001
       FROM generate_series($3::timestamptz - interval '7 hours', $3::timestamptz - interval '1 minute', interval '1 minute') m,
            LATERAL (SELECT CASE WHEN m >= $3::timestamptz - interval '1 hour' THEN 90 ELSE 10 END AS b) x`,
    [serverId, t[0]!.id, new Date(H)],
  );
  const { rows: slo } = await pool.query<{ id: number }>(
    `INSERT INTO pgvigil.slos (server_id, target_id, name, family, metric, agg, comparison, threshold, objective_pct)
     VALUES ($1, $2, 'backends', 'pg_instance', 'backends', 'avg', '<=', 50, 99.9) RETURNING slo_id::int AS id`,
    [serverId, t[0]!.id],
  );
  sloId = slo[0]!.id;
  let seen = '';
  await until(
    async () => {
      const [p] = await query<{ n: string }>(
        primary.url(),
        `SELECT count(*) AS n FROM pgvigil.host_cpu_hourly WHERE server_id = ${serverId}`,
      );
      const [r] = await query<{ n: string; lsn: string | null }>(
        standby.url(),
        `SELECT (SELECT count(*) FROM pgvigil.host_cpu_hourly WHERE server_id = ${serverId}) AS n,
                pg_last_wal_replay_lsn()::text AS lsn`,
      ).catch((err: Error) => [{ n: err.message, lsn: null }]);
      seen = `primary ${p?.n}, standby ${r?.n} (replayed to ${r?.lsn})`;
      return Number(p?.n) === 9 * 24 && Number(r?.n) === 9 * 24;
    },
    30_000,
    'the standby replays the seeded hours',
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${seen}`);
  });
  await until(async () => store.readReplicas()[0]!.state === 'ready', 20_000, 'the standby is ready');
});

after(async () => {
  await store?.close();
  await standby?.stop().catch(() => {});
  await primary?.stop();
  if (primary) await removeDir(primary.dir);
});

/** A server with one PostgreSQL target. */
async function serverWithTarget(name: string): Promise<{ sid: number; tid: number }> {
  const sid = await ensureServer(pool, name);
  const { rows } = await pool.query<{ id: number }>(
    `INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, 'postgres', 'main') RETURNING target_id::int AS id`,
    [sid],
  );
  return { sid, tid: rows[0]!.id };
}

/** The standby is fresh past what was just written once a probe after it finds it so (lag bound 3 s). */
async function standbyFreshPastNow(): Promise<void> {
  await new Promise((r) => setTimeout(r, 2 * maxLagMs));
  await until(async () => store.readReplicas()[0]!.state === 'ready', 20_000, 'the standby is ready');
}

let fromStandby = '';

describe(`analysis reads on a read replica (${testPgLabel})`, () => {
  test('the_baselines_job_reads_the_tiers_on_the_standby_and_writes_on_the_primary', async () => {
    const before = reads(store);
    const scansBefore = await scans(standby.url(), 'host_cpu_hourly');
    const r = await refreshServerBaselines(pool, serverId, new Date(), new Date(H));
    assert.equal(r.through.getTime(), H);
    assert.ok(r.series >= 2, `baselines written: ${r.series}`);
    // The hourly read and the minute reads of the spreads (a day at a time) each took a standby snapshot.
    assert.ok(reads(store) - before >= 2, `standby reads: ${reads(store) - before}`);
    assert.equal(behind(store), 0);
    // The standby's own statistics saw the hourly tier read there (a backend reports them within ~10 s).
    await until(
      async () => (await scans(standby.url(), 'host_cpu_hourly')) > scansBefore,
      20_000,
      'the standby counts scans of the hourly tier',
    );
    fromStandby = await storedBaselines();
    const cpu = (JSON.parse(fromStandby) as Array<{ metric: string; stats_30d: { count: number } }>).find(
      (b) => b.metric === 'host.cpu_busy_pct',
    );
    assert.equal(cpu?.stats_30d.count, 9 * 24, 'every seeded hour counted');
  });

  test('the_slos_job_counts_and_judges_minutes_read_on_the_standby', async () => {
    await until(
      async () =>
        Number(
          (
            await query<{ n: string }>(
              standby.url(),
              `SELECT count(*) AS n FROM pgvigil.slos WHERE slo_id = ${sloId}`,
            )
          )[0]?.n,
        ) === 1,
      20_000,
      'the standby replays the SLO',
    );
    const before = reads(store);
    const scansBefore = await scans(standby.url(), 'pg_instance_minute');
    const r = await runSlos(pool, new Date());
    assert.equal(r.failed, 0);
    // Counting the complete hours and loading the evaluation's minutes: a standby snapshot each.
    assert.ok(reads(store) - before >= 2, `standby reads: ${reads(store) - before}`);
    const { rows } = await pool.query(
      `SELECT sum(good)::int AS good, sum(bad)::int AS bad FROM pgvigil.slo_hours WHERE slo_id = $1`,
      [sloId],
    );
    assert.deepEqual(rows[0], { good: 360, bad: 60 }, 'every seeded minute counted once, on the primary');
    await until(
      async () => (await scans(standby.url(), 'pg_instance_minute')) > scansBefore,
      20_000,
      'the standby counts scans of the minute tier',
    );
    const { rows: st } = await pool.query('SELECT status FROM pgvigil.slos WHERE slo_id = $1', [sloId]);
    assert.ok(st[0]!.status?.budget, 'the status is stored');
  });

  test('the_incidents_job_reads_the_member_series_on_the_standby', async () => {
    const now = Date.now();
    const { sid, tid } = await serverWithTarget('incident-replica-host');
    // 40 minutes every 10 s: memory and connections climb together (a co-movement no chain explains).
    const start = now - 240 * 10_000;
    await pool.query(
      `INSERT INTO pgvigil.host_memory (server_id, ts, total_bytes, used_bytes)
       SELECT $1, to_timestamp(($2::float8 + i * 10000) / 1000), 16e9, 4e9 + i * 2e7 + (i % 3) * 1e6
         FROM generate_series(0, 239) AS i`,
      [sid, start],
    );
    await pool.query(
      `INSERT INTO pgvigil.pg_instance (server_id, target_id, ts, up, backends)
       SELECT $1, $2, to_timestamp(($3::float8 + i * 10000) / 1000), true, 20 + i / 3 + (i % 2)
         FROM generate_series(0, 239) AS i`,
      [sid, tid, start],
    );
    const finding = (at: number, check: string, targetId: number | null, title: string) =>
      insertFinding(
        pool,
        {
          key: `${check}|${sid}|${targetId ?? ''}|`,
          kind: 'alert',
          check,
          serverId: sid,
          targetId,
          object: '',
          severity: 'warning',
          title,
          evidence: {},
          explanation: 'e',
          action: 'a',
          value: null,
        },
        new Date(at),
        false,
      );
    await finding(now - 6 * 60_000, 'host.memory', null, 'Memory 90 % used');
    await finding(now - 4 * 60_000, 'pg.connections', tid, 'Connections at 85 % of the usable limit');
    await standbyFreshPastNow();
    const before = reads(store);
    const scansBefore = await scans(standby.url(), 'host_memory');
    const r = await runIncidents(pool, new Date(), { live: false });
    assert.equal(r.opened, 1);
    assert.equal(r.seriesRead, 2);
    assert.equal(reads(store) - before, 2, 'both member series read on the standby');
    await until(
      async () => (await scans(standby.url(), 'host_memory')) > scansBefore,
      20_000,
      'the standby counts scans of the raw rows',
    );
    const { rows } = await pool.query(`SELECT i.correlated FROM pgvigil.incidents i WHERE i.server_id = $1`, [
      sid,
    ]);
    assert.equal(rows.length, 1, 'the incident is written on the primary');
    const pairs = (rows[0]!.correlated as { pairs?: Array<{ r: number; points: number }> }).pairs ?? [];
    assert.ok(pairs[0] && pairs[0].r > 0.9 && pairs[0].points >= 30, JSON.stringify(rows[0]!.correlated));
  });

  test('the_statement_checks_read_their_hour_of_statements_once_on_the_standby', async () => {
    const now = Date.now();
    const { sid, tid } = await serverWithTarget('statements-replica-host');
    // 20 minutes of 3 statements every 30 s; statement 2 takes 900 ms a call.
    await pool.query(
      `INSERT INTO pgvigil.pg_statements (server_id, target_id, ts, queryid, dbid, userid, datname, calls, exec_time_ms)
       SELECT $1, $2, to_timestamp(($3::float8 - i * 30000) / 1000), q, 5, 10, 'app', 4,
              4 * CASE WHEN q = 2 THEN 900 ELSE 3 END
         FROM generate_series(0, 39) i, generate_series(1, 3) q`,
      [sid, tid, now - 60_000],
    );
    await pool.query(
      `INSERT INTO pgvigil.pg_statement_texts (server_id, target_id, ts, queryid, dbid, userid, query)
       SELECT $1, $2, now(), q, 5, 10, 'SELECT * FROM orders WHERE id = $' || q FROM generate_series(1, 3) q`,
      [sid, tid],
    );
    await pool.query(
      `INSERT INTO pgvigil.pg_instance (server_id, target_id, ts, up) VALUES ($1, $2, to_timestamp($3::float8 / 1000), true)`,
      [sid, tid, now - 60_000],
    );
    await standbyFreshPastNow();
    const before = reads(store);
    const scansBefore = await scans(standby.url(), 'pg_statements');
    // A run's first slice that begins a pass whenever the last one ended (as a test's run would).
    const run = { force: true };
    const at = new Date();
    const slow = await pgSlowStatement.load(pool, at, run);
    const mine = slow.statements.filter((x) => x.serverId === sid);
    assert.deepEqual(
      mine.map((x) => [x.queryid, x.calls, Math.round(x.meanMs)]),
      [
        ['2', 160, 900],
        ['1', 160, 3],
        ['3', 160, 3],
      ],
    );
    assert.ok(slow.targets.some((x) => x.serverId === sid && x.targetId === tid));
    // One read on the standby, the hour; the targets are taken from the pass, a write on the primary.
    assert.equal(reads(store) - before, 1, 'the hour read on the standby');
    // The missing-index check of the same run shares that read: no other one.
    const missing = await pgMissingIndex.load(pool, at, run);
    assert.ok(missing.targets.some((x) => x.serverId === sid));
    assert.equal(reads(store) - before, 1, 'one read for both checks');
    await until(
      async () => (await scans(standby.url(), 'pg_statements')) > scansBefore,
      20_000,
      'the standby counts scans of the raw statements',
    );
  });

  test('a_standby_that_has_not_replayed_the_rolled_hour_hands_the_read_to_the_primary', async () => {
    // A second router with a wide lag bound: the paused standby stays eligible by time alone, so only its
    // snapshot's rollup state can tell that it lacks the hour.
    const wide = await openStore({
      databaseUrl: primary.url(),
      log: quietLog,
      readReplicas: { urls: [standby.url()], maxLagMs: 120_000 },
    });
    try {
      const hour = new Date(H - hourMs);
      await pool.query(
        "INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket) VALUES ($1, 'hourly', $2)",
        [serverId, hour],
      );
      await until(
        async () =>
          Number(
            (
              await query<{ n: string }>(
                standby.url(),
                `SELECT count(*) AS n FROM pgvigil.rollup_pending WHERE server_id = ${serverId}`,
              )
            )[0]?.n,
          ) === 1,
        20_000,
        'the standby replays the pending hour',
      );
      await query(standby.url(), 'SELECT pg_wal_replay_pause()');
      // The primary rolls the hour (its pending row goes); the paused standby still has it pending.
      await pool.query('DELETE FROM pgvigil.rollup_pending WHERE server_id = $1', [serverId]);
      await until(async () => wide.readReplicas()[0]!.state === 'ready', 20_000, 'the wide router is ready');
      const readsBefore = reads(wide);
      const r = await refreshServerBaselines(wide.pool, serverId, new Date(), new Date(H));
      assert.equal(r.through.getTime(), H);
      assert.ok(behind(wide) >= 1, 'the standby was offered the read and found behind');
      assert.equal(reads(wide), readsBefore, 'no read was answered by the standby that lacks the hour');
      assert.equal(await storedBaselines(), fromStandby, 'the primary gives the same baselines');
    } finally {
      await query(standby.url(), 'SELECT pg_wal_replay_resume()');
      await wide.close();
    }
    await until(async () => store.readReplicas()[0]!.state === 'ready', 20_000, 'the standby catches up');
  });

  test('with_the_standby_gone_the_baselines_job_reads_the_primary_without_an_error', async () => {
    await standby.stop();
    const before = reads(store);
    // Right after the stop, before a probe notices: the failed read falls back; later ones skip it.
    for (let i = 0; i < 2; i++) {
      const r = await refreshServerBaselines(pool, serverId, new Date(), new Date(H));
      assert.equal(r.through.getTime(), H);
    }
    assert.equal((await runSlos(pool, new Date())).failed, 0, 'the SLO is judged on the primary');
    assert.equal(reads(store), before);
    assert.equal(await storedBaselines(), fromStandby);
    assert.equal(store.readReplicas()[0]!.state, 'down');
  });
});

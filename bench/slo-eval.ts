/**
 * The slos job's cost per SLO: the three default SLOs (availability, statement latency, cache hit) on every
 * target of `--targets` servers, against 7 days of minute rollups (pg_instance, pg_database with 1
 * database, pg_statements with `--statements` series) and the current hour as raw rows (10-s samples; one
 * statement sample a minute), generated in SQL.
 *
 * Reported: the first run (it counts every complete hour of the 7 days into slo_hours) and the steady runs
 * after it (a new hour at most, then 6 h of minutes judged one by one plus the raw tail), in ms per SLO
 * (wall, on one connection to an embedded PostgreSQL on this machine).
 *
 * Run: npm run build && node dist/bench/slo-eval.js [--targets 20] [--statements 25] [--runs 5]
 */
import { cpus } from 'node:os';
import type pg from 'pg';
import { evaluateSlo } from '../src/intelligence/slo.js';
import { countHours, loadSloInput, resolveIndicator, runSlos } from '../src/intelligence/slo-store.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { allSlos } from '../src/storage/queries/slos.sql.js';
import { arg } from './args.js';
import { withBenchStore } from './bench-store.js';

const targets = Number(arg('targets', '20'));
const statements = Number(arg('statements', '25'));
const runs = Number(arg('runs', '5'));
const hourMs = 3_600_000;
const dayMs = 86_400_000;

async function seed(pool: pg.Pool, serverId: number, targetId: number, now: number): Promise<void> {
  const hour = Math.floor(now / hourMs) * hourMs;
  const from = new Date(hour - 7 * dayMs);
  const to = new Date(hour);
  const p = [serverId, targetId, from, to];
  await pool.query(
    `INSERT INTO pgvigil.pg_instance_minute (server_id, target_id, ts, samples, server_version_num_avg,
       server_version_num_min, server_version_num_max)
     SELECT $1, $2, t, 6, 180001, 180001, 180001 FROM generate_series($3::timestamptz, $4::timestamptz - interval '1 minute', interval '1 minute') t`,
    p,
  );
  await pool.query(
    `INSERT INTO pgvigil.pg_database_minute (server_id, target_id, datname, ts, samples, blks_hit, blks_read)
     SELECT $1, $2, 'app', t, 6, 100000 + (random() * 1000)::int, (random() * 2000)::int
       FROM generate_series($3::timestamptz, $4::timestamptz - interval '1 minute', interval '1 minute') t`,
    p,
  );
  await pool.query(
    `INSERT INTO pgvigil.pg_statements_minute (server_id, target_id, queryid, dbid, userid, ts, samples,
       exec_time_ms_avg, calls_avg)
     SELECT $1, $2, q, 1, 10, t, 1, random() * 2000, 10 + (random() * 100)::int
       FROM generate_series($3::timestamptz, $4::timestamptz - interval '1 minute', interval '1 minute') t,
            generate_series(1, $5::int) q`,
    [...p, statements],
  );
  const rawTo = new Date(now);
  await pool.query(
    `INSERT INTO pgvigil.pg_instance (server_id, target_id, ts, up, server_version_num)
     SELECT $1, $2, t, true, 180001 FROM generate_series($3::timestamptz, $4::timestamptz, interval '10 seconds') t`,
    [serverId, targetId, to, rawTo],
  );
  await pool.query(
    `INSERT INTO pgvigil.pg_database (server_id, target_id, datname, ts, blks_hit, blks_read)
     SELECT $1, $2, 'app', t, (n * 20000)::bigint, (n * 30)::bigint
       FROM generate_series($3::timestamptz, $4::timestamptz, interval '10 seconds') WITH ORDINALITY AS g(t, n)`,
    [serverId, targetId, to, rawTo],
  );
  await pool.query(
    `INSERT INTO pgvigil.pg_statements (server_id, target_id, queryid, dbid, userid, ts, calls, exec_time_ms)
     SELECT $1, $2, q, 1, 10, t, 20, random() * 2000
       FROM generate_series($3::timestamptz, $4::timestamptz, interval '1 minute') t, generate_series(1, $5::int) q`,
    [serverId, targetId, to, rawTo, statements],
  );
}

async function main(): Promise<void> {
  await withBenchStore('slo', 2, async ({ pool }) => {
    const now = Date.now();
    const t0 = performance.now();
    for (let i = 0; i < targets; i++) {
      const serverId = await ensureServer(pool, `bench-slo-${i}`);
      const { rows } = await pool.query<{ id: number }>(
        `INSERT INTO pgvigil.targets (server_id, kind, name) VALUES ($1, 'postgres', 'main') RETURNING target_id::int AS id`,
        [serverId],
      );
      await seed(pool, serverId, rows[0]!.id, now);
    }
    await pool.query('VACUUM ANALYZE');
    console.log(
      `seeded ${targets} targets (7 days of minutes, ${statements} statements each) in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${cpus().length} cores`,
    );
    const first = await runSlos(pool, new Date(now));
    console.log(
      `first run (counts 7 days of hours): ${first.slos} SLOs (${first.defaultsCreated} defaults created), ${first.hoursCounted} hours counted, ${first.failed} failed, ${first.msPerSlo?.toFixed(1)} ms per SLO`,
    );
    const steady: number[] = [];
    for (let r = 0; r < runs; r++) {
      const res = await runSlos(pool, new Date(now + (r + 1) * 60_000));
      steady.push(res.msPerSlo ?? Number.NaN);
    }
    steady.sort((a, b) => a - b);
    console.log(
      `steady runs (${runs}): median ${steady[Math.floor(steady.length / 2)]!.toFixed(1)} ms per SLO, min ${steady[0]!.toFixed(1)}, max ${steady[steady.length - 1]!.toFixed(1)}`,
    );
    // Where the time goes, per default and phase, over one more run done by hand.
    const phases = new Map<string, { count: number; load: number; n: number }>();
    const at = new Date(now + (runs + 1) * 60_000);
    for (const row of await allSlos(pool, 0, 10_000)) {
      const plan = resolveIndicator(row, row.serverId, row.targetId, at);
      const t1 = performance.now();
      await countHours(pool, row, plan, at);
      const t2 = performance.now();
      evaluateSlo(await loadSloInput(pool, row, plan, at), at.getTime());
      const t3 = performance.now();
      const p = phases.get(row.name) ?? { count: 0, load: 0, n: 0 };
      p.count += t2 - t1;
      p.load += t3 - t2;
      p.n++;
      phases.set(row.name, p);
    }
    for (const [name, p] of phases) {
      console.log(
        `  ${name}: count new hours ${(p.count / p.n).toFixed(1)} ms, load and evaluate ${(p.load / p.n).toFixed(1)} ms per SLO`,
      );
    }
    const { rows } = await pool.query<{
      name: string;
      status: { burn: Record<string, { counted: number }> };
    }>('SELECT name, status FROM pgvigil.slos ORDER BY slo_id LIMIT 3');
    for (const r of rows) console.log(`  ${r.name}: 6h counted ${r.status.burn['6h']?.counted}`);
  });
}

await main();

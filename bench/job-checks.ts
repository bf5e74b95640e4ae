/**
 * The findings job's checks over a fleet: what one run of every job check costs per server when each
 * server has an hour of PostgreSQL statements and tables behind it, as the agent's defaults send them.
 *
 * Data, generated in SQL on an embedded store, per server one PostgreSQL target:
 * - the last 2 hours of `pg_statements` as the agent sends them (the top 100 statements every 30 s: 12,000
 *   rows an hour; the checks read the last hour, the one before makes the day's partition hold more than
 *   the window, as it does past 1 am), their texts, and 7 days of their hourly rollup (the regression
 *   check's past) and 8 days of their daily rollup;
 * - the last hour of `pg_tables` every 60 s (30 tables, 3 of them large and scanned sequentially) and of
 *   `pg_instance` every 30 s.
 * 2 statements of 100 are slow (~800 ms) and one regressed against its past, so the checks find
 * something in every server.
 *
 * Measured: `runs` runs of the findings engine's job checks (every check, due or not), each timed with its
 * CPU (this process's and the store's, the embedded PostgreSQL's processes from /proc), and the time each
 * check took, summed over the runs. The first run opens the findings; the later ones find them standing.
 *
 * Past 1,000 servers the statement checks read in slices of 1,000 targets, each target by its own index
 * range (below, one scan of the hour); `--statements 20` keeps such a fleet's store small.
 *
 * `--readers N` reads the slices' parts on N connections side by side (PGVIGIL_FINDINGS_READERS).
 *
 * `--instances N` runs the statement checks alone, as their job does, in N engines at once (N server
 * instances on one store: they share each pass of the fleet, src/intelligence/checks/postgres-statements.ts).
 *
 * `--processes N` does the same with the engines in N child processes of this script, each with its own
 * pool, as N server instances are: each run is made by one child alone, then by all N at once, in turn,
 * and every run must judge each target once (the observations of the three statement checks add up to
 * three per target). It needs more than one slice of targets (`--servers` above 1,000).
 *
 * Run: npm run build && node dist/bench/job-checks.js [--servers 100] [--runs 3] [--statements 100] [--readers 1]
 *   [--instances N | --processes N]
 */
import type pg from 'pg';
import { statementHourSlices } from '../src/intelligence/checks/postgres-statements.js';
import { FindingsEngine } from '../src/intelligence/engine.js';
import { silentLogger } from '../src/log.js';
import { arg } from './args.js';
import {
  benchChildren,
  machineLine,
  runChildren,
  serveEngineRuns,
  serversWithTarget,
  stopChildren,
  withBenchStore,
} from './bench-store.js';

const servers = Number(arg('servers', '100'));
const runs = Number(arg('runs', '3'));
const readers = Number(arg('readers', '1'));
const instances = process.argv.includes('--instances') ? Number(arg('instances', '1')) : 0;
const processes = Number(arg('processes', '0'));
const hourMs = 3_600_000;
/** Statements per server: the agent's default top is 100 (q = 7 and 57 are the slow ones, q = 3 regressed). */
const statements = Number(arg('statements', '100'));
const tables = 30;

async function seed(pool: pg.Pool, ids: number[], targets: number[], now: number): Promise<number> {
  const from = new Date(now - hourMs);
  const to = new Date(now);
  const st = 'unnest($1::bigint[], $2::bigint[]) AS s(id, tid)';
  let rows = 0;
  const run = async (sql: string, values: unknown[]) => {
    rows += (await pool.query(sql, values)).rowCount ?? 0;
  };
  // Statement q of a server: mean 2 + q/10 ms, except q = 7 and 57 (~800 ms); q = 3 regressed (its past
  // mean is 40 ms, now 2.3 ms… × 100 = 230 ms).
  const mean = `(CASE WHEN q IN (7, 57) THEN 800 + s.id % 7 WHEN q = 3 THEN 230 ELSE 2 + q / 10.0 END)`;
  await run(
    `INSERT INTO pgvigil.pg_statements (server_id, target_id, ts, queryid, dbid, userid, datname, usename, top_by,
            interval_s, calls, plans, exec_time_ms, plan_time_ms, mean_exec_time_ms, rows, shared_blks_hit,
            shared_blks_read, shared_blks_dirtied, shared_blks_written, local_blks_hit, local_blks_read,
            local_blks_written, temp_blks_read, temp_blks_written, blk_read_time_ms, blk_write_time_ms,
            wal_records, wal_fpi, wal_bytes)
     SELECT s.id, s.tid, t, 1000 + q, 16384, 10, 'app', 'web', 'time', 30, 10 + q % 20, 0,
            (10 + q % 20) * ${mean}, 0, ${mean}, 10 + q, 1000 + q, q, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
       FROM generate_series($3::timestamptz, $4::timestamptz, interval '30 seconds') t,
            ${st}, generate_series(1, ${statements}) q
      ORDER BY t, s.id, q`,
    [ids, targets, new Date(now - 2 * hourMs), to],
  );
  await run(
    `INSERT INTO pgvigil.pg_statement_texts (server_id, target_id, ts, queryid, dbid, userid, query, truncated)
     SELECT s.id, s.tid, $3, 1000 + q, 16384, 10,
            'SELECT id, name, created_at FROM public.t' || (q % ${tables}) || ' WHERE account_id = $1 AND state = $2 ORDER BY created_at DESC LIMIT $3',
            false
       FROM ${st}, generate_series(1, ${statements}) q`,
    [ids, targets, from],
  );
  // The past: 7 days of hourly rows ending where this hour begins (q = 3 ran at 40 ms then).
  const pastMean = `(CASE WHEN q = 3 THEN 40 ELSE ${mean} END)`;
  await run(
    `INSERT INTO pgvigil.pg_statements_hourly (server_id, target_id, queryid, dbid, userid, ts, samples,
            calls_avg, exec_time_ms_avg, mean_exec_time_ms_avg, rows_avg)
     SELECT s.id, s.tid, 1000 + q, 16384, 10, $3::timestamptz - k * interval '1 hour', 120,
            10 + q % 20, (10 + q % 20) * ${pastMean}, ${pastMean}, 10 + q
       FROM generate_series(1, 7 * 24) k, ${st}, generate_series(1, ${statements}) q`,
    [ids, targets, new Date(Math.floor(now / hourMs) * hourMs)],
  );
  // And its daily rollup, as the rollup job makes it once a day is over.
  await run(
    `INSERT INTO pgvigil.pg_statements_daily (server_id, target_id, queryid, dbid, userid, ts, samples,
            calls_avg, exec_time_ms_avg, mean_exec_time_ms_avg, rows_avg)
     SELECT s.id, s.tid, 1000 + q, 16384, 10, $3::timestamptz - k * interval '1 day', 2880,
            10 + q % 20, (10 + q % 20) * ${pastMean}, ${pastMean}, 10 + q
       FROM generate_series(1, 8) k, ${st}, generate_series(1, ${statements}) q`,
    [ids, targets, new Date(Math.floor(now / 86_400_000) * 86_400_000)],
  );
  // Tables: 3 large ones (t0–t2) scanned sequentially 5 times a minute, the rest small and indexed.
  await run(
    `INSERT INTO pgvigil.pg_tables (server_id, target_id, ts, datname, schemaname, relname, seq_scan,
            seq_tup_read, idx_scan, n_live_tup, n_dead_tup, table_bytes)
     SELECT s.id, s.tid, t, 'app', 'public', 't' || r,
            CASE WHEN r < 3 THEN 5 * extract(epoch FROM t)::bigint / 60 ELSE 1 END,
            CASE WHEN r < 3 THEN 5 * 200000 * (extract(epoch FROM t)::bigint / 60) ELSE 100 END,
            extract(epoch FROM t)::bigint, CASE WHEN r < 3 THEN 200000 ELSE 100 END, 0,
            CASE WHEN r < 3 THEN 50000000 ELSE 65536 END
       FROM generate_series($3::timestamptz, $4::timestamptz, interval '60 seconds') t,
            ${st}, generate_series(0, ${tables - 1}) r
      ORDER BY t, s.id, r`,
    [ids, targets, from, to],
  );
  await run(
    `INSERT INTO pgvigil.pg_instance (server_id, target_id, ts, up, server_version_num, server_version)
     SELECT s.id, s.tid, t, true, 170000, '17.0'
       FROM generate_series($3::timestamptz, $4::timestamptz, interval '30 seconds') t, ${st}
      ORDER BY t, s.id`,
    [ids, targets, from, to],
  );
  await pool.query('UPDATE pgvigil.servers SET last_seen_at = $2 WHERE server_id = ANY($1::bigint[])', [
    ids,
    to,
  ]);
  await pool.query('ANALYZE');
  return rows;
}

const ms = (v: number) => `${v.toFixed(0)} ms`;

/** `--processes`: runs by one child, then by all, in turn; each must judge every target once. */
async function compareProcesses(url: string, now: number, cpu: () => { self: number; store: number }) {
  // A fleet of one slice is taken whole by the first child; the second, which begins a pass at once as a
  // test's run does (`everyCheck`), would judge it again. A server's job waits out the gap between passes.
  if (servers <= 1000) throw new Error('--processes needs more than one slice: --servers above 1000');
  const children = benchChildren(url, processes, ['--readers', String(readers)]);
  try {
    for (let i = 0; i < runs; i++) {
      for (const side of [children.slice(0, 1), children]) {
        const c0 = cpu();
        const t0 = performance.now();
        // A new pass each time (everyCheck lifts the gap between passes), at a later time.
        const all = await runChildren<{ observations: number }>(
          side,
          now + (2 * i + (side.length > 1 ? 1 : 0)) * 1000,
        );
        const wall = performance.now() - t0;
        const c1 = cpu();
        const observations = all.reduce((n, r) => n + r.observations, 0);
        const childCpu = all.reduce((n, r) => n + r.cpu, 0);
        const per = (sec: number) => `${((sec * 1000) / servers).toFixed(2)} ms`;
        process.stdout.write(
          `run ${i + 1}, ${side.length} process${side.length > 1 ? 'es' : ''}: ${ms(wall)} (${(wall / servers).toFixed(2)} ms per server), ${observations} observations (${all.map((r) => r.observations).join(' + ')}); CPU per server: processes ${per(childCpu)}, store ${per(c1.store - c0.store)}\n`,
        );
        if (observations !== 3 * servers)
          throw new Error(`expected ${3 * servers} observations: each target once`);
      }
    }
  } finally {
    await stopChildren(children);
  }
}

async function main(): Promise<void> {
  await withBenchStore('job-checks', 10, async ({ pool, url, cpu }) => {
    const now = Date.now();
    const { ids, targets } = await serversWithTarget(pool, 'bench-job-checks', servers);
    let t0 = performance.now();
    const seeded = await seed(pool, ids, targets, now);
    process.stdout.write(`seeded ${servers} servers (${seeded} rows) in ${ms(performance.now() - t0)}\n`);

    if (processes > 0) {
      await compareProcesses(url, now, cpu);
      process.stdout.write(machineLine(`${servers} servers`));
      return;
    }
    const perCheck = new Map<string, number>();
    const engines = Array.from(
      { length: Math.max(1, instances) },
      () =>
        new FindingsEngine({
          pool,
          log: silentLogger(),
          hooks: { observeJobCheck: (check, s) => perCheck.set(check, (perCheck.get(check) ?? 0) + s) },
        }),
    );
    const only = instances > 0 ? { slices: statementHourSlices } : {};
    for (let i = 0; i < runs; i++) {
      t0 = performance.now();
      const c0 = cpu();
      const at = new Date(now + i * 1000);
      const all = await Promise.all(
        engines.map((e) => e.runJobChecks(at, { everyCheck: true, readers, ...only })),
      );
      const r = {
        observations: all.reduce((n, x) => n + x.observations, 0),
        events: all.reduce((n, x) => n + x.events, 0),
      };
      const wall = performance.now() - t0;
      const c1 = cpu();
      const per = (s: number) => `${((s * 1000) / servers).toFixed(2)} ms`;
      process.stdout.write(
        `run ${i + 1}: ${ms(wall)} (${(wall / servers).toFixed(2)} ms per server), ${r.observations} observations, ${r.events} events; CPU per server: this process ${per(c1.self - c0.self)}, store ${per(c1.store - c0.store)}\n`,
      );
    }
    const top = [...perCheck].sort((a, b) => b[1] - a[1]).slice(0, 8);
    process.stdout.write(
      `checks, seconds over the ${runs} runs: ${top.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}\n`,
    );
    process.stdout.write(machineLine(`${servers} servers`));
  });
}

if (process.argv.includes('--child'))
  serveEngineRuns(4, (engine, at) =>
    engine.runJobChecks(at, { everyCheck: true, readers, slices: statementHourSlices }),
  );
else await main();

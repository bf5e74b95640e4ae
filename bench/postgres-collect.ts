/**
 * One full PostgreSQL collection (every family, every database visited, statements with texts) on a
 * pgbench instance: 4 databases initialised by pgbench at scale 10, 200 distinct statements in
 * pg_stat_statements, a light pgbench load running. Prints p50/p95/max wall time of a collection and the
 * server time it costs, read from pg_stat_statements for the monitoring role (a pg_monitor-only role used
 * by nothing else). Cases: a full collection with the default settings (database connections kept between
 * visits since they are the default; a build before that visits over short-lived connections), with
 * short-lived visits (keepDatabaseConnections: 0), with 3 kept, and the instance-wide collections between
 * database visits. Goals (issue 17): a full default collection p95 < 100 ms, the steady state < 20 ms.
 *
 * Run: npm run build && node dist/bench/postgres-collect.js [collections=60] [scale=10] [--against DIR]
 * --against DIR: another built checkout (its dist/src/agent/collectors/postgres/collector.js); each case then
 * alternates one collection of this build and one of that one on the same instance at the same moments,
 * each as its own pg_monitor-only role (pgvigil_mon, pgvigil_peer), and prints both: on a shared machine
 * this is the comparison that holds. BENCH_VERBOSE=1 adds per-family timings and the statements of the
 * monitoring role that cost the most server time. BENCH_VISIT_CONCURRENCY=N sets databaseVisitConcurrency of
 * the full collections (this build only: a build before the option visits one database at a time).
 * Needs Debian's pgbench (/usr/lib/postgresql/15/bin/pgbench); the server is the embedded PostgreSQL 18.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { chmod, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import {
  createPostgresCollector,
  type PostgresCollectorOptions,
} from '../src/agent/collectors/postgres/collector.js';
import type { CollectContext } from '../src/agent/collectors/types.js';
import { silentLogger } from '../src/log.js';
import { startCluster } from '../src/storage/cluster.js';
import { embeddedBinDir } from '../src/storage/embedded.js';

const execFileAsync = promisify(execFile);
const pgbench = '/usr/lib/postgresql/15/bin/pgbench';
const againstAt = process.argv.indexOf('--against');
const against = againstAt > 0 ? process.argv.splice(againstAt, 2)[1] : undefined;
const collections = Number(process.argv[2] ?? 60);
const scale = Number(process.argv[3] ?? 10);
const databases = ['bench1', 'bench2', 'bench3', 'bench4'];
const visitConcurrency = process.env.BENCH_VISIT_CONCURRENCY
  ? { databaseVisitConcurrency: Number(process.env.BENCH_VISIT_CONCURRENCY) }
  : {};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function main(): Promise<void> {
  if (!existsSync(pgbench)) throw new Error(`${pgbench} is missing (apt-get install postgresql-15)`);
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-bench-pg-'));
  await chmod(dir, 0o755);
  const cluster = await startCluster({
    binDir: await embeddedBinDir(),
    pgdata: join(dir, 'pgdata'),
    superuser: 'bench',
    password: 'bench-pw',
    logFile: join(dir, 'postgres.log'),
    runAsUser: 'pgvigil',
    settings: {
      shared_preload_libraries: 'pg_stat_statements',
      'pg_stat_statements.track': 'top',
      // planning time counts too: these view-heavy queries spend much of their server time planning
      'pg_stat_statements.track_planning': 'on',
      track_io_timing: 'on',
      shared_buffers: '256MB',
      max_wal_size: '2GB',
      checkpoint_timeout: '30min',
    },
    log: silentLogger(),
  });
  let load: ChildProcess | undefined;
  try {
    const admin = new pg.Client({ connectionString: cluster.url('postgres') });
    await admin.connect();
    await admin.query('CREATE EXTENSION pg_stat_statements');
    await admin.query("CREATE ROLE pgvigil_mon LOGIN PASSWORD 'mon-pw'; GRANT pg_monitor TO pgvigil_mon");
    await admin.query("CREATE ROLE pgvigil_peer LOGIN PASSWORD 'mon-pw'; GRANT pg_monitor TO pgvigil_peer");
    for (const db of databases) await admin.query(`CREATE DATABASE ${db}`);
    await admin.end();
    const t0 = performance.now();
    await Promise.all(
      databases.map((db) => execFileAsync(pgbench, ['-i', '-s', String(scale), '-q', cluster.url(db)])),
    );
    process.stdout.write(
      `pgbench -i -s ${scale} in ${databases.length} databases: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );

    // 200 distinct statements (distinct expression trees: constants and aliases do not count), spread
    // over the databases, a few calls each.
    for (const [i, db] of databases.entries()) {
      const c = new pg.Client({ connectionString: cluster.url(db) });
      await c.connect();
      for (let k = 0; k < 50; k++) {
        const n = i * 50 + k;
        const sql = `SELECT count(*) FROM pgbench_branches WHERE bid ${'+ 1 '.repeat(n)}> $1`;
        for (let call = 0; call < 3; call++) await c.query(sql, [call]);
      }
      await c.end();
    }
    // Let the initial load settle (flush, checkpoint) so it does not run under the measured collections.
    const settle = new pg.Client({ connectionString: cluster.url('postgres') });
    await settle.connect();
    await settle.query('CHECKPOINT');
    await settle.end();
    const monUrl = cluster.url('postgres').replace('bench:bench-pw', 'pgvigil_mon:mon-pw');
    // A light, steady OLTP load across the run (rate-limited: the machine has 2 cores).
    load = spawn(pgbench, ['-c', '2', '-R', '50', '-T', '600', '-n', cluster.url(databases[0]!)], {
      stdio: 'ignore',
    });

    const ctx: CollectContext = {
      procRoot: '/proc',
      sysRoot: '/sys',
      now: () => Date.now(),
      monotonic: () => performance.now(),
      log: silentLogger(),
      signal: new AbortController().signal,
    };
    const probe = new pg.Client({ connectionString: cluster.url('postgres') });
    await probe.connect();
    const serverTime = async () => {
      const { rows } = await probe.query<{ ms: number; calls: string; entries: string }>(
        `SELECT coalesce(sum(total_exec_time + total_plan_time), 0)::float8 AS ms,
                coalesce(sum(calls), 0) AS calls,
                (SELECT count(*) FROM pg_stat_statements) AS entries
           FROM pg_stat_statements WHERE userid = 'pgvigil_mon'::regrole`,
      );
      return { ms: rows[0]!.ms, calls: Number(rows[0]!.calls), entries: Number(rows[0]!.entries) };
    };
    const byStatement = async () =>
      (
        await probe.query<{ queryid: string; ms: number; plan_ms: number; calls: string; q: string }>(
          `SELECT queryid::text, (total_exec_time + total_plan_time)::float8 AS ms,
                  total_plan_time::float8 AS plan_ms, calls,
                  left(regexp_replace(query, '\\s+', ' ', 'g'), 80) AS q
             FROM pg_stat_statements WHERE userid = 'pgvigil_mon'::regrole`,
        )
      ).rows.map((r) => ({ ...r, calls: Number(r.calls) }));
    const version = (await probe.query<{ server_version: string }>('SHOW server_version')).rows[0]
      ?.server_version;
    const lines: string[] = [];
    const measure = async (label: string, options: PostgresCollectorOptions) => {
      const collector = createPostgresCollector(monUrl, options);
      for (let i = 0; i < 5; i++) await collector.collect(ctx); // warm-up: connection, caches, text sends
      const sample = await collector.collect(ctx);
      const rowCount = sample.reduce((n, f) => n + f.rows.length, 0);
      const failed = sample
        .find((f) => f.family === 'pg_collector')
        ?.rows.filter((r) => r.ok !== true)
        .map((r) => `${r.family}@${r.datname}: ${r.error}`);
      if (process.env.BENCH_VERBOSE) {
        const st = sample.find((f) => f.family === 'pg_collector')?.rows ?? [];
        process.stdout.write(
          `${st.map((r) => `${r.family}@${r.datname}=${Number(r.duration_ms).toFixed(1)}`).join(' ')}\n`,
        );
      }
      const before = await serverTime();
      const statementsBefore = new Map((await byStatement()).map((r) => [r.queryid, r]));
      const times: number[] = [];
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < collections; i++) {
        const s = performance.now();
        await collector.collect(ctx);
        times.push(performance.now() - s);
      }
      const agentCpu = process.cpuUsage(cpu0);
      const after = await serverTime();
      if (process.env.BENCH_VERBOSE) {
        // Which statements of the monitoring role dominate server-side over this case's collections.
        const perStatement = (await byStatement()).map((r) => {
          const b = statementsBefore.get(r.queryid);
          return {
            ...r,
            ms: r.ms - (b?.ms ?? 0),
            plan_ms: r.plan_ms - (b?.plan_ms ?? 0),
            calls: r.calls - (b?.calls ?? 0),
          };
        });
        perStatement.sort((a, b) => b.ms - a.ms);
        for (const r of perStatement.slice(0, 12))
          process.stdout.write(
            `  ${(r.ms / collections).toFixed(2).padStart(6)} ms/collection (plan ${(r.plan_ms / collections).toFixed(2)}), ${(r.calls / collections).toFixed(1)} calls/collection  ${r.q}\n`,
          );
      }
      await collector.close();
      times.sort((a, b) => a - b);
      lines.push(
        `${label}: ${rowCount} rows, degraded: ${failed?.length ? failed.join('; ') : 'none'}`,
        `  wall time per collection: p50 ${percentile(times, 50).toFixed(1)} ms, p95 ${percentile(times, 95).toFixed(1)} ms, max ${times.at(-1)?.toFixed(1)} ms`,
        `  server time per collection (pg_stat_statements of role pgvigil_mon, exec + plan): ${((after.ms - before.ms) / collections).toFixed(2)} ms over ${((after.calls - before.calls) / collections).toFixed(0)} statements`,
        `  agent CPU per collection (user + system): ${((agentCpu.user + agentCpu.system) / 1000 / collections).toFixed(2)} ms`,
      );
      return after.entries;
    };
    if (against) {
      const peer = (await import(resolve(against, 'dist/src/agent/collectors/postgres/collector.js'))) as {
        createPostgresCollector: typeof createPostgresCollector;
      };
      const roleTime = async (role: string) => {
        const { rows } = await probe.query<{ ms: number; calls: string }>(
          `SELECT coalesce(sum(total_exec_time + total_plan_time), 0)::float8 AS ms, coalesce(sum(calls), 0) AS calls
             FROM pg_stat_statements WHERE userid = $1::regrole`,
          [role],
        );
        return { ms: rows[0]!.ms, calls: Number(rows[0]!.calls) };
      };
      // The backends a side keeps open to the other databases between collections, and their memory
      // (proportional set size, and the part no other process shares).
      const keptBackends = async (role: string) => {
        const { rows } = await probe.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE usename = $1 AND datname <> 'postgres'",
          [role],
        );
        const kb = (text: string, key: string) =>
          Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
        let pss = 0;
        let own = 0;
        for (const { pid } of rows) {
          const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
          pss += kb(text, 'Pss');
          own += kb(text, 'Private_Clean') + kb(text, 'Private_Dirty');
        }
        return rows.length === 0
          ? 'no backends kept'
          : `${rows.length} backends kept, Pss ${(pss / rows.length / 1024).toFixed(1)} MB each (private ${(own / rows.length / 1024).toFixed(1)} MB)`;
      };
      const measurePair = async (label: string, options: PostgresCollectorOptions) => {
        const sides = [
          { name: 'this build', role: 'pgvigil_mon', create: createPostgresCollector },
          { name: `peer ${against}`, role: 'pgvigil_peer', create: peer.createPostgresCollector },
        ].map((side) => ({
          ...side,
          collector: side.create(monUrl.replace('pgvigil_mon:', `${side.role}:`), options),
          times: [] as number[],
          cpuUs: 0,
          rows: 0,
          server: { ms: 0, calls: 0 },
        }));
        for (const side of sides) for (let i = 0; i < 5; i++) await side.collector.collect(ctx);
        for (const side of sides) side.server = await roleTime(side.role);
        for (let i = 0; i < collections; i++) {
          // Turns alternate which side goes first, so neither always follows the other's work.
          for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
            const cpu0 = process.cpuUsage();
            const t0 = performance.now();
            const sample = await side.collector.collect(ctx);
            side.times.push(performance.now() - t0);
            const cpu = process.cpuUsage(cpu0);
            side.cpuUs += cpu.user + cpu.system;
            side.rows = sample.reduce((n, f) => n + f.rows.length, 0);
          }
        }
        lines.push(`${label} (load average now ${loadavg()[0]?.toFixed(2)}):`);
        for (const side of sides) {
          const after = await roleTime(side.role);
          const kept = await keptBackends(side.role);
          await side.collector.close();
          side.times.sort((a, b) => a - b);
          lines.push(
            `  ${side.name}: ${side.rows} rows; wall p50 ${percentile(side.times, 50).toFixed(1)} ms, p95 ${percentile(side.times, 95).toFixed(1)} ms, max ${side.times.at(-1)?.toFixed(1)} ms; server ${((after.ms - side.server.ms) / collections).toFixed(2)} ms over ${((after.calls - side.server.calls) / collections).toFixed(0)} statements; agent CPU ${(side.cpuUs / 1000 / collections).toFixed(2)} ms; ${kept}`,
          );
        }
      };
      await measurePair('full collection, default settings', {
        databaseIntervalMs: 0,
        ...visitConcurrency,
      });
      await measurePair('full collection, short-lived database visits (keepDatabaseConnections: 0)', {
        databaseIntervalMs: 0,
        keepDatabaseConnections: 0,
        ...visitConcurrency,
      });
      await measurePair('full collection, database connections kept (keepDatabaseConnections: 3)', {
        databaseIntervalMs: 0,
        keepDatabaseConnections: 3,
        ...visitConcurrency,
      });
      await measurePair('instance-wide only (collections between database visits)', {
        databaseIntervalMs: Number.MAX_SAFE_INTEGER,
      });
      await probe.end();
      process.stdout.write(
        [
          `server: PostgreSQL ${version} (embedded), ${databases.length} databases at pgbench scale ${scale}, pgbench -c 2 -R 50 running`,
          `machine: ${cpus().length} cores, Node ${process.version}; load average at the end ${loadavg()
            .map((l) => l.toFixed(2))
            .join(' ')}; ${collections} collections per side and case, alternating`,
          ...lines,
          '',
        ].join('\n'),
      );
      return;
    }
    await measure('full collection, default settings', {
      databaseIntervalMs: 0,
      ...visitConcurrency,
    });
    await measure('full collection, short-lived database visits (keepDatabaseConnections: 0)', {
      databaseIntervalMs: 0,
      keepDatabaseConnections: 0,
      ...visitConcurrency,
    });
    await measure('full collection, database connections kept (keepDatabaseConnections: 3)', {
      databaseIntervalMs: 0,
      keepDatabaseConnections: 3,
      ...visitConcurrency,
    });
    const entries = await measure('instance-wide only (collections between database visits)', {
      databaseIntervalMs: Number.MAX_SAFE_INTEGER,
    });
    await probe.end();
    process.stdout.write(
      [
        `server: PostgreSQL ${version} (embedded), ${databases.length} databases at pgbench scale ${scale}, ${entries} statements in pg_stat_statements, pgbench -c 2 -R 50 running`,
        `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}; load average at the end ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}; ${collections} collections per case`,
        ...lines,
        '',
      ].join('\n'),
    );
  } finally {
    load?.kill('SIGTERM');
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

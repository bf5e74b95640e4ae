/**
 * Time-series query latency: GET /api/v1/series against a real server over HTTP, with 100 hosts of data.
 *
 * Data, generated in SQL (generate_series, time-major like real ingest, so one host's rows are spread over
 * the table as they are in production): 24 h of raw host families every 10 s for every host — host_cpu for
 * 4 cores plus "total", host_memory, host_load, host_network (2 interfaces), host_disk (2 devices) — rolled
 * into minutes and hours (and yesterday into a day) by the rollup job itself (its run time is reported), plus 30 days
 * of synthetic hourly and daily rollups before that.
 *
 * Then a `pgvigil server` child process (its own event loop, as in production) answers a few hundred
 * sequential calls per case, each for a random host:
 *   (a) 24 h of host_cpu user_pct and system_pct for one host: 10 series (minute tier with the current hour
 *       from raw rows, 60 s steps, 1,440 points each)
 *   (b) 30 days of the same: the daily tier (1-day steps, recent days stitched from hourly and raw rows)
 *   (c) 7 days of the same: the hourly tier
 * and the same SQL alone on one connection, to show how much of the latency is the database's.
 *
 * Each case reports the server process's CPU per call (user + system from /proc) beside the latencies.
 * Both shapes of the answer are measured in the same run, in turns: one server child is asked for the
 * default answer ([t, v] pairs), a second one of the same build for `shape=grid` (one time grid, values
 * with nulls); each case reports the bytes of both answers (as sent, and gzipped at level 1 as the route
 * does) and checks on every call that the grid answer carries exactly the points of the default one.
 *
 * Run: npm run build && node dist/bench/series-query.js [--hosts 100] [--calls 300] [--shared-buffers 2GB]
 *      (--keep DIR keeps the data directory and reuses it on the next run with the same --hosts;
 *      --shared-buffers sets it for the measurement, persistently in a kept directory;
 *      --peer ROOT starts a second server from another build's package root — its bin/ and dist/, e.g.
 *      main's — on the same store and asks both in turns, the same query each time, and checks that their
 *      answers are the same text; --accept-encoding VALUE is what the client accepts, by default what the
 *      dashboard's browser sends, "gzip, deflate, br, zstd": each server answers in the best coding it has)
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { createLogger, silentLogger } from '../src/log.js';
import { compressInOnePiece } from '../src/server/answer-coding.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { createApiToken } from '../src/server/auth/api-tokens.js';
import { addUser } from '../src/server/auth/users.js';
import { rollBuckets, rollupJob } from '../src/server/jobs/rollups.js';
import { runJobOnce } from '../src/server/jobs/runner.js';
import { startEmbeddedStore } from '../src/storage/embedded.js';
import { migrate } from '../src/storage/migrate.js';
import { defaultRetention, maintainPartitions } from '../src/storage/partitions.js';
import { type RollupTier, rollupSpecs } from '../src/storage/rollups.js';
import { planSeries, seriesSql, serverTails } from '../src/storage/series.js';
import { startServerChild } from '../src/tools/bench-ingest.js';
import { version } from '../src/version.js';
import { arg } from './args.js';
import { loadRaw } from './seed-hosts.js';

const hosts = Number(arg('hosts', '100'));
const calls = Number(arg('calls', '300'));
const keep = arg('keep', '');
/** shared_buffers for the measurement (the embedded store's default is PostgreSQL's, 128MB). */
const sharedBuffers = arg('shared-buffers', '');
/** Another build's package root (e.g. a copy of main's bin/ and dist/): its server answers in turns with ours. */
const peer = arg('peer', '');
/** What the bench's client accepts; by default what the dashboard's browser (Chromium) sends. */
const acceptEncoding = arg('accept-encoding', 'gzip, deflate, br, zstd');

/** CPU time (user + system) a process used so far, ms. */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

const hourMs = 3_600_000;
const dayMs = 86_400_000;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const out = await fn();
  process.stdout.write(`${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return out;
}

/** Synthetic rollups of the host families for `fromDays`..`toDays` days back (before the raw day). */
async function loadRollups(pool: pg.Pool, ids: number[], tier: RollupTier, start: number, end: number) {
  const labels: Record<string, string[]> = {
    host_cpu: ['total', '0', '1', '2', '3'],
    host_network: ['eth0', 'lo'],
    host_disk: ['sda', 'sdb'],
  };
  let rows = 0;
  for (const family of ['host_cpu', 'host_memory', 'host_load', 'host_network', 'host_disk']) {
    const spec = rollupSpecs[family]!;
    const label = spec.labels[0]?.name;
    const cols = [
      'server_id',
      ...(label ? [label] : []),
      'ts',
      'samples',
      ...spec.columns.map((c) => c.name),
    ];
    const values = spec.columns.map((c, k) => {
      const v = `(50 + 40 * sin(extract(epoch FROM t) / ${86_400 + k * 997} + s))`;
      return c.pgType === 'bigint'
        ? `(${v} * 1e6)::bigint`
        : c.agg === 'max' || c.agg === 'p95'
          ? `${v} + 5`
          : v;
    });
    const step = tier === 'hourly' ? '1 hour' : '1 day';
    rows +=
      (
        await pool.query(
          `INSERT INTO pgvigil.${family}_${tier} (${cols.join(', ')})
           SELECT s, ${label ? 'l, ' : ''}t, ${tier === 'hourly' ? 360 : 8640}, ${values.join(', ')}
             FROM generate_series($2::timestamptz, $3::timestamptz - interval '${step}', interval '${step}') t
             CROSS JOIN unnest($1::bigint[]) s${label ? ' CROSS JOIN unnest($4::text[]) l' : ''}`,
          [ids, new Date(start), new Date(end), ...(label ? [labels[family]] : [])],
        )
      ).rowCount ?? 0;
  }
  return rows;
}

interface Case {
  name: string;
  query: (serverId: number) => Record<string, string>;
}

async function main(): Promise<void> {
  const log = process.env.PGVIGIL_BENCH_LOG ? createLogger('warn') : silentLogger();
  const dir = keep || mkdtempSync(join(tmpdir(), 'pgvigil-bench-series-'));
  if (keep) mkdirSync(keep, { recursive: true });
  chmodSync(dir, 0o755);
  const fresh = !existsSync(join(dir, 'data'));
  let store = await startEmbeddedStore(join(dir, 'data'), log);
  let pool = new pg.Pool({ connectionString: store.url, max: 4 });
  pool.on('error', () => {});
  const children: ChildProcess[] = [];
  try {
    await migrate(pool, log);
    await maintainPartitions(pool, { log });
    const ids: number[] = [];
    for (let i = 0; i < hosts; i++) ids.push(await ensureServer(pool, `bench-series-${i}`));
    // A kept data directory is measured as of when its data was made.
    const { rows: newest } = await pool.query<{ t: Date | null }>(
      'SELECT max(ts) AS t FROM pgvigil.host_cpu',
    );
    const now = fresh ? Date.now() : (newest[0]?.t?.getTime() ?? Date.now());
    if (fresh) {
      const raw = await timed('raw rows (24 h × 10 s)', () => loadRaw(pool, ids, now));
      process.stdout.write(`  ${raw.toLocaleString('en')} raw rows for ${hosts} hosts\n`);
      const today = Math.floor(now / dayMs) * dayMs;
      const rawStart = Math.floor((now - 24 * hourMs) / hourMs) * hourMs;
      const rolled = await timed('synthetic rollups (30 days before the raw day)', async () => {
        return (
          (await loadRollups(pool, ids, 'hourly', rawStart - 30 * dayMs, rawStart)) +
          (await loadRollups(pool, ids, 'daily', today - 31 * dayMs, today - dayMs))
        );
      });
      process.stdout.write(`  ${rolled.toLocaleString('en')} rollup rows\n`);
      await timed(`rollup job: ${hosts} hosts × 25 hours of raw rows, and yesterday`, async () => {
        const outcome = await runJobOnce(pool, rollupJob(defaultRetention), log, { now: new Date(now) });
        if (outcome !== 'ran') throw new Error(`rollup job ${outcome}`);
      });
      const hour = Math.floor(now / hourMs) * hourMs - 2 * hourMs;
      await timed(`rolling one hour again for ${hosts} hosts (every family)`, () =>
        rollBuckets(pool, { tier: 'hourly', serverIds: ids, bucketStart: new Date(hour) }),
      );
      await timed(
        `rolling one day (${new Date(today - dayMs).toISOString().slice(0, 10)}, from raw) again for ${hosts} hosts`,
        () => rollBuckets(pool, { tier: 'daily', serverIds: ids, bucketStart: new Date(today - dayMs) }),
      );
      await timed('VACUUM ANALYZE', () => pool.query('VACUUM ANALYZE'));
    }
    if (sharedBuffers) {
      await pool.query(`ALTER SYSTEM SET shared_buffers = '${sharedBuffers.replace(/[^0-9A-Za-z]/g, '')}'`);
      await pool.end();
      await store.stop();
      store = await startEmbeddedStore(join(dir, 'data'), log);
      pool = new pg.Pool({ connectionString: store.url, max: 4 });
      pool.on('error', () => {});
    }
    const { rows: settings } = await pool.query<{ setting: string }>(
      "SELECT current_setting('shared_buffers') AS setting",
    );
    process.stdout.write(`shared_buffers: ${settings[0]!.setting}\n`);
    const { rows: size } = await pool.query<{ size: string }>(
      'SELECT pg_size_pretty(pg_database_size(current_database())) AS size',
    );
    process.stdout.write(`store size: ${size[0]!.size}\n`);

    const { userId } = await addUser(pool, { name: `bench-${Date.now()}`, role: 'viewer' });
    const { token } = await createApiToken(pool, { userId, name: 'bench', role: 'viewer' });
    // This build, and with --peer another build's server on the same store, asked in turns.
    // Two servers of this build, one per shape of the answer (each server's CPU is its shape's).
    const servers: Array<{ name: string; url: string; child: ChildProcess; grid: boolean }> = [];
    const started = await startServerChild(store.url);
    children.push(started.child);
    servers.push({ name: 'this build, points', ...started, grid: false });
    const gridServer = await startServerChild(store.url);
    children.push(gridServer.child);
    servers.push({ name: 'this build, shape=grid', ...gridServer, grid: true });
    if (peer) {
      const other = await startServerChild(store.url, 60_000, {}, peer);
      children.push(other.child);
      servers.push({ name: `peer ${peer}`, ...other, grid: false });
    }

    const base = { family: 'host_cpu', metrics: 'user_pct,system_pct' };
    const cases: Case[] = [
      {
        name: '(a) 24 h, 10 series, minute',
        query: (s) => ({ ...base, server: String(s), from: String(now - 24 * hourMs), to: String(now) }),
      },
      {
        name: '(b) 30 days, 10 series, daily',
        query: (s) => ({ ...base, server: String(s), from: String(now - 30 * dayMs), to: String(now) }),
      },
      {
        name: '(c) 7 days, 10 series, hourly',
        query: (s) => ({ ...base, server: String(s), from: String(now - 7 * dayMs), to: String(now) }),
      },
    ];
    const results: string[] = [];
    process.stdout.write(
      `load average at the start: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(', ')}\n`,
    );
    for (const c of cases) {
      const once = async (url: string, k: number, grid = false) => {
        const qs = new URLSearchParams({
          ...c.query(ids[k % ids.length]!),
          ...(grid ? { shape: 'grid' } : {}),
        });
        const t0 = performance.now();
        const res = await fetch(`${url}/api/v1/series?${qs}`, {
          headers: { authorization: `Bearer ${token}`, 'accept-encoding': acceptEncoding },
        });
        const text = await res.text();
        const body = JSON.parse(text) as {
          tier: string;
          times?: number[];
          series: Array<{ points?: unknown[]; values?: unknown[] }>;
        };
        const ms = performance.now() - t0;
        if (res.status !== 200) throw new Error(`${c.name}: ${res.status} ${text.slice(0, 500)}`);
        return { ms, body, text, coding: res.headers.get('content-encoding') ?? 'identity' };
      };
      for (let k = 0; k < 20; k++) for (const sv of servers) await once(sv.url, k * 7, sv.grid); // warm-up
      const lat: number[][] = servers.map(() => []);
      const read0 = await blocksRead(pool);
      const cpu0 = servers.map((sv) => processCpuMs(sv.child.pid!));
      const shapes: string[] = servers.map(() => '');
      let differ = 0;
      for (let k = 0; k < calls; k++) {
        const texts: string[] = [];
        // Turns: the first server of a call alternates, so neither always goes first.
        for (let j = 0; j < servers.length; j++) {
          const i = (j + k) % servers.length;
          const { ms, body, text, coding } = await once(
            servers[i]!.url,
            (k * 37) % ids.length,
            servers[i]!.grid,
          );
          lat[i]!.push(ms);
          // The grid answer as the default one (its points), to compare the texts.
          texts[i] = servers[i]!.grid ? JSON.stringify(pointsOf(body)) : text;
          if (k === 0) {
            const n = body.series.reduce(
              (m, s) => m + (s.points ?? s.values!.filter((v) => v !== null)).length,
              0,
            );
            shapes[i] =
              `tier ${body.tier}, ${body.series.length} series, ${n} points, ${(text.length / 1000).toFixed(0)} kB` +
              ` (${coding}${coding === 'br' || coding === 'gzip' ? ` ${((await compressInOnePiece(text, coding)).length / 1000).toFixed(0)} kB` : ''}; gzip ${(gzipSync(text, { level: 1 }).length / 1000).toFixed(0)} kB)`;
          }
        }
        if (texts.length > 1 && texts.some((t) => t !== texts[0])) {
          if (differ === 0) {
            const at = [...texts[0]!].findIndex((ch, x) => ch !== texts[1]![x]);
            process.stdout.write(
              `  answers differ (call ${k}) at character ${at}: ${texts[0]!.slice(at - 40, at + 40)} | ${texts[1]!.slice(at - 40, at + 40)}\n`,
            );
          }
          differ++;
        }
      }
      const cpu = servers.map((sv, i) => (processCpuMs(sv.child.pid!) - cpu0[i]!) / calls);
      // Blocks the store read into shared buffers during the calls (0 when every page was there already; a
      // backend reports its counts at most once a second, so the last second of the calls may be missing).
      const read = (await blocksRead(pool)) - read0;
      for (const l of lat) l.sort((x, y) => x - y);
      // The same SQL alone, on one connection (what the database costs).
      const sqlLat: number[] = [];
      const client = await pool.connect();
      try {
        for (let k = 0; k < Math.min(calls, 100); k++) {
          const q = c.query(ids[(k * 37) % ids.length]!);
          const plan = planSeries(
            { family: q.family!, metrics: q.metrics, server: Number(q.server), from: q.from, to: q.to },
            new Date(now),
            defaultRetention,
          );
          const t0 = performance.now();
          const tails = (await serverTails(client, [plan.serverId], new Date())).get(plan.serverId)!;
          const sql = seriesSql(plan, tails, 100_000, { ordered: false }); // as the server runs it
          await client.query({ text: sql.text, values: sql.values, rowMode: 'array' });
          sqlLat.push(performance.now() - t0);
        }
      } finally {
        client.release();
      }
      sqlLat.sort((x, y) => x - y);
      for (let i = 0; i < servers.length; i++) {
        const l = lat[i]!;
        const line = `${c.name.padEnd(32)} ${shapes[i]!.padEnd(68)} ${servers[i]!.name.padEnd(24)} HTTP p50 ${pct(l, 50).toFixed(1)} ms  p95 ${pct(l, 95).toFixed(1)} ms  max ${l.at(-1)!.toFixed(1)} ms  server CPU ${cpu[i]!.toFixed(2)} ms/call | SQL alone p50 ${pct(sqlLat, 50).toFixed(1)} ms  p95 ${pct(sqlLat, 95).toFixed(1)} ms`;
        results.push(line);
        process.stdout.write(`${line}\n`);
      }
      process.stdout.write(
        `  blocks read into shared buffers during the calls: ${read.toLocaleString('en')} (${(read / (calls * servers.length)).toFixed(1)} per answer)\n`,
      );
      if (servers.length > 1) {
        process.stdout.write(
          `  the same points in every answer: ${differ === 0 ? `identical (${calls} of ${calls})` : `${differ} of ${calls} differ`}\n`,
        );
      }
    }
    process.stdout.write(
      `\npgvigil ${version}, ${hosts} hosts, ${calls} sequential calls per case (random host each), Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB\n`,
    );
  } finally {
    for (const child of children) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await pool.end();
    await store.stop();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** Blocks this database's backends have read into shared buffers so far (`pg_stat_database`). */
async function blocksRead(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ r: string }>(
    'SELECT blks_read AS r FROM pg_stat_database WHERE datname = current_database()',
  );
  return Number(rows[0]!.r);
}

/** A `shape=grid` answer as the default answer: a [t, v] pair per non-null value, in the same order. */
function pointsOf(g: { times?: number[]; series: Array<{ values?: unknown[] }> }): unknown {
  const { times, series, ...head } = g as { times: number[]; series: Array<Record<string, unknown>> };
  return {
    ...head,
    series: series.map(({ values, ...s }) => ({
      ...s,
      points: times.flatMap((t, i) =>
        (values as unknown[])[i] === null ? [] : [[t, (values as unknown[])[i]]],
      ),
    })),
  };
}

await main();

/**
 * What rolling one hour costs for a fleet, and how it spreads over connections: seeds bench/fleet-seed.ts's
 * 1,000 servers (65 minutes of host and PostgreSQL rows every 10 s, counters included), then rolls their
 * last complete hour again, every family, in chunks of 100 servers as the rollup job does — on 1 and then on
 * `--workers` connections at once (the chunks dealt out beforehand, each connection taking the next) — and the running hour's minutes as the job does each minute.
 *
 * Cost is CPU, not wall time: this process's CPU (process.cpuUsage) and the store's (its postmaster's own
 * and reaped children's time plus its live backends', from /proc), so host-hours per CPU-second says what a
 * core of each kind buys whatever else shares the machine. Linux only for the store's share.
 *
 * `--shape ingest` seeds instead what the ingest bench pushes (src/tools/bench-ingest.ts `batchShape`: the
 * host families of a 2-core host, a database, 20 tables and ~15 statements, 1,002 values in 51 rows), one
 * collection every 10 s per host for the hour and 5 minutes before it, written with COPY as the writer
 * does; `--chunk` sets the servers per statement (the job claims at most 100 a transaction).
 *
 * `--processes N` measures the job's own path instead, the way several server instances share it: the hour is
 * made pending for every server (as the writer records it) and 1, then N, separate processes each run the
 * job's claim loop (`rollPending`, one connection each) over that one queue at the same moment, taking
 * turns with a peer in the same run: `rollBuckets` on one connection with the chunks dealt out beforehand
 * (no queue, no claims). Each child reports its own CPU; the store's is read as above. Each child's
 * connection is warmed up first, as a running server's are.
 *
 * Run: npm run build && node dist/bench/rollup-cost.js [--servers 1000] [--runs 4] [--workers 2]
 *        [--shape fleet|ingest] [--chunk 100] [--processes 2]
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { silentLogger } from '../src/log.js';
import { validateBatch } from '../src/protocol/batch.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { encodeTable } from '../src/server/ingest/copy.js';
import { rollBuckets, rollMinutes, rollPending } from '../src/server/jobs/rollups.js';
import { startEmbeddedStore } from '../src/storage/embedded.js';
import { migrate } from '../src/storage/migrate.js';
import { defaultRetention, maintainPartitions } from '../src/storage/partitions.js';
import { copyIntoFamily } from '../src/storage/queries/ingest.sql.js';
import { upsertTargets } from '../src/storage/queries/targets.sql.js';
import { batchShape, makeBatch } from '../src/tools/bench-ingest.js';
import { version } from '../src/version.js';
import { seedFleet } from './fleet-seed.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const servers = arg('--servers', 1000);
const runs = arg('--runs', 4);
const maxWorkers = arg('--workers', 2);
const chunk = arg('--chunk', 100);
const shapeIndex = process.argv.indexOf('--shape');
const shape = shapeIndex > 0 ? process.argv[shapeIndex + 1] : 'fleet';
if (shape !== 'fleet' && shape !== 'ingest') throw new Error('--shape is fleet or ingest');
const processes = arg('--processes', 0);
const log = silentLogger();

const ownCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * A child of `--processes`: connects, says "ready", waits for a line on stdin, runs the job's claim loop
 * once (`--now` decides what is due) and prints what it rolled and its own CPU as one JSON line.
 */
async function child(): Promise<void> {
  // One connection, warmed up as a running server's is: an empty roll of the hour opens every table and
  // partition the roll reads and writes (a new backend's catalog caches are not the roll's cost).
  const pool = new pg.Pool({ connectionString: process.env.PGVIGIL_BENCH_STORE_URL, max: 1 });
  try {
    const now = arg('--now', Date.now());
    await rollBuckets(pool, {
      tier: 'hourly',
      serverIds: [0],
      bucketStart: new Date(Math.floor(now / 3_600_000) * 3_600_000 - 3_600_000),
    });
    process.stdout.write('ready\n');
    await new Promise((resolve) => process.stdin.once('data', resolve));
    const c0 = ownCpuSeconds();
    const t0 = performance.now();
    const r = await rollPending(pool, {
      now: new Date(now),
      rawDays: defaultRetention.rawDays,
      log,
      serversPerChunk: chunk,
    });
    const out = { hours: r.hours, wallS: (performance.now() - t0) / 1000, cpuS: ownCpuSeconds() - c0 };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await pool.end();
  }
}

if (process.argv.includes('--child')) {
  await child();
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'pgvigil-bench-rollup-'));
chmodSync(dir, 0o755);
const dataDir = join(dir, 'data');

/**
 * `hosts` servers with the ingest bench's batch every 10 s over [hour − 5 min, hour + 1 h), written with COPY
 * (one statement per host and table), and their hours pending a roll as the writer records them.
 */
async function seedIngestShaped(
  pool: pg.Pool,
  hosts: number,
  hour: number,
): Promise<{ serverIds: number[]; rawRows: number; valuesPerHostHour: number }> {
  await maintainPartitions(pool, { log });
  const shapes = batchShape(1000);
  const agent = '00000000-0000-4000-8000-000000000000';
  const first = makeBatch(shapes, agent, 1, hour, 'alerting');
  const v = validateBatch(JSON.parse(first.body));
  if (!v.ok) throw new Error(v.message);
  const serverIds: number[] = [];
  let rawRows = 0;
  const client = await pool.connect();
  try {
    for (let h = 0; h < hosts; h++) {
      const serverId = await ensureServer(pool, `rollup-bench-${String(h).padStart(5, '0')}`);
      serverIds.push(serverId);
      const ids = await upsertTargets(pool, serverId, ['bench-pg']);
      await client.query('BEGIN');
      for (const t of v.batch.tables) {
        let lines = '';
        let columns: string[] = [];
        // Each collection repeats the first batch's values at its own time (counters flat): the roll does
        // the same work per row and column whatever the values are.
        for (let ts = hour - 5 * 60_000; ts < hour + 3_600_000; ts += 10_000) {
          for (const row of t.rows) row[t.tsIndex] = ts;
          const out = encodeTable(t, serverId, ids);
          columns = out.columns;
          lines += out.lines;
          rawRows += t.rows.length;
        }
        await copyIntoFamily(client, t.table, columns, [lines]);
      }
      await client.query(
        `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket)
         VALUES ($1, 'hourly', $2), ($1, 'hourly', $3) ON CONFLICT DO NOTHING`,
        [serverId, new Date(hour - 3_600_000), new Date(hour)],
      );
      await client.query('COMMIT');
    }
  } finally {
    client.release();
  }
  return { serverIds, rawRows, valuesPerHostHour: first.values * 360 };
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux this runs on). */
const ticksPerSecond = 100;

/** CPU seconds of the store: the postmaster, its reaped children, and its live children. */
function storeCpuSeconds(): number {
  const pm = Number(readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone between the listing and the read
    }
    // Fields after the command (which may hold spaces): state ppid … utime(14) stime(15) cutime cstime.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(entry);
    const ppid = Number(f[1]);
    if (pid === pm) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    else if (ppid === pm) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / ticksPerSecond;
}

interface Measure {
  mode: string;
  /** Host-hours rolled. */
  hours: number;
  wallS: number;
  nodeCpuS: number;
  storeCpuS: number;
}

/** One way of rolling the hour: what it rolled and the pgvigil side's CPU (the store's is measured around it). */
interface Mode {
  label: string;
  /** Before the clock starts (not measured). */
  prepare?: () => Promise<() => Promise<{ hours: number; nodeCpuS: number; endedAt?: number }>>;
}

/**
 * `n` processes, each running the job's claim loop once on its own connection, started together once
 * every one is connected; resolves to the run (the clock starts when it is called).
 */
async function startChildren(
  n: number,
  url: string,
  now: number,
): Promise<() => Promise<{ hours: number; nodeCpuS: number; endedAt?: number }>> {
  const script = new URL(import.meta.url).pathname;
  const kids = Array.from({ length: n }, () =>
    spawn(process.execPath, [script, '--child', '--now', String(now), '--chunk', String(chunk)], {
      env: { ...process.env, PGVIGIL_BENCH_STORE_URL: url },
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const lines = kids.map((k) => {
    let buf = '';
    const waiting: Array<(line: string) => void> = [];
    const got: string[] = [];
    k.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = waiting.shift();
        if (w) w(line);
        else got.push(line);
      }
    });
    const exited = new Promise<void>((_, reject) =>
      k.on('exit', (code) => {
        if (code !== 0) reject(new Error(`bench child exited with ${code}`));
      }),
    );
    return () => {
      const l = got.shift();
      const next = l !== undefined ? Promise.resolve(l) : new Promise<string>((r) => waiting.push(r));
      return Promise.race([next, exited.then(() => '')]);
    };
  });
  await Promise.all(lines.map(async (next) => assertLine(await next(), 'ready')));
  return async () => {
    for (const k of kids) k.stdin.write('go\n');
    const outs = await Promise.all(
      lines.map(async (next) => JSON.parse(await next()) as { hours: number; cpuS: number }),
    );
    const endedAt = performance.now();
    await Promise.all(kids.map((k) => (k.exitCode !== null ? null : new Promise((r) => k.on('exit', r)))));
    // Their backends end after them: a backend the postmaster reaps between the reads of storeCpuSeconds
    // would be counted nowhere.
    await new Promise((r) => setTimeout(r, 1000));
    return {
      hours: outs.reduce((x, o) => x + o.hours, 0),
      nodeCpuS: outs.reduce((x, o) => x + o.cpuS, 0),
      endedAt,
    };
  };
}

function assertLine(line: string, want: string): void {
  if (line !== want) throw new Error(`bench child said ${JSON.stringify(line)}, not ${want}`);
}

const store = await startEmbeddedStore(dataDir, log);
const pool = new pg.Pool({ connectionString: store.url, max: Math.max(4, maxWorkers) });
try {
  await migrate(pool, log);
  const now = Date.now();
  const hour = Math.floor(now / 3_600_000) * 3_600_000 - 3_600_000;
  const s0 = performance.now();
  const seeded =
    shape === 'ingest'
      ? await seedIngestShaped(pool, servers, hour)
      : { ...(await seedFleet(pool, servers, now)), valuesPerHostHour: null };
  const { serverIds } = seeded;
  const seedS = (performance.now() - s0) / 1000;
  // The seed's aftermath (autovacuum of the fresh rows, dirty buffers) is not the roll's cost.
  await pool.query('VACUUM ANALYZE');
  await pool.query('CHECKPOINT');
  const { rows: inHour } = await pool.query<{ n: number }>(
    `SELECT (SELECT count(*) FROM pgvigil.host_cpu WHERE ts >= $1 AND ts < $2)::int AS n`,
    [new Date(hour), new Date(hour + 3_600_000)],
  );
  const chunks: number[][] = [];
  for (let c = 0; c < serverIds.length; c += chunk) chunks.push(serverIds.slice(c, c + chunk));
  const measures: Measure[] = [];
  const loads: string[] = [loadavg()[0]!.toFixed(2)];
  /** Rolls the chunks dealt out to `workers` connections of this process (no queue). */
  const direct = (workers: number): Mode => ({
    label: `${workers} connection${workers > 1 ? 's' : ''}, chunks dealt`,
    prepare: async () => async () => {
      const c0 = ownCpuSeconds();
      let next = 0;
      // Each worker takes the next chunk when it is done with one.
      await Promise.all(
        Array.from({ length: workers }, async () => {
          for (let k = next++; k < chunks.length; k = next++) {
            await rollBuckets(pool, { tier: 'hourly', serverIds: chunks[k]!, bucketStart: new Date(hour) });
          }
        }),
      );
      return { hours: servers, nodeCpuS: ownCpuSeconds() - c0 };
    },
  });
  /** The hour pending for every server, then `n` processes claiming it from the queue. */
  const claimed = (n: number): Mode => ({
    label: `job's claims, ${n} process${n > 1 ? 'es' : ''}`,
    prepare: async () => {
      await pool.query('DELETE FROM pgvigil.rollup_pending');
      await pool.query(
        `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket) SELECT s, 'hourly', $2 FROM unnest($1::bigint[]) s`,
        [serverIds, new Date(hour)],
      );
      // The hour is due (ended more than the grace ago); the one after it and its day are not.
      return startChildren(n, store.url, hour + 90 * 60_000);
    },
  });
  const modes: Mode[] =
    processes > 0
      ? [direct(1), claimed(1), ...(processes > 1 ? [claimed(processes)] : [])]
      : [direct(1), ...(maxWorkers > 1 ? [direct(maxWorkers)] : [])];
  // Taking turns: every mode once a round, each round starting at the next mode; each run starts from a
  // vacuumed store (every re-roll leaves a dead version of each rollup row, and autovacuum's CPU is the store's).
  for (let i = 0; i < runs; i++) {
    for (let j = 0; j < modes.length; j++) {
      const mode = modes[(i + j) % modes.length]!;
      await pool.query('VACUUM');
      await pool.query('CHECKPOINT');
      const go = await mode.prepare!();
      const s0 = storeCpuSeconds();
      const t0 = performance.now();
      const r = await go();
      measures.push({
        mode: mode.label,
        hours: r.hours,
        wallS: ((r.endedAt ?? performance.now()) - t0) / 1000,
        nodeCpuS: r.nodeCpuS,
        storeCpuS: storeCpuSeconds() - s0,
      });
      loads.push(loadavg()[0]!.toFixed(2));
    }
  }
  const t0 = performance.now();
  const m = await rollMinutes(pool, { now: new Date() });
  const minuteMs = performance.now() - t0;
  const rows = measures.map((x) => {
    const cpu = x.nodeCpuS + x.storeCpuS;
    return (
      `| ${x.mode} | ${x.hours} | ${x.wallS.toFixed(2)} | ${(x.hours / x.wallS).toFixed(1)} | ${x.nodeCpuS.toFixed(2)} | ` +
      `${x.storeCpuS.toFixed(2)} | ${((100 * x.storeCpuS) / cpu).toFixed(0)} % | ${(x.hours / x.storeCpuS).toFixed(1)} | ` +
      `${(x.hours / cpu).toFixed(1)} | ${((1000 * cpu) / x.hours).toFixed(1)} |`
    );
  });
  process.stdout.write(
    `seeded (${shape} shape): ${servers} servers, ${seeded.rawRows.toLocaleString('en')} raw rows in ${seedS.toFixed(0)} s` +
      `${seeded.valuesPerHostHour ? `, ${seeded.valuesPerHostHour.toLocaleString('en')} values per host-hour` : ''}` +
      `; host_cpu rows in the rolled hour: ${inHour[0]!.n.toLocaleString('en')}\n` +
      `rolling the last complete hour of ${servers} servers again, chunks of ${chunk}:\n` +
      '| how | host-hours | wall s | host-hours/s | node CPU s | store CPU s | store share | host-hours per store CPU-s | host-hours per CPU-s | CPU ms per host-hour |\n' +
      '|---|---|---|---|---|---|---|---|---|---|\n' +
      `${rows.join('\n')}\n` +
      `rolling the running hour's minutes since the seed (${m.minutes} server-minutes): ${minuteMs.toFixed(0)} ms\n` +
      `load average (1 min) before and after each run: ${loads.join(' ')}\n` +
      `pgvigil ${version}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB\n`,
  );
} finally {
  await pool.end();
  await store.stop();
  rmSync(dir, { recursive: true, force: true });
}

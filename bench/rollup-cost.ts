/**
 * What rolling one hour costs for a fleet, and how it spreads over connections: seeds bench/fleet-seed.ts's
 * 1,000 servers (65 minutes of host and PostgreSQL rows every 10 s, counters included), then rolls their
 * last complete hour again, every family, in chunks of 100 servers as the rollup job does — on 1 and then on
 * `--workers` connections at once (the chunks dealt out as the job deals its shards to its workers, or as
 * several server instances share them) — and the running hour's minutes as the job does each minute.
 *
 * Cost is CPU, not wall time: this process's CPU (process.cpuUsage) and the store's (its postmaster's own
 * and reaped children's time plus its live backends', from /proc), so host-hours per CPU-second says what a
 * core of each kind buys whatever else shares the machine. Linux only for the store's share.
 *
 * `--shape ingest` seeds instead what the ingest bench pushes (src/tools/bench-ingest.ts `batchShape`: the
 * host families of a 2-core host, a database, 20 tables and ~15 statements, 1,002 values in 51 rows), one
 * collection every 10 s per host for the hour and 5 minutes before it, written with COPY as the writer
 * does; `--chunk` sets the servers per statement (the job rolls a shard's pending servers, at most 100).
 *
 * Run: npm run build && node dist/bench/rollup-cost.js [--servers 1000] [--runs 4] [--workers 2]
 *        [--shape fleet|ingest] [--chunk 100]
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { silentLogger } from '../src/log.js';
import { validateBatch } from '../src/protocol/batch.js';
import { ensureServer } from '../src/server/auth/agents.js';
import { encodeTable } from '../src/server/ingest/copy.js';
import { rollBuckets, rollMinutes } from '../src/server/jobs/rollups.js';
import { startEmbeddedStore } from '../src/storage/embedded.js';
import { migrate } from '../src/storage/migrate.js';
import { maintainPartitions } from '../src/storage/partitions.js';
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
const log = silentLogger();
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
        const cols = columns.map((c) => `"${c}"`).join(', ');
        const stream = client.query(copyFrom(`COPY pgvigil."${t.table}" (${cols}) FROM STDIN`));
        await new Promise<void>((resolve, reject) => {
          stream.on('error', reject);
          stream.on('finish', resolve);
          stream.end(lines);
        });
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

const ownCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface Measure {
  workers: number;
  wallS: number;
  nodeCpuS: number;
  storeCpuS: number;
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
  const { rows: inHour } = await pool.query<{ n: number }>(
    `SELECT (SELECT count(*) FROM pgvigil.host_cpu WHERE ts >= $1 AND ts < $2)::int AS n`,
    [new Date(hour), new Date(hour + 3_600_000)],
  );
  const chunks: number[][] = [];
  for (let c = 0; c < serverIds.length; c += chunk) chunks.push(serverIds.slice(c, c + chunk));
  const measures: Measure[] = [];
  const loads: string[] = [loadavg()[0]!.toFixed(2)];
  for (const workers of maxWorkers > 1 ? [1, maxWorkers] : [1]) {
    for (let i = 0; i < runs; i++) {
      const c0 = ownCpuSeconds();
      const s0 = storeCpuSeconds();
      const t0 = performance.now();
      let next = 0;
      // Each worker takes the next chunk when it is done with one, as the job's workers take shards.
      await Promise.all(
        Array.from({ length: workers }, async () => {
          for (let k = next++; k < chunks.length; k = next++) {
            await rollBuckets(pool, { tier: 'hourly', serverIds: chunks[k]!, bucketStart: new Date(hour) });
          }
        }),
      );
      measures.push({
        workers,
        wallS: (performance.now() - t0) / 1000,
        nodeCpuS: ownCpuSeconds() - c0,
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
      `| ${x.workers} | ${x.wallS.toFixed(2)} | ${(servers / x.wallS).toFixed(0)} | ${x.nodeCpuS.toFixed(2)} | ` +
      `${x.storeCpuS.toFixed(2)} | ${((100 * x.storeCpuS) / cpu).toFixed(0)} % | ${(servers / cpu).toFixed(0)} | ` +
      `${((1000 * cpu) / servers).toFixed(1)} |`
    );
  });
  process.stdout.write(
    `seeded (${shape} shape): ${servers} servers, ${seeded.rawRows.toLocaleString('en')} raw rows in ${seedS.toFixed(0)} s` +
      `${seeded.valuesPerHostHour ? `, ${seeded.valuesPerHostHour.toLocaleString('en')} values per host-hour` : ''}` +
      `; host_cpu rows in the rolled hour: ${inHour[0]!.n.toLocaleString('en')}\n` +
      `rolling the last complete hour of ${servers} servers again, chunks of ${chunk}:\n` +
      '| workers | wall s | host-hours/s | node CPU s | store CPU s | store share | host-hours per CPU-s | CPU ms per host-hour |\n' +
      '|---|---|---|---|---|---|---|---|\n' +
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

/**
 * What rolling one hour costs for a fleet: seeds bench/fleet-seed.ts's 1,000 servers (65 minutes of host
 * and PostgreSQL rows every 10 s, counters included), then rolls their last complete hour again, every
 * family, in chunks of 100 servers as the rollup job does, and the running hour's minutes as the job does
 * each minute.
 *
 * Run: npm run build && node dist/bench/rollup-cost.js [--servers 1000] [--runs 4]
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { silentLogger } from '../src/log.js';
import { rollBuckets, rollMinutes } from '../src/server/jobs/rollups.js';
import { startEmbeddedStore } from '../src/storage/embedded.js';
import { migrate } from '../src/storage/migrate.js';
import { version } from '../src/version.js';
import { seedFleet } from './fleet-seed.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const servers = arg('--servers', 1000);
const runs = arg('--runs', 4);
const log = silentLogger();
const dir = mkdtempSync(join(tmpdir(), 'pgvigil-bench-rollup-'));
chmodSync(dir, 0o755);
const store = await startEmbeddedStore(join(dir, 'data'), log);
const pool = new pg.Pool({ connectionString: store.url, max: 4 });
try {
  await migrate(pool, log);
  const now = Date.now();
  const { serverIds } = await seedFleet(pool, servers, now);
  const hour = Math.floor(now / 3_600_000) * 3_600_000 - 3_600_000;
  const hours: string[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    for (let c = 0; c < serverIds.length; c += 100) {
      await rollBuckets(pool, {
        tier: 'hourly',
        serverIds: serverIds.slice(c, c + 100),
        bucketStart: new Date(hour),
      });
    }
    hours.push(((performance.now() - t0) / 1000).toFixed(2));
  }
  const t0 = performance.now();
  const m = await rollMinutes(pool, { now: new Date() });
  const minuteMs = performance.now() - t0;
  process.stdout.write(
    `rolling the last complete hour of ${servers} servers again: ${hours.join(' ')} s\n` +
      `rolling the running hour's minutes since the seed (${m.minutes} server-minutes): ${minuteMs.toFixed(0)} ms\n` +
      `pgvigil ${version}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB\n`,
  );
} finally {
  await pool.end();
  await store.stop();
  rmSync(dir, { recursive: true, force: true });
}

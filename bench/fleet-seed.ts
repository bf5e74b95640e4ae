/**
 * A fleet for the dashboard: 1,000 servers (by default), each with an agent and a PostgreSQL target, an hour
 * of host and PostgreSQL samples every 10 s, the completed hours rolled into the minute tier by the rollup
 * job itself, and findings on some servers — then GET /api/v1/fleet timed against a `pgvigil server` child.
 *
 * Why not through the ingest API: an hour of 10-s collections for 1,000 agents is 360,000 pushes, about
 * 11 minutes at the ~540 pushes/s ingest sustains on this machine (bench/RESULTS.md, "Ingest"), for
 * every run of a browser bench. The raw rows are generated in SQL instead, time-major as ingest writes
 * them (one collection's rows of every host side by side), with the `rollup_pending` rows ingest records,
 * and the real rollup job turns the completed hours into minute rows. Agents, targets and findings are
 * rows as the server would have made them.
 *
 * Statuses: every 50th server is silent (its agent last seen 10 minutes ago), every 50th (offset 1) has its
 * PostgreSQL down in the newest collection, every 33rd has a failing collector (degraded); every 10th has
 * open findings. Values are smooth waves that differ per server.
 *
 * Run: npm run build && node dist/bench/fleet-seed.js [--servers 1000] [--calls 20] [--serve] [--seeded]
 *   DATABASE_URL=postgres://… uses that store (migrated first) instead of an embedded one in a temporary
 *   folder; --serve leaves the server running and prints its URL and a viewer's credentials (for a browser
 *   bench) until interrupted; --seeded (with DATABASE_URL) only measures a store seeded before. `seedFleet` is exported for scripts that seed their own store.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { createLogger, silentLogger } from '../src/log.js';
import { createApiToken } from '../src/server/auth/api-tokens.js';
import { addUser } from '../src/server/auth/users.js';
import { rollupJob } from '../src/server/jobs/rollups.js';
import { runJobOnce } from '../src/server/jobs/runner.js';
import { type EmbeddedStore, startEmbeddedStore } from '../src/storage/embedded.js';
import { migrate } from '../src/storage/migrate.js';
import { defaultRetention, maintainPartitions } from '../src/storage/partitions.js';
import { startServerChild } from '../src/tools/bench-ingest.js';
import { version } from '../src/version.js';
import { arg } from './args.js';

const hourMs = 3_600_000;

export interface SeedResult {
  serverIds: number[];
  rawRows: number;
  seconds: number;
}

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const out = await fn();
  process.stdout.write(`${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return out;
}

/** Fills a migrated store with `servers` servers named fleet-0000…, as of `now` (ms). */
export async function seedFleet(pool: pg.Pool, servers: number, now = Date.now()): Promise<SeedResult> {
  const t0 = performance.now();
  const log = silentLogger();
  await maintainPartitions(pool, { log });
  const { rows: made } = await pool.query<{ server_id: string }>(
    `INSERT INTO pgvigil.servers (name)
     SELECT 'fleet-' || lpad(i::text, 4, '0') FROM generate_series(0, $1 - 1) i
     ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING server_id`,
    [servers],
  );
  const ids = made.map((r) => Number(r.server_id)).sort((a, b) => a - b);
  const at = (ms: number) => new Date(now - ms);
  // Agents (silent every 50th; a failing collector every 33rd) and one PostgreSQL target each.
  await pool.query(
    `INSERT INTO pgvigil.agents (server_id, agent_id, hostname, os, agent_version, last_seen_at, status)
     SELECT s, gen_random_uuid(), 'host-' || s, 'linux', $2,
            CASE WHEN o % 50 = 0 THEN $3::timestamptz ELSE $4::timestamptz END,
            CASE WHEN o % 33 = 5
                 THEN '{"collectors":[{"name":"cpu","status":"ok"},{"name":"pressure","status":"failing","lastError":"no /proc/pressure"}]}'::jsonb
                 ELSE '{"collectors":[{"name":"cpu","status":"ok"}]}'::jsonb END
       FROM unnest($1::bigint[]) WITH ORDINALITY AS u(s, o)
      WHERE NOT EXISTS (SELECT 1 FROM pgvigil.agents a WHERE a.server_id = s)`,
    [ids, version, at(10 * 60_000), at(3_000)],
  );
  await pool.query(
    `INSERT INTO pgvigil.targets (server_id, kind, name)
     SELECT s, 'postgres', 'pg-' || s FROM unnest($1::bigint[]) s ON CONFLICT DO NOTHING`,
    [ids],
  );
  const { rows: tg } = await pool.query<{ server_id: string; target_id: string }>(
    'SELECT server_id, target_id FROM pgvigil.targets WHERE server_id = ANY($1::bigint[])',
    [ids],
  );
  const targetOf = new Map(tg.map((r) => [Number(r.server_id), Number(r.target_id)]));
  const targets = ids.map((s) => targetOf.get(s)!);

  // An hour (and 5 minutes, so counters have a sample before it) of raw rows every 10 s, time-major.
  const from = new Date(Math.floor((now - hourMs - 5 * 60_000) / 10_000) * 10_000);
  const to = new Date(now);
  const series = `generate_series($2::timestamptz, $3::timestamptz, interval '10 seconds') t
                  CROSS JOIN unnest($1::bigint[], $4::bigint[]) WITH ORDINALITY AS u(s, tg, o)`;
  const wave = (k: number) => `(50 + 40 * sin(extract(epoch FROM t) / ${600 + k * 37} + s * ${k + 1}))`;
  const epoch = 'extract(epoch FROM t)::bigint';
  const statements = [
    `INSERT INTO pgvigil.host_cpu (server_id, ts, cpu, user_pct, nice_pct, system_pct, idle_pct, iowait_pct, irq_pct, softirq_pct, steal_pct)
     SELECT s, t, c, ${wave(1)} / 2, 0, ${wave(2)} / 5, 100 - ${wave(1)} / 2 - ${wave(2)} / 5 - ${wave(3)} / 20, ${wave(3)} / 20, 0, 0, 0
       FROM ${series} CROSS JOIN unnest(ARRAY['total', '0', '1']) c ORDER BY t, s, c`,
    `INSERT INTO pgvigil.host_memory (server_id, ts, total_bytes, available_bytes, used_bytes, free_bytes, buffers_bytes, cached_bytes, swap_total_bytes, swap_used_bytes)
     SELECT s, t, 17179869184, (${wave(4)} * 1.5e8)::bigint, 17179869184 - (${wave(4)} * 1.5e8)::bigint, 1e9, 1e8, 4e9, 2e9, 0
       FROM ${series} ORDER BY t, s`,
    `INSERT INTO pgvigil.pg_instance (server_id, target_id, ts, up, server_version_num, server_version, in_recovery, max_connections, backends, collect_ms, error)
     SELECT s, tg, t, NOT (o % 50 = 1 AND t > $3::timestamptz - interval '1 minute'), 180004, '18.4', false, 100,
            (20 + ${wave(5)} / 2)::int, 12, CASE WHEN o % 50 = 1 AND t > $3::timestamptz - interval '1 minute' THEN 'connection refused' END
       FROM ${series} ORDER BY t, s`,
    `INSERT INTO pgvigil.pg_database (server_id, target_id, ts, datname, numbackends, xact_commit, xact_rollback, blks_read, blks_hit)
     SELECT s, tg, t, d, 5, ${epoch} * (5 + s % 40), ${epoch} / 10, ${epoch} * 3, ${epoch} * 300
       FROM ${series} CROSS JOIN unnest(ARRAY['app', 'postgres', 'reports']) d ORDER BY t, s, d`,
  ];
  let rawRows = 0;
  for (const sql of statements) rawRows += (await pool.query(sql, [ids, from, to, targets])).rowCount ?? 0;
  // What the ingest writer records: every (server, hour) with rows; the rollup job rolls the completed ones.
  await pool.query(
    `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket)
     SELECT s, 'hourly', h FROM unnest($1::bigint[]) s,
            generate_series(date_trunc('hour', $2::timestamptz), $3::timestamptz, interval '1 hour') h
     ON CONFLICT DO NOTHING`,
    [ids, from, to],
  );
  const outcome = await runJobOnce(pool, rollupJob(defaultRetention), log, { now: new Date(now) });
  if (outcome !== 'ran') throw new Error(`rollup job ${outcome}`);
  // Findings on every 10th server: one critical, two warnings, one acknowledged info.
  await pool.query(
    `INSERT INTO pgvigil.findings (key, check_id, server_id, object, kind, severity, title, explanation, evidence,
                                   action, state, first_seen, last_seen, opened_at)
     SELECT 'bench.' || f.n || '.' || s, 'bench.check', s, '', 'alert', f.severity, 'bench finding', 'seeded',
            '{}'::jsonb, 'none', f.state, $2, $2, $2
       FROM unnest($1::bigint[]) WITH ORDINALITY AS u(s, o)
      CROSS JOIN (VALUES (1, 'critical', 'open'), (2, 'warning', 'open'), (3, 'warning', 'open'),
                         (4, 'info', 'acknowledged')) f(n, severity, state)
      WHERE o % 10 = 3
     ON CONFLICT DO NOTHING`,
    [ids, at(30 * 60_000)],
  );
  await pool.query('VACUUM ANALYZE');
  return { serverIds: ids, rawRows, seconds: (performance.now() - t0) / 1000 };
}

/**
 * What ingest does while agents deliver: their `last_seen_at` moves on. Without it every seeded server
 * turns silent two minutes after seeding; the ones seeded silent (every 50th) stay silent.
 */
export async function keepAgentsSeen(pool: pg.Pool): Promise<void> {
  await pool.query(
    `UPDATE pgvigil.agents SET last_seen_at = now()
      WHERE hostname LIKE 'host-%' AND last_seen_at > now() - interval '5 minutes'`,
  );
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const servers = Number(arg('servers', '1000'));
  const calls = Number(arg('calls', '20'));
  const serve = process.argv.includes('--serve');
  const log = process.env.PGVIGIL_BENCH_LOG ? createLogger('warn') : silentLogger();
  let dir: string | undefined;
  let store: EmbeddedStore | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    dir = mkdtempSync(join(tmpdir(), 'pgvigil-bench-fleet-'));
    chmodSync(dir, 0o755);
    store = await startEmbeddedStore(join(dir, 'data'), log);
    url = store.url;
  }
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => {});
  let child: ChildProcess | undefined;
  try {
    await migrate(pool, log);
    if (!process.argv.includes('--seeded')) {
      const seeded = await timed(`seeding ${servers} servers`, () => seedFleet(pool, servers));
      process.stdout.write(
        `  ${seeded.rawRows.toLocaleString('en')} raw rows; minute tier rolled by the rollup job\n`,
      );
    }
    const { userId, password, name } = await (async () => {
      const n = `fleet-viewer-${Date.now()}`;
      const u = await addUser(pool, { name: n, role: 'viewer' });
      return { ...u, name: n };
    })();
    const { token } = await createApiToken(pool, { userId, name: 'fleet bench', role: 'viewer' });
    const server = await startServerChild(url);
    child = server.child;

    const cases: Array<[string, string]> = [
      ['last hour, the shared default view', ''],
      ['last hour, made for the request (to=now)', `to=${Date.now()}`],
      ['last 6 hours (minute tier, 600 s steps)', `from=${Date.now() - 6 * hourMs}`],
      ['status=down (filter)', 'status=down'],
    ];
    for (const [label, qs] of cases) {
      const once = async () => {
        const t0 = performance.now();
        const res = await fetch(`${server.url}/api/v1/fleet${qs ? `?${qs}` : ''}`, {
          headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'identity' },
        });
        const text = await res.text();
        const ms = performance.now() - t0;
        if (res.status !== 200) process.stdout.write(`  ${label}: ${res.status} ${text.slice(0, 120)}\n`);
        return { ms, text, ok: res.status === 200 };
      };
      await keepAgentsSeen(pool);
      for (let k = 0; k < 3; k++) await once(); // warm-up
      const lat: number[] = [];
      let shape = '';
      let failed = 0;
      for (let k = 0; k < calls; k++) {
        const { ms, text, ok } = await once();
        lat.push(ms);
        if (!ok) failed++;
        else if (!shape) {
          const body = JSON.parse(text) as { servers: Array<{ cpu: Array<number | null> }> };
          const line = body.servers[0]?.cpu ?? [];
          shape = `${body.servers.length} servers, ${line.length} steps a line (${line.filter((v) => v !== null).length} with a value), ${(text.length / 1e6).toFixed(2)} MB JSON`;
        }
      }
      lat.sort((x, y) => x - y);
      process.stdout.write(
        `${label.padEnd(42)} ${shape.padEnd(48)} p50 ${pct(lat, 50).toFixed(0)} ms  p95 ${pct(lat, 95).toFixed(0)} ms  max ${lat.at(-1)!.toFixed(0)} ms${failed ? `  (${failed} failed)` : ''}\n`,
      );
    }
    process.stdout.write(
      `\npgvigil ${version}, ${servers} servers, ${calls} sequential calls per case, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB\n`,
    );
    if (serve) {
      process.stdout.write(
        `\nserving at ${server.url} — viewer ${name} / ${password}, token ${token}; Ctrl-C or SIGTERM stops\n`,
      );
      const seen = setInterval(() => void keepAgentsSeen(pool).catch(() => {}), 10_000);
      // Either signal stops the server child too (a bench killed with `kill` must not leave it running).
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      clearInterval(seen);
    }
  } finally {
    if (child) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    await pool.end();
    await store?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

/**
 * The log-analysis job's cost per 100k log entries (src/server/jobs/log-analysis.ts): entries generated in
 * SQL into an embedded store, then one run of the job over them, timed, for three shapes:
 *   (a) typical: 100k entries of one server over 10 minutes, 200 distinct patterns (90% info/notice)
 *   (b) fleet: 10 servers × 10k entries, 50 patterns each
 *   (c) hostile: 100k entries of one server, every one a distinct fingerprint (the per-server bound on
 *       patterns at work: admitted up to it, the rest counted as dropped)
 * Each case starts from a fresh watermark right before its entries and prints ms per 100k entries (a
 * server's first run includes its first reconcile). Then a run with nothing new, and the hourly
 * reconcile alone, over a day (the default looks 3 hours back; it counts the raw entries of the window
 * against the hourly counts).
 *
 * Run: npm run build && node dist/bench/log-analysis.js [--no-analyze: without fresh planner statistics]
 */
import type pg from 'pg';
import { ensureServer } from '../src/server/auth/agents.js';
import { runLogAnalysis } from '../src/server/jobs/log-analysis.js';
import { withBenchStore } from './bench-store.js';

const min = 60_000;

async function seed(
  pool: pg.Pool,
  serverId: number,
  from: number,
  entries: number,
  patterns: number,
): Promise<void> {
  // Time-major like real ingest; `patterns` distinct fingerprints (0: one per entry).
  await pool.query(
    `INSERT INTO pgvigil.log_entries (server_id, ts, source, level, component, message, context, fingerprint)
     SELECT $1, $2::timestamptz + i * ($5::float8 / $3) * interval '1 millisecond',
            (ARRAY['postgresql','app','auth','kernel'])[1 + p % 4],
            CASE WHEN p % 10 = 0 THEN 'error' WHEN p % 10 = 1 THEN 'warning' WHEN p % 2 = 0 THEN 'info' ELSE 'notice' END,
            'svc', 'message of pattern ' || p || ' with value ' || i, '{}',
            left(md5('p' || p), 16)
       FROM generate_series(1, $3::int) i, LATERAL (SELECT CASE WHEN $4::int = 0 THEN i ELSE i % $4::int END AS p) x`,
    [serverId, new Date(from), entries, patterns, 10 * min],
  );
  await pool.query('UPDATE pgvigil.servers SET last_seen_at = now() WHERE server_id = $1', [serverId]);
}

async function main(): Promise<void> {
  await withBenchStore('logs', 4, async ({ pool }) => {
    const cases: Array<{ name: string; servers: number; perServer: number; patterns: number }> = [
      {
        name: '(a) typical: 1 server, 100k entries, 200 patterns',
        servers: 1,
        perServer: 100_000,
        patterns: 200,
      },
      {
        name: '(b) fleet: 10 servers × 10k entries, 50 patterns each',
        servers: 10,
        perServer: 10_000,
        patterns: 50,
      },
      {
        name: '(c) hostile: 1 server, 100k distinct fingerprints',
        servers: 1,
        perServer: 100_000,
        patterns: 0,
      },
    ];
    let n = 0;
    for (const c of cases) {
      const now = Date.now();
      const from = now - 15 * min;
      for (let s = 0; s < c.servers; s++) {
        const id = await ensureServer(pool, `bench-logs-${n++}`);
        await seed(pool, id, from, c.perServer, c.patterns);
      }
      if (!process.argv.includes('--no-analyze')) await pool.query('VACUUM ANALYZE pgvigil.log_entries');
      const t0 = performance.now();
      const r = await runLogAnalysis(pool, new Date(now));
      const ms = performance.now() - t0;
      const total = c.servers * c.perServer;
      console.log(
        `${c.name}: ${Math.round(ms)} ms for ${r.entries.toLocaleString('en')} entries = ${Math.round((ms * 100_000) / total)} ms per 100k (${r.chunks} chunks, ${r.newPatterns} new patterns, ${r.droppedPatterns} dropped)`,
      );
      // The next case measures its own servers only: these are caught up, their next run is empty.
    }
    const t1 = performance.now();
    await runLogAnalysis(pool, new Date(Date.now()));
    console.log(`caught-up run over ${n} servers: ${Math.round(performance.now() - t1)} ms`);
    // The hourly reconcile (late entries) alone, over a day: it counts the window's raw entries of every server.
    const t2 = performance.now();
    const r = await runLogAnalysis(pool, new Date(Date.now()), {
      reconcileEveryMs: 0,
      reconcileWindowMs: 24 * 60 * min,
    });
    const ms = performance.now() - t2;
    console.log(
      `reconcile of ${n} servers, 300,000 entries in their last day: ${Math.round(ms)} ms = ${Math.round(ms / 3)} ms per 100k entries in the window (${r.late} late)`,
    );
  });
}

await main();

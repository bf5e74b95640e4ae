/**
 * Log analysis end to end on a real server and store: entries pushed through the ingest route (and, for
 * bulk, inserted straight into log_entries), the log-analysis job run with a driven clock, the stored
 * patterns and hourly counts read back through the store and the API, the error-spike check opened and
 * resolved by the findings job, a live `log_pattern_new` heard on the store's channel, and 100k distinct
 * fingerprints kept to the per-server bound.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { fingerprintOf } from '../src/agent/logs/fingerprint.js';
import type { LogEntry, LogLevel } from '../src/protocol/logs.js';
import { defaultLogAnalysisOptions, runLogAnalysis } from '../src/server/jobs/log-analysis.js';
import { liveChannel } from '../src/storage/queries/live.sql.js';
import { logAnalysisState } from '../src/storage/queries/log-analysis.sql.js';
import { type FindingsServer, startFindingsServer } from './helpers/findings.js';

const min = 60_000;
const hour = 60 * min;

let fs: FindingsServer;

before(async () => {
  fs = await startFindingsServer('loganalysis');
});
after(async () => {
  await fs.close();
});

function entry(ts: number, source: string, level: LogLevel, message: string): LogEntry {
  return {
    ts: new Date(ts).toISOString(),
    source,
    level,
    component: 'app',
    message,
    context: {},
    fingerprint: fingerprintOf(source, level, message),
  };
}

async function get<T>(path: string): Promise<T> {
  const res = await fetch(`${fs.base}/api/v1${path}`, { headers: fs.admin });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as T;
}

interface PatternBody {
  patterns: Array<{
    serverId: number;
    fingerprint: string;
    source: string;
    level: string;
    firstSeen: string;
    lastSeen: string;
    count: number;
    sample: string;
    state: string;
    resolvedAt: string | null;
    reopenedAt: string | null;
    reopenCount: number;
  }>;
  nextCursor: string | null;
}

async function pattern(serverId: number, fingerprint: string) {
  const { rows } = await fs.ts.store.pool.query(
    `SELECT source, level, first_seen, last_seen, count::int AS count, sample, state, resolved_at, reopened_at,
            reopen_count FROM pgvigil.log_patterns WHERE server_id = $1 AND fingerprint = $2`,
    [serverId, fingerprint],
  );
  return rows[0];
}

describe('patterns', () => {
  // Whole hours in the past, so the driven clock can walk forward without passing real time.
  const t0 = Math.floor(Date.now() / hour) * hour - 5 * hour;
  const fpA = fingerprintOf('app', 'error', 'connection to 10.0.0.7 refused');
  const fpB = fingerprintOf('app', 'info', 'request 17 done');
  let serverId = 0;
  let agent: Awaited<ReturnType<FindingsServer['enroll']>>;

  test('a_run_records_each_fingerprint_with_first_last_count_and_the_newest_sample', async () => {
    agent = await fs.enroll('patterns-host');
    serverId = agent.serverId;
    const listener = new pg.Client({ connectionString: fs.ts.db.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => {
      if (n.payload?.includes('"log_pattern_new"')) heard.push(n.payload);
    });
    await listener.query(`LISTEN ${liveChannel}`);
    await fs.push(agent, [], {
      logs: [
        entry(t0 + 1 * min, 'app', 'error', 'connection to 10.0.0.7 refused'),
        entry(t0 + 2 * min, 'app', 'error', 'connection to 10.0.0.8 refused'),
        entry(t0 + 3 * min, 'app', 'error', 'connection to 10.0.0.9 refused'),
        entry(t0 + 2 * min, 'app', 'info', 'request 17 done'),
        entry(t0 + 2.5 * min, 'app', 'info', 'request 18 done'),
      ],
    });
    const r = await runLogAnalysis(fs.ts.store.pool, new Date(t0 + 10 * min));
    assert.equal(r.entries, 5);
    const a = await pattern(serverId, fpA);
    assert.equal(a.count, 3);
    assert.equal(a.level, 'error');
    assert.equal(a.state, 'open');
    assert.equal(a.first_seen.getTime(), t0 + 1 * min);
    assert.equal(a.last_seen.getTime(), t0 + 3 * min);
    assert.equal(a.sample, 'connection to 10.0.0.9 refused');
    assert.equal((await pattern(serverId, fpB)).count, 2);
    const state = await logAnalysisState(fs.ts.store.pool, serverId);
    assert.equal(state?.watermark.getTime(), t0 + 10 * min - defaultLogAnalysisOptions.settleMs);
    assert.equal(state?.entriesProcessed, 5);
    // A new error pattern is news on the live feed; an info pattern is not.
    for (let i = 0; i < 50 && heard.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
    await listener.end();
    assert.equal(heard.length, 1);
    const msg = JSON.parse(heard[0]!);
    assert.equal(msg.serverId, serverId);
    assert.equal(msg.fingerprint, fpA);
    assert.equal(msg.count, 3);

    // Running again over the same time counts nothing twice.
    await runLogAnalysis(fs.ts.store.pool, new Date(t0 + 10 * min));
    assert.equal((await pattern(serverId, fpA)).count, 3);
  });

  test('a_pattern_unseen_for_an_hour_is_resolved_and_reopened_when_it_comes_back', async () => {
    await runLogAnalysis(fs.ts.store.pool, new Date(t0 + 62 * min));
    assert.equal((await pattern(serverId, fpA)).state, 'open', 'not yet an hour before the watermark');
    await runLogAnalysis(fs.ts.store.pool, new Date(t0 + 70 * min));
    let a = await pattern(serverId, fpA);
    assert.equal(a.state, 'resolved');
    assert.equal(a.resolved_at.getTime(), t0 + 63 * min);

    await fs.push(agent, [], {
      logs: [entry(t0 + 80 * min, 'app', 'error', 'connection to 10.0.0.1 refused')],
    });
    await runLogAnalysis(fs.ts.store.pool, new Date(t0 + 90 * min));
    a = await pattern(serverId, fpA);
    assert.equal(a.state, 'open');
    assert.equal(a.count, 4);
    assert.equal(a.reopen_count, 1);
    assert.equal(a.reopened_at.getTime(), t0 + 80 * min);
    assert.equal(a.resolved_at, null);
    assert.equal(a.last_seen.getTime(), t0 + 80 * min);
  });

  test('hourly_counts_by_source_and_level_and_by_pattern_add_up', async () => {
    const { rows } = await fs.ts.store.pool.query(
      `SELECT hour, source, level, count::int AS count FROM pgvigil.log_counts_hourly
        WHERE server_id = $1 ORDER BY hour, level`,
      [serverId],
    );
    assert.deepEqual(
      rows.map((r) => [r.hour.getTime() - t0, r.source, r.level, r.count]),
      [
        [0, 'app', 'error', 3],
        [0, 'app', 'info', 2],
        [hour, 'app', 'error', 1],
      ],
    );
    const trends = await get<{
      series: Array<{
        source: string;
        level: string;
        total: number;
        points: Array<{ hour: string; count: number }>;
      }>;
      topPatterns: Array<{ fingerprint: string; total: number; sample: string | null; points: unknown[] }>;
      truncated: boolean;
    }>(`/log-trends?server=${serverId}&from=${t0 - hour}&to=${t0 + 3 * hour}`);
    assert.equal(trends.truncated, false);
    const errors = trends.series.find((s) => s.level === 'error');
    assert.equal(errors?.total, 4);
    assert.deepEqual(
      errors?.points.map((p) => p.count),
      [3, 1],
    );
    assert.equal(trends.topPatterns[0]?.fingerprint, fpA);
    assert.equal(trends.topPatterns[0]?.total, 4);
    assert.equal(trends.topPatterns[0]?.points.length, 2);
    assert.match(trends.topPatterns[0]?.sample ?? '', /refused/);
  });

  test('the_patterns_api_filters_sorts_and_pages', async () => {
    const all = await get<PatternBody>(`/log-patterns?server=${serverId}`);
    assert.deepEqual(
      all.patterns.map((p) => p.fingerprint),
      [fpA, fpB],
      'newest last seen first',
    );
    const newest = await get<PatternBody>(`/log-patterns?server=${serverId}&limit=1`);
    assert.equal(newest.patterns[0]?.fingerprint, fpA);
    const older = await get<PatternBody>(
      `/log-patterns?server=${serverId}&limit=1&cursor=${newest.nextCursor}`,
    );
    assert.deepEqual(
      older.patterns.map((p) => p.fingerprint),
      [fpB],
    );
    const byCount = await get<PatternBody>(`/log-patterns?server=${serverId}&sort=count&limit=1`);
    assert.equal(byCount.patterns[0]?.fingerprint, fpA);
    assert.equal(byCount.patterns[0]?.reopenCount, 1);
    assert.ok(byCount.nextCursor);
    const next = await get<PatternBody>(
      `/log-patterns?server=${serverId}&sort=count&limit=1&cursor=${byCount.nextCursor}`,
    );
    assert.deepEqual(
      next.patterns.map((p) => p.fingerprint),
      [fpB],
    );
    assert.equal(next.nextCursor, null);
    const errorsOnly = await get<PatternBody>(`/log-patterns?server=${serverId}&level=error,fatal&q=REFUSED`);
    assert.deepEqual(
      errorsOnly.patterns.map((p) => p.fingerprint),
      [fpA],
    );
    assert.equal((await get<PatternBody>(`/log-patterns?server=${serverId}&state=open`)).patterns.length, 1);
    for (const bad of [
      'level=loud',
      'sort=name',
      'cursor=xyz',
      'limit=100000',
      `cursor=${byCount.nextCursor}&sort=last_seen`,
    ]) {
      const res = await fetch(`${fs.base}/api/v1/log-patterns?${bad}`, { headers: fs.admin });
      assert.equal(res.status, 400, bad);
    }
    const noServer = await fetch(`${fs.base}/api/v1/log-trends`, { headers: fs.admin });
    assert.equal(noServer.status, 400);
    const tooLong = await fetch(`${fs.base}/api/v1/log-trends?server=${serverId}&from=0&to=${Date.now()}`, {
      headers: fs.admin,
    });
    assert.equal(tooLong.status, 400);
    const unknown = await fetch(`${fs.base}/api/v1/log-trends?server=999999`, { headers: fs.admin });
    assert.equal(unknown.status, 404);
  });
});

describe('late entries', () => {
  test('entries_arriving_behind_the_watermark_are_added_by_the_hourly_reconcile_without_reopening_or_counting_twice', async () => {
    const agent = await fs.enroll('late-host');
    const pool = fs.ts.store.pool;
    const t0 = Math.floor(Date.now() / hour) * hour - 5 * hour;
    const fpA = fingerprintOf('db', 'error', 'deadlock detected on 12');
    const fpC = fingerprintOf('db', 'error', 'could not open file 7');
    await fs.push(agent, [], { logs: [entry(t0 + 10 * min, 'db', 'error', 'deadlock detected on 12')] });
    await runLogAnalysis(pool, new Date(t0 + 20 * min));
    await runLogAnalysis(pool, new Date(t0 + 2 * hour));
    assert.equal((await pattern(agent.serverId, fpA)).state, 'resolved');
    // An agent back from an outage ships lines older than the watermark.
    await fs.push(agent, [], {
      logs: [
        entry(t0 + 12 * min, 'db', 'error', 'deadlock detected on 13'),
        entry(t0 + 15 * min, 'db', 'error', 'could not open file 7'),
      ],
    });
    const early = await runLogAnalysis(pool, new Date(t0 + 2 * hour + 10 * min));
    assert.equal(early.late, 0, 'reconciled at most once an hour');
    const r = await runLogAnalysis(pool, new Date(t0 + 3 * hour + 5 * min));
    assert.equal(r.late, 2);
    const a = await pattern(agent.serverId, fpA);
    assert.equal(a.count, 2);
    assert.equal(a.state, 'resolved', 'old lines do not reopen a pattern');
    assert.equal(a.reopen_count, 0);
    assert.equal(a.last_seen.getTime(), t0 + 12 * min);
    const c = await pattern(agent.serverId, fpC);
    assert.equal(c.count, 1);
    assert.equal(c.first_seen.getTime(), t0 + 15 * min);
    const counts = await pool.query(
      'SELECT hour, count::int AS count FROM pgvigil.log_counts_hourly WHERE server_id = $1',
      [agent.serverId],
    );
    assert.deepEqual(
      counts.rows.map((x) => [x.hour.getTime() - t0, x.count]),
      [[0, 3]],
    );
    const state = await logAnalysisState(pool, agent.serverId);
    assert.equal(state?.lateEntries, 2);
    assert.equal(state?.entriesProcessed, 3);
    // Reconciled again an hour later: nothing more to add.
    const again = await runLogAnalysis(pool, new Date(t0 + 4 * hour + 10 * min));
    assert.equal(again.late, 0);
    assert.equal((await pattern(agent.serverId, fpA)).count, 2);
  });
});

describe('error spikes', () => {
  test('a_burst_of_errors_far_above_the_hourly_baseline_opens_a_finding_that_resolves_when_the_rate_is_back', async () => {
    const agent = await fs.enroll('spike-host');
    const now = Date.now();
    // A baseline: 30 hours of one error and a few info lines an hour, before the hour the 5-minute window
    // starts in (at the top of an hour that is the hour before the current one).
    const pool = fs.ts.store.pool;
    await pool.query(
      `INSERT INTO pgvigil.log_entries (server_id, ts, source, level, message, fingerprint)
       SELECT $1, date_bin('1 hour', $2::timestamptz, TIMESTAMPTZ 'epoch') - h * interval '1 hour' + interval '7 minutes',
              'api', lvl, 'baseline ' || lvl, CASE lvl WHEN 'error' THEN 'aaaaaaaaaaaaaaaa' ELSE 'bbbbbbbbbbbbbbbb' END
         FROM generate_series(1, 30) h, unnest('{error,info,info}'::text[]) lvl`,
      [agent.serverId, new Date(now - 5 * min)],
    );
    // The spike: 40 errors in the last 4 minutes, two patterns, through ingest.
    const logs: LogEntry[] = [];
    for (let i = 0; i < 40; i++) {
      logs.push(
        entry(
          now - 4 * min + i * 5000,
          'api',
          'error',
          i % 4 === 0 ? `upstream ${i} timed out` : `could not connect to db-${i}: connection refused`,
        ),
      );
    }
    await fs.push(agent, [], { logs });
    await runLogAnalysis(pool, new Date(now));

    await fs.runJob(new Date(now));
    const [f] = await fs.findings(`check=logs.error_spike&server=${agent.serverId}`);
    assert.ok(f, 'spike finding');
    assert.equal(f.state, 'open');
    assert.equal(f.kind, 'alert');
    assert.equal(f.object, 'api');
    // 40 against the floor of 4: 10×, the top of the warning band.
    assert.equal(f.severity, 'warning');
    const ev = f.evidence as Record<string, unknown>;
    assert.equal(ev.count, 40);
    assert.equal(ev.baseline_hours, 30);
    assert.equal(ev.baseline_per_5min, Math.round((30 / 30 / 12) * 100) / 100);
    assert.equal(ev.baseline_floored, 4);
    assert.equal(ev.ratio, 10);
    // One error every hour: the hourly counts do not vary, so the usual high is the mean.
    assert.equal(ev.baseline_sd_5min, 0);
    assert.equal(ev.usual_high_5min, ev.baseline_per_5min);
    const top = ev.top_fingerprints as Array<{ count: number; sample: string }>;
    assert.equal(top[0]?.count, 30);
    assert.match(top[0]?.sample ?? '', /connection refused/);
    assert.match(f.action, /\/api\/v1\/logs\?server=\d+&source=api&minLevel=error&from=/);

    // Ten minutes later the window is quiet: two clear evaluations resolve it.
    await fs.runJob(new Date(now + 10 * min));
    await fs.runJob(new Date(now + 11 * min));
    const [g] = await fs.findings(`check=logs.error_spike&server=${agent.serverId}`);
    assert.equal(g?.state, 'resolved');
  });
});

describe('hostile input', () => {
  test('100k_distinct_fingerprints_stay_within_the_pattern_bound_and_are_counted_as_dropped', async () => {
    const agent = await fs.enroll('hostile-host');
    const pool = fs.ts.store.pool;
    const now = Date.now();
    // last_seen_at is set by a batch: one real entry.
    await fs.push(agent, [], { logs: [entry(now - 20 * min, 'flood', 'info', 'hello')] });
    await pool.query(
      `INSERT INTO pgvigil.log_entries (server_id, ts, source, level, message, fingerprint)
       SELECT $1, $2::timestamptz + i * interval '5 milliseconds', 'flood' || (i % 300), 'warning', 'junk ' || md5(i::text),
              left(md5(i::text), 16)
         FROM generate_series(1, 100000) i`,
      [agent.serverId, new Date(now - 15 * min)],
    );
    const started = performance.now();
    const r = await runLogAnalysis(pool, new Date(now));
    const ms = performance.now() - started;
    console.log(
      `log analysis of 100001 entries, 100001 fingerprints: ${Math.round(ms)} ms, ${r.chunks} chunks`,
    );
    const state = await logAnalysisState(pool, agent.serverId);
    assert.ok(state);
    assert.equal(state.entriesProcessed, 100_001);
    assert.ok(state.patterns <= defaultLogAnalysisOptions.maxPatterns, `${state.patterns} patterns`);
    assert.equal(state.patterns + state.droppedPatterns, 100_001);
    const { rows } = await pool.query(
      'SELECT sum(count)::int AS n FROM pgvigil.log_counts_hourly WHERE server_id = $1',
      [agent.serverId],
    );
    assert.equal(rows[0].n, 100_001, 'every entry is in the hourly counts, tracked or not');
    // 300 invented sources: each hour keeps 50 and counts the rest under (other).
    const sources = await pool.query(
      `SELECT hour, count(DISTINCT source)::int AS n, sum(count) FILTER (WHERE source = '(other)')::int AS other
         FROM pgvigil.log_counts_hourly WHERE server_id = $1 GROUP BY hour`,
      [agent.serverId],
    );
    // Which hours had more than 50 sources in the entries themselves (the flood may cross an hour, and the
    // one real entry may sit alone in the hour before).
    const raw = await pool.query<{ hour: Date; n: number }>(
      `SELECT date_bin('1 hour', ts, TIMESTAMPTZ 'epoch') AS hour, count(DISTINCT source)::int AS n
         FROM pgvigil.log_entries WHERE server_id = $1 GROUP BY 1`,
      [agent.serverId],
    );
    const crowded = new Set(raw.rows.filter((r) => r.n > 50).map((r) => r.hour.getTime()));
    assert.ok(crowded.size > 0, 'the flood made at least one hour with more than 50 sources');
    for (const h of sources.rows) {
      assert.ok(h.n <= 51, `${h.n} sources in an hour`);
      if (crowded.has((h.hour as Date).getTime())) assert.ok(h.other > 0, 'the excess is counted as (other)');
      else assert.ok(!h.other, 'an hour within the bound has no (other)');
    }
    const fp = await pool.query(
      'SELECT count(*)::int AS n FROM pgvigil.log_fingerprints_hourly WHERE server_id = $1',
      [agent.serverId],
    );
    assert.ok(fp.rows[0].n <= defaultLogAnalysisOptions.maxPatterns);
    // A later run at the bound still admits nothing beyond it.
    await runLogAnalysis(pool, new Date(now + min));
    assert.ok(
      (await logAnalysisState(pool, agent.serverId))!.patterns <= defaultLogAnalysisOptions.maxPatterns,
    );
  });
});

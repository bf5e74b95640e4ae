/**
 * The log-analysis job (every minute, advisory-locked like every job): keeps message patterns per server
 * (pgvigil.log_patterns), hourly log counts by source and level (log_counts_hourly) and by pattern
 * (log_fingerprints_hourly) up to date from pgvigil.log_entries, incrementally.
 *
 * Incremental reading. Each server has a watermark (log_analysis_state): every entry with ts below it has
 * been counted once. A run reads [watermark, now − settle) in chunks, each chunk in one transaction that
 * adds its counts and moves the watermark, so a crash mid-run loses nothing and counts nothing twice. A
 * chunk never crosses an hour boundary (one hour bucket per chunk) and holds at most `maxChunkRows`
 * entries (cut at an entry's ts; entries sharing one millisecond stay in one chunk, however many); a run
 * stops starting chunks after `budgetMs`, servers furthest behind first, and the next run goes on from
 * the watermarks. A server's first run starts at its oldest entry within `backfillMs`.
 *
 * Late entries. ts is when a line was written, not when it arrived: a batch can commit entries older than
 * the watermark. `settleMs` (2 min) covers the normal path (agent batching, shipping, group commit). For
 * the rest (an agent shipping its spool after an outage) each server is reconciled once an hour: hours of
 * the last 3 hours (before the watermark's hour) whose raw entries outnumber their hourly counts are
 * recounted, and the difference per pattern is added (see reconcileServer). The check counts those hours'
 * raw entries (about 110 ms per 100k, so each entry costs ~3 such counts); entries later than that are not
 * added: they stay searchable, and the log checks, which read raw windows, see them.
 *
 * Bounded patterns. A server keeps at most `maxPatterns` patterns. New fingerprints are admitted most
 * severe and most frequent first, at most `maxNewPerChunk` per chunk; when there is no room, resolved
 * patterns are evicted least recently seen first; what still finds no room is counted
 * (log_analysis_state.dropped_patterns / dropped_entries) and its entries stay in the hourly counts.
 *
 * Lifecycle. A pattern not seen for `quietMs` (1 h) before its server's watermark is resolved; seen again,
 * it is reopened (reopen_count, reopened_at). Resolved patterns are deleted 30 days after they were last
 * seen. log_fingerprints_hourly keeps every tracked pattern's hours for 48 h, then the top 20 per server and
 * hour. The hourly tables are partitioned by month and dropped whole by the partition maintainer.
 *
 * Live feed. A pattern recorded for the first time at level error or worse, first seen within the last 10
 * minutes (not a backfill), is published as `log_pattern_new` in the chunk's transaction.
 */
import type pg from 'pg';
import type { Logger } from '../../log.js';
import { logLevelRank } from '../../protocol/logs.js';
import {
  addFingerprintsHourly,
  addLogCountsHourly,
  advanceLogWatermark,
  aggregateLogChunk,
  type ChunkPattern,
  countLogPatterns,
  evictResolvedPatterns,
  lateLogHours,
  logAnalysisServers,
  logChunkEnd,
  oldestLogEntry,
  pruneResolvedPatterns,
  resolveQuietPatterns,
  trimFingerprintsHourly,
  type UpsertedPattern,
  upsertLogPatterns,
} from '../../storage/queries/log-analysis.sql.js';
import { inTransaction } from '../../storage/tx.js';
import type { LogPatternNewMessage } from '../live/messages.js';
import { publishLive } from '../live/notify.js';
import type { Job } from './runner.js';

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

export interface LogAnalysisOptions {
  intervalMs: number;
  /** Patterns kept per server. */
  maxPatterns: number;
  /** New patterns admitted per chunk. */
  maxNewPerChunk: number;
  /** Entries per chunk (one transaction). */
  maxChunkRows: number;
  /** No new chunk is started after this much of a run. */
  budgetMs: number;
  /** Entries younger than this are left for the next run (batches still on their way). */
  settleMs: number;
  /** A pattern unseen this long is resolved. */
  quietMs: number;
  /** How far back a server's first run starts. */
  backfillMs: number;
  /** Resolved patterns are deleted this long after they were last seen. */
  resolvedRetentionMs: number;
  /** Hours of log_fingerprints_hourly older than this keep only their `topPerHour` patterns. */
  trimAfterMs: number;
  topPerHour: number;
  /** How often each server is checked for entries that arrived behind its watermark, and how far back. */
  reconcileEveryMs: number;
  reconcileWindowMs: number;
}

export const defaultLogAnalysisOptions: LogAnalysisOptions = {
  intervalMs: 60_000,
  maxPatterns: 2000,
  maxNewPerChunk: 500,
  maxChunkRows: 50_000,
  budgetMs: 20_000,
  settleMs: 120_000,
  quietMs: hourMs,
  backfillMs: 7 * dayMs,
  resolvedRetentionMs: 30 * dayMs,
  trimAfterMs: 48 * hourMs,
  topPerHour: 20,
  reconcileEveryMs: hourMs,
  reconcileWindowMs: 3 * hourMs,
};

/** New patterns within this of now are news; older ones are a backfill. */
const liveNewsMs = 10 * 60_000;
const maxLivePerChunk = 10;

/** What one chunk does with its fingerprints: the tracked ones, and the new ones that get a place. */
export interface AdmissionPlan {
  known: ChunkPattern[];
  /** New fingerprints in admission order (most severe, most frequent), at most `maxNew`. */
  candidates: ChunkPattern[];
  /** Places free before any eviction. */
  room: number;
  /** Resolved patterns to evict so that every candidate gets a place. */
  evict: number;
}

/** Pure: which fingerprints of a chunk are updated, which may be admitted, what to evict. */
export function planAdmission(
  chunk: readonly ChunkPattern[],
  tracked: number,
  maxPatterns: number,
  maxNew: number,
): AdmissionPlan {
  const known = chunk.filter((c) => c.known);
  const candidates = chunk
    .filter((c) => !c.known)
    .sort(
      (a, b) =>
        logLevelRank[b.level] - logLevelRank[a.level] ||
        b.count - a.count ||
        (a.fingerprint < b.fingerprint ? -1 : 1),
    )
    .slice(0, Math.max(0, maxNew));
  const room = Math.max(0, maxPatterns - tracked);
  return { known, candidates, room, evict: Math.max(0, candidates.length - room) };
}

/** Pure: what was left untracked once `admitted` of the candidates got a place. */
export function dropTally(
  chunk: readonly ChunkPattern[],
  plan: AdmissionPlan,
  admitted: number,
): { droppedPatterns: number; droppedEntries: number; entries: number } {
  const head = chunk[0];
  if (!head) return { droppedPatterns: 0, droppedEntries: 0, entries: 0 };
  const tracked = [...plan.known, ...plan.candidates.slice(0, admitted)];
  const trackedEntries = tracked.reduce((s, c) => s + c.count, 0);
  return {
    droppedPatterns: head.totalFingerprints - tracked.length,
    droppedEntries: head.totalEntries - trackedEntries,
    entries: head.totalEntries,
  };
}

export interface LogAnalysisResult {
  servers: number;
  chunks: number;
  entries: number;
  newPatterns: number;
  droppedPatterns: number;
  evicted: number;
  resolved: number;
  pruned: number;
  trimmed: number;
  /** Entries found behind the watermarks and added. */
  late: number;
  /** log_pattern_new messages not published (the store's notification queue was over half full). */
  unpublished: number;
  /** Servers whose watermark is still behind `now − settle` after this run (out of budget). */
  behind: number;
}

const hourStart = (ms: number) => Math.floor(ms / hourMs) * hourMs;

/**
 * Adds grouped entries of one hour to the patterns (admitting new ones within the bound) and to that
 * hour's pattern counts.
 */
async function addGroups(
  client: pg.PoolClient,
  serverId: number,
  hour: Date,
  groups: readonly ChunkPattern[],
  o: LogAnalysisOptions,
  reopen: boolean,
) {
  const tracked = await countLogPatterns(client, serverId);
  const plan = planAdmission(groups, tracked, o.maxPatterns, o.maxNewPerChunk);
  const evicted = plan.evict > 0 ? await evictResolvedPatterns(client, serverId, plan.evict) : 0;
  const admitted = Math.min(plan.candidates.length, plan.room + evicted);
  const rows = [...plan.known, ...plan.candidates.slice(0, admitted)];
  const upserted = await upsertLogPatterns(client, serverId, rows, reopen);
  await addFingerprintsHourly(client, serverId, hour, rows);
  return { plan, admitted, evicted, upserted };
}

/**
 * Every transaction of the job reads in one snapshot: an entry committed between two of its statements
 * is counted by all of them or by none. The job is the only writer of these tables (its advisory lock),
 * so repeatable read never fails on a conflict.
 */
const snapshot = { begin: 'BEGIN ISOLATION LEVEL REPEATABLE READ' };

/** One chunk [from, to) of one server in one transaction; returns what it did. */
async function analyseChunk(
  client: pg.PoolClient,
  serverId: number,
  from: Date,
  to: Date,
  now: Date,
  o: LogAnalysisOptions,
): Promise<{ entries: number; inserted: number; dropped: number; evicted: number; unpublished: number }> {
  const chunk = await aggregateLogChunk(client, serverId, from, to, o.maxPatterns + o.maxNewPerChunk);
  const hour = new Date(hourStart(from.getTime()));
  const { plan, admitted, evicted, upserted } = await addGroups(client, serverId, hour, chunk, o, true);
  await addLogCountsHourly(client, serverId, from, to);
  const tally = dropTally(chunk, plan, admitted);
  await advanceLogWatermark(client, {
    serverId,
    watermark: to,
    entries: tally.entries,
    droppedPatterns: tally.droppedPatterns,
    droppedEntries: tally.droppedEntries,
    evicted,
  });
  const news = newPatternMessages(serverId, upserted, now.getTime());
  // News must not hold up the counting: publishLive refuses (before sending anything, so the transaction
  // is intact) when the store's notification queue is over half full; the news is then lost, counted.
  const unpublished = await publishLive(client, news).then(
    () => 0,
    () => news.length,
  );
  return {
    entries: tally.entries,
    inserted: upserted.filter((u) => u.inserted).length,
    dropped: tally.droppedPatterns,
    evicted,
    unpublished,
  };
}

/** Pure: the live messages for patterns first recorded now at level error or worse (not a backfill). */
export function newPatternMessages(
  serverId: number,
  upserted: readonly UpsertedPattern[],
  nowMs: number,
): LogPatternNewMessage[] {
  return upserted
    .filter(
      (u) =>
        u.inserted &&
        logLevelRank[u.level] >= logLevelRank.error &&
        u.firstSeen.getTime() >= nowMs - liveNewsMs,
    )
    .slice(0, maxLivePerChunk)
    .map((u) => ({
      type: 'log_pattern_new',
      serverId,
      fingerprint: u.fingerprint,
      source: u.source.slice(0, 100),
      level: u.level,
      sample: u.sample.slice(0, 300),
      count: Number(u.count),
      firstSeen: u.firstSeen.getTime(),
      ts: nowMs,
    }));
}

/**
 * Finds entries that arrived behind the watermark in the last `reconcileWindowMs` (hours whose raw count
 * exceeds their hourly counts) and adds them: the hour's counts by source and level are recounted, each
 * pattern gets what its hour's count lacks (log_fingerprints_hourly still holds every tracked pattern of
 * recent hours), new fingerprints are admitted as usual. Late entries add to counts and first/last seen;
 * they neither reopen a resolved pattern nor make news. Returns the late entries found.
 */
async function reconcileServer(
  pool: pg.Pool,
  serverId: number,
  wm: number,
  now: Date,
  o: LogAnalysisOptions,
): Promise<number> {
  const hours = await lateLogHours(
    pool,
    serverId,
    new Date(hourStart(wm) - o.reconcileWindowMs),
    new Date(wm),
  );
  let late = 0;
  for (const h of hours) {
    const start = h.hour;
    const end = new Date(Math.min(start.getTime() + hourMs, wm));
    await inTransaction(
      pool,
      async (client) => {
        const all = await aggregateLogChunk(
          client,
          serverId,
          start,
          end,
          o.maxPatterns + o.maxNewPerChunk,
          start,
        );
        const missing = all
          .filter((g) => g.count > g.stored)
          .map((g) => ({ ...g, count: g.count - g.stored }));
        const { evicted } = await addGroups(client, serverId, start, missing, o, false);
        await addLogCountsHourly(client, serverId, start, end, true);
        await advanceLogWatermark(client, {
          serverId,
          watermark: new Date(wm),
          entries: h.missing,
          droppedPatterns: 0,
          droppedEntries: 0,
          evicted,
          late: h.missing,
        });
      },
      snapshot,
    );
    late += h.missing;
  }
  await advanceLogWatermark(pool, {
    serverId,
    watermark: new Date(wm),
    entries: 0,
    droppedPatterns: 0,
    droppedEntries: 0,
    evicted: 0,
    reconciledAt: now,
  });
  return late;
}

/** One run over every active server, then the lifecycle sweeps. */
export async function runLogAnalysis(
  pool: pg.Pool,
  now: Date,
  opts: Partial<LogAnalysisOptions> = {},
): Promise<LogAnalysisResult> {
  const o = { ...defaultLogAnalysisOptions, ...opts };
  const started = performance.now();
  const limit = now.getTime() - o.settleMs;
  const r: LogAnalysisResult = {
    servers: 0,
    chunks: 0,
    entries: 0,
    newPatterns: 0,
    droppedPatterns: 0,
    evicted: 0,
    resolved: 0,
    pruned: 0,
    trimmed: 0,
    late: 0,
    unpublished: 0,
    behind: 0,
  };
  for (const s of await logAnalysisServers(pool, new Date(now.getTime() - o.backfillMs))) {
    r.servers++;
    let wm: number;
    if (s.watermark !== null) wm = s.watermark.getTime();
    else {
      const oldest = await oldestLogEntry(pool, s.serverId, new Date(now.getTime() - o.backfillMs));
      if (oldest === null) continue;
      wm = oldest.getTime();
    }
    while (wm < limit && performance.now() - started < o.budgetMs) {
      const from = new Date(wm);
      let to: Date = new Date(Math.min(limit, hourStart(wm) + hourMs));
      const cut = await logChunkEnd(pool, s.serverId, from, to, o.maxChunkRows);
      // Rows sharing the first millisecond beyond the cap are taken whole: a cut inside one ms is impossible.
      if (cut !== null) to = new Date(Math.max(cut.getTime(), wm + 1));
      const c = await inTransaction(
        pool,
        (client) => analyseChunk(client, s.serverId, from, to, now, o),
        snapshot,
      );
      r.chunks++;
      r.entries += c.entries;
      r.newPatterns += c.inserted;
      r.droppedPatterns += c.dropped;
      r.evicted += c.evicted;
      r.unpublished += c.unpublished;
      wm = to.getTime();
    }
    if (wm < limit) r.behind++;
    const due = s.reconciledAt === null || now.getTime() - s.reconciledAt.getTime() >= o.reconcileEveryMs;
    if (due && performance.now() - started < o.budgetMs) {
      r.late += await reconcileServer(pool, s.serverId, wm, now, o);
    }
  }
  r.resolved = await resolveQuietPatterns(pool, now, o.quietMs);
  r.pruned = await pruneResolvedPatterns(pool, new Date(now.getTime() - o.resolvedRetentionMs), 10_000);
  r.trimmed = await trimFingerprintsHourly(
    pool,
    new Date(hourStart(now.getTime() - o.trimAfterMs)),
    o.topPerHour,
  );
  return r;
}

export function logAnalysisJob(opts: Partial<LogAnalysisOptions> = {}): Job {
  const o = { ...defaultLogAnalysisOptions, ...opts };
  return {
    name: 'log-analysis',
    intervalMs: o.intervalMs,
    run: async ({ pool, log, now }: { pool: pg.Pool; log: Logger; now: Date }) => {
      const r = await runLogAnalysis(pool, now, o);
      if (r.entries > 0 || r.resolved > 0 || r.behind > 0 || r.late > 0) log.info(r, 'log analysis');
      if (r.behind > 0) log.warn({ behind: r.behind }, 'log analysis: servers left behind for the next run');
      if (r.unpublished > 0)
        log.warn({ unpublished: r.unpublished }, 'log analysis: new patterns not published');
    },
  };
}

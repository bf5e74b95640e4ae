/**
 * The rollup job: turns raw rows into the minute, hourly and daily tiers (src/storage/rollups.ts says what a
 * rollup row holds). Rolling an hour rolls its 60 minutes too, in the same statement per family: the
 * minute tier has no pending queue of its own.
 *
 * Which buckets: the ingest writer records every (server, hour) its rows touched in
 * `pgvigil.rollup_pending`. Each run (every minute) rolls the pending hours that ended at least `graceMs`
 * ago — plus the hour after each, when that one is over too, because a late row also changes the counter
 * step into the next hour. Rolling an hour records its day as pending; a day is rolled from the raw rows
 * (raw retention covers a late day) once it ended plus the grace. A late row therefore re-rolls its hour
 * and its day within a minute or two of arriving.
 *
 * How: units of work are (server, hour) and (server, day) pending rows, claimed a chunk of servers of one bucket
 * at a time (storage/queries/rollups.sql.ts, `claimPendingBuckets`): one transaction deletes the pending
 * rows with FOR UPDATE SKIP LOCKED (holding the writers' advisory lock exclusively for that statement only:
 * see ../ingest/rollup-pending.ts), locks the servers' minute marks, rolls every family with an upsert
 * (insert … on conflict do update), deletes rollup rows of those servers and that bucket the roll no longer
 * produces, and commits. Rolling a bucket again gives exactly the same rows, and readers never see a bucket
 * half rolled: until the commit the pending row is there and the series API reads raw rows.
 *
 * A bucket whose raw rows may already be partly dropped by retention is not rolled again (it would
 * overwrite good rollups with partial ones); its pending row is discarded with a warning.
 *
 * The running hour's minutes (`rollMinutes`, in the same run after the pending buckets): every server with
 * raw rows in this hour or the last has a mark in `pgvigil.rollup_minute_marks`; each run rolls its minutes
 * from the mark up to `minuteGraceMs` ago into the minute tier (the minute tier alone: the hour's own roll
 * comes once it ends) and moves the mark. Rows the writer commits older than a mark move the mark back (see
 * ../ingest/rollup-pending.ts), under the same writers' lock, held exclusively here only while the marks are
 * read and moved, so no row below a mark is missed. Rolling an hour moves the mark of its server back to the
 * start of the next hour (a late row in the hour changes the counter step into the next one). Readers take
 * minute rows up to the mark when its span starts at or before the first pending hour (storage/series.ts).
 * Wherever minutes are rolled, the fleet overview's narrow rows of those minutes are written from them in the
 * same transaction (storage/queries/fleet.sql.ts, `refreshFleetMinutes`).
 *
 * Who: every runner — each of an instance's `workers` connections, on every instance — claims from the one
 * queue, so several instances on one store share one backlog: a claimed row is skipped by the others, a row
 * is claimed once, and a server's hours go in order, one at a time (its next hour is claimable only once
 * the roll of the one before has committed; the hour after needs that one's minute tier). A backlog spreads
 * over servers, not over the hours of one server. The hour after a claimed hour, when it is due and not
 * pending itself, is rolled in the same transaction (its first counter step changed). A server's days are
 * claimed once none of its due hours is pending. The running hour's minutes are rolled after that by every
 * runner, chunk by chunk; a server whose mark another transaction holds is left to it (or to the next run).
 */
import type pg from 'pg';
import type { Logger } from '../../log.js';
import type { RetentionPolicy } from '../../storage/partitions.js';
import { refreshFleetMinutes } from '../../storage/queries/fleet.sql.js';
import {
  advisoryLock,
  advisoryUnlock,
  claimPendingBuckets,
  dueBuckets,
  ensureMinuteMarks,
  holdMinuteMarks,
  lockMinuteMarks,
  markDaysPending,
  pendingHourOf,
  rewindMinuteMarks,
  rollFamilyBucket,
  serversWithRecentRows,
  setMinuteMarks,
  unlockAllAdvisoryLocks,
} from '../../storage/queries/rollups.sql.js';
import { counterMaxGapSeconds, type RolledTier, rollupSpecs, tierMs } from '../../storage/rollups.js';
import { inTransaction } from '../../storage/tx.js';
import { minuteGraceMs, rollupPendingLock } from '../ingest/rollup-pending.js';
import { effectiveRetention } from '../settings.js';
import type { Job } from './runner.js';

export interface RollupOptions {
  /** How long after a bucket ends it is rolled (rows still in flight). Default 2 minutes. */
  graceMs?: number;
  /** Servers claimed per statement and transaction. Default 100. */
  serversPerChunk?: number;
  /** How far behind the clock the running hour's minutes are rolled. Default `minuteGraceMs`. */
  minuteGraceMs?: number;
}

export const defaultRollupGraceMs = 120_000;

export interface RollResult {
  /** Rollup rows written (inserted or updated). */
  produced: number;
  /** Rollup rows deleted because the raw rows no longer produce them. */
  deleted: number;
}

function checkAligned(tier: Exclude<RolledTier, 'minute'>, start: Date): void {
  if (start.getTime() % tierMs[tier] !== 0) {
    throw new Error(`${tier} bucket start ${start.toISOString()} is not on a ${tier} boundary (UTC)`);
  }
}

/** Rolls every family's bucket for these servers on `client` (inside the caller's transaction). */
async function rollOn(
  client: pg.PoolClient,
  tier: Exclude<RolledTier, 'minute'>,
  serverIds: readonly number[],
  start: Date,
): Promise<RollResult> {
  const end = new Date(start.getTime() + tierMs[tier]);
  const out = await rollRange(client, tier, serverIds, start, end);
  if (tier === 'hourly') await refreshFleetMinutes(client, serverIds, start, end);
  return out;
}

/** Rolls [start, end) of every family for these servers (one bucket, or a run of minutes). */
async function rollRange(
  client: pg.PoolClient,
  tier: RolledTier,
  serverIds: readonly number[],
  start: Date,
  end: Date,
): Promise<RollResult> {
  const out: RollResult = { produced: 0, deleted: 0 };
  for (const family of Object.keys(rollupSpecs)) {
    const r = await rollFamilyBucket(client, family, tier, serverIds, start, end);
    out.produced += r.produced;
    out.deleted += r.deleted;
  }
  return out;
}

/**
 * Rolls one bucket of one server, every family, in one transaction — what the job does, without the
 * pending queue. Idempotent.
 */
export async function rollBucket(
  pool: pg.Pool,
  b: { tier: Exclude<RolledTier, 'minute'>; serverId: number; bucketStart: Date },
): Promise<RollResult> {
  return rollBuckets(pool, { tier: b.tier, serverIds: [b.serverId], bucketStart: b.bucketStart });
}

/** `rollBucket` for several servers at once (one statement per family, as the job does). */
export async function rollBuckets(
  pool: pg.Pool,
  b: { tier: Exclude<RolledTier, 'minute'>; serverIds: readonly number[]; bucketStart: Date },
): Promise<RollResult> {
  checkAligned(b.tier, b.bucketStart);
  return inTransaction(pool, (client) => rollOn(client, b.tier, b.serverIds, b.bucketStart));
}

export interface PendingRunResult {
  /** Server-hours rolled (the hour after a claimed one, rolled with it, included). */
  hours: number;
  /** Server-days rolled. */
  days: number;
  produced: number;
  deleted: number;
  /** Server-buckets discarded: older than raw retention. */
  discarded: number;
}

/** Passes over the due buckets one call makes at most (late rows keep adding work; the next run goes on). */
const maxPasses = 1000;

/**
 * Claims and rolls due pending buckets until none is left that this runner can claim: hours first (each
 * records its day), then days. `now` decides what is due; `rawDays` is raw retention (buckets older than it
 * are discarded, not rolled). Any number of these may run at once on one store (see the header).
 */
export async function rollPending(
  pool: pg.Pool,
  opts: { now: Date; rawDays: number; log: Logger } & RollupOptions,
): Promise<PendingRunResult> {
  const grace = opts.graceMs ?? defaultRollupGraceMs;
  const chunk = Math.max(1, opts.serversPerChunk ?? 100);
  // The oldest bucket start whose raw rows (and the counter look-back before it) are surely all there.
  const oldestComplete = opts.now.getTime() - opts.rawDays * 86_400_000 + counterMaxGapSeconds * 1000;
  const hourCutoff = new Date(opts.now.getTime() - tierMs.hourly - grace);
  const result: PendingRunResult = { hours: 0, days: 0, produced: 0, deleted: 0, discarded: 0 };

  for (const tier of ['hourly', 'daily'] as const) {
    const cutoff = new Date(opts.now.getTime() - tierMs[tier] - grace);
    for (let pass = 0; pass < maxPasses; pass++) {
      let claimed = 0;
      // Oldest first: a server whose hour this pass rolls has its next hour claimable further on.
      for (const start of await dueBuckets(pool, tier, cutoff, hourCutoff)) {
        for (;;) {
          const n = await rollClaim(pool, tier, start, {
            hourCutoff,
            chunk,
            expired: start.getTime() < oldestComplete,
            log: opts.log,
            result,
          });
          if (n === 0) break;
          claimed += n;
        }
      }
      if (claimed === 0) break;
    }
  }
  return result;
}

/** One transaction: claims up to `chunk` servers' pending rows of one bucket and rolls them; how many it claimed. */
async function rollClaim(
  pool: pg.Pool,
  tier: Exclude<RolledTier, 'minute'>,
  start: Date,
  o: { hourCutoff: Date; chunk: number; expired: boolean; log: Logger; result: PendingRunResult },
): Promise<number> {
  const bucket = start.getTime();
  const result = o.result;
  // The writers' lock may still be held if the claim failed: never hand it back to the pool held.
  return inTransaction(
    pool,
    async (client) => {
      const ids = await claim(client, tier, start, o.hourCutoff, o.chunk);
      if (ids.length === 0) return 0;
      if (o.expired) {
        result.discarded += ids.length;
        o.log.warn(
          { tier, bucket: start.toISOString(), servers: ids.length },
          'rollup bucket older than raw retention: not rolled again',
        );
        return ids.length;
      }
      const add = (r: RollResult) => {
        result.produced += r.produced;
        result.deleted += r.deleted;
      };
      if (tier === 'daily') {
        add(await rollOn(client, tier, ids, start));
        result.days += ids.length;
        return ids.length;
      }
      // After the claim (which takes the writers' lock), before rolling: marks are locked before minute rows
      // by every roller (no lock cycle), and the running hour's minute rolls of these servers wait.
      await holdMinuteMarks(client, ids);
      const next = bucket + tierMs.hourly;
      // The hour after, when it is over and not pending itself (then it is claimed in its turn).
      const nextDue = next <= o.hourCutoff.getTime();
      const pendingNext = new Set(nextDue ? await pendingHourOf(client, ids, new Date(next)) : []);
      const alsoNext = nextDue ? ids.filter((id) => !pendingNext.has(id)) : [];
      await rewindMinuteMarks(
        client,
        ids.map((id) => [id, next] as const),
      );
      for (const [hour, group] of [
        [bucket, ids],
        [next, alsoNext],
      ] as const) {
        if (group.length === 0) continue;
        add(await rollOn(client, tier, group, new Date(hour)));
        await markDaysPending(client, group, new Date(Math.floor(hour / tierMs.daily) * tierMs.daily));
        result.hours += group.length;
      }
      return ids.length;
    },
    { afterRollback: unlockAllAdvisoryLocks },
  );
}

/**
 * Claims pending rows; hours under the writers' lock held exclusively: waits for every group transaction
 * that may have found these rows already there (so its rows are committed before the roll reads), and
 * makes later groups wait for this transaction's end and then insert the row again (see rollup-pending.ts).
 */
async function claim(
  client: pg.PoolClient,
  tier: Exclude<RolledTier, 'minute'>,
  start: Date,
  hourCutoff: Date,
  limit: number,
): Promise<number[]> {
  // Daily pending rows are written by rollers alone, in their transactions: no writer to wait for.
  const lock = tier === 'hourly';
  if (lock) await advisoryLock(client, rollupPendingLock);
  const ids = await claimPendingBuckets(client, tier, start, hourCutoff, limit);
  // On failure the caller releases it (pg_advisory_unlock_all after ROLLBACK).
  if (lock) await advisoryUnlock(client, rollupPendingLock);
  return ids;
}

export interface MinuteRunResult {
  servers: number;
  minutes: number;
  produced: number;
  deleted: number;
}

/**
 * Rolls the running hour's minutes (and the last minutes of the previous hour until that hour is rolled)
 * up to `minuteGraceMs` before `now`, from each server's mark; see the header. `firstChunk` is where this
 * runner starts in the list of chunks (runners starting apart rarely reach for the same marks).
 */
export async function rollMinutes(
  pool: pg.Pool,
  opts: { now: Date; serversPerChunk?: number; graceMs?: number; firstChunk?: number },
): Promise<MinuteRunResult> {
  const cut =
    Math.floor((opts.now.getTime() - (opts.graceMs ?? minuteGraceMs)) / tierMs.minute) * tierMs.minute;
  const hourStart = Math.floor(cut / tierMs.hourly) * tierMs.hourly;
  // A mark older than this is stale (the server was silent): start again at the running hour.
  const earliest = hourStart - tierMs.hourly;
  const chunk = Math.max(1, opts.serversPerChunk ?? 100);
  const result: MinuteRunResult = { servers: 0, minutes: 0, produced: 0, deleted: 0 };
  const servers = await serversWithRecentRows(pool, new Date(earliest));
  const chunks: number[][] = [];
  for (let i = 0; i < servers.length; i += chunk) chunks.push(servers.slice(i, i + chunk));
  const first = chunks.length === 0 ? 0 : Math.abs(Math.trunc(opts.firstChunk ?? 0)) % chunks.length;
  for (let k = 0; k < chunks.length; k++) {
    const ids = chunks[(first + k) % chunks.length]!;
    // Committed on its own: a new mark says nothing is rolled yet, which is true before this roll too.
    await ensureMinuteMarks(pool, ids, new Date(hourStart));
    await inTransaction(
      pool,
      async (client) => {
        // Exclusive while the marks move: every group transaction that committed rows below the new marks
        // without moving them back has ended, and later ones move them back after this commits.
        await advisoryLock(client, rollupPendingLock);
        const marks = await lockMinuteMarks(client, ids);
        const from = new Map<number, number[]>();
        const moved: Array<{ serverId: number; since: Date; rolledTo: Date }> = [];
        for (const m of marks) {
          const fresh = m.rolled_to.getTime() >= earliest;
          const start = fresh ? m.rolled_to.getTime() : hourStart;
          if (start >= cut) continue;
          const serverId = Number(m.server_id);
          from.set(start, [...(from.get(start) ?? []), serverId]);
          moved.push({ serverId, since: fresh ? m.since : new Date(hourStart), rolledTo: new Date(cut) });
        }
        await setMinuteMarks(client, moved);
        await advisoryUnlock(client, rollupPendingLock);
        for (const [start, group] of from) {
          const r = await rollRange(client, 'minute', group, new Date(start), new Date(cut));
          await refreshFleetMinutes(client, group, new Date(start), new Date(cut));
          result.produced += r.produced;
          result.deleted += r.deleted;
          result.minutes += ((cut - start) / tierMs.minute) * group.length;
        }
        result.servers += moved.length;
      },
      { afterRollback: unlockAllAdvisoryLocks },
    );
  }
  return result;
}

export interface RollupJobOptions extends RollupOptions {
  intervalMs?: number;
  /** Runners of this instance, each on its own connection (default 1). */
  workers?: number;
}

/**
 * The periodic job: every minute, roll what is due (see the header). The runner takes no job lock for it
 * (`ownLocks`): every instance runs it, and its runners claim their work from the one queue.
 */
export function rollupJob(retention: RetentionPolicy, opts: RollupJobOptions = {}): Job {
  return {
    name: 'rollups',
    intervalMs: opts.intervalMs ?? 60_000,
    ownLocks: true,
    run: async ({ pool, log, now }) => {
      const { rawDays } = await effectiveRetention(pool, retention);
      const started = performance.now();
      const total = { hours: 0, days: 0, produced: 0, deleted: 0, discarded: 0, minutes: 0 };
      const workers = Math.max(1, opts.workers ?? 1);
      // Instances and runners start at different chunks, so that two of them rarely reach for the same marks.
      const offset = Math.floor(Math.random() * 1_000_000);
      await Promise.all(
        Array.from({ length: workers }, async (_, w) => {
          const r = await rollPending(pool, { now, rawDays, log, ...opts });
          const m = await rollMinutes(pool, {
            now,
            serversPerChunk: opts.serversPerChunk,
            graceMs: opts.minuteGraceMs,
            firstChunk: offset + w,
          });
          total.hours += r.hours;
          total.days += r.days;
          total.produced += r.produced + m.produced;
          total.deleted += r.deleted + m.deleted;
          total.discarded += r.discarded;
          total.minutes += m.minutes;
        }),
      );
      if (total.hours + total.days + total.discarded > 0) {
        log.info({ ...total, ms: Math.round(performance.now() - started) }, 'rollups done');
      }
      return total;
    },
  };
}

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
 * How: per bucket and chunk of servers, one transaction deletes the pending rows (holding the writers'
 * advisory lock exclusively for that statement only: see ../ingest/rollup-pending.ts), rolls every family
 * with an upsert (insert … on conflict do update), deletes rollup rows of those servers and that bucket
 * the roll no longer produces, and commits. Rolling a bucket again gives exactly the same rows, and readers never
 * see a bucket half rolled: until the commit the pending row is there and the series API reads raw rows.
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
 * Who: servers fall into `rollupShards` shards (server id modulo); each run takes the shards one by one, each
 * under an advisory lock of its own, on `workers` connections at once. Several server instances on one
 * store therefore share the work — a shard another instance holds is skipped this round — instead of one
 * instance rolling everything while the others wait. Everything a roll touches (pending rows, minute marks,
 * days pending, rollup rows) belongs to the servers of one shard, so shards never meet.
 */
import type pg from 'pg';
import type { Logger } from '../../log.js';
import type { RetentionPolicy } from '../../storage/partitions.js';
import { refreshFleetMinutes } from '../../storage/queries/fleet.sql.js';
import { lockJob, unlockJob } from '../../storage/queries/jobs.sql.js';
import {
  advisoryLock,
  advisoryUnlock,
  deletePendingBuckets,
  lockMinuteMarks,
  markDaysPending,
  pendingBuckets,
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
  /** Only the servers this accepts (one shard); default all. */
  servers?: (serverId: number) => boolean;
  /** Servers rolled per statement and transaction. Default 100. */
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
  hours: number;
  days: number;
  produced: number;
  deleted: number;
  discarded: number;
}

/** The pending buckets of a tier that are due, expanded by the next bucket when that one is due too. */
async function duePlan(
  pool: pg.Pool,
  tier: Exclude<RolledTier, 'minute'>,
  cutoff: Date,
  accept: (serverId: number) => boolean,
): Promise<Array<{ bucket: number; servers: number[] }>> {
  const rows = await pendingBuckets(pool, tier, cutoff);
  const byBucket = new Map<number, Set<number>>();
  const add = (bucket: number, server: number) => {
    const s = byBucket.get(bucket) ?? new Set<number>();
    byBucket.set(bucket, s);
    s.add(server);
  };
  for (const r of rows) {
    const b = r.bucket.getTime();
    const server = Number(r.server_id);
    if (!accept(server)) continue;
    add(b, server);
    if (b + tierMs[tier] <= cutoff.getTime()) add(b + tierMs[tier], server);
  }
  return [...byBucket.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([bucket, s]) => ({ bucket, servers: [...s].sort((x, y) => x - y) }));
}

/**
 * Rolls every due pending bucket: hours first (each records its day), then days. `now` decides what is
 * due; `rawDays` is raw retention (buckets older than it are discarded, not rolled).
 */
export async function rollPending(
  pool: pg.Pool,
  opts: { now: Date; rawDays: number; log: Logger } & RollupOptions,
): Promise<PendingRunResult> {
  const grace = opts.graceMs ?? defaultRollupGraceMs;
  const chunk = opts.serversPerChunk ?? 100;
  // The oldest bucket start whose raw rows (and the counter look-back before it) are surely all there.
  const oldestComplete = opts.now.getTime() - opts.rawDays * 86_400_000 + counterMaxGapSeconds * 1000;
  const result: PendingRunResult = { hours: 0, days: 0, produced: 0, deleted: 0, discarded: 0 };

  for (const tier of ['hourly', 'daily'] as const) {
    const cutoff = new Date(opts.now.getTime() - tierMs[tier] - grace);
    for (const { bucket, servers } of await duePlan(pool, tier, cutoff, opts.servers ?? everyServer)) {
      const start = new Date(bucket);
      const expired = bucket < oldestComplete;
      for (let i = 0; i < servers.length; i += chunk) {
        const ids = servers.slice(i, i + chunk);
        // The writers' lock may still be held if the delete failed: never hand it back to the pool held.
        await inTransaction(
          pool,
          async (client) => {
            await deletePending(client, tier, ids, start);
            // Before rolling: marks are locked before minute rows by every roller (no lock cycle).
            if (tier === 'hourly' && !expired) {
              await rewindMinuteMarks(
                client,
                ids.map((id) => [id, bucket + tierMs.hourly] as const),
              );
            }
            if (expired) {
              result.discarded += ids.length;
              opts.log.warn(
                { tier, bucket: start.toISOString(), servers: ids.length },
                'rollup bucket older than raw retention: not rolled again',
              );
            } else {
              const r = await rollOn(client, tier, ids, start);
              result.produced += r.produced;
              result.deleted += r.deleted;
              if (tier === 'hourly') {
                await markDaysPending(
                  client,
                  ids,
                  new Date(Math.floor(bucket / tierMs.daily) * tierMs.daily),
                );
              }
            }
          },
          { afterRollback: unlockAllAdvisoryLocks },
        );
      }
      if (!expired) {
        if (tier === 'hourly') result.hours++;
        else result.days++;
      }
    }
  }
  return result;
}

/**
 * Deletes pending rows under the writers' lock held exclusively: waits for every group transaction that
 * may have found these rows already there (so its rows are committed before the roll reads), and makes
 * later groups wait for this transaction's end and then insert the row again (see rollup-pending.ts).
 */
async function deletePending(
  client: pg.PoolClient,
  tier: Exclude<RolledTier, 'minute'>,
  ids: readonly number[],
  start: Date,
): Promise<void> {
  // Daily pending rows are written by this job alone (under its job lock): no writer to wait for.
  const lock = tier === 'hourly';
  if (lock) await advisoryLock(client, rollupPendingLock);
  await deletePendingBuckets(client, tier, start, ids);
  // On failure the caller releases it (pg_advisory_unlock_all after ROLLBACK).
  if (lock) await advisoryUnlock(client, rollupPendingLock);
}

export interface MinuteRunResult {
  servers: number;
  minutes: number;
  produced: number;
  deleted: number;
}

/**
 * Rolls the running hour's minutes (and the last minutes of the previous hour until that hour is rolled)
 * up to `minuteGraceMs` before `now`, from each server's mark; see the header.
 */
export async function rollMinutes(
  pool: pg.Pool,
  opts: { now: Date; serversPerChunk?: number; graceMs?: number; servers?: (serverId: number) => boolean },
): Promise<MinuteRunResult> {
  const cut =
    Math.floor((opts.now.getTime() - (opts.graceMs ?? minuteGraceMs)) / tierMs.minute) * tierMs.minute;
  const hourStart = Math.floor(cut / tierMs.hourly) * tierMs.hourly;
  // A mark older than this is stale (the server was silent): start again at the running hour.
  const earliest = hourStart - tierMs.hourly;
  const chunk = opts.serversPerChunk ?? 100;
  const result: MinuteRunResult = { servers: 0, minutes: 0, produced: 0, deleted: 0 };
  const accept = opts.servers ?? everyServer;
  const servers = (await serversWithRecentRows(pool, new Date(earliest))).filter((id) => accept(id));
  for (let i = 0; i < servers.length; i += chunk) {
    const ids = servers.slice(i, i + chunk);
    await inTransaction(
      pool,
      async (client) => {
        // Exclusive while the marks move: every group transaction that committed rows below the new marks
        // without moving them back has ended, and later ones move them back after this commits.
        await advisoryLock(client, rollupPendingLock);
        const marks = await lockMinuteMarks(client, ids, new Date(hourStart));
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

const everyServer = () => true;

/** Shards the servers are split into for rolling (server id modulo this). */
export const rollupShards = 16;

export interface RollupJobOptions extends Omit<RollupOptions, 'servers'> {
  intervalMs?: number;
  /** Shards rolled at once by this instance, each on its own connection (default 1). */
  workers?: number;
}

/**
 * The periodic job: every minute, roll what is due, shard by shard (see the header). The runner takes no
 * job lock for it (`ownLocks`): each shard has its own.
 */
export function rollupJob(retention: RetentionPolicy, opts: RollupJobOptions = {}): Job {
  return {
    name: 'rollups',
    intervalMs: opts.intervalMs ?? 60_000,
    ownLocks: true,
    run: async ({ pool, log, now }) => {
      const { rawDays } = await effectiveRetention(pool, retention);
      const started = performance.now();
      // Instances start at different shards, so that two of them rarely reach for the same lock.
      const first = Math.floor(Math.random() * rollupShards);
      const queue = Array.from({ length: rollupShards }, (_, i) => (first + i) % rollupShards);
      const total = {
        shards: 0,
        skipped: 0,
        hours: 0,
        days: 0,
        produced: 0,
        deleted: 0,
        discarded: 0,
        minutes: 0,
      };
      const worker = async () => {
        for (let shard = queue.shift(); shard !== undefined; shard = queue.shift()) {
          const servers = (id: number) => id % rollupShards === shard;
          const ran = await withShardLock(pool, shard, async () => {
            const r = await rollPending(pool, { now, rawDays, log, ...opts, servers });
            const m = await rollMinutes(pool, { now, ...opts, graceMs: opts.minuteGraceMs, servers });
            total.hours += r.hours;
            total.days += r.days;
            total.produced += r.produced + m.produced;
            total.deleted += r.deleted + m.deleted;
            total.discarded += r.discarded;
            total.minutes += m.minutes;
          });
          if (ran) total.shards++;
          else total.skipped++;
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, opts.workers ?? 1) }, worker));
      if (total.hours + total.days + total.discarded > 0) {
        log.info({ ...total, ms: Math.round(performance.now() - started) }, 'rollups done');
      }
      return total;
    },
  };
}

/** Runs `fn` holding shard `shard`'s lock; false (and `fn` not run) when another holds it. */
async function withShardLock(pool: pg.Pool, shard: number, fn: () => Promise<void>): Promise<boolean> {
  const name = `rollups/${shard}`;
  const client = await pool.connect();
  try {
    if (!(await lockJob(client, name, false))) return false;
    try {
      await fn();
    } finally {
      await unlockJob(client, name).catch(() => {});
    }
    return true;
  } finally {
    client.release();
  }
}

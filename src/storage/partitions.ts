/**
 * Partition maintenance for every range-partitioned table in the `pgvigil` schema.
 *
 * The tier of a table follows from its name: `*_minute` tables hold minute rollups (one partition per UTC
 * day, kept as long as raw rows: `rawDays`), `*_hourly` tables hourly rollups (one partition per month),
 * `*_daily` tables daily rollups (one per year), all others raw samples (one per UTC day).
 * Partitions exist for the whole retention window plus `aheadDays` into the future, so a late row within
 * retention always has a partition; partitions entirely older than the retention are dropped — instant,
 * and no bloat left behind, unlike DELETE.
 *
 * Partition names carry their range (`host_cpu_p20261122`, `_p202611`, `_p2026`); only this module creates
 * partitions, so the name is the record of the range.
 */
import type pg from 'pg';
import type { Logger } from '../log.js';
import { quoteIdent } from './ddl.js';

export interface RetentionPolicy {
  rawDays: number;
  hourlyDays: number;
  dailyDays: number;
}

export const defaultRetention: RetentionPolicy = { rawDays: 7, hourlyDays: 90, dailyDays: 730 };

export type Tier = 'raw' | 'minute' | 'hourly' | 'daily';

export interface PartitionPlan {
  create: Array<{ parent: string; name: string; from: Date; to: Date }>;
  drop: string[];
}

export function tierOf(table: string): Tier {
  if (table.endsWith('_minute')) return 'minute';
  if (table.endsWith('_hourly')) return 'hourly';
  if (table.endsWith('_daily')) return 'daily';
  return 'raw';
}

const dayMs = 86_400_000;

/** Start of the partition period containing `t` (UTC). */
export function periodStart(tier: Tier, t: Date): Date {
  if (tier === 'raw' || tier === 'minute') {
    return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
  }
  if (tier === 'hourly') return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1));
  return new Date(Date.UTC(t.getUTCFullYear(), 0, 1));
}

export function nextPeriod(tier: Tier, start: Date): Date {
  if (tier === 'raw' || tier === 'minute') return new Date(start.getTime() + dayMs);
  if (tier === 'hourly') return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
  return new Date(Date.UTC(start.getUTCFullYear() + 1, 0, 1));
}

export function partitionName(parent: string, tier: Tier, start: Date): string {
  const y = String(start.getUTCFullYear());
  const m = String(start.getUTCMonth() + 1).padStart(2, '0');
  const d = String(start.getUTCDate()).padStart(2, '0');
  return `${parent}_p${tier === 'raw' || tier === 'minute' ? y + m + d : tier === 'hourly' ? y + m : y}`;
}

/** The start of the period a partition name stands for, or undefined for names not of our making. */
export function parsePartitionName(parent: string, name: string): Date | undefined {
  const m = new RegExp(`^${parent}_p(\\d{4})(\\d{2})?(\\d{2})?$`).exec(name);
  if (!m) return undefined;
  return new Date(Date.UTC(Number(m[1]), m[2] ? Number(m[2]) - 1 : 0, m[3] ? Number(m[3]) : 1));
}

function retentionDays(tier: Tier, r: RetentionPolicy): number {
  // The minute tier is kept as long as raw rows: it serves the same ranges (hours to a day and a half).
  return tier === 'raw' || tier === 'minute' ? r.rawDays : tier === 'hourly' ? r.hourlyDays : r.dailyDays;
}

/**
 * Pure planning: which partitions to create and drop for one parent, given the existing partition names.
 * A partition is dropped when its whole range lies before `now − retention`.
 */
export function planPartitions(
  parent: string,
  existing: readonly string[],
  now: Date,
  retention: RetentionPolicy,
  aheadDays: number,
  /** Create partitions only this far back (the rest of the window later); default: all of retention. */
  backfillDays?: number,
): PartitionPlan {
  const tier = tierOf(parent);
  const horizon = new Date(now.getTime() - retentionDays(tier, retention) * dayMs);
  const have = new Set(existing);
  const plan: PartitionPlan = { create: [], drop: [] };
  const until = new Date(now.getTime() + aheadDays * dayMs);
  const from =
    backfillDays === undefined
      ? horizon
      : new Date(Math.max(horizon.getTime(), now.getTime() - backfillDays * dayMs));
  for (let start = periodStart(tier, from); start <= until; start = nextPeriod(tier, start)) {
    const name = partitionName(parent, tier, start);
    if (!have.has(name)) plan.create.push({ parent, name, from: start, to: nextPeriod(tier, start) });
  }
  for (const name of existing) {
    const start = parsePartitionName(parent, name);
    if (start && nextPeriod(tier, start) <= horizon) plan.drop.push(name);
  }
  return plan;
}

export interface MaintainOptions {
  now?: Date;
  retention?: RetentionPolicy;
  aheadDays?: number;
  backfillDays?: number;
  /** Only tables of these tiers (default: all). */
  tiers?: readonly Tier[];
  log: Logger;
}

export interface MaintainResult {
  created: string[];
  dropped: string[];
}

/** Creates and drops partitions for every partitioned table in schema `pgvigil`. */
export async function maintainPartitions(pool: pg.Pool, opts: MaintainOptions): Promise<MaintainResult> {
  const now = opts.now ?? new Date();
  const retention = opts.retention ?? defaultRetention;
  const { rows } = await pool.query<{ parent: string; partitions: string[] }>(
    `SELECT c.relname AS parent,
            coalesce(array_agg(ch.relname::text) FILTER (WHERE ch.relname IS NOT NULL), '{}') AS partitions
       FROM pg_partitioned_table p
       JOIN pg_class c ON c.oid = p.partrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'pgvigil'
       LEFT JOIN pg_inherits i ON i.inhparent = c.oid
       LEFT JOIN pg_class ch ON ch.oid = i.inhrelid
      GROUP BY c.relname
      ORDER BY c.relname`,
  );
  const result: MaintainResult = { created: [], dropped: [] };
  // A transaction per parent, so that each parent's lock is held only for its own statements; all of them in
  // one round trip, so that a start waits for the store's work, not for as many round trips as parents.
  const transactions: string[] = [];
  for (const { parent, partitions } of rows) {
    if (opts.tiers && !opts.tiers.includes(tierOf(parent))) continue;
    const plan = planPartitions(parent, partitions, now, retention, opts.aheadDays ?? 3, opts.backfillDays);
    const statements = [
      ...plan.create.map(
        (
          p,
        ) => `CREATE TABLE IF NOT EXISTS pgvigil.${quoteIdent(p.name)} PARTITION OF pgvigil.${quoteIdent(parent)}
           FOR VALUES FROM ('${p.from.toISOString()}') TO ('${p.to.toISOString()}')`,
      ),
      ...plan.drop.map((name) => `DROP TABLE IF EXISTS pgvigil.${quoteIdent(name)}`),
    ];
    if (statements.length === 0) continue;
    transactions.push(['BEGIN', ...statements, 'COMMIT'].join(';\n'));
    result.created.push(...plan.create.map((p) => p.name));
    result.dropped.push(...plan.drop);
  }
  if (transactions.length > 0) await ddl(pool, transactions.join(';\n'));
  if (result.created.length + result.dropped.length > 0) {
    opts.log.info(
      { created: result.created.length, dropped: result.dropped.length },
      'partitions maintained',
    );
  }
  return result;
}

/**
 * DDL with a short lock timeout: waiting behind a long query would block every writer queued after us. Its
 * commits do not wait for their WAL to reach the disk (a first start creates a thousand partitions): a
 * crash may undo only the last of them, which the next pass does again, and a row written to a new
 * partition cannot outlive it, since the row's WAL follows the partition's. A statement that fails ends the
 * round trip: the transactions before it stay committed, its own is rolled back.
 */
async function ddl(pool: pg.Pool, sql: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("SET lock_timeout = '5s'; SET synchronous_commit = off");
    await client.query(sql).catch(async (err: unknown) => {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    });
  } finally {
    await client.query('RESET lock_timeout; RESET synchronous_commit').catch(() => {});
    client.release();
  }
}

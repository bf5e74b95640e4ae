/**
 * Reads from streaming standbys (`DATABASE_READ_URL`): the read API's time-series answers, the dashboard's
 * and the analysis's history go to a standby when it holds what the read asks for, so they do not share
 * the primary with ingest; anything else, and everything while no standby qualifies, reads the primary.
 *
 * Freshness is measured, not assumed. Every `probeIntervalMs` the router notes the primary's WAL position
 * with the time, then asks each standby how far it has replayed: a standby is "fresh until" the latest
 * noted time whose position it has replayed. A read of [from, to] goes to a standby that is fresh until
 * min(to, now − maxLag): it may miss at most the newest `maxLagMs` of data, never older rows. A read that
 * lies wholly within the last `maxLagMs` goes to the primary (a standby could miss all of it). A standby
 * that fails a read (gone, or a query cancelled by a recovery conflict) is set aside until its next good
 * probe and the read runs again on the primary, so a standby never turns an answer into an error.
 *
 * The router hangs off the primary's pool (`readReplicasOf(pool)`), so `inReadSnapshot` (./tx.ts) finds it
 * without every route carrying a second pool.
 */
import pg from 'pg';
import type { Logger } from '../log.js';
import { redactDatabaseUrl } from './connection.js';
import { handlePoolErrors } from './pool-errors.js';
import { primaryWalLsn, standbyReplay } from './queries/read-replicas.sql.js';

export interface ReadRange {
  from: Date;
  to: Date;
}

export interface ReadReplicaOptions {
  /** The newest data a standby's answer may lack, ms (default 5,000). */
  maxLagMs?: number;
  /** How often positions are compared, ms (default: `probeIntervalFor(maxLagMs)`). */
  probeIntervalMs?: number;
  /** Connections per standby (default 5). */
  poolSize?: number;
  log: Logger;
}

export type ReplicaState = 'ready' | 'lagging' | 'down' | 'not-a-standby' | 'starting';

export interface ReplicaStatus {
  /** The standby's URL, password masked. */
  url: string;
  state: ReplicaState;
  /** How far behind the primary it is, ms (as of the last probe); null when unknown. */
  lagMs: number | null;
  /** Reads it answered since start. */
  reads: number;
  /** Reads it was offered but lacked rows written after their time (a rolled hour), since start. */
  behind: number;
  /** Why it is down (absent otherwise). */
  error?: string;
}

/** A WAL position (`16/B374D848`) as a number that compares. */
export function parseLsn(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

export interface PositionSample {
  /** ms since the epoch */
  t: number;
  lsn: bigint;
}

/**
 * The latest time whose primary position `replayed` covers, from samples oldest first; undefined when it
 * covers none of them (further behind than the samples reach).
 */
export function freshUntil(samples: readonly PositionSample[], replayed: bigint): number | undefined {
  for (let i = samples.length - 1; i >= 0; i--) if (samples[i]!.lsn <= replayed) return samples[i]!.t;
  return undefined;
}

/** Whether a standby fresh until `fresh` may answer a read of `range` at `now`. */
export function standbyMayServe(
  fresh: number | undefined,
  range: ReadRange,
  now: number,
  maxLagMs: number,
): boolean {
  if (fresh === undefined) return false;
  const horizon = now - maxLagMs;
  if (range.from.getTime() >= horizon) return false;
  return fresh >= Math.min(range.to.getTime(), horizon);
}

interface Replica {
  url: string;
  pool: pg.Pool;
  state: ReplicaState;
  fresh?: number;
  lagMs: number | null;
  reads: number;
  behind: number;
  error?: string;
}

/** How far back the primary's positions are kept: a standby further behind shows an unknown lag. */
const historyMs = 10 * 60_000;

/**
 * How often positions are compared when not given: a lag is known only to within one probe interval (a
 * standby is fresh until the newest probe whose position it has replayed), so the interval is a quarter of
 * the bound it is held to — 1 s for the default 5 s, 100 ms at the least. A bound near 1 s probed every
 * second would have flipped a standby a few milliseconds behind between ready and lagging.
 */
export function probeIntervalFor(maxLagMs: number): number {
  return Math.min(1000, Math.max(100, Math.floor(maxLagMs / 4)));
}

const routers = new WeakMap<pg.Pool, ReadReplicas>();

/** The router attached to a primary pool, if reads may go to standbys. */
export function readReplicasOf(pool: pg.Pool): ReadReplicas | undefined {
  return routers.get(pool);
}

export class ReadReplicas {
  private readonly replicas: Replica[];
  private readonly samples: PositionSample[] = [];
  private readonly maxLagMs: number;
  private readonly probeMs: number;
  private readonly maxSamples: number;
  private next = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private probing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly primary: pg.Pool,
    urls: readonly string[],
    private readonly opts: ReadReplicaOptions,
  ) {
    this.maxLagMs = opts.maxLagMs ?? 5000;
    this.probeMs = opts.probeIntervalMs ?? probeIntervalFor(this.maxLagMs);
    this.maxSamples = Math.ceil(historyMs / this.probeMs);
    this.replicas = urls.map((url) => {
      const pool = new pg.Pool({
        connectionString: url,
        max: opts.poolSize ?? 5,
        connectionTimeoutMillis: 2000,
        idleTimeoutMillis: 30_000,
        keepAlive: true,
        application_name: 'pgvigil-server-read',
      });
      // A standby that goes away errors its connections, idle or lent to a read; the next probe marks it down.
      handlePoolErrors(pool, () => {});
      return {
        url: redactDatabaseUrl(url),
        pool,
        state: 'starting' as const,
        lagMs: null,
        reads: 0,
        behind: 0,
      };
    });
    routers.set(primary, this);
  }

  /** Starts probing; resolves after the first probe, so reads may use standbys from the first request. */
  async start(): Promise<void> {
    await this.probe();
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.probing = this.probe().finally(() => this.schedule());
    }, this.probeMs);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    let lsn: bigint;
    const t = Date.now();
    try {
      lsn = parseLsn(await primaryWalLsn(this.primary));
    } catch {
      // Without the primary's position no standby's freshness is known: they keep their last word, and
      // age with it (standbyMayServe compares it with the clock).
      return;
    }
    this.samples.push({ t, lsn });
    if (this.samples.length > this.maxSamples) this.samples.shift();
    await Promise.all(this.replicas.map((r) => this.probeReplica(r, t)));
  }

  private async probeReplica(r: Replica, primaryAt: number): Promise<void> {
    try {
      const s = await standbyReplay(r.pool);
      if (!s.inRecovery || s.replayLsn === null) {
        this.set(
          r,
          'not-a-standby',
          'not in recovery: a promoted standby or a primary, so its data may not be the store’s',
        );
        r.fresh = undefined;
        return;
      }
      r.fresh = freshUntil(this.samples, parseLsn(s.replayLsn));
      r.lagMs = r.fresh === undefined ? null : Math.max(0, primaryAt - r.fresh);
      this.set(r, r.lagMs !== null && r.lagMs <= this.maxLagMs ? 'ready' : 'lagging');
    } catch (err) {
      r.fresh = undefined;
      r.lagMs = null;
      this.set(r, 'down', (err as Error).message);
    }
  }

  private set(r: Replica, state: ReplicaState, error?: string): void {
    if (r.state !== state) {
      const msg = `read replica ${state}`;
      if (state === 'ready') this.opts.log.info({ replica: r.url }, msg);
      else if (r.state !== 'starting' || state !== 'lagging')
        this.opts.log.warn({ replica: r.url, error }, msg);
    }
    r.state = state;
    r.error = error;
  }

  /** A standby that may answer a read of `range` now (round robin among them), or undefined: the primary. */
  choose(range: ReadRange, now = Date.now()): { pool: pg.Pool; replica: Replica } | undefined {
    const n = this.replicas.length;
    for (let k = 0; k < n; k++) {
      const r = this.replicas[(this.next + k) % n]!;
      if (r.state === 'down' || r.state === 'not-a-standby') continue;
      if (!standbyMayServe(r.fresh, range, now, this.maxLagMs)) continue;
      this.next = (this.next + k + 1) % n;
      return { pool: r.pool, replica: r };
    }
    return undefined;
  }

  /** A read on `replica` answered. */
  served(replica: Replica): void {
    replica.reads++;
  }

  /** `replica` lacked what a read needed (its `holds` check): the primary answered; the standby stays. */
  behind(replica: Replica): void {
    replica.behind++;
  }

  /** A read on `replica` failed for a reason of the standby's: set it aside until its next good probe. */
  failed(replica: Replica, err: unknown): void {
    replica.fresh = undefined;
    this.set(replica, 'down', (err as Error).message);
  }

  status(): ReplicaStatus[] {
    return this.replicas.map((r) => ({
      url: r.url,
      state: r.state,
      lagMs: r.lagMs,
      reads: r.reads,
      behind: r.behind,
      ...(r.error ? { error: r.error } : {}),
    }));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.probing?.catch(() => {});
    routers.delete(this.primary);
    await Promise.all(this.replicas.map((r) => r.pool.end().catch(() => {})));
  }
}

/**
 * The agentless poller: each server instance runs one. Every tick it takes the poll slots that are due
 * (claimDueTargets: targets whose lease is its own or has expired) and, for each, runs the agent's
 * PostgreSQL collector against the target, seals the rows into a batch exactly as the agent's batcher does
 * (same families, columns and gzip), and hands it to the same ingest path an agent's push goes through:
 * decodeBatch (validation and digest) → target ids → COPY encoding → the group-commit writer (ledger row
 * under the target's agent id and the claimed seq) → the findings engine.
 *
 * One instance per target: a lease row per target in the store (owner, expires_at), not an advisory
 * lock. The claim is one UPDATE … WHERE (owner = me OR expired) AND due … RETURNING, so each poll slot
 * goes to exactly one instance even at a takeover, and it works through any pooled connection (an
 * advisory lock needs a session of its own held for the instance's life, and is lost unseen behind a
 * transaction-mode pooler). The lease also keeps a target with one instance, whose collector keeps its
 * connection and the statement counters that per-interval deltas need. Its expiry is 1.5 intervals
 * after the last poll: when the owner dies another instance takes the target at its first tick after
 * that, so the next poll comes at most 1.5 intervals plus a tick after the last one (within two
 * intervals for a tick ≤ interval / 2). A clean stop gives the leases up at once.
 *
 * Guarantees: the target's URL (with its password) is opened from its seal only into the collector and
 * never logged (log lines name the target and its host); a poll's failure is recorded on the target
 * (last_error) and never stops the others; the collector's own per-family degradation (permission denied,
 * a missing view) arrives as `pg_collector` rows like an agent's.
 */
import { hostname } from 'node:os';
import type pg from 'pg';
import { Batcher, type BatcherSpool } from '../../agent/batcher.js';
import {
  createPostgresCollector,
  type PostgresCollector,
} from '../../agent/collectors/postgres/collector.js';
import { componentLogger, type Logger } from '../../log.js';
import { batchMediaType, type ValidBatch } from '../../protocol/batch.js';
import type { SecretBox } from '../../secrets.js';
import {
  type ClaimedTarget,
  claimDueTargets,
  heldTargets,
  recordPollOutcome,
  releaseLeases,
} from '../../storage/queries/agentless.sql.js';
import type { Registry } from '../../telemetry/metrics.js';
import { encodeTable } from '../ingest/copy.js';
import { decodeBatch } from '../ingest/decode.js';
import { TargetResolver } from '../ingest/targets.js';
import type { IngestWriter } from '../ingest/writer.js';
import { sampleMessage } from '../live/summary.js';
import { defaultIngestLimits } from '../routes/ingest.js';
import { type SslMode, sslOptions } from './connection.js';
import { openTargetUrl } from './targets.js';

export interface AgentlessPollerOptions {
  pool: pg.Pool;
  writer: IngestWriter;
  /** Evaluates each written batch, as after an agent's push (absent when findings on ingest are off). */
  engine?: {
    onBatch(serverId: number, batch: ValidBatch, targetIds: ReadonlyMap<string, number>): Promise<void>;
  };
  secrets: SecretBox;
  log: Logger;
  /** This instance's name in the leases (default host:pid:random). */
  instanceId?: string;
  /** How often to look for due targets, ms (default 500). */
  tickMs?: number;
  /** The server's /metrics: pgvigil_agentless_polls_total{outcome} of this instance. */
  registry?: Registry;
}

export interface AgentlessPoller {
  instanceId: string;
  /** Polls this instance made (for tests and /metrics). */
  readonly polls: number;
  stop(): Promise<void>;
}

/** The lease lasts this many intervals after a poll (see the header). */
export const leaseIntervals = 1.5;

interface Held {
  collector: PostgresCollector;
  /** What the collector was made from: a changed target gets a new collector. */
  fingerprint: string;
}

/** PGVIGIL_AGENTLESS_TICK_MS: how often an instance looks for due targets (100–10000, default 500). */
export function agentlessTickFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.PGVIGIL_AGENTLESS_TICK_MS;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n >= 100 && n <= 10_000 ? n : undefined;
}

/** A spool that keeps the one batch the batcher seals: the poller's batches go straight to the writer. */
class OneBatch implements BatcherSpool {
  payload: Buffer | undefined;
  constructor(private readonly seq: number) {}
  nextSeq(): number {
    return this.seq;
  }
  pendingGaps() {
    return [];
  }
  async append(payload: Buffer): Promise<number> {
    this.payload = payload;
    return this.seq;
  }
}

export function startAgentlessPoller(opts: AgentlessPollerOptions): AgentlessPoller {
  const instanceId =
    opts.instanceId ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  const tickMs = opts.tickMs ?? 500;
  const log = componentLogger(opts.log, 'agentless', { instance: instanceId });
  const targets = new TargetResolver(opts.pool);
  const held = new Map<string, Held>();
  const running = new Map<string, Promise<void>>();
  /** The last failure logged per target: a failure that repeats every poll is logged when it changes. */
  const lastFailure = new Map<string, string>();
  let polls = 0;
  let stopped = false;
  const pollCounter = opts.registry?.counter(
    'pgvigil_agentless_polls_total',
    'Polls of agentless targets by this instance, by outcome (written, skipped: the previous one still ran, failed).',
  );
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;

  async function pollOne(t: ClaimedTarget): Promise<'written' | 'skipped'> {
    const targetId = Number(t.target_id);
    const serverId = Number(t.server_id);
    const fingerprint = `${t.key_id}|${t.url_sealed.toString('base64')}|${t.sslmode}|${t.ca_pem ?? ''}`;
    let h = held.get(t.target_id);
    if (h && h.fingerprint !== fingerprint) {
      await h.collector.close().catch(() => {});
      held.delete(t.target_id);
      h = undefined;
    }
    if (!h) {
      const url = openTargetUrl(opts.secrets, t);
      h = {
        collector: createPostgresCollector(url, {
          name: t.name,
          intervalMs: t.interval_ms,
          ssl: sslOptions(t.sslmode as SslMode, t.ca_pem),
        }),
        fingerprint,
      };
      held.set(t.target_id, h);
      log.info({ target: t.name, targetId }, 'agentless target taken');
    }
    const abort = new AbortController();
    // A poll is cut off after its interval, but never before the collector's own connect (5 s) and
    // statement (5 s) timeouts could report a down target as such: its rows are dropped, and slots that
    // come due meanwhile are skipped (startPoll), never stacked.
    const limitMs = Math.max(10_000, t.interval_ms);
    const timeout = setTimeout(() => abort.abort(), limitMs).unref();
    let rows: Awaited<ReturnType<PostgresCollector['collect']>>;
    try {
      rows = await h.collector.collect({
        procRoot: '/proc',
        sysRoot: '/sys',
        now: () => Date.now(),
        monotonic: () => performance.now(),
        log: log.child({ target: t.name }),
        signal: abort.signal,
      });
    } finally {
      clearTimeout(timeout);
    }
    if (abort.signal.aborted) throw new Error(`the collection took longer than ${limitMs} ms`);
    if (rows.length === 0) return 'skipped'; // the previous collection still runs
    const spool = new OneBatch(Number(t.seq));
    const batcher = new Batcher(() => t.agent_id, spool, log, 50_000, t.name);
    batcher.addRows(rows, t.name);
    await batcher.seal();
    if (!spool.payload) return 'skipped';
    const decoded = decodeBatch(
      { contentType: batchMediaType, contentEncoding: 'gzip', body: spool.payload },
      defaultIngestLimits,
    );
    if (!decoded.ok) throw decoded.error;
    const { batch } = decoded;
    const ids = await targets.resolve(serverId, batch);
    const outcome = await opts.writer.submit({
      serverId,
      agentId: t.agent_id,
      seq: batch.seq,
      chunks: batch.tables.map((table) => encodeTable(table, serverId, ids)),
      rowCount: batch.rowCount,
      gaps: batch.gaps,
      rejected: batch.rejected,
      digest: decoded.digest,
      status: decoded.status,
      live: sampleMessage(serverId, t.agent_id, batch, ids).json,
    });
    polls++;
    if (outcome === 'accepted') void opts.engine?.onBatch(serverId, batch, ids);
    return 'written';
  }

  function startPoll(t: ClaimedTarget): void {
    if (running.has(t.target_id)) return; // still polling the previous slot
    const p = pollOne(t)
      .then((outcome) => {
        pollCounter?.inc({ outcome });
        lastFailure.delete(t.target_id);
        return recordPollOutcome(opts.pool, Number(t.target_id), instanceId, null);
      })
      .catch(async (err: Error) => {
        pollCounter?.inc({ outcome: 'failed' });
        if (lastFailure.get(t.target_id) !== err.message) {
          lastFailure.set(t.target_id, err.message);
          log.warn(
            { target: t.name, err: { message: err.message, code: (err as { code?: string }).code } },
            'agentless poll failed',
          );
        }
        const reason = err.message.slice(0, 1000);
        await recordPollOutcome(opts.pool, Number(t.target_id), instanceId, reason).catch(() => {});
      })
      .finally(() => running.delete(t.target_id));
    running.set(t.target_id, p);
  }

  async function tick(): Promise<void> {
    const claimed = await claimDueTargets(opts.pool, instanceId, leaseIntervals, tickMs / 2);
    for (const t of claimed) startPoll(t);
    // Targets whose lease went to another instance (this one stalled) or that were removed: let go.
    const mine = new Set(await heldTargets(opts.pool, instanceId));
    for (const [id, h] of held) {
      if (mine.has(id) || running.has(id)) continue;
      held.delete(id);
      await h.collector.close().catch(() => {});
      log.info({ targetId: Number(id) }, 'agentless target let go');
    }
  }

  const loop = () => {
    if (stopped) return;
    ticking = tick()
      .catch((err: Error) => log.warn({ err: { message: err.message } }, 'agentless poller round failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, tickMs).unref();
      });
  };
  loop();

  return {
    instanceId,
    get polls() {
      return polls;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await ticking;
      await Promise.allSettled([...running.values()]);
      for (const h of held.values()) await h.collector.close().catch(() => {});
      held.clear();
      await releaseLeases(opts.pool, instanceId).catch(() => {});
    },
  };
}

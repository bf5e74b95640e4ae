/**
 * The ingest writer: group commit of many requests' batches into one transaction.
 *
 * Each group transaction inserts the ledger rows (server, agent, seq, digest) with ON CONFLICT DO NOTHING —
 * the ones that come back are new; the others were written before and are acknowledged as duplicates when
 * their digest matches the stored one, refused as conflicts (409) when it does not — then COPYs the new
 * batches' rows per table, records gaps and rejected rows, marks the agents seen with their latest
 * self-report, and commits. A new batch whose seq is below the agent's highest stored one (an agent that
 * lost its state and counts again) is written, and logged and counted as a regression. A request's promise
 * resolves only after that commit, so an acknowledgement always means durable, and a retried batch is
 * written once (at-least-once delivery + idempotent receiver = exactly-once effect).
 *
 * If a group fails on a data error, its batches are retried one by one so one bad batch cannot fail the
 * others; a batch that fails alone is refused (400). Losing the store fails the group with 503, and a
 * full queue pushes back with 503 at once instead of buffering without bound.
 */
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { WireGap } from '../../protocol/batch.js';
import {
  beginWithLedgerRows,
  type CopyTable,
  copyTables,
  type GapRow,
  insertGapsSql,
  ledgerDigests,
  touchAgentsSql,
} from '../../storage/queries/ingest.sql.js';
import { commit, commitAfter, inTransaction, isConnectionError, storeUnavailable } from '../../storage/tx.js';
import type { Registry } from '../../telemetry/metrics.js';
import type { CopyChunk } from './copy.js';
import { touchedHoursStatements } from './rollup-pending.js';

export interface IngestItem {
  serverId: number;
  agentId: string;
  seq: number;
  chunks: CopyChunk[];
  rowCount: number;
  gaps: WireGap[];
  rejected: { future: number; tooOld: number };
  /** SHA-256 of the batch's content (src/server/ingest/decode.ts). */
  digest: Buffer;
  /** The agent's self-report as JSON text, stored with its presence. */
  status?: string;
  /** The live feed's `sample` message for this batch, serialised (src/server/live/summary.ts). */
  live?: string;
}

export type WriteOutcome = 'accepted' | 'duplicate';
type GroupOutcome = WriteOutcome | 'conflict';

interface Pending {
  item: IngestItem;
  resolve(o: WriteOutcome): void;
  reject(e: Error): void;
}

export interface WriterOptions {
  /** Rows per group transaction (a group takes at least one batch). */
  maxGroupRows?: number;
  /** Rows waiting beyond which new batches are refused with 503. */
  maxQueueRows?: number;
  /** Group transactions in flight at once. */
  concurrency?: number;
  /**
   * While a group is in flight, another starts only once this many rows wait (or when it ends). Each group
   * pays fixed costs in the store — a COPY per table (opening the partition and its indexes), the ledger
   * statement, a commit — so a second writer that took the one batch just queued would pay them all for it;
   * and two small groups side by side cost the store more than the same two one after the other
   * (bench/RESULTS.md, "a second group waits for 1,000 rows").
   */
  concurrentGroupRows?: number;
  /**
   * Runs inside each group transaction, after its rows, with the batches it writes: the live feed's
   * NOTIFY (src/server/live/notify.ts), delivered only if the transaction commits.
   */
  announce?: Announcer;
}

/** What a group transaction announces of the batches it writes (src/server/live/notify.ts). */
export interface Announcer {
  /** A statement sent last in the group's COPY message (it must return rows), with the batches written. */
  statement(written: readonly IngestItem[]): string;
  /**
   * With the rows that statement returned (as text): a statement to send with the group's COMMIT, in the
   * same message, and what to do with its answer; null: none.
   */
  beforeCommit(
    written: readonly IngestItem[],
    rows: ReadonlyArray<ReadonlyArray<string | null>>,
  ): { sql: string; answered(rows: ReadonlyArray<Record<string, unknown>>): void } | null;
}

export function ingestMetrics(registry: Registry) {
  return {
    batches: registry.counter(
      'pgvigil_ingest_batches_total',
      'Batches written, by outcome (accepted, duplicate).',
    ),
    rows: registry.counter('pgvigil_ingest_rows_total', 'Rows written to the store.'),
    rejectedRows: registry.counter('pgvigil_ingest_rejected_rows_total', 'Rows refused, by reason.'),
    rejectedBatches: registry.counter(
      'pgvigil_ingest_rejected_batches_total',
      'Requests refused, by reason.',
    ),
    writeSeconds: registry.histogram(
      'pgvigil_ingest_write_seconds',
      'Duration of one group commit transaction.',
    ),
    groupSize: registry.histogram(
      'pgvigil_ingest_group_batches',
      'Batches per group commit.',
      [1, 2, 4, 8, 16, 32, 64, 128, 256],
    ),
    queueDepth: registry.gauge('pgvigil_ingest_queue_rows', 'Rows waiting for a group commit.'),
    seqRegressions: registry.counter(
      'pgvigil_ingest_seq_regressions_total',
      'New batches whose seq is below the highest one stored for their agent.',
    ),
  };
}

export type IngestMetrics = ReturnType<typeof ingestMetrics>;

function isMissingPartition(err: unknown): boolean {
  return /no partition of relation/i.test((err as Error).message ?? '');
}

export class IngestWriter {
  private queue: Pending[] = [];
  private queuedRows = 0;
  private active = 0;
  private readonly maxGroupRows: number;
  private readonly maxQueueRows: number;
  private readonly concurrency: number;
  private readonly concurrentGroupRows: number;
  private readonly announce: WriterOptions['announce'];
  private readonly lastSeen = new Map<string, number>();
  private idle: Array<() => void> = [];

  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
    private readonly metrics: IngestMetrics,
    opts: WriterOptions = {},
  ) {
    this.maxGroupRows = opts.maxGroupRows ?? 50_000;
    this.maxQueueRows = opts.maxQueueRows ?? 1_000_000;
    this.concurrency = opts.concurrency ?? 2;
    this.concurrentGroupRows = opts.concurrentGroupRows ?? 1_000;
    this.announce = opts.announce;
    metrics.queueDepth.set(() => this.queuedRows);
  }

  submit(item: IngestItem): Promise<WriteOutcome> {
    if (this.queuedRows + item.rowCount > this.maxQueueRows && this.queue.length > 0) {
      this.metrics.rejectedBatches.inc({ reason: 'overloaded' });
      return Promise.reject(new PgvigilError('INGEST_OVERLOADED'));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.queuedRows += item.rowCount;
      this.pump();
    });
  }

  /** Resolves when nothing is queued or being written. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.active === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private pump(): void {
    while (this.active < this.concurrency && this.queue.length > 0) {
      if (this.active > 0 && this.queuedRows < this.concurrentGroupRows) return;
      const group: Pending[] = [];
      let rows = 0;
      while (
        this.queue.length > 0 &&
        (group.length === 0 || rows + this.queue[0]!.item.rowCount <= this.maxGroupRows)
      ) {
        const p = this.queue.shift()!;
        rows += p.item.rowCount;
        group.push(p);
      }
      this.queuedRows -= rows;
      this.active++;
      void this.writeGroup(group).finally(() => {
        this.active--;
        this.pump();
        if (this.queue.length === 0 && this.active === 0) {
          for (const r of this.idle.splice(0)) r();
        }
      });
    }
  }

  private async writeGroup(group: Pending[]): Promise<void> {
    try {
      const outcomes = await this.transaction(group.map((p) => p.item));
      group.forEach((p, i) => {
        this.settle(p, outcomes[i]!);
      });
      return;
    } catch (err) {
      if (isConnectionError(err) || isMissingPartition(err) || group.length === 1) {
        for (const p of group) p.reject(this.classify(err));
        return;
      }
      this.log.warn({ err, batches: group.length }, 'group failed; retrying batches one by one');
    }
    for (const p of group) {
      try {
        this.settle(p, (await this.transaction([p.item]))[0]!);
      } catch (err) {
        p.reject(this.classify(err));
      }
    }
  }

  private settle(p: Pending, outcome: GroupOutcome): void {
    if (outcome !== 'conflict') {
      p.resolve(outcome);
      return;
    }
    this.metrics.rejectedBatches.inc({ reason: 'conflict' });
    p.reject(
      new PgvigilError(
        'BATCH_CONFLICT',
        `agent ${p.item.agentId} sent seq ${p.item.seq} before with other content; a sealed batch never changes`,
      ),
    );
  }

  private classify(err: unknown): PgvigilError {
    if (err instanceof PgvigilError) return err;
    if (isConnectionError(err) || isMissingPartition(err)) return storeUnavailable(err);
    this.metrics.rejectedBatches.inc({ reason: 'store-refused' });
    return new PgvigilError(
      'INGEST_REFUSED_BY_STORE',
      `the store refused this batch: ${(err as Error).message}`,
    );
  }

  /** One transaction for a group; returns each item's outcome in order. */
  private async transaction(items: IngestItem[]): Promise<GroupOutcome[]> {
    const started = performance.now();
    const now = Date.now();
    // Round trips: BEGIN with the ledger insert; the digests of batches already stored (only when there
    // are such); the COPYs with the statements after them (rollup hours, gaps, presence, the announce hook's
    // online flips); the announce hook's NOTIFY with COMMIT.
    const done = await inTransaction(
      this.pool,
      async (client) => {
        const ledger = await beginWithLedgerRows(client, items);
        const outcomes = await this.outcomes(client, items, ledger.inserted);
        const toWrite = items.filter((_, k) => outcomes[k] === 'accepted');
        const regressions = toWrite.flatMap((item) => {
          const highest = ledger.highestBefore.get(item.agentId);
          return highest != null && item.seq < highest
            ? [{ agentId: item.agentId, seq: item.seq, highestSeq: highest }]
            : [];
        });

        const byTable = new Map<string, CopyTable & { parts: Buffer[] }>();
        for (const item of toWrite) {
          for (const c of item.chunks) {
            if (c.rows === 0) continue;
            const key = `${c.table}(${c.columns.join(',')})`;
            let g = byTable.get(key);
            if (!g) {
              g = { table: c.table, once: c.once, columns: c.columns, parts: [] };
              byTable.set(key, g);
            }
            g.parts.push(c.tuples);
          }
        }
        const after = touchedHoursStatements(toWrite, now);

        const gapRows: GapRow[] = [];
        for (const item of toWrite) {
          for (const gap of item.gaps)
            gapRows.push([item.serverId, item.agentId, gap.reason, gap.fromSeq, gap.toSeq, gap.count]);
          if (item.rejected.future > 0)
            gapRows.push([
              item.serverId,
              item.agentId,
              'rows-in-future',
              item.seq,
              item.seq,
              item.rejected.future,
            ]);
          if (item.rejected.tooOld > 0)
            gapRows.push([
              item.serverId,
              item.agentId,
              'rows-too-old',
              item.seq,
              item.seq,
              item.rejected.tooOld,
            ]);
        }
        after.push(...insertGapsSql(gapRows));
        // Presence (and the self-report with it) at most every 10 s per agent: one row update per agent and
        // group would otherwise contend between concurrent groups of the same agents.
        const latestStatus = new Map<string, string>();
        for (const item of toWrite)
          if (item.status !== undefined) latestStatus.set(item.agentId, item.status);
        const seen = [...new Set(toWrite.map((i) => i.agentId))]
          .filter((a) => now - (this.lastSeen.get(a) ?? 0) > 10_000)
          .sort();
        if (seen.length > 0)
          after.push(
            ...touchAgentsSql(
              seen,
              seen.map((a) => latestStatus.get(a) ?? null),
            ),
          );
        // The announce hook's statement last: its rows are the last result of the message.
        const announce = this.announce && toWrite.length > 0 ? this.announce : undefined;
        if (announce) after.push(announce.statement(toWrite));
        // Every table of the group and the statements above in one round trip and one socket write.
        const results = await copyTables(client, [...byTable.values()], after);
        const last = announce?.beforeCommit(toWrite, results.at(-1)?.rows ?? []);
        if (last) last.answered(await commitAfter(client, last.sql));
        else await commit(client);
        return { outcomes, toWrite, regressions, seen };
      },
      { begin: null, commit: null },
    );
    const { outcomes, toWrite, regressions, seen } = done;
    for (const a of seen) this.lastSeen.set(a, now);
    for (const r of regressions) {
      this.metrics.seqRegressions.inc();
      this.log.warn(r, 'batch sequence went backwards (agent state lost or reset?); batch written');
    }

    this.metrics.writeSeconds.observe((performance.now() - started) / 1000);
    this.metrics.groupSize.observe(items.length);
    for (const o of outcomes) if (o !== 'conflict') this.metrics.batches.inc({ outcome: o });
    this.metrics.rows.inc(
      undefined,
      toWrite.reduce((n, i) => n + i.rowCount, 0),
    );
    for (const item of toWrite) {
      if (item.rejected.future) this.metrics.rejectedRows.inc({ reason: 'future' }, item.rejected.future);
      if (item.rejected.tooOld) this.metrics.rejectedRows.inc({ reason: 'too-old' }, item.rejected.tooOld);
    }
    return outcomes;
  }

  /**
   * Accepted (its ledger row is new), duplicate (the stored batch has the same digest, or was stored
   * before digests were kept) or conflict. The same batch twice in one group (a retry that overtook its
   * original): the first one writes, the second compares with it.
   */
  private async outcomes(
    client: pg.PoolClient,
    items: readonly IngestItem[],
    inserted: Set<string>,
  ): Promise<GroupOutcome[]> {
    const fresh = new Set(inserted);
    const inGroup = new Map<string, Buffer>();
    const old: IngestItem[] = [];
    for (const i of items) {
      const key = `${i.agentId}/${i.seq}`;
      if (fresh.has(key)) {
        fresh.delete(key);
        inGroup.set(key, i.digest);
      } else if (!inGroup.has(key)) old.push(i);
    }
    // Asked after the insert, in a new statement: a row a concurrent group committed meanwhile is seen.
    const stored = old.length > 0 ? await ledgerDigests(client, old) : new Map<string, Buffer | null>();
    const firstOf = new Set(inserted);
    return items.map((i) => {
      const key = `${i.agentId}/${i.seq}`;
      if (firstOf.has(key)) {
        firstOf.delete(key);
        return 'accepted';
      }
      const digest = inGroup.get(key) ?? stored.get(key);
      return digest == null || digest.equals(i.digest) ? 'duplicate' : 'conflict';
    });
  }
}

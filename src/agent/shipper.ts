/**
 * The shipper: sends spooled batches to the server, oldest first, one at a time, and acknowledges each in
 * the spool only after the server answered 200 (accepted or duplicate — both mean "it is in the store").
 *
 * Answers and what they do:
 * - 200: acknowledge; next.
 * - 401, 403: the credential was rejected → pause sending (data stays in the spool), say so once, retry
 *   every `authPauseMs`.
 * - 408, 429: the request, not the batch, was the trouble → wait `Retry-After` (or back off) and retry.
 * - every other 4xx (400, 409 a different batch already stored under this seq, 413, 415, 422, …): the
 *   server will never take this batch → dead-letter folder with the server's reason, counted, next. A
 *   4xx retried forever would block every later batch behind it.
 * - 5xx (503 with `Retry-After` honoured), anything else, network errors, timeouts: exponential backoff
 *   with full jitter, capped at 60 s.
 *
 * Every failed attempt is counted by its HTTP status (or `network` when no answer came), and so is every
 * retry, for the agent's own health report.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { batchMediaType } from '../protocol/batch.js';
import { type AgentHttp, errorMessage } from './http.js';

/** What the shipper needs of the spool. */
export interface ShipperSpool {
  peek(): Promise<{ seq: number; payload: Buffer } | undefined>;
  ack(seq: number): Promise<void>;
  deadLetter(seq: number, reason: string): Promise<void>;
}

export interface ShipperOptions {
  http: AgentHttp;
  spool: ShipperSpool;
  credential: () => string;
  log: Logger;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  authPauseMs?: number;
}

export interface ShipperStats {
  sent: number;
  duplicates: number;
  deadLettered: number;
  retries: number;
  /** Failed attempts by HTTP status ("503") or "network" (no answer). */
  failuresByStatus: Record<string, number>;
  /** Attempts that will be made again, by the status of the failed one. */
  retriesByStatus: Record<string, number>;
  /** Wall clock (ms) of the last batch the server took. */
  lastSuccessAt: number | null;
  state: 'idle' | 'sending' | 'backoff' | 'auth-rejected' | 'stopped';
  lastError: string | null;
}

/** What an answer means for the batch sent. */
export type AnswerAction = 'ack' | 'dead-letter' | 'pause' | 'retry';

export function answerAction(status: number): AnswerAction {
  if (status === 200) return 'ack';
  if (status === 401 || status === 403) return 'pause';
  if (status === 408 || status === 429) return 'retry';
  if (status >= 400 && status < 500) return 'dead-letter';
  return 'retry';
}

/** Full jitter: a random wait between 0 and min(cap, base · 2^attempt). */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random = Math.random): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30)));
}

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

export class Shipper {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private stopSignal = new AbortController();
  readonly stats: ShipperStats = {
    sent: 0,
    duplicates: 0,
    deadLettered: 0,
    retries: 0,
    failuresByStatus: {},
    retriesByStatus: {},
    lastSuccessAt: null,
    state: 'idle',
    lastError: null,
  };

  constructor(private readonly opts: ShipperOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** A new batch was spooled: send now instead of at the next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopSignal.abort();
    this.wake();
    await this.loop;
    this.stats.state = 'stopped';
  }

  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wakeUp = undefined;
  }

  private async run(): Promise<void> {
    const { log } = this.opts;
    const base = this.opts.backoffBaseMs ?? 500;
    const cap = this.opts.backoffCapMs ?? 60_000;
    let attempt = 0;
    let authWarned = false;
    while (this.running) {
      let rec: { seq: number; payload: Buffer } | undefined;
      try {
        rec = await this.opts.spool.peek();
      } catch (err) {
        this.stats.lastError = (err as Error).message;
        await this.pause(1000);
        continue;
      }
      if (!rec) {
        this.stats.state = 'idle';
        await this.pause(1000);
        continue;
      }
      this.stats.state = 'sending';
      let status = 0;
      let wait: number | undefined;
      try {
        const res = await this.opts.http.request(
          'POST',
          '/api/v1/ingest',
          {
            authorization: `Bearer ${this.opts.credential()}`,
            'content-type': batchMediaType,
            'content-encoding': 'gzip',
          },
          rec.payload,
        );
        status = res.status;
        const action = answerAction(status);
        if (action === 'ack') {
          const body = JSON.parse(res.body.toString('utf8')) as { status?: string };
          await this.opts.spool.ack(rec.seq);
          this.stats.sent++;
          this.stats.lastSuccessAt = Date.now();
          if (body.status === 'duplicate') this.stats.duplicates++;
          if (attempt > 0 || authWarned) log.info({ seq: rec.seq }, 'server accepts batches again');
          attempt = 0;
          authWarned = false;
          this.stats.lastError = null;
          continue;
        }
        const message = errorMessage(res);
        this.stats.lastError = `HTTP ${status}: ${message}`;
        count(this.stats.failuresByStatus, String(status));
        if (action === 'dead-letter') {
          log.error(
            { seq: rec.seq, status, reason: message },
            'server refused a batch for good; moved to dead-letter',
          );
          await this.opts.spool.deadLetter(rec.seq, `HTTP ${status}: ${message}`);
          this.stats.deadLettered++;
          continue;
        }
        if (action === 'pause') {
          if (!authWarned)
            log.error(
              { status, reason: message },
              'the server rejected this agent credential; sending paused, data kept',
            );
          authWarned = true;
          this.stats.state = 'auth-rejected';
          await this.pause(this.opts.authPauseMs ?? 60_000);
          continue;
        }
        wait = retryAfterMs(res.headers['retry-after']);
      } catch (err) {
        this.stats.lastError = (err as Error).message;
        // An answer that came but could not be handled (an unreadable 200) keeps its status.
        if (status === 0) count(this.stats.failuresByStatus, 'network');
        else count(this.stats.failuresByStatus, String(status));
      }
      if (!this.running) break;
      this.stats.retries++;
      count(this.stats.retriesByStatus, status === 0 ? 'network' : String(status));
      this.stats.state = 'backoff';
      const delay = wait ?? backoffDelay(attempt, base, cap);
      attempt++;
      if (attempt === 1 || attempt % 10 === 0) {
        log.warn(
          { seq: rec.seq, status, attempt, retryInMs: delay, reason: this.stats.lastError },
          'push failed; retrying',
        );
      }
      try {
        await sleep(delay, undefined, { signal: this.stopSignal.signal });
      } catch {
        break;
      }
    }
  }
}

function count(by: Record<string, number>, key: string): void {
  by[key] = (by[key] ?? 0) + 1;
}

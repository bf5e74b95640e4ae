/**
 * The delivery worker: sends what `enqueueDeliveries` queued in the outbox.
 *
 * Design:
 * - Claim: due pending rows are taken with FOR UPDATE SKIP LOCKED and leased (their next attempt moves
 *   past the lease) in one statement, so several server instances share the outbox without sending a row
 *   twice, no transaction stays open during a send, and a row whose instance died mid-send is taken again
 *   when its lease runs out (delivery is at least once: receivers deduplicate by finding key and event).
 * - Order: a row waits while an older one for the same channel and finding is pending, so a resolution
 *   never overtakes its alert.
 * - Outcome: a 2xx marks the row sent. A failure schedules a retry after 1 s, 2 s, 4 s … (capped at 5 min,
 *   with ±20 % jitter so that a receiver back from an outage is not hit by every row at once); after
 *   `maxAttempts`, or at once on an answer that cannot change (a 4xx other than 408/429, a redirect, an
 *   SMTP 5xx), the row is dead: listed by GET /notifications/dead, sent again by POST …/retry. The update
 *   is fenced by the attempt number, so a send that outlived its lease cannot overwrite a newer attempt.
 * - Alertmanager forgets an alert its `resolve_timeout` (5 min by default) after it last received it, and
 *   expects clients to send active alerts again: every `resendMs` the alerts still open as far as each
 *   Alertmanager channel knows (the newest delivery is a sent `fired`) are sent again, straight from the
 *   outbox row (no new row; a failure waits for the next round).
 * - Sent rows are pruned after `keepSentMs`, except the newest `fired` of a channel and finding.
 * - When: `kick()` looks now (the engine calls it after committing new events, so an alert leaves within
 *   milliseconds); otherwise every `pollMs`. `stop()` waits for the sends in flight.
 *
 * Never logged: a channel's URL (its path is a Slack or webhook secret), secrets, passwords. Errors are
 * redacted against the channel's secrets before they are logged or stored.
 */
import type pg from 'pg';
import { isPgvigilError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { SecretBox } from '../../secrets.js';
import {
  type ChannelType,
  type ClaimedDelivery,
  claimAlertmanagerRefresh,
  claimDueDeliveries,
  countDeadDeliveries,
  markDeliveryFailed,
  markDeliverySent,
  pruneSentDeliveries,
} from '../../storage/queries/notifications.sql.js';
import type { Lookup } from './address.js';
import { type ChannelConfig, channelSecrets, type DeliveryEvent, redact } from './channels.js';
import type { FailureReason, SendResult } from './http.js';
import { defaultSendTimeoutMs, sendToChannel } from './send.js';

/** What the worker counts; the server makes these from its metrics registry. */
export interface DeliveryMetrics {
  sent(labels: { channel_type: string; event: string }): void;
  failed(labels: { channel_type: string; reason: FailureReason }): void;
  /** Seconds from the finding event to the receiver's 2xx. */
  latency(seconds: number, labels: { channel_type: string }): void;
  deadLetters(count: number): void;
}

export interface DeliveryWorkerOptions {
  pool: pg.Pool;
  box: SecretBox;
  log: Logger;
  metrics?: DeliveryMetrics;
  pollMs?: number;
  /** Rows claimed (and sent concurrently) per pass. */
  batch?: number;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  /** How often an open alert is sent again to Alertmanager. */
  resendMs?: number;
  /** How long sent deliveries are kept. */
  keepSentMs?: number;
  /** For tests: the address resolver of the SSRF guard. */
  lookup?: Lookup;
}

export const deliveryDefaults = {
  pollMs: 2000,
  batch: 16,
  maxAttempts: 8,
  baseDelayMs: 1000,
  maxDelayMs: 5 * 60_000,
  resendMs: 60_000,
  keepSentMs: 7 * 86_400_000,
};

const pruneEveryMs = 3_600_000;

/** The wait before attempt `attempts + 1`: base · 2^(attempts-1), capped, with ±20 % jitter. */
export function retryDelayMs(attempts: number, baseMs: number, maxMs: number, random = Math.random): number {
  const plain = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(plain * (0.8 + 0.4 * random()));
}

export class DeliveryWorker {
  private readonly o: Required<Omit<DeliveryWorkerOptions, 'metrics' | 'lookup'>> &
    Pick<DeliveryWorkerOptions, 'metrics' | 'lookup'>;
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private nextRefresh = 0;
  private nextPrune = 0;
  private nextDeadCount = 0;
  /** Refreshes and pruning run beside the passes, so that a slow Alertmanager never delays a new alert. */
  private upkeep: Promise<void> | undefined;

  constructor(opts: DeliveryWorkerOptions) {
    this.o = { ...deliveryDefaults, timeoutMs: defaultSendTimeoutMs, ...opts };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.kick();
  }

  /** Look for due deliveries now (after new ones were committed, or a dead one was put back). */
  kick(): void {
    if (this.stopped) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.pass = this.runPasses().finally(() => {
      this.pass = undefined;
      if (!this.stopped) {
        this.timer = setTimeout(() => this.kick(), this.o.pollMs);
        // Polling alone never keeps a process alive (a test or tool that forgot to close the app).
        this.timer.unref();
      }
    });
  }

  /** Stops polling and waits for the sends in flight to finish and be recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pass;
    await this.upkeep;
  }

  private async runPasses(): Promise<void> {
    do {
      this.again = false;
      try {
        const claimed = await this.runOnce();
        if (claimed === this.o.batch && !this.stopped) this.again = true;
      } catch (err) {
        this.o.log.warn({ err }, 'notification delivery pass failed; retrying at the next poll');
      }
    } while (this.again && !this.stopped);
    if (!this.upkeep && !this.stopped) {
      this.upkeep = this.maintain()
        .catch((err) => this.o.log.warn({ err }, 'notification upkeep failed; retrying later'))
        .finally(() => {
          this.upkeep = undefined;
        });
    }
  }

  /** Alertmanager refreshes and pruning, when due. */
  private async maintain(): Promise<void> {
    const now = Date.now();
    if (now >= this.nextDeadCount) {
      this.nextDeadCount = now + this.o.pollMs;
      this.o.metrics?.deadLetters(await countDeadDeliveries(this.o.pool));
    }
    if (now >= this.nextRefresh) {
      this.nextRefresh = now + Math.max(1000, this.o.resendMs / 4);
      const rows = await claimAlertmanagerRefresh(this.o.pool, this.o.resendMs, 100);
      await Promise.all(
        rows.map(async (r) => {
          const result = await this.send(
            'alertmanager',
            r.config_enc,
            r.allow_private,
            r.payload as DeliveryEvent,
          );
          if (result.ok) this.o.metrics?.sent({ channel_type: 'alertmanager', event: 'refresh' });
          else {
            this.o.metrics?.failed({ channel_type: 'alertmanager', reason: result.reason ?? 'network' });
            this.o.log.info(
              {
                deliveryId: r.delivery_id,
                channelId: r.channel_id,
                reason: result.reason,
                error: result.error,
              },
              'sending an open alert again to Alertmanager failed; will try at the next round',
            );
          }
        }),
      );
    }
    if (now >= this.nextPrune) {
      this.nextPrune = now + pruneEveryMs;
      const n = await pruneSentDeliveries(this.o.pool, this.o.keepSentMs);
      if (n > 0) this.o.log.debug({ deleted: n }, 'old sent notifications pruned');
    }
  }

  /** Opens the channel's configuration and sends; a failure of either is a result, with secrets redacted. */
  private async send(
    type: ChannelType,
    sealed: Buffer,
    allowPrivate: boolean,
    event: DeliveryEvent,
  ): Promise<SendResult> {
    let config: ChannelConfig | undefined;
    let result: SendResult;
    try {
      config = this.o.box.openJson<ChannelConfig>(sealed);
      result = await sendToChannel(type, config, event, {
        allowPrivate,
        lookup: this.o.lookup,
        timeoutMs: this.o.timeoutMs,
      });
    } catch (err) {
      const keyProblem = isPgvigilError(err) && err.code === 'SECRET_UNREADABLE';
      result = {
        ok: false,
        status: null,
        latencyMs: 0,
        permanent: false,
        reason: keyProblem ? 'key-mismatch' : 'network',
        error: (err as Error).message,
      };
    }
    if (result.error !== undefined && config) result.error = redact(result.error, channelSecrets(config));
    return result;
  }

  /** One pass: claim due deliveries, send them concurrently, record each outcome. The number claimed. */
  async runOnce(): Promise<number> {
    const rows = await claimDueDeliveries(this.o.pool, this.o.batch, this.o.timeoutMs * 3 + 5000);
    await Promise.all(rows.map((r) => this.deliver(r)));
    return rows.length;
  }

  private async deliver(row: ClaimedDelivery): Promise<void> {
    const type = row.channel_type;
    const event = row.payload as DeliveryEvent;
    const result = await this.send(type, row.config_enc, row.allow_private, event);
    const where = {
      deliveryId: row.delivery_id,
      channelId: row.channel_id,
      channelType: type,
      event: row.event,
    };
    if (result.ok) {
      const latency = Math.max(0, (Date.now() - Date.parse(event.at)) / 1000);
      if (await markDeliverySent(this.o.pool, row.delivery_id, row.attempts, result.status, latency)) {
        this.o.metrics?.sent({ channel_type: type, event: row.event });
        this.o.metrics?.latency(latency, { channel_type: type });
        this.o.log.debug({ ...where, status: result.status, latencySeconds: latency }, 'notification sent');
      }
      return;
    }
    const error = result.error ?? 'failed';
    const reason = result.reason ?? 'network';
    const dead = result.permanent || row.attempts >= this.o.maxAttempts;
    const retryIn = dead ? null : retryDelayMs(row.attempts, this.o.baseDelayMs, this.o.maxDelayMs);
    this.o.metrics?.failed({ channel_type: type, reason });
    await markDeliveryFailed(this.o.pool, row.delivery_id, row.attempts, result.status, error, retryIn);
    const fields = { ...where, reason, status: result.status, attempts: row.attempts, error };
    if (dead) this.o.log.warn(fields, 'notification not delivered: moved to the dead letters');
    else this.o.log.info({ ...fields, retryInMs: retryIn }, 'notification delivery failed; will retry');
  }
}

/**
 * Queries the monitored server refuses for a reason that does not pass by itself — a missing grant, view,
 * column or function, a syntax error in a custom metric's SQL, a database whose `pg_hba.conf` line rejects
 * us — are not asked again at every collection.
 * Each refused query is an `ERROR` line in that server's own log, so a 10-s interval would write 8,640 of
 * them a day per family. Such a query is asked again after a pause of 1 minute that doubles up to 15
 * (`refusalPause`); meanwhile its family or metric is reported degraded with the same reason and the time
 * it is asked again (`pausedReason`). Timeouts, lock waits and cancels are asked again at the next turn.
 */
import { errnoCode } from '../proc.js';

/**
 * SQLSTATEs that the next turn would meet again: insufficient_privilege, undefined_table,
 * undefined_column, undefined_function, feature_not_supported, syntax_error, and for a connection to a
 * database invalid_authorization_specification (a `pg_hba.conf` reject) and invalid_password.
 */
const lastingRefusals = new Set(['42501', '42P01', '42703', '42883', '0A000', '42601', '28000', '28P01']);

/** The pause before a refused query is asked again: the first, and the most it doubles to. */
export interface RefusalPause {
  firstMs: number;
  maxMs: number;
}
export const refusalPause: RefusalPause = { firstMs: 60_000, maxMs: 15 * 60_000 };

/** Keys (a family in a database, a custom metric, a database) refused for good: why, and when asked again. */
export class Refusals {
  readonly #byKey = new Map<string, { until: number; pauseMs: number; reason: string }>();

  constructor(
    private readonly pause: RefusalPause = refusalPause,
    private readonly now: () => number = Date.now,
  ) {}

  /** While `key` is paused, the reason to report for it (the refusal's, and when it is asked again). */
  paused(key: string): string | undefined {
    const r = this.#byKey.get(key);
    return r && this.now() < r.until ? pausedReason(r.reason, r.until) : undefined;
  }

  /**
   * `key`'s query failed with `err`, reported as `reason`: paused, a longer pause each time, when the
   * refusal lasts (by its SQLSTATE); otherwise forgotten. Returns the pause in ms, or undefined when the
   * next turn asks again.
   */
  failed(key: string, err: unknown, reason: string): number | undefined {
    const code = errnoCode(err);
    if (code === undefined || !lastingRefusals.has(code)) {
      this.#byKey.delete(key);
      return undefined;
    }
    const before = this.#byKey.get(key);
    const pauseMs = before ? Math.min(before.pauseMs * 2, this.pause.maxMs) : this.pause.firstMs;
    this.#byKey.set(key, { until: this.now() + pauseMs, pauseMs, reason });
    return pauseMs;
  }

  /** `key`'s query worked. */
  succeeded(key: string): void {
    this.#byKey.delete(key);
  }
}

/** The reason reported while paused: the refusal's own, and when it is asked again. */
function pausedReason(reason: string, until: number): string {
  return `${reason}; not asked again before ${new Date(until).toISOString()}`;
}

/** How the agent's log says what follows a failure. */
export function nextAttempt(pauseMs: number | undefined): string {
  return pauseMs === undefined ? 'retrying next interval' : `asked again in ${Math.round(pauseMs / 1000)} s`;
}

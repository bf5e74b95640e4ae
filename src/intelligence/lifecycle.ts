/**
 * The finding lifecycle, as a pure function: stored findings + what the checks observed now → the changes
 * to write and the events to publish and deliver.
 *
 *   (none) ──observed──▶ open ──acknowledge──▶ acknowledged
 *     ▲                   │  └──silence(until)──▶ silenced ──until passes──▶ open
 *     │                   ▼
 *   resolved ◀── not observed for `clearAfter` evaluations of its scope, or not evaluated for `staleMs`
 *     │
 *     └──observed again──▶ open (the same finding, reopened; its history keeps both episodes)
 *
 * De-duplicated by key (check, server, target, object): one finding per key, updated in place. Flapping is
 * damped: a finding reopened within `flapWindowMs` of its resolution counts a flap; each flap adds
 * `clearAfter` evaluations before it may resolve again, and once it has flapped `flapQuiet` times its
 * reopenings and resolutions are no longer delivered (the live feed and the history still show them).
 * Acknowledged and silenced findings are not delivered again when they escalate; a resolution is
 * delivered only for a finding whose firing was.
 */
import type { StoredFindingRow } from '../storage/queries/findings.sql.js';
import type { Observation } from './model.js';
import { findingKey, severityRank } from './model.js';

/** What the lifecycle reads of a stored finding (src/storage/queries/findings.sql.ts). */
export type StoredFinding = StoredFindingRow;

export interface LifecyclePolicy {
  /** Clear evaluations before resolving, per check (default 2). */
  clearAfter(check: string): number;
  /** A finding neither observed nor cleared for this long is resolved by time (ms). */
  staleMs: number;
  /** A longer time than `staleMs` for the findings of some checks (ms; undefined: `staleMs`). */
  staleMsOf?(check: string, now: number): number | undefined;
  flapWindowMs: number;
  flapQuiet: number;
  /**
   * An open finding observed again with the same severity is written (new evidence, last seen) at most
   * this often (ms): a finding that lasts for days would otherwise be rewritten by every batch.
   */
  refreshEveryMs: number;
}

export const defaultPolicy: LifecyclePolicy = {
  clearAfter: () => 2,
  staleMs: 30 * 60_000,
  flapWindowMs: 60 * 60_000,
  flapQuiet: 3,
  refreshEveryMs: 60_000,
};

export type Change =
  | { type: 'open'; key: string; observation: Observation; notify: boolean }
  | { type: 'reopen'; stored: StoredFinding; observation: Observation; flaps: number; notify: boolean }
  | { type: 'update'; stored: StoredFinding; observation: Observation; escalated: boolean; notify: boolean }
  | { type: 'clear'; stored: StoredFinding; clearCount: number }
  | { type: 'resolve'; stored: StoredFinding; reason: string; notify: boolean }
  | { type: 'unsilence'; stored: StoredFinding };

export interface Evaluation {
  observations: readonly Observation[];
  /** True when the check of this stored finding looked at its scope in this evaluation. */
  evaluated(f: StoredFinding): boolean;
}

/**
 * The changes one evaluation makes. `stored` must hold every stored finding whose key was observed, and
 * every unresolved one the evaluation may clear or time out.
 */
export function reconcile(
  stored: readonly StoredFinding[],
  ev: Evaluation,
  now: number,
  policy: LifecyclePolicy = defaultPolicy,
): Change[] {
  const byKey = new Map(stored.map((f) => [f.key, f]));
  const seen = new Set<string>();
  const changes: Change[] = [];
  for (const o of ev.observations) {
    const key = findingKey(o);
    if (seen.has(key)) continue; // one observation per key and evaluation: the first wins
    seen.add(key);
    const f = byKey.get(key);
    if (!f) {
      changes.push({ type: 'open', key, observation: o, notify: true });
      continue;
    }
    if (f.state === 'resolved') {
      const flapped = f.resolvedAt !== null && now - f.resolvedAt < policy.flapWindowMs;
      const flaps = flapped ? f.flaps + 1 : 0;
      const silenced = f.silencedUntil !== null && f.silencedUntil > now;
      changes.push({
        type: 'reopen',
        stored: f,
        observation: o,
        flaps,
        notify: flaps < policy.flapQuiet && !silenced,
      });
      continue;
    }
    const escalated = severityRank[o.severity] > severityRank[f.severity];
    const unchanged = o.severity === f.severity && f.clearCount === 0;
    if (unchanged && now - f.lastSeen < policy.refreshEveryMs) continue;
    changes.push({
      type: 'update',
      stored: f,
      observation: o,
      escalated,
      notify: escalated && f.state === 'open' && f.flaps < policy.flapQuiet,
    });
  }
  for (const f of stored) {
    if (seen.has(f.key) || f.state === 'resolved') continue;
    if (f.state === 'silenced' && f.silencedUntil !== null && f.silencedUntil <= now) {
      changes.push({ type: 'unsilence', stored: f });
    }
    if (ev.evaluated(f)) {
      const clearCount = f.clearCount + 1;
      const needed = policy.clearAfter(f.check) * (1 + f.flaps);
      if (clearCount >= needed) {
        changes.push({
          type: 'resolve',
          stored: f,
          reason: `condition cleared for ${clearCount} evaluations`,
          notify: f.notified && f.flaps < policy.flapQuiet,
        });
      } else {
        changes.push({ type: 'clear', stored: f, clearCount });
      }
    } else if (now - f.lastSeen > Math.max(policy.staleMs, policy.staleMsOf?.(f.check, now) ?? 0)) {
      changes.push({
        type: 'resolve',
        stored: f,
        reason: `not evaluated for ${Math.round((now - f.lastSeen) / 60_000)} min`,
        notify: f.notified,
      });
    }
  }
  return changes;
}

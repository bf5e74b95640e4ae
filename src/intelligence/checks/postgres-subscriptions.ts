/**
 * Logical replication subscriptions, on ingest (pg_subscriptions: the subscriber side). Two situations:
 * - an enabled subscription whose apply worker has not been running for `worker_down_s`: nothing is
 *   applied, the publisher's slot keeps its WAL. The worker exits on every error and is restarted after
 *   wal_retrieve_retry_interval, so a worker that keeps failing is mostly absent: the server log says why.
 * - apply or table synchronization errors that grew during the interval (15+: pg_stat_subscription_stats),
 *   with or without the subscription still enabled (disable_on_error turns it off at the first error).
 * A subscription whose enabled state is unknown (pg_subscription not readable) is judged on its errors
 * only. Counts come from pairs of samples (never from one), and a statistics reset gives no delta.
 */
import { delta, snapshot, targetIngest, worst, worstFirst } from './postgres-rows.js';
import type { Draft, IngestCheck, Row } from './types.js';
import { cut, humanSeconds, ident, isoTime, literal, ms, num, round2, str } from './util.js';

/** Series key of a subscription: its name is unique per database only. */
function keyOf(r: Row): string {
  return `${str(r.datname)}\u0000${str(r.subname)}`;
}

function evidenceOf(r: Row, extra: Record<string, unknown>) {
  const age = (v: unknown) => (num(v) === null ? null : round2(num(v)!));
  return {
    subname: cut(r.subname, 200),
    datname: cut(r.datname, 200),
    enabled: typeof r.enabled === 'boolean' ? r.enabled : null,
    worker_pid: r.worker_pid == null ? null : cut(r.worker_pid, 20),
    sync_workers: num(r.sync_workers),
    received_lsn: r.received_lsn == null ? null : cut(r.received_lsn, 40),
    latest_end_lsn: r.latest_end_lsn == null ? null : cut(r.latest_end_lsn, 40),
    last_msg_receipt_time: isoTime(ms(r.last_msg_receipt_time)),
    last_msg_age_s: age(r.last_msg_age_s),
    msg_lag_s: age(r.msg_lag_s),
    latest_end_age_s: age(r.latest_end_age_s),
    apply_error_count: num(r.apply_error_count),
    sync_error_count: num(r.sync_error_count),
    ...extra,
  };
}

/** First diagnostic steps, in the subscription's database (psql -d). */
function diagnose(sub: string, datname: string): string[] {
  return [
    `-- in database ${datname || '(the subscription’s)'} of this (subscriber) server:`,
    `SELECT * FROM pg_stat_subscription WHERE subname = ${literal(sub)};`,
    `SELECT * FROM pg_stat_subscription_stats WHERE subname = ${literal(sub)};  -- 15+`,
    "SELECT pg_current_logfile();  -- then: grep -A 3 'logical replication' <that file> (the error, and for a conflict its finish LSN)",
  ];
}

export const pgSubscription: IngestCheck = {
  id: 'pg.subscription',
  ...targetIngest,
  kind: 'alert',
  title: 'Logical replication subscription not applying',
  doc: {
    evidence:
      'subscription, database, enabled, apply worker pid, table sync workers, received and reported LSNs, time since the last message, apply and sync errors (total and in the interval), how long the worker has been absent',
    action:
      'the subscription’s row in `pg_stat_subscription` and `pg_stat_subscription_stats`, the "logical replication" errors of the server log; once the cause is fixed `ALTER SUBSCRIPTION … ENABLE;` (disabled by disable_on_error), or `ALTER SUBSCRIPTION … SKIP (lsn = …);` to skip a conflicting transaction (15+)',
  },
  inputs: ['pg_instance', 'pg_subscriptions'],
  thresholds: {
    worker_down_s: {
      default: 60,
      unit: 's',
      help: 'an enabled subscription without an apply worker for this long (warning)',
      min: 0,
    },
    errors: {
      default: 0,
      unit: 'count',
      help: 'apply plus sync errors in one interval above this (warning)',
      min: 0,
    },
  },
  evaluate(input, t) {
    const now = snapshot(input, 'pg_subscriptions');
    if (!now) return [];
    // Per subscription, its samples oldest first: how long the worker has been absent while enabled.
    const downFor = new Map<string, number>();
    for (const r of input.rows('pg_subscriptions').slice(-5000)) {
      const k = keyOf(r);
      downFor.set(
        k,
        input.since(`pg.subscription|${k}`, r.enabled === true && r.worker_pid == null, num(r.ts) ?? 0),
      );
    }
    const pairs = new Map(input.pairs('pg_subscriptions').map((p) => [keyOf(p.cur), p]));
    const out: Draft[] = [];
    for (const r of now.slice(0, 500)) {
      const k = keyOf(r);
      const sub = cut(r.subname, 200);
      const datname = cut(r.datname, 200);
      const pair = pairs.get(k);
      const applyErrors = pair ? delta(pair, 'apply_error_count') : null;
      const syncErrors = pair ? delta(pair, 'sync_error_count') : null;
      const errors =
        applyErrors === null && syncErrors === null ? null : (applyErrors ?? 0) + (syncErrors ?? 0);
      const erring = errors !== null && errors > (t.errors ?? 0);
      const down = r.enabled === true && r.worker_pid == null;
      const downS = downFor.get(k) ?? 0;
      const stalled = down && downS >= (t.worker_down_s ?? 60);
      const severity = worst(stalled ? 'warning' : null, erring ? 'warning' : null);
      if (!severity) continue;
      const where = datname ? ` (database ${datname})` : '';
      const errText =
        errors === null
          ? ''
          : `${applyErrors ?? 0} apply and ${syncErrors ?? 0} table synchronization error${errors === 1 ? '' : 's'} in the last ${humanSeconds(pair!.seconds)}`;
      const disabled = r.enabled === false;
      const title = stalled
        ? `Subscription ${sub}${where} is enabled but no apply worker has run for ${humanSeconds(downS)}${erring ? ` (${errText})` : ''}`
        : `Subscription ${sub}${where}: ${errText}${disabled ? ', and it is disabled now' : ''}`;
      const explanation = stalled
        ? `Nothing from the publication is applied here while no apply worker runs: this server falls behind the publisher, and the publisher's replication slot keeps every WAL segment since until it catches up. The worker stops on each error (a conflict, a missing table or column, a lost connection, the slot gone on the publisher) and restarts after wal_retrieve_retry_interval; it also cannot start when max_logical_replication_workers or max_worker_processes are used up. The server log says which.`
        : `Applying changes from the publisher failed${disabled ? ' and the subscription is now disabled (disable_on_error, or by hand): nothing is applied until it is enabled again' : '; the worker retries the same transaction after each failure, so it keeps failing until the cause (typically a row that conflicts with a unique key, or a missing table) is fixed'}. Meanwhile the publisher's slot retains WAL.`;
      const action = [
        ...diagnose(sub, datname),
        ...(stalled
          ? [
              "-- workers used against the limit (a worker that cannot start logs 'out of logical replication worker slots'):",
              "SELECT count(*) AS running, current_setting('max_logical_replication_workers') AS max FROM pg_stat_subscription WHERE pid IS NOT NULL;",
            ]
          : []),
        ...(disabled
          ? ['-- once the cause is fixed, start applying again:', `ALTER SUBSCRIPTION ${ident(sub)} ENABLE;`]
          : []),
        ...(erring
          ? [
              '-- to skip the one transaction that conflicts (15+; its finish LSN is in the error message), losing its changes here:',
              `-- ALTER SUBSCRIPTION ${ident(sub)} SKIP (lsn = '<finish LSN>');`,
            ]
          : []),
      ].join('\n');
      out.push({
        object: `sub:${datname}/${sub}`,
        severity,
        title,
        explanation,
        evidence: evidenceOf(r, {
          worker_absent_s: down ? Math.round(downS) : 0,
          apply_errors_in_interval: applyErrors,
          sync_errors_in_interval: syncErrors,
          interval_s: pair ? round2(pair.seconds) : null,
        }),
        action,
        value: errors ?? Math.round(downS),
      });
    }
    return worstFirst(out, 20);
  },
};

export const postgresSubscriptionChecks = [pgSubscription] as const;

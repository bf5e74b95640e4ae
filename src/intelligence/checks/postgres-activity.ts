/**
 * PostgreSQL sessions right now, on ingest: blocking chains (who blocks whom and for how long), long
 * running statements, and sessions idle in a transaction. All read the newest collection's snapshot
 * (./postgres-rows.ts), so a finding clears as soon as the agent reports the situation gone.
 */
import {
  activityFilter,
  activityGroup,
  groupObject,
  snapshot,
  targetIngest,
  worstFirst,
} from './postgres-rows.js';
import type { Draft, IngestCheck, Row, Thresholds } from './types.js';
import { cut, grade, humanSeconds, ident, num, round2, str } from './util.js';

const maxFindings = 10;
const maxListed = 10;

/** The pids a lock_waits row waits for (comma-separated text from the agent), bounded. */
function blockersOf(r: Row): number[] {
  return str(r.blocking_pids)
    .split(',')
    .slice(0, 64)
    .map((p) => Number(p.trim()))
    .filter((p) => Number.isSafeInteger(p) && p > 0);
}

/**
 * The heads of the chains a blocked pid waits behind: blockers that are not blocked themselves. In a
 * cycle (a deadlock not yet broken by deadlock_timeout) there is no head; its lowest pid stands for it.
 */
function headsOf(pid: number, waits: ReadonlyMap<number, Row>): number[] {
  const heads = new Set<number>();
  const seen = new Set<number>([pid]);
  let frontier = [pid];
  for (let depth = 0; depth < 16 && frontier.length > 0; depth++) {
    const next: number[] = [];
    for (const p of frontier) {
      const row = waits.get(p);
      if (!row) continue;
      for (const b of blockersOf(row)) {
        if (seen.has(b)) continue;
        seen.add(b);
        if (waits.has(b)) next.push(b);
        else heads.add(b);
      }
    }
    frontier = next.slice(0, 256);
  }
  if (heads.size === 0) heads.add(Math.min(...seen));
  return [...heads];
}

function blockedEntry(pid: number, r: Row) {
  return {
    pid,
    blocking_pids: blockersOf(r).slice(0, maxListed),
    datname: cut(r.datname, 200),
    usename: cut(r.usename, 200),
    application_name: cut(r.application_name, 200),
    wait_s: num(r.wait_s),
    query: cut(r.query),
  };
}

export const pgBlocking: IngestCheck = {
  id: 'pg.blocking',
  ...targetIngest,
  kind: 'alert',
  title: 'Sessions blocked behind another session’s locks',
  doc: {
    evidence:
      "the blocking pid, each session it blocks (pid, database, user, application, seconds waiting, statement), the blocker's state and last statement when it is among the oldest transactions (pg_xmin_holders), else the groups of sessions it may be in",
    action:
      'look at the blocker (`SELECT … FROM pg_stat_activity WHERE pid = N`), then end it if it should not run: `SELECT pg_terminate_backend(N);`',
  },
  inputs: ['pg_instance', 'pg_lock_waits'],
  thresholds: {
    warning: {
      default: 30,
      unit: 's',
      help: 'longest time a session has waited behind the blocker (any wait, when the blocker is known to be idle in a transaction)',
      min: 0,
    },
    critical: {
      default: 300,
      unit: 's',
      help: 'longest time a session has waited behind the blocker',
      min: 0,
    },
  },
  evaluate(input, t) {
    const rows = snapshot(input, 'pg_lock_waits');
    if (!rows || rows.length === 0) return [];
    const waits = new Map<number, Row>();
    for (const r of rows.slice(0, 2000)) {
      const pid = num(r.pid);
      if (pid !== null && Number.isSafeInteger(pid) && pid > 0) waits.set(pid, r);
    }
    const byHead = new Map<number, number[]>();
    for (const pid of waits.keys()) {
      for (const head of headsOf(pid, waits)) {
        let list = byHead.get(head);
        if (!list) {
          list = [];
          byHead.set(head, list);
        }
        list.push(pid);
      }
    }
    const activity = snapshot(input, 'pg_activity') ?? [];
    // The oldest sessions of pg_xmin_holders come with their statement: a blocker holding its locks in
    // a long transaction is usually among them.
    const sessions = new Map<string, Row>();
    for (const r of (snapshot(input, 'pg_xmin_holders') ?? []).slice(0, 200)) {
      if (str(r.holder) === 'session') sessions.set(str(r.ident), r);
    }
    const out: Draft[] = [];
    for (const [head, pids] of byHead) {
      const blocked = pids
        .map((p) => blockedEntry(p, waits.get(p)!))
        .sort((a, b) => (b.wait_s ?? 0) - (a.wait_s ?? 0));
      const longest = blocked[0]?.wait_s ?? null;
      if (longest === null) continue;
      const headRow = waits.get(head);
      const known = sessions.get(String(head));
      // A blocker known to be idle in a transaction (pg_xmin_holders names it) does nothing that could
      // end: its locks stay until its client commits or rolls back, so the wait is as bad at its first
      // sample as after `warning` seconds. Waits behind a working session (a statement, a chain) are
      // usually short, and are judged by their length.
      const stuck = !headRow && str(known?.state).startsWith('idle in transaction');
      const severity = grade(longest, t) ?? (stuck ? 'warning' : null);
      if (!severity) continue;
      const first = blocked[0]!;
      // The blocker's own statement is only known when it waits too (a chain or a cycle); otherwise
      // pg_activity says, as aggregates, which groups of its database hold a transaction at least as old
      // as the longest wait (the blocker is in one of them; so are the blocked sessions themselves).
      const candidates = activity
        .filter(
          (r) =>
            str(r.datname) === first.datname &&
            str(r.backend_type) === 'client backend' &&
            // The two families are read by separate statements a moment apart: a few seconds of slack.
            (num(r.max_xact_age_s) ?? 0) + 5 >= longest &&
            str(r.state) !== 'idle',
        )
        .sort((a, b) => (num(b.max_xact_age_s) ?? 0) - (num(a.max_xact_age_s) ?? 0))
        .slice(0, 5)
        .map((r) => ({
          ...activityGroup(r),
          state: cut(r.state, 100),
          count: num(r.count),
          max_xact_age_s: num(r.max_xact_age_s),
          max_state_age_s: num(r.max_state_age_s),
        }));
      const blocker = known
        ? {
            ...activityGroup(known),
            state: cut(known.state, 100),
            client_addr: cut(known.client_addr, 100),
            xact_age_s: num(known.age_s),
            query: cut(known.query),
          }
        : null;
      const idleInTx =
        (blocker?.state ?? '').startsWith('idle in transaction') ||
        candidates.some((c) => c.state.startsWith('idle in transaction'));
      out.push({
        object: `pid:${head}`,
        severity,
        title: `Session ${head} blocks ${blocked.length} session${blocked.length === 1 ? '' : 's'}, the longest for ${humanSeconds(longest)}`,
        explanation:
          `Process ${head} holds locks that ${blocked.length === 1 ? 'session' : 'sessions'} ${blocked
            .slice(0, 5)
            .map((b) => b.pid)
            .join(
              ', ',
            )}${blocked.length > 5 ? '…' : ''} in database ${first.datname || '?'} wait for; the longest has waited ${humanSeconds(longest)} on: ${cut(first.query, 200)}. ` +
          (headRow
            ? `The blocker is itself waiting (${cut(headRow.query, 200)}), which means a cycle or a chain. `
            : blocker
              ? `The blocker (${blocker.usename || '?'}, ${blocker.application_name || 'no application_name'}) is ${blocker.state || 'in an unknown state'}, its transaction ${blocker.xact_age_s === null ? 'of unknown age' : `${humanSeconds(blocker.xact_age_s)} old`}; its last statement: ${cut(blocker.query, 200)}. `
              : idleInTx
                ? 'A session of that database is idle in a transaction at least as old: the usual blocker is an application that opened a transaction and did not finish it. '
                : '') +
          'Everything queued behind it waits as well, and connections pile up.',
        evidence: {
          blocking_pid: head,
          blocker,
          blocker_waits_too: headRow ? blockedEntry(head, headRow) : null,
          blocked_count: blocked.length,
          longest_wait_s: round2(longest),
          blocked: blocked.slice(0, maxListed),
          blocker_candidates: candidates,
        },
        action: `SELECT pid, usename, application_name, client_addr, state, now() - xact_start AS xact_age, now() - state_change AS in_state, query FROM pg_stat_activity WHERE pid = ${head};\n-- look first: if it must not run on (an abandoned transaction, a runaway statement), end it:\nSELECT pg_terminate_backend(${head});`,
        value: round2(longest),
      });
    }
    return worstFirst(out, maxFindings);
  },
};

/** The client-backend groups of the newest pg_activity snapshot in a state, graded by one age column. */
function gradedGroups(
  input: Parameters<IngestCheck['evaluate']>[0],
  t: Thresholds,
  states: readonly string[],
  ageColumn: string,
): Array<{ row: Row; age: number; severity: NonNullable<ReturnType<typeof grade>> }> {
  const rows = snapshot(input, 'pg_activity') ?? [];
  const out: Array<{ row: Row; age: number; severity: NonNullable<ReturnType<typeof grade>> }> = [];
  for (const row of rows.slice(0, 5000)) {
    if (str(row.backend_type) !== 'client backend' || !states.includes(str(row.state))) continue;
    const age = num(row[ageColumn]);
    const severity = grade(age, t);
    if (severity && age !== null) out.push({ row, age, severity });
  }
  return out.sort((a, b) => b.age - a.age).slice(0, maxFindings);
}

export const pgLongQuery: IngestCheck = {
  id: 'pg.long_query',
  ...targetIngest,
  kind: 'alert',
  title: 'Statements running for a long time',
  doc: {
    evidence:
      'the group of sessions (database, user, application), how many are active, the longest running time',
    action:
      'list them (`SELECT pid, now() - query_start, query FROM pg_stat_activity WHERE …`), cancel one with `SELECT pg_cancel_backend(pid);`, bound them with `ALTER ROLE … SET statement_timeout`',
  },
  inputs: ['pg_instance', 'pg_activity'],
  thresholds: {
    warning: { default: 300, unit: 's', help: 'longest running active statement of a group', min: 0 },
    critical: { default: 1800, unit: 's', help: 'longest running active statement of a group', min: 0 },
  },
  evaluate(input, t) {
    return gradedGroups(input, t, ['active'], 'max_query_age_s').map(({ row, age, severity }) => {
      const g = activityGroup(row);
      const since = Math.floor(t.warning ?? 300);
      const role = g.usename ? `ALTER ROLE ${ident(g.usename)} IN DATABASE ${ident(g.datname)}` : '';
      return {
        object: groupObject(row),
        severity,
        title: `A statement of ${g.usename || '?'}@${g.datname || '?'} (${g.application_name || 'no application_name'}) has run for ${humanSeconds(age)}`,
        explanation: `The longest active statement of this group of sessions has been running for ${humanSeconds(age)}. A statement that long holds its snapshot (VACUUM cannot remove rows deleted since it started), its locks and a connection, and is often a missing index, a bad plan or a forgotten report.`,
        evidence: {
          ...g,
          active: num(row.count),
          max_query_age_s: round2(age),
          max_xact_age_s: num(row.max_xact_age_s),
          waiting_on_lock: num(row.waiting),
        },
        action:
          `SELECT pid, now() - query_start AS running, wait_event_type, wait_event, query FROM pg_stat_activity WHERE state = 'active' AND ${activityFilter(row)} AND query_start < now() - interval '${since} seconds';\n` +
          `-- cancel one statement (the session stays): SELECT pg_cancel_backend(<pid>);\n` +
          (role
            ? `-- and bound them: ${role} SET statement_timeout = '${Math.max(1, Math.ceil(since / 60))}min';`
            : ''),
        value: round2(age),
      };
    });
  },
};

export const pgIdleInTransaction: IngestCheck = {
  id: 'pg.idle_in_transaction',
  ...targetIngest,
  kind: 'alert',
  title: 'Sessions idle in a transaction',
  doc: {
    evidence:
      'the group of sessions (database, user, application), how many, the longest idle time, the oldest transaction, idle_in_transaction_session_timeout',
    action:
      "end them (`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle in transaction' AND …`) and set `ALTER SYSTEM SET idle_in_transaction_session_timeout = '5min';`",
  },
  inputs: ['pg_instance', 'pg_activity'],
  thresholds: {
    warning: {
      default: 60,
      unit: 's',
      help: 'longest time a session of the group has been idle in a transaction',
      min: 0,
    },
    critical: {
      default: 600,
      unit: 's',
      help: 'longest time a session of the group has been idle in a transaction',
      min: 0,
    },
  },
  evaluate(input, t) {
    const timeout = input.setting('idle_in_transaction_session_timeout') ?? '0';
    const groups = gradedGroups(
      input,
      t,
      ['idle in transaction', 'idle in transaction (aborted)'],
      'max_state_age_s',
    );
    return groups.map(({ row, age, severity }) => {
      const g = activityGroup(row);
      const state = str(row.state);
      const since = Math.floor(t.warning ?? 60);
      const where = `state = ${state === 'idle in transaction' ? "'idle in transaction'" : "'idle in transaction (aborted)'"} AND ${activityFilter(row)} AND state_change < now() - interval '${since} seconds'`;
      return {
        object: groupObject(row),
        severity,
        title: `${num(row.count) ?? 1} session(s) of ${g.usename || '?'}@${g.datname || '?'} (${g.application_name || 'no application_name'}) idle in a transaction for up to ${humanSeconds(age)}`,
        explanation: `A session opened a transaction and has done nothing for ${humanSeconds(age)}, waiting for its application. Until it commits or rolls back it keeps its locks (other sessions queue behind them) and holds back the xmin horizon, so VACUUM cannot clean up rows changed since.`,
        evidence: {
          ...g,
          state,
          sessions: num(row.count),
          max_state_age_s: round2(age),
          max_xact_age_s: num(row.max_xact_age_s),
          idle_in_transaction_session_timeout: cut(timeout, 50),
        },
        action:
          `SELECT pid, now() - xact_start AS xact_age, now() - state_change AS idle_for, query FROM pg_stat_activity WHERE ${where};\n` +
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${where};\n` +
          `-- and end such sessions automatically:\nALTER SYSTEM SET idle_in_transaction_session_timeout = '5min'; SELECT pg_reload_conf();`,
        value: round2(age),
      };
    });
  },
};

export const postgresActivityChecks = [pgBlocking, pgLongQuery, pgIdleInTransaction];

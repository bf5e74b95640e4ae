/**
 * Findings (migration 0013): the rows the lifecycle (src/intelligence/lifecycle.ts) reads and writes,
 * their history, hand actions (acknowledge, silence, resolve) and the check settings.
 */
import type { JsonValue } from '../../protocol/logs.js';
import type { TargetRef } from './check-pass.sql.js';
import type { Queryable } from './queryable.js';

/** What the lifecycle needs of a stored finding. */
export interface StoredFindingRow {
  id: string;
  key: string;
  check: string;
  serverId: number;
  targetId: number | null;
  state: 'open' | 'acknowledged' | 'silenced' | 'resolved';
  severity: 'info' | 'warning' | 'critical';
  clearCount: number;
  flaps: number;
  notified: boolean;
  lastSeen: number;
  resolvedAt: number | null;
  silencedUntil: number | null;
}

const storedColumns = `finding_id::text AS id, key, check_id AS "check", server_id::int AS "serverId",
  target_id::int AS "targetId", state, severity, clear_count AS "clearCount", flaps, notified,
  (extract(epoch FROM last_seen) * 1000)::float8 AS "lastSeen",
  (extract(epoch FROM resolved_at) * 1000)::float8 AS "resolvedAt",
  (extract(epoch FROM silenced_until) * 1000)::float8 AS "silencedUntil"`;

/**
 * Serialises the evaluations of one server's findings across server instances until the transaction
 * ends: two batches of one server evaluated at once would otherwise both open the same finding.
 */
export async function lockServerFindings(db: Queryable, serverIds: readonly number[]): Promise<void> {
  // Sorted, so two transactions locking several servers take them in one order.
  for (const id of [...new Set(serverIds)].sort((a, b) => a - b)) {
    await db.query(`SELECT pg_advisory_xact_lock(hashtext('pgvigil.findings'), $1::int)`, [id % 2 ** 31]);
  }
}

/** A server's stored findings with one of `keys`, and its unresolved findings of `checks`. */
export async function findingsForEvaluation(
  db: Queryable,
  serverId: number,
  keys: readonly string[],
  checks: readonly string[],
): Promise<StoredFindingRow[]> {
  const { rows } = await db.query<StoredFindingRow>(
    `SELECT ${storedColumns} FROM pgvigil.findings
      WHERE server_id = $1
        AND (key = ANY($2::text[]) OR (state <> 'resolved' AND check_id = ANY($3::text[])))`,
    [serverId, keys, checks],
  );
  return rows;
}

/** An observation as written to the store. */
export interface FindingWrite {
  key: string;
  check: string;
  serverId: number;
  targetId: number | null;
  object: string;
  kind: string;
  severity: string;
  title: string;
  explanation: string;
  evidence: unknown;
  action: string;
  value: number | null;
}

export async function insertFinding(
  db: Queryable,
  f: FindingWrite,
  now: Date,
  notified: boolean,
): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO pgvigil.findings
       (key, check_id, server_id, target_id, object, kind, severity, title, explanation, evidence, action,
        value, state, first_seen, last_seen, opened_at, notified, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'open', $13, $13, $13, $14, $13)
     RETURNING finding_id::text AS id`,
    [
      f.key,
      f.check,
      f.serverId,
      f.targetId,
      f.object,
      f.kind,
      f.severity,
      f.title,
      f.explanation,
      JSON.stringify(f.evidence),
      f.action,
      f.value,
      now,
      notified,
    ],
  );
  return rows[0]!.id;
}

/**
 * Opens several findings in one statement (one evaluation's new findings); their ids by key, assigned in
 * the order given, as one `insertFinding` each would.
 */
export async function insertFindings(
  db: Queryable,
  opens: readonly { f: FindingWrite; notified: boolean }[],
  now: Date,
): Promise<Map<string, string>> {
  if (opens.length === 0) return new Map();
  const col = <T>(get: (o: { f: FindingWrite; notified: boolean }) => T) => opens.map(get);
  const { rows } = await db.query<{ id: string; key: string }>(
    `INSERT INTO pgvigil.findings
       (key, check_id, server_id, target_id, object, kind, severity, title, explanation, evidence, action,
        value, state, first_seen, last_seen, opened_at, notified, updated_at)
     SELECT x.key, x.check_id, x.server_id, x.target_id, x.object, x.kind, x.severity, x.title, x.explanation,
            x.evidence::jsonb, x.action, x.value, 'open', $1, $1, $1, x.notified, $1
       FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[],
                   $9::text[], $10::text[], $11::text[], $12::text[], $13::float8[], $14::bool[])
            WITH ORDINALITY AS x(key, check_id, server_id, target_id, object, kind, severity, title,
                                 explanation, evidence, action, value, notified, ord)
      ORDER BY x.ord
     RETURNING finding_id::text AS id, key`,
    [
      now,
      col((o) => o.f.key),
      col((o) => o.f.check),
      col((o) => o.f.serverId),
      col((o) => o.f.targetId),
      col((o) => o.f.object),
      col((o) => o.f.kind),
      col((o) => o.f.severity),
      col((o) => o.f.title),
      col((o) => o.f.explanation),
      col((o) => JSON.stringify(o.f.evidence)),
      col((o) => o.f.action),
      col((o) => o.f.value),
      col((o) => o.notified),
    ],
  );
  return new Map(rows.map((r) => [r.key, r.id]));
}

/**
 * Observed again, within the episode (what `refreshFinding` with `reopen: false` does), for several
 * findings in one statement: new evidence, the clear count back to zero, `notified` set where given.
 */
export async function updateFindings(
  db: Queryable,
  updates: readonly { id: string; f: FindingWrite; notified?: boolean }[],
  now: Date,
): Promise<void> {
  if (updates.length === 0) return;
  const col = <T>(get: (u: { id: string; f: FindingWrite; notified?: boolean }) => T) => updates.map(get);
  await db.query(
    `UPDATE pgvigil.findings f
        SET kind = x.kind, severity = x.severity, title = x.title, explanation = x.explanation,
            evidence = x.evidence::jsonb, action = x.action, value = x.value,
            last_seen = $1, clear_count = 0, updated_at = $1, notified = coalesce(x.notified, f.notified)
       FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                   $9::float8[], $10::bool[])
            AS x(id, kind, severity, title, explanation, evidence, action, value, notified)
      WHERE f.finding_id = x.id`,
    [
      now,
      col((u) => u.id),
      col((u) => u.f.kind),
      col((u) => u.f.severity),
      col((u) => u.f.title),
      col((u) => u.f.explanation),
      col((u) => JSON.stringify(u.f.evidence)),
      col((u) => u.f.action),
      col((u) => u.f.value),
      col((u) => u.notified ?? null),
    ],
  );
}

/** Observed again: new evidence, the clear count back to zero; `reopen` starts a new episode. */
export async function refreshFinding(
  db: Queryable,
  id: string,
  f: FindingWrite,
  now: Date,
  opts: { reopen: boolean; flaps?: number; notified?: boolean },
): Promise<void> {
  await db.query(
    `UPDATE pgvigil.findings
        SET kind = $2, severity = $3, title = $4, explanation = $5, evidence = $6, action = $7, value = $8,
            last_seen = $9, clear_count = 0, updated_at = $9,
            state = CASE WHEN $10 THEN
                      CASE WHEN silenced_until > $9 THEN 'silenced' ELSE 'open' END
                    ELSE state END,
            opened_at = CASE WHEN $10 THEN $9 ELSE opened_at END,
            resolved_at = CASE WHEN $10 THEN NULL ELSE resolved_at END,
            resolved_reason = CASE WHEN $10 THEN NULL ELSE resolved_reason END,
            acknowledged_at = CASE WHEN $10 THEN NULL ELSE acknowledged_at END,
            acknowledged_by = CASE WHEN $10 THEN NULL ELSE acknowledged_by END,
            flaps = coalesce($11, flaps),
            notified = coalesce($12, notified)
      WHERE finding_id = $1`,
    [
      id,
      f.kind,
      f.severity,
      f.title,
      f.explanation,
      JSON.stringify(f.evidence),
      f.action,
      f.value,
      now,
      opts.reopen,
      opts.flaps ?? null,
      opts.notified ?? null,
    ],
  );
}

/** Several clear counts in one statement. */
export async function setClearCounts(
  db: Queryable,
  counts: readonly { id: string; clearCount: number }[],
): Promise<void> {
  if (counts.length === 0) return;
  await db.query(
    `UPDATE pgvigil.findings f SET clear_count = x.c
       FROM unnest($1::bigint[], $2::int[]) AS x(id, c) WHERE f.finding_id = x.id`,
    [counts.map((c) => c.id), counts.map((c) => c.clearCount)],
  );
}

/** Several resolutions in one statement (what `resolveFindingRow` does for each). */
export async function resolveFindingRows(
  db: Queryable,
  rows: readonly { id: string; reason: string }[],
  now: Date,
): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `UPDATE pgvigil.findings f
        SET state = 'resolved', resolved_at = $1, resolved_reason = x.reason, clear_count = 0, updated_at = $1
       FROM unnest($2::bigint[], $3::text[]) AS x(id, reason) WHERE f.finding_id = x.id`,
    [now, rows.map((r) => r.id), rows.map((r) => r.reason)],
  );
}

export async function resolveFindingRow(db: Queryable, id: string, now: Date, reason: string): Promise<void> {
  await db.query(
    `UPDATE pgvigil.findings
        SET state = 'resolved', resolved_at = $2, resolved_reason = $3, clear_count = 0, updated_at = $2
      WHERE finding_id = $1`,
    [id, now, reason],
  );
}

export async function unsilenceFinding(db: Queryable, id: string, now: Date): Promise<void> {
  await db.query(
    `UPDATE pgvigil.findings SET state = 'open', updated_at = $2
      WHERE finding_id = $1 AND state = 'silenced'`,
    [id, now],
  );
}

export interface FindingEventRow {
  findingId: string;
  event: string;
  severity: string;
  actor: string | null;
  detail: unknown;
}

export async function insertFindingEvents(
  db: Queryable,
  events: readonly FindingEventRow[],
  now: Date,
): Promise<void> {
  if (events.length === 0) return;
  await db.query(
    `INSERT INTO pgvigil.finding_events (server_id, finding_id, ts, event, severity, actor, detail)
     SELECT fi.server_id, x.f, $1, x.e, x.s, x.a, x.d::jsonb
       FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) AS x(f, e, s, a, d)
       JOIN pgvigil.findings fi ON fi.finding_id = x.f`,
    [
      now,
      events.map((e) => e.findingId),
      events.map((e) => e.event),
      events.map((e) => e.severity),
      events.map((e) => e.actor),
      events.map((e) => JSON.stringify(e.detail ?? {})),
    ],
  );
}

/** A finding as the API shows it (src/intelligence/model.ts `Finding`). */
export interface FindingRow {
  id: string;
  key: string;
  check: string;
  serverId: number;
  serverName: string | null;
  targetId: number | null;
  targetName: string | null;
  object: string;
  kind: 'alert' | 'recommendation';
  severity: 'info' | 'warning' | 'critical';
  title: string;
  explanation: string;
  evidence: { [key: string]: JsonValue };
  action: string;
  value: number | null;
  state: 'open' | 'acknowledged' | 'silenced' | 'resolved';
  firstSeen: string;
  lastSeen: string;
  openedAt: string;
  resolvedAt: string | null;
  resolvedReason: string | null;
  silencedUntil: string | null;
  acknowledgedBy: string | null;
}

const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const findingColumns = `f.finding_id::text AS id, f.key, f.check_id AS "check", f.server_id::int AS "serverId",
  s.name AS "serverName", f.target_id::int AS "targetId", t.name AS "targetName", f.object, f.kind,
  f.severity, f.title, f.explanation, f.evidence, f.action, f.value, f.state,
  ${iso('f.first_seen')} AS "firstSeen", ${iso('f.last_seen')} AS "lastSeen", ${iso('f.opened_at')} AS "openedAt",
  ${iso('f.resolved_at')} AS "resolvedAt", f.resolved_reason AS "resolvedReason",
  ${iso('f.silenced_until')} AS "silencedUntil", f.acknowledged_by AS "acknowledgedBy"`;

const findingFrom = `pgvigil.findings f
  JOIN pgvigil.servers s ON s.server_id = f.server_id
  LEFT JOIN pgvigil.targets t ON t.server_id = f.server_id AND t.target_id = f.target_id`;

export async function findingsByIds(db: Queryable, ids: readonly string[]): Promise<FindingRow[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<FindingRow>(
    `SELECT ${findingColumns} FROM ${findingFrom} WHERE f.finding_id = ANY($1::bigint[])`,
    [ids],
  );
  return rows;
}

export interface FindingFilter {
  states?: string[];
  kinds?: string[];
  severities?: string[];
  serverId?: number;
  targetId?: number;
  check?: string;
  /** Updated at or after (ms). */
  since?: number;
  until?: number;
  limit: number;
  /** Keyset: findings updated before this (ms) / with a lower id. */
  before?: { updatedAt: number; id: string };
}

export async function listFindings(
  db: Queryable,
  q: FindingFilter,
): Promise<Array<FindingRow & { updatedAt: number }>> {
  const { rows } = await db.query<FindingRow & { updatedAt: number }>(
    `SELECT ${findingColumns}, (extract(epoch FROM f.updated_at) * 1000)::float8 AS "updatedAt"
       FROM ${findingFrom}
      WHERE ($1::text[] IS NULL OR f.state = ANY($1))
        AND ($2::text[] IS NULL OR f.kind = ANY($2))
        AND ($3::text[] IS NULL OR f.severity = ANY($3))
        AND ($4::bigint IS NULL OR f.server_id = $4)
        AND ($5::bigint IS NULL OR f.target_id = $5)
        AND ($6::text IS NULL OR f.check_id = $6)
        AND ($7::float8 IS NULL OR f.updated_at >= to_timestamp($7 / 1000))
        AND ($8::float8 IS NULL OR f.updated_at < to_timestamp($8 / 1000))
        AND ($9::float8 IS NULL OR (f.updated_at, f.finding_id) < (to_timestamp($9 / 1000), $10::bigint))
      ORDER BY f.updated_at DESC, f.finding_id DESC
      LIMIT $11`,
    [
      q.states ?? null,
      q.kinds ?? null,
      q.severities ?? null,
      q.serverId ?? null,
      q.targetId ?? null,
      q.check ?? null,
      q.since ?? null,
      q.until ?? null,
      q.before?.updatedAt ?? null,
      q.before?.id ?? null,
      q.limit,
    ],
  );
  return rows;
}

/** The (server, check) pairs that have unresolved findings. */
export async function unresolvedFindingChecks(
  db: Queryable,
): Promise<Array<{ serverId: number; check: string }>> {
  const { rows } = await db.query<{ serverId: number; check: string }>(
    `SELECT DISTINCT server_id::int AS "serverId", check_id AS "check" FROM pgvigil.findings WHERE state <> 'resolved'`,
  );
  return rows;
}

export interface FindingHistoryRow {
  ts: string;
  event: string;
  severity: string;
  actor: string | null;
  detail: unknown;
}

export async function findingHistory(db: Queryable, id: string, limit: number): Promise<FindingHistoryRow[]> {
  const { rows } = await db.query<FindingHistoryRow>(
    `SELECT ${iso('ts')} AS ts, event, severity, actor, detail
       FROM pgvigil.finding_events WHERE finding_id = $1 ORDER BY ts DESC, event_id DESC LIMIT $2`,
    [id, limit],
  );
  return rows;
}

/**
 * A hand action on an unresolved finding. Returns null when there is no such unresolved finding, else
 * whether its firing had been delivered (so that a hand resolution is delivered too).
 */
export async function actOnFinding(
  db: Queryable,
  id: string,
  action: 'acknowledge' | 'silence' | 'resolve' | 'unsilence',
  by: string,
  now: Date,
  silenceUntil?: Date,
): Promise<boolean | null> {
  const set = {
    acknowledge: `state = 'acknowledged', acknowledged_at = $2, acknowledged_by = $3`,
    silence: `state = 'silenced', silenced_until = $4`,
    unsilence: `state = 'open', silenced_until = NULL`,
    resolve: `state = 'resolved', resolved_at = $2, resolved_reason = 'resolved by ' || $3, clear_count = 0`,
  }[action];
  const { rows } = await db.query<{ notified: boolean }>(
    `UPDATE pgvigil.findings SET ${set}, updated_at = $2
      WHERE finding_id = $1 AND state <> 'resolved'
        -- Types $3 and $4 for the actions that do not use them.
        AND ($3::text IS NULL OR $4::timestamptz IS NULL OR true)
      RETURNING notified`,
    [id, now, by, silenceUntil ?? null],
  );
  return rows[0]?.notified ?? null;
}

/** Resolved findings not updated since `before` are deleted with their history. */
export async function pruneResolvedFindings(db: Queryable, before: Date): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM pgvigil.findings WHERE state = 'resolved' AND updated_at < $1`,
    [before],
  );
  return rowCount ?? 0;
}

export interface CheckSettingRow {
  check: string;
  serverId: number | null;
  targetId: number | null;
  enabled: boolean;
  thresholds: Record<string, number>;
  updatedBy: string | null;
  updatedAt: string;
}

export async function checkSettings(db: Queryable): Promise<CheckSettingRow[]> {
  const { rows } = await db.query<CheckSettingRow>(
    `SELECT check_id AS "check", server_id::int AS "serverId", target_id::int AS "targetId", enabled,
            thresholds, updated_by AS "updatedBy", ${iso('updated_at')} AS "updatedAt"
       FROM pgvigil.check_settings ORDER BY check_id, server_id NULLS FIRST, target_id NULLS FIRST`,
  );
  return rows;
}

export async function storeCheckSetting(
  db: Queryable,
  s: {
    check: string;
    serverId: number | null;
    targetId: number | null;
    enabled: boolean;
    thresholds: Record<string, number>;
  },
  by: string,
): Promise<void> {
  await db.query(
    `INSERT INTO pgvigil.check_settings (check_id, server_id, target_id, enabled, thresholds, updated_by)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (check_id, coalesce(server_id, 0), coalesce(target_id, 0))
     DO UPDATE SET enabled = EXCLUDED.enabled, thresholds = EXCLUDED.thresholds,
                   updated_by = EXCLUDED.updated_by, updated_at = now()`,
    [s.check, s.serverId, s.targetId, s.enabled, JSON.stringify(s.thresholds), by],
  );
}

export async function deleteCheckSetting(
  db: Queryable,
  check: string,
  serverId: number | null,
  targetId: number | null,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `DELETE FROM pgvigil.check_settings
      WHERE check_id = $1 AND coalesce(server_id, 0) = coalesce($2::bigint, 0)
        AND coalesce(target_id, 0) = coalesce($3::bigint, 0)`,
    [check, serverId, targetId],
  );
  return (rowCount ?? 0) > 0;
}

/** The newest pg_settings snapshot of a target (name → setting), for checks after a server restart. */
export async function latestTargetSettings(
  db: Queryable,
  serverId: number,
  targetId: number,
): Promise<Map<string, string>> {
  const { rows } = await db.query<{ name: string; setting: string | null }>(
    `SELECT name, setting FROM pgvigil.pg_settings
      WHERE server_id = $1 AND target_id = $2
        AND ts = (SELECT max(ts) FROM pgvigil.pg_settings WHERE server_id = $1 AND target_id = $2
                     AND ts > now() - interval '7 days')`,
    [serverId, targetId],
  );
  return new Map(rows.map((r) => [r.name, r.setting ?? '']));
}

/**
 * The port each of `targets` last reported in its settings snapshot (after `since`), keyed
 * `serverId/targetId`: what a finding's psql command needs to reach that server (src/intelligence/checks/
 * psql.ts). One index range a target, newest snapshot first (a snapshot is sent when the settings change).
 */
export async function targetPorts(
  db: Queryable,
  targets: readonly TargetRef[],
  since: Date,
): Promise<Map<string, string>> {
  if (targets.length === 0) return new Map();
  const { rows } = await db.query<{ server_id: string; target_id: string; setting: string }>(
    `SELECT w.server_id, w.target_id, p.setting
       FROM unnest($1::bigint[], $2::bigint[]) AS w(server_id, target_id)
       CROSS JOIN LATERAL (
         SELECT setting FROM pgvigil.pg_settings s
          WHERE s.server_id = w.server_id AND s.target_id = w.target_id
            AND s.ts > $3 AND s.name = 'port'
          ORDER BY s.ts DESC LIMIT 1) p
      WHERE p.setting IS NOT NULL`,
    [targets.map((t) => t.serverId), targets.map((t) => t.targetId), since],
  );
  return new Map(rows.map((r) => [`${r.server_id}/${r.target_id}`, r.setting]));
}

/**
 * Incidents (migration 0020): the findings the incidents job groups (src/server/jobs/incidents.ts), the
 * incidents and their members, and the API's reads of them.
 */
import type { JsonValue } from '../../protocol/logs.js';
import type { Queryable } from './queryable.js';

/** A finding episode as the grouping sees it (src/intelligence/causes.ts `IncidentMember`). */
export interface IncidentMemberRow {
  serverId: number;
  id: string;
  check: string;
  kind: string;
  object: string;
  targetId: number | null;
  severity: 'info' | 'warning' | 'critical';
  state: string;
  title: string;
  evidence: { [key: string]: JsonValue };
  openedAt: number;
  resolvedAt: number | null;
}

const ms = (col: string) => `(extract(epoch FROM ${col}) * 1000)::float8`;

const memberColumns = `f.server_id::int AS "serverId", f.finding_id::text AS id, f.check_id AS "check", f.kind,
  f.object, f.target_id::int AS "targetId", f.severity, f.title, f.evidence`;

/**
 * Findings whose current episode opened at or after `since` and is in no incident yet, oldest first
 * (at most `limit`). updated_at is never before opened_at, so the updated_at index narrows the scan.
 */
export async function incidentCandidates(
  db: Queryable,
  since: Date,
  limit: number,
): Promise<IncidentMemberRow[]> {
  const { rows } = await db.query<IncidentMemberRow>(
    `SELECT ${memberColumns}, f.state, ${ms('f.opened_at')} AS "openedAt", ${ms('f.resolved_at')} AS "resolvedAt"
       FROM pgvigil.findings f
      WHERE f.updated_at >= $1 AND f.opened_at >= $1
        AND NOT EXISTS (SELECT 1 FROM pgvigil.incident_findings m
                         WHERE m.finding_id = f.finding_id AND m.finding_opened_at = f.opened_at)
      ORDER BY f.opened_at, f.finding_id
      LIMIT $2`,
    [since, limit],
  );
  return rows;
}

/**
 * Findings still open (not resolved) whose current episode opened in [since, until) and is in no incident
 * — the standing causes the grouping may tie a new finding to — oldest first (at most `limit`).
 */
export async function standingFindings(
  db: Queryable,
  since: Date,
  until: Date,
  limit: number,
): Promise<IncidentMemberRow[]> {
  const { rows } = await db.query<IncidentMemberRow>(
    `SELECT ${memberColumns}, f.state, ${ms('f.opened_at')} AS "openedAt", ${ms('f.resolved_at')} AS "resolvedAt"
       FROM pgvigil.findings f
      WHERE f.state <> 'resolved' AND f.opened_at >= $1 AND f.opened_at < $2
        AND NOT EXISTS (SELECT 1 FROM pgvigil.incident_findings m
                         WHERE m.finding_id = f.finding_id AND m.finding_opened_at = f.opened_at)
      ORDER BY f.opened_at, f.finding_id
      LIMIT $3`,
    [since, until, limit],
  );
  return rows;
}

export interface OpenIncidentMemberRow extends IncidentMemberRow {
  incidentId: string;
  incidentSeverity: string;
  incidentTitle: string;
  role: string;
}

/**
 * The members of every open incident (of `serverIds`, or all), as their findings are now. A member
 * whose finding has reopened since it joined counts as resolved: its episode in the incident ended.
 */
export async function openIncidentMembers(
  db: Queryable,
  serverIds: readonly number[] | null,
): Promise<OpenIncidentMemberRow[]> {
  const { rows } = await db.query<OpenIncidentMemberRow>(
    `SELECT i.incident_id::text AS "incidentId", i.severity AS "incidentSeverity", i.title AS "incidentTitle",
            m.role, ${memberColumns},
            CASE WHEN f.opened_at > m.finding_opened_at THEN 'resolved' ELSE f.state END AS state,
            ${ms('m.finding_opened_at')} AS "openedAt",
            CASE WHEN f.opened_at > m.finding_opened_at THEN ${ms('coalesce(f.resolved_at, f.opened_at)')}
                 ELSE ${ms('f.resolved_at')} END AS "resolvedAt"
       FROM pgvigil.incidents i
       JOIN pgvigil.incident_findings m ON m.server_id = i.server_id AND m.incident_id = i.incident_id
       JOIN pgvigil.findings f ON f.server_id = m.server_id AND f.finding_id = m.finding_id
      WHERE i.state = 'open' AND ($1::bigint[] IS NULL OR i.server_id = ANY($1))
      ORDER BY i.incident_id, m.finding_opened_at`,
    [serverIds],
  );
  return rows;
}

export interface IncidentWrite {
  serverId: number;
  openedAt: Date;
  title: string;
  cause: unknown;
  correlated: unknown;
  severity: string;
}

export async function insertIncident(db: Queryable, i: IncidentWrite, now: Date): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO pgvigil.incidents (server_id, state, opened_at, title, cause, correlated, severity, updated_at)
     VALUES ($1, 'open', $2, $3, $4, $5, $6, $7)
     RETURNING incident_id::text AS id`,
    [
      i.serverId,
      i.openedAt,
      i.title,
      i.cause === null ? null : JSON.stringify(i.cause),
      JSON.stringify(i.correlated),
      i.severity,
      now,
    ],
  );
  return rows[0]!.id;
}

/** New explanation after the members changed (opened_at moves back if an earlier finding joined). */
export async function updateIncident(db: Queryable, id: string, i: IncidentWrite, now: Date): Promise<void> {
  await db.query(
    `UPDATE pgvigil.incidents
        SET opened_at = least(opened_at, $2), title = $3, cause = $4, correlated = $5, severity = $6, updated_at = $7
      WHERE incident_id = $1`,
    [
      id,
      i.openedAt,
      i.title,
      i.cause === null ? null : JSON.stringify(i.cause),
      JSON.stringify(i.correlated),
      i.severity,
      now,
    ],
  );
}

export async function setIncidentSeverity(
  db: Queryable,
  id: string,
  severity: string,
  now: Date,
): Promise<void> {
  await db.query(
    'UPDATE pgvigil.incidents SET severity = $2, updated_at = $3 WHERE incident_id = $1 AND severity <> $2',
    [id, severity, now],
  );
}

export async function resolveIncident(
  db: Queryable,
  id: string,
  resolvedAt: Date,
  now: Date,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE pgvigil.incidents SET state = 'resolved', resolved_at = $2, updated_at = $3
      WHERE incident_id = $1 AND state = 'open'`,
    [id, resolvedAt, now],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Adds members or changes their role. A finding that reopened and rejoins the same incident moves its
 * membership to the new episode (one row per finding and incident).
 */
export async function upsertIncidentMembers(
  db: Queryable,
  serverId: number,
  incidentId: string,
  members: ReadonlyArray<{ findingId: string; findingOpenedAt: Date; role: string }>,
  now: Date,
): Promise<void> {
  if (members.length === 0) return;
  await db.query(
    `INSERT INTO pgvigil.incident_findings (server_id, incident_id, finding_id, finding_opened_at, role, added_at)
     SELECT $1, $2, x.f, x.o, x.r, $6
       FROM unnest($3::bigint[], $4::timestamptz[], $5::text[]) AS x(f, o, r)
     ON CONFLICT (server_id, incident_id, finding_id)
     DO UPDATE SET role = EXCLUDED.role, finding_opened_at = EXCLUDED.finding_opened_at`,
    [
      serverId,
      incidentId,
      members.map((m) => m.findingId),
      members.map((m) => m.findingOpenedAt),
      members.map((m) => m.role),
      now,
    ],
  );
}

/**
 * Open incidents left without members (their findings were pruned or deleted) resolve at their last
 * change: nothing could ever resolve them otherwise.
 */
export async function resolveEmptyIncidents(db: Queryable, now: Date): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE pgvigil.incidents i SET state = 'resolved', resolved_at = i.updated_at, updated_at = $1
      WHERE i.state = 'open'
        AND NOT EXISTS (SELECT 1 FROM pgvigil.incident_findings m
                         WHERE m.server_id = i.server_id AND m.incident_id = i.incident_id)`,
    [now],
  );
  return rowCount ?? 0;
}

/** Resolved incidents whose resolution is older than `before` are deleted with their memberships. */
export async function pruneResolvedIncidents(db: Queryable, before: Date): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM pgvigil.incidents WHERE state = 'resolved' AND resolved_at < $1`,
    [before],
  );
  return rowCount ?? 0;
}

// ---- the API's reads ----

export interface IncidentRow {
  id: string;
  serverId: number;
  serverName: string | null;
  state: 'open' | 'resolved';
  openedAt: string;
  resolvedAt: string | null;
  title: string;
  severity: 'info' | 'warning' | 'critical';
  cause: { [key: string]: JsonValue } | null;
  correlated: { [key: string]: JsonValue };
  confidence: number | null;
  members: number;
  updatedAt: string;
}

const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const incidentColumns = `i.incident_id::text AS id, i.server_id::int AS "serverId", s.name AS "serverName", i.state,
  ${iso('i.opened_at')} AS "openedAt", ${iso('i.resolved_at')} AS "resolvedAt", i.title, i.severity, i.cause,
  i.correlated, (i.cause->>'confidence')::float8 AS confidence,
  (SELECT count(*)::int FROM pgvigil.incident_findings m
    WHERE m.server_id = i.server_id AND m.incident_id = i.incident_id) AS members,
  ${iso('i.updated_at')} AS "updatedAt"`;

export interface IncidentFilter {
  serverId?: number;
  state?: 'open' | 'resolved';
  /** Incidents that were open at some time in [from, to) (ms). */
  from?: number;
  to?: number;
  limit: number;
  /** Keyset: opened before this (ms) / with a lower id. */
  before?: { openedAt: number; id: string };
}

export async function listIncidents(
  db: Queryable,
  q: IncidentFilter,
): Promise<Array<IncidentRow & { openedAtMs: number }>> {
  const { rows } = await db.query<IncidentRow & { openedAtMs: number }>(
    `SELECT ${incidentColumns}, ${ms('i.opened_at')} AS "openedAtMs"
       FROM pgvigil.incidents i JOIN pgvigil.servers s ON s.server_id = i.server_id
      WHERE ($1::bigint IS NULL OR i.server_id = $1)
        AND ($2::text IS NULL OR i.state = $2)
        AND ($3::float8 IS NULL OR i.resolved_at IS NULL OR i.resolved_at >= to_timestamp($3 / 1000))
        AND ($4::float8 IS NULL OR i.opened_at < to_timestamp($4 / 1000))
        AND ($5::float8 IS NULL OR (i.opened_at, i.incident_id) < (to_timestamp($5 / 1000), $6::bigint))
      ORDER BY i.opened_at DESC, i.incident_id DESC
      LIMIT $7`,
    [
      q.serverId ?? null,
      q.state ?? null,
      q.from ?? null,
      q.to ?? null,
      q.before?.openedAt ?? null,
      q.before?.id ?? null,
      q.limit,
    ],
  );
  return rows;
}

export async function incidentById(db: Queryable, id: string): Promise<IncidentRow | undefined> {
  const { rows } = await db.query<IncidentRow>(
    `SELECT ${incidentColumns}
       FROM pgvigil.incidents i JOIN pgvigil.servers s ON s.server_id = i.server_id
      WHERE i.incident_id = $1`,
    [id],
  );
  return rows[0];
}

export interface IncidentMemberSummary {
  role: string;
  addedAt: string;
  episodeOpenedAt: string;
  finding: {
    id: string;
    check: string;
    kind: string;
    object: string;
    targetId: number | null;
    targetName: string | null;
    severity: string;
    state: string;
    title: string;
    explanation: string;
    action: string;
    openedAt: string;
    resolvedAt: string | null;
  };
}

export async function incidentMembers(
  db: Queryable,
  id: string,
  limit: number,
): Promise<IncidentMemberSummary[]> {
  const { rows } = await db.query<IncidentMemberSummary>(
    `SELECT m.role, ${iso('m.added_at')} AS "addedAt", ${iso('m.finding_opened_at')} AS "episodeOpenedAt",
            json_build_object(
              'id', f.finding_id::text, 'check', f.check_id, 'kind', f.kind, 'object', f.object,
              'targetId', f.target_id, 'targetName', t.name, 'severity', f.severity, 'state', f.state,
              'title', f.title, 'explanation', f.explanation, 'action', f.action,
              'openedAt', ${iso('f.opened_at')}, 'resolvedAt', ${iso('f.resolved_at')}) AS finding
       FROM pgvigil.incident_findings m
       JOIN pgvigil.findings f ON f.server_id = m.server_id AND f.finding_id = m.finding_id
       LEFT JOIN pgvigil.targets t ON t.server_id = f.server_id AND t.target_id = f.target_id
      WHERE m.incident_id = $1
      ORDER BY array_position(ARRAY['cause', 'effect', 'symptom', 'correlated'], m.role), m.finding_opened_at
      LIMIT $2`,
    [id, limit],
  );
  return rows;
}

/**
 * Log windows for the security and log checks (src/intelligence/checks/security.ts, logs.ts) and the
 * stored security events (migration 0016): what the classified log entries of a time window add up to per
 * server, address and user, FATAL/PANIC bursts, disk errors and repeating error patterns. Every list is
 * bounded here (groups, users, samples, text lengths); the checks bound again what they put in findings.
 */
import type { Queryable } from './queryable.js';

export type SecurityEventType = 'ssh_bruteforce' | 'fail2ban_ban' | 'firewall_block' | 'pg_auth_failure';
export const securityEventTypes: readonly SecurityEventType[] = [
  'ssh_bruteforce',
  'fail2ban_ban',
  'firewall_block',
  'pg_auth_failure',
];

/** The entry events each type is made of (context.event, set by the agent's parsers). */
const securityEvents = [
  'ssh_auth_failed',
  'ssh_invalid_user',
  'firewall_block',
  'fail2ban_ban',
  'auth_failed',
  'auth_rejected',
];

/**
 * The security entries of [$1, $2) as (server_id, ts, message, event, type, ip, username, tried, jail).
 * PostgreSQL logs without %h/%r in log_line_prefix name no client address on the failure itself: it is
 * taken from the `connection received` line of the same backend pid (log_connections) just before.
 * `$3` restricts to some servers (null: all).
 */
const securityEntriesSql = `
  ev AS (
    SELECT e.server_id, e.ts, e.message, e.context, e.context ->> 'event' AS event
      FROM pgvigil.log_entries e
     WHERE e.ts >= $1 AND e.ts < $2 AND e.context ? 'event'
       AND e.context ->> 'event' = ANY('{${securityEvents.join(',')}}'::text[])
       AND ($3::bigint[] IS NULL OR e.server_id = ANY($3))
       AND (e.context ->> 'event' <> 'firewall_block' OR e.context ->> 'action' = 'block')
  ),
  norm AS (
    SELECT ev.server_id, ev.ts, ev.message, ev.event,
           CASE WHEN ev.event IN ('ssh_auth_failed', 'ssh_invalid_user') THEN 'ssh_bruteforce'
                WHEN ev.event IN ('auth_failed', 'auth_rejected') THEN 'pg_auth_failure'
                ELSE ev.event END AS type,
           left(CASE WHEN ev.event IN ('auth_failed', 'auth_rejected')
                     THEN coalesce(ev.context ->> 'host', (
                            SELECT c.context ->> 'host' FROM pgvigil.log_entries c
                             WHERE c.server_id = ev.server_id AND c.context ? 'event'
                               AND c.context ->> 'event' = 'connection_received'
                               AND c.ts >= ev.ts - interval '1 minute' AND c.ts <= ev.ts
                               AND c.context -> 'pid' = ev.context -> 'pid'
                             ORDER BY c.ts DESC LIMIT 1), '')
                     ELSE coalesce(ev.context ->> 'ip', '') END, 100) AS ip,
           CASE WHEN ev.event IN ('auth_failed', 'auth_rejected')
                THEN left(coalesce(ev.context ->> 'user', ''), 100) ELSE '' END AS username,
           CASE WHEN ev.event IN ('ssh_auth_failed', 'ssh_invalid_user')
                THEN left(ev.context ->> 'user', 100) END AS tried,
           left(ev.context ->> 'jail', 100) AS jail,
           left(ev.context ->> 'database', 100) AS database
      FROM ev
  )`;

export interface SecurityGroup {
  serverId: number;
  type: SecurityEventType;
  ip: string;
  username: string;
  /** Attempts (distinct lines: kernel lines read from both syslog and kern.log count once). */
  count: number;
  /** SSH: the user names tried (≤ 10); PostgreSQL: the databases asked for (≤ 10). */
  users: string[];
  databases: string[];
  jails: string[];
  first: Date;
  last: Date;
  /** Newest first, ≤ 5, each ≤ 500 characters. */
  samples: string[];
}

/**
 * Security entries of [from, to) grouped per server, type, address and (PostgreSQL) user, largest first
 * (at most `limit` groups). One SSH attempt with an invalid user logs both "Invalid user" and "Failed
 * password": an address's attempts are the larger of the two counts, not their sum.
 */
export async function securityGroups(
  db: Queryable,
  from: Date,
  to: Date,
  opts: { serverIds?: number[]; limit?: number } = {},
): Promise<SecurityGroup[]> {
  const { rows } = await db.query<SecurityGroup>(
    `WITH ${securityEntriesSql}
     SELECT server_id::int AS "serverId", type, ip, username,
            CASE WHEN type = 'ssh_bruteforce'
                 THEN greatest(count(DISTINCT (ts, message)) FILTER (WHERE event = 'ssh_auth_failed'),
                               count(DISTINCT (ts, message)) FILTER (WHERE event = 'ssh_invalid_user'))
                 ELSE count(DISTINCT (ts, message)) END::int AS count,
            coalesce((array_agg(DISTINCT tried) FILTER (WHERE tried IS NOT NULL))[1:10], '{}') AS users,
            coalesce((array_agg(DISTINCT database) FILTER (WHERE database IS NOT NULL))[1:10], '{}') AS databases,
            coalesce((array_agg(DISTINCT jail) FILTER (WHERE jail IS NOT NULL))[1:10], '{}') AS jails,
            min(ts) AS first, max(ts) AS last,
            (array_agg(left(message, 500) ORDER BY ts DESC))[1:5] AS samples
       FROM norm
      GROUP BY server_id, type, ip, username
      ORDER BY count DESC, server_id, type, ip, username
      LIMIT $4`,
    [from, to, opts.serverIds ?? null, opts.limit ?? 2000],
  );
  return rows;
}

/** A detected group to store: its server, type, address and user. */
export interface SecurityEventKey {
  serverId: number;
  type: SecurityEventType;
  ip: string;
  username: string;
}

/**
 * Stores the detected groups as security events, one row per fixed 5-minute window (aligned to the epoch)
 * that holds their entries in [from, to). Counts are recomputed from the log entries and overwrite the
 * stored ones, so a re-run finds the same numbers (idempotent) and a window still filling is updated;
 * `from` must be a window start, or the first window's count would cover only part of it.
 * Returns the rows written.
 */
export async function recordSecurityEvents(
  db: Queryable,
  keys: readonly SecurityEventKey[],
  from: Date,
  to: Date,
): Promise<number> {
  if (keys.length === 0) return 0;
  const serverIds = [...new Set(keys.map((k) => k.serverId))];
  const { rowCount } = await db.query(
    `WITH ${securityEntriesSql},
     wanted AS (
       SELECT * FROM unnest($4::bigint[], $5::text[], $6::text[], $7::text[]) AS w (server_id, type, ip, username)
     ),
     bucketed AS (
       SELECT n.*, date_bin('5 minutes', n.ts, TIMESTAMPTZ 'epoch') AS window_start
         FROM norm n JOIN wanted w USING (server_id, type, ip, username)
     )
     INSERT INTO pgvigil.security_events AS s
       (server_id, type, source_ip, username, window_start, window_end, ts, first_ts, count, sample_lines, detail)
     SELECT server_id, type, ip, username, window_start, window_start + interval '5 minutes', max(ts), min(ts),
            CASE WHEN type = 'ssh_bruteforce'
                 THEN greatest(count(DISTINCT (ts, message)) FILTER (WHERE event = 'ssh_auth_failed'),
                               count(DISTINCT (ts, message)) FILTER (WHERE event = 'ssh_invalid_user'))
                 ELSE count(DISTINCT (ts, message)) END,
            to_jsonb((array_agg(left(message, 500) ORDER BY ts DESC))[1:5]),
            jsonb_strip_nulls(jsonb_build_object(
              'users', to_jsonb((array_agg(DISTINCT tried) FILTER (WHERE tried IS NOT NULL))[1:10]),
              'databases', to_jsonb((array_agg(DISTINCT database) FILTER (WHERE database IS NOT NULL))[1:10]),
              'jails', to_jsonb((array_agg(DISTINCT jail) FILTER (WHERE jail IS NOT NULL))[1:10])))
       FROM bucketed
      GROUP BY server_id, type, ip, username, window_start
     HAVING count(*) > 0
     ON CONFLICT (server_id, type, source_ip, username, window_start) DO UPDATE
        SET count = EXCLUDED.count, ts = EXCLUDED.ts, first_ts = EXCLUDED.first_ts,
            sample_lines = EXCLUDED.sample_lines, detail = EXCLUDED.detail, updated_at = now()
      WHERE (s.count, s.ts, s.first_ts) IS DISTINCT FROM (EXCLUDED.count, EXCLUDED.ts, EXCLUDED.first_ts)`,
    [
      from,
      to,
      serverIds,
      keys.map((k) => k.serverId),
      keys.map((k) => k.type),
      keys.map((k) => k.ip),
      keys.map((k) => k.username),
    ],
  );
  return rowCount ?? 0;
}

/** Deletes security events older than `before`; returns how many. */
export async function pruneSecurityEvents(db: Queryable, before: Date): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM pgvigil.security_events WHERE ts < $1', [before]);
  return rowCount ?? 0;
}

export interface SecurityEventFilter {
  serverId?: number;
  types?: string[];
  ip?: string;
  from?: Date;
  to?: Date;
  /** Keyset: strictly older than (ts in ms, event id). */
  before?: { ts: number; id: string };
  limit: number;
}

export interface SecurityEventRow {
  id: string;
  serverId: number;
  serverName: string;
  type: SecurityEventType;
  sourceIp: string;
  username: string;
  windowStart: string;
  windowEnd: string;
  ts: string;
  firstTs: string;
  count: number;
  sampleLines: string[];
  detail: Record<string, unknown>;
  /** ts in ms, for the page key. */
  tsMs: number;
}

/** Security events newest first; filters combine. */
export async function listSecurityEvents(db: Queryable, q: SecurityEventFilter): Promise<SecurityEventRow[]> {
  const { rows } = await db.query<SecurityEventRow>(
    `SELECT s.event_id::text AS id, s.server_id::int AS "serverId", v.name AS "serverName", s.type,
            s.source_ip AS "sourceIp", s.username,
            to_char(s.window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "windowStart",
            to_char(s.window_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "windowEnd",
            to_char(s.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts,
            to_char(s.first_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "firstTs",
            s.count, s.sample_lines AS "sampleLines", s.detail,
            (extract(epoch FROM s.ts) * 1000)::float8 AS "tsMs"
       FROM pgvigil.security_events s JOIN pgvigil.servers v USING (server_id)
      WHERE ($1::bigint IS NULL OR s.server_id = $1)
        AND ($2::text[] IS NULL OR s.type = ANY($2))
        AND ($3::text IS NULL OR s.source_ip = $3)
        AND ($4::timestamptz IS NULL OR s.ts >= $4)
        AND ($5::timestamptz IS NULL OR s.ts < $5)
        AND ($6::float8 IS NULL OR (s.ts, s.event_id) < (to_timestamp($6 / 1000), $7::bigint))
      ORDER BY s.ts DESC, s.event_id DESC
      LIMIT $8`,
    [
      q.serverId ?? null,
      q.types ?? null,
      q.ip ?? null,
      q.from ?? null,
      q.to ?? null,
      q.before?.ts ?? null,
      q.before?.id ?? null,
      q.limit,
    ],
  );
  return rows;
}

/** Servers that shipped anything since `since`: the scopes the log checks look at. */
export async function activeServers(db: Queryable, since: Date): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>(
    'SELECT server_id::int AS id FROM pgvigil.servers WHERE last_seen_at >= $1 ORDER BY server_id',
    [since],
  );
  return rows.map((r) => r.id);
}

/** Which log sources are PostgreSQL's: the default name and any name a user gave starting so. */
const postgresSource = `(e.source ILIKE 'postgres%' OR e.source ILIKE 'pg%')`;

export interface FatalBurst {
  serverId: number;
  source: string;
  fatal: number;
  panic: number;
  first: Date;
  last: Date;
  /** The most frequent messages (by fingerprint), ≤ 5: a sample message and its count. */
  top: Array<{ message: string; count: number; sqlstate: string | null }>;
}

/**
 * FATAL and PANIC entries of PostgreSQL sources in [from, to) per server and source. Authentication
 * failures are left out: they are FATAL too, and have their own check by address and user.
 */
export async function fatalBursts(db: Queryable, from: Date, to: Date): Promise<FatalBurst[]> {
  const { rows } = await db.query<FatalBurst>(
    `WITH f AS (
       SELECT e.server_id, e.source, e.fingerprint, e.level, e.ts, e.message, e.context ->> 'sqlstate' AS sqlstate
         FROM pgvigil.log_entries e
        WHERE e.ts >= $1 AND e.ts < $2 AND e.level IN ('fatal', 'panic') AND ${postgresSource}
          AND NOT (e.context ? 'event' AND e.context ->> 'event' IN ('auth_failed', 'auth_rejected'))
     ), byfp AS (
       SELECT server_id, source, fingerprint, count(*) AS n,
              (array_agg(left(message, 300) ORDER BY ts DESC))[1] AS message,
              (array_agg(sqlstate ORDER BY ts DESC))[1] AS sqlstate
         FROM f GROUP BY server_id, source, fingerprint
     )
     SELECT f.server_id::int AS "serverId", f.source,
            count(*) FILTER (WHERE f.level = 'fatal')::int AS fatal,
            count(*) FILTER (WHERE f.level = 'panic')::int AS panic,
            min(f.ts) AS first, max(f.ts) AS last,
            (SELECT coalesce(jsonb_agg(jsonb_build_object('message', b.message, 'count', b.n, 'sqlstate', b.sqlstate)
                                       ORDER BY b.n DESC), '[]')
               FROM (SELECT * FROM byfp b WHERE b.server_id = f.server_id AND b.source = f.source
                      ORDER BY b.n DESC LIMIT 5) b) AS top
       FROM f GROUP BY f.server_id, f.source
      ORDER BY 3 DESC LIMIT 1000`,
    [from, to],
  );
  return rows;
}

/**
 * The log sources the agents of `serverIds` say they read (status.logSources, each batch's self-report):
 * one row per source, its name, parser and paths as the agent sent them (any JSON: checked by the caller).
 * At most 50 sources an agent.
 */
export interface ReportedLogSource {
  serverId: number;
  source: string;
  parser: unknown;
  paths: unknown;
}

export async function reportedLogSources(
  db: Queryable,
  serverIds: readonly number[],
): Promise<ReportedLogSource[]> {
  if (serverIds.length === 0) return [];
  const { rows } = await db.query<ReportedLogSource>(
    `SELECT a.server_id::int AS "serverId", left(s ->> 'name', 100) AS source, s -> 'parser' AS parser,
            s -> 'paths' AS paths
       FROM pgvigil.agents a
      CROSS JOIN LATERAL (
            SELECT s FROM jsonb_array_elements(
                     CASE WHEN jsonb_typeof(a.status -> 'logSources') = 'array' THEN a.status -> 'logSources'
                          ELSE '[]' END) s
             WHERE jsonb_typeof(s) = 'object' AND jsonb_typeof(s -> 'name') = 'string'
             LIMIT 50) l
      WHERE a.server_id = ANY($1::bigint[]) AND a.revoked_at IS NULL
      ORDER BY a.server_id, a.last_seen_at DESC NULLS LAST
      LIMIT 10000`,
    [serverIds],
  );
  return rows;
}

export interface DiskErrorGroup {
  serverId: number;
  /** io_error or disk_full. */
  kind: 'io_error' | 'disk_full';
  /** The device the kernel named ('' for a full disk, which names a file, not a device). */
  device: string;
  source: string;
  count: number;
  first: Date;
  last: Date;
  samples: string[];
}

/**
 * Disk I/O errors (kernel lines the syslog parser classifies as io_error, with the device) and full disks
 * (`No space left on device`, from PostgreSQL or any program) in [from, to), per server, kind, device and
 * source.
 */
export async function diskErrors(db: Queryable, from: Date, to: Date): Promise<DiskErrorGroup[]> {
  const { rows } = await db.query<DiskErrorGroup>(
    `WITH d AS (
       SELECT e.server_id, e.source, e.ts, e.message,
              CASE WHEN e.context ->> 'event' = 'io_error' THEN 'io_error' ELSE 'disk_full' END AS kind,
              CASE WHEN e.context ->> 'event' = 'io_error' THEN left(coalesce(e.context ->> 'device', ''), 64)
                   ELSE '' END AS device
         FROM pgvigil.log_entries e
        WHERE e.ts >= $1 AND e.ts < $2
          AND ((e.context ? 'event' AND e.context ->> 'event' IN ('io_error', 'disk_full'))
               OR (e.level IN ('warning', 'error', 'fatal', 'panic')
                   AND e.message LIKE '%No space left on device%'))
     )
     SELECT server_id::int AS "serverId", kind, device, left(source, 100) AS source,
            count(DISTINCT (ts, message))::int AS count, min(ts) AS first, max(ts) AS last,
            (array_agg(left(message, 500) ORDER BY ts DESC))[1:5] AS samples
       FROM d GROUP BY server_id, kind, device, source
      ORDER BY count DESC LIMIT 1000`,
    [from, to],
  );
  return rows;
}

export interface ErrorPattern {
  serverId: number;
  source: string;
  component: string;
  fingerprint: string;
  level: string;
  count: number;
  first: Date;
  last: Date;
  /** The newest message of the pattern (≤ 500 characters). */
  message: string;
  /** A few fields of its context: sqlstate, user, database, statement, detail, hint (each ≤ 300). */
  context: Record<string, unknown>;
}

/**
 * Fingerprints at level error or above seen at least `min` times in [from, to), per server, largest
 * first, at most `limit`. Entries of the security and disk events are left out (checks of their own).
 */
export async function errorPatterns(
  db: Queryable,
  from: Date,
  to: Date,
  min: number,
  limit = 500,
): Promise<ErrorPattern[]> {
  const { rows } = await db.query<ErrorPattern>(
    `SELECT e.server_id::int AS "serverId", left(e.source, 100) AS source, e.fingerprint,
            (array_agg(left(e.component, 100) ORDER BY e.ts DESC))[1] AS component,
            (array_agg(e.level ORDER BY e.ts DESC))[1] AS level,
            count(*)::int AS count, min(e.ts) AS first, max(e.ts) AS last,
            (array_agg(left(e.message, 500) ORDER BY e.ts DESC))[1] AS message,
            (array_agg(jsonb_strip_nulls(jsonb_build_object(
               'sqlstate', left(e.context ->> 'sqlstate', 10),
               'user', left(e.context ->> 'user', 100),
               'database', left(e.context ->> 'database', 100),
               'statement', left(e.context ->> 'statement', 300),
               'detail', left(e.context ->> 'detail', 300),
               'hint', left(e.context ->> 'hint', 300))) ORDER BY e.ts DESC))[1] AS context
       FROM pgvigil.log_entries e
      WHERE e.ts >= $1 AND e.ts < $2 AND e.level IN ('error', 'fatal', 'panic')
        AND NOT (e.context ? 'event' AND e.context ->> 'event' = ANY('{${[...securityEvents, 'io_error', 'disk_full'].join(',')}}'::text[]))
      GROUP BY e.server_id, e.source, e.fingerprint
     HAVING count(*) >= $3
      ORDER BY count(*) DESC
      LIMIT $4`,
    [from, to, min, limit],
  );
  return rows;
}

/**
 * Agentless targets (migration 0026): their registration, the lease that gives each to one server
 * instance at a time, and what the API shows of them (never url_sealed).
 */
import type { Queryable } from './queryable.js';

export interface NewAgentlessTarget {
  name: string;
  agentId: string;
  host: string;
  port: number;
  dbname: string;
  username: string;
  sslmode: string;
  caPem: string | null;
  urlSealed: Buffer;
  keyId: string;
  intervalMs: number;
}

/** A server entry marked agentless with this name; undefined when a server of that name exists already. */
export async function insertAgentlessServer(db: Queryable, name: string): Promise<number | undefined> {
  const { rows } = await db.query<{ server_id: string }>(
    `INSERT INTO pgvigil.servers (name, agentless) VALUES ($1, true)
     ON CONFLICT (name) DO NOTHING RETURNING server_id`,
    [name],
  );
  return rows[0] ? Number(rows[0].server_id) : undefined;
}

/** The agent row whose id the poller's batches carry (no credential: nothing can push with it). */
export async function insertAgentlessAgent(
  db: Queryable,
  serverId: number,
  agentId: string,
  hostname: string,
  version: string,
): Promise<void> {
  await db.query(
    `INSERT INTO pgvigil.agents (server_id, agent_id, hostname, os, agent_version)
     VALUES ($1, $2, $3, 'agentless', $4)`,
    [serverId, agentId, hostname, version],
  );
}

/** Registers the target; its id, or undefined when one of that name exists already. */
export async function insertAgentlessTarget(
  db: Queryable,
  serverId: number,
  t: NewAgentlessTarget,
): Promise<number | undefined> {
  const { rows } = await db.query<{ target_id: string }>(
    `INSERT INTO pgvigil.agentless_targets
       (name, server_id, agent_id, host, port, dbname, username, sslmode, ca_pem, url_sealed, key_id, interval_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (name) DO NOTHING RETURNING target_id`,
    [
      t.name,
      serverId,
      t.agentId,
      t.host,
      t.port,
      t.dbname,
      t.username,
      t.sslmode,
      t.caPem,
      t.urlSealed,
      t.keyId,
      t.intervalMs,
    ],
  );
  return rows[0] ? Number(rows[0].target_id) : undefined;
}

/** What the API shows of a target: everything but the sealed URL. */
export interface AgentlessTargetRow {
  target_id: string;
  name: string;
  server_id: string;
  agent_id: string;
  host: string;
  port: number;
  dbname: string;
  username: string;
  sslmode: string;
  has_ca: boolean;
  key_id: string;
  interval_ms: number;
  created_at: Date;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  last_poll_at: Date | null;
  last_poll_by: string | null;
  last_error: string | null;
}

const publicColumns = `target_id, name, server_id, agent_id, host, port, dbname, username, sslmode,
  ca_pem IS NOT NULL AS has_ca, key_id, interval_ms, created_at, lease_owner, lease_expires_at, last_poll_at,
  last_poll_by, last_error`;

export async function listAgentlessTargets(db: Queryable, limit: number): Promise<AgentlessTargetRow[]> {
  const { rows } = await db.query<AgentlessTargetRow>(
    `SELECT ${publicColumns} FROM pgvigil.agentless_targets ORDER BY name LIMIT $1`,
    [limit],
  );
  return rows;
}

export async function agentlessTargetById(
  db: Queryable,
  targetId: number,
): Promise<AgentlessTargetRow | undefined> {
  const { rows } = await db.query<AgentlessTargetRow>(
    `SELECT ${publicColumns} FROM pgvigil.agentless_targets WHERE target_id = $1`,
    [targetId],
  );
  return rows[0];
}

export interface AgentlessTargetChange {
  /** A new connection: every field of it together (the URL is sealed again). */
  connection?: {
    host: string;
    port: number;
    dbname: string;
    username: string;
    sslmode: string;
    urlSealed: Buffer;
    keyId: string;
  };
  /** A new CA bundle; null removes it. */
  caPem?: string | null;
  intervalMs?: number;
}

/**
 * Changes a target (the poller sees the new connection at its next poll and reconnects); false when
 * there is no such target.
 */
export async function updateAgentlessTarget(
  db: Queryable,
  targetId: number,
  change: AgentlessTargetChange,
): Promise<boolean> {
  const c = change.connection;
  const { rowCount } = await db.query(
    `UPDATE pgvigil.agentless_targets
        SET host = coalesce($2, host), port = coalesce($3, port), dbname = coalesce($4, dbname),
            username = coalesce($5, username), sslmode = coalesce($6, sslmode),
            url_sealed = coalesce($7, url_sealed), key_id = coalesce($8, key_id),
            ca_pem = CASE WHEN $9 THEN $10 ELSE ca_pem END,
            interval_ms = coalesce($11, interval_ms)
      WHERE target_id = $1`,
    [
      targetId,
      c?.host ?? null,
      c?.port ?? null,
      c?.dbname ?? null,
      c?.username ?? null,
      c?.sslmode ?? null,
      c?.urlSealed ?? null,
      c?.keyId ?? null,
      change.caPem !== undefined,
      change.caPem ?? null,
      change.intervalMs ?? null,
    ],
  );
  return (rowCount ?? 0) > 0;
}

/** A target's name, sslmode and CA bundle (what a change is checked against). */
export async function agentlessTargetTls(
  db: Queryable,
  targetId: number,
): Promise<{ name: string; sslmode: string; ca_pem: string | null } | undefined> {
  const { rows } = await db.query<{ name: string; sslmode: string; ca_pem: string | null }>(
    'SELECT name, sslmode, ca_pem FROM pgvigil.agentless_targets WHERE target_id = $1',
    [targetId],
  );
  return rows[0];
}

/** Removes the target with its server entry (and so its agent row and data rows' parent); false when absent. */
export async function deleteAgentlessTarget(db: Queryable, targetId: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `DELETE FROM pgvigil.servers s USING pgvigil.agentless_targets t
      WHERE t.target_id = $1 AND s.server_id = t.server_id AND s.agentless`,
    [targetId],
  );
  return (rowCount ?? 0) > 0;
}

/** A target this instance may poll now: what the poller needs to reach it. */
export interface ClaimedTarget {
  target_id: string;
  name: string;
  server_id: string;
  agent_id: string;
  sslmode: string;
  ca_pem: string | null;
  url_sealed: Buffer;
  key_id: string;
  interval_ms: number;
  /** The batch sequence number this poll's batch carries (one a claim, never reused). */
  seq: string;
}

/**
 * Takes the poll slots that are due: targets whose lease is this instance's or has expired, and whose
 * last poll (by any instance) is at least its interval ago (less `slackMs`, the poller's tick, so a
 * steady owner does not slip a tick each time). One statement per round: two instances can never take
 * the same slot, since the second one's UPDATE sees last_poll_at already moved. The lease is renewed to
 * now + interval × `leaseFactor` (> 1): when the owner dies, another instance takes it over at most that
 * long after its last poll (plus one tick).
 */
export async function claimDueTargets(
  db: Queryable,
  owner: string,
  leaseFactor: number,
  slackMs: number,
): Promise<ClaimedTarget[]> {
  const { rows } = await db.query<ClaimedTarget>(
    `UPDATE pgvigil.agentless_targets
        SET lease_owner = $1,
            lease_expires_at = now() + make_interval(secs => interval_ms * $2::float8 / 1000.0),
            last_poll_at = now(), last_poll_by = $1, next_seq = next_seq + 1
      WHERE (lease_owner = $1 OR lease_expires_at IS NULL OR lease_expires_at < now())
        AND (last_poll_at IS NULL
             OR last_poll_at <= now() - make_interval(secs => greatest(interval_ms - $3, 0) / 1000.0))
      RETURNING target_id, name, server_id, agent_id, sslmode, ca_pem, url_sealed, key_id, interval_ms,
                next_seq AS seq`,
    [owner, leaseFactor, slackMs],
  );
  return rows;
}

/** Ids of the targets whose lease this instance holds now (the others' collectors are closed). */
export async function heldTargets(db: Queryable, owner: string): Promise<string[]> {
  const { rows } = await db.query<{ target_id: string }>(
    `SELECT target_id FROM pgvigil.agentless_targets WHERE lease_owner = $1 AND lease_expires_at >= now()`,
    [owner],
  );
  return rows.map((r) => r.target_id);
}

/** Records how a poll ended (null: it was written). */
export async function recordPollOutcome(
  db: Queryable,
  targetId: number,
  owner: string,
  error: string | null,
): Promise<void> {
  await db.query(
    'UPDATE pgvigil.agentless_targets SET last_error = $3 WHERE target_id = $1 AND lease_owner = $2',
    [targetId, owner, error],
  );
}

/** Gives up this instance's leases (a clean stop): another instance takes them at its next tick. */
export async function releaseLeases(db: Queryable, owner: string): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE pgvigil.agentless_targets SET lease_expires_at = now() - interval '1 ms'
      WHERE lease_owner = $1`,
    [owner],
  );
  return rowCount ?? 0;
}

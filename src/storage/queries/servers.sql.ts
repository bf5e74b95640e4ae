/** Servers (hosts): registered by name when their first agent enrolls. */
import type { Queryable } from './queryable.js';

/**
 * The server with this name, created when absent; its id and the machine that holds it. A machine id given
 * is claimed by an entry that has none yet; an entry that holds another one is returned unchanged (the
 * caller tells the two hosts apart).
 */
export async function upsertServer(
  db: Queryable,
  name: string,
  machineId: string | null = null,
): Promise<{ serverId: number; machineId: string | null }> {
  const { rows } = await db.query<{ server_id: number; machine_id: string | null }>(
    `INSERT INTO pgvigil.servers (name, machine_id) VALUES ($1, $2)
     ON CONFLICT (name) DO UPDATE SET machine_id = coalesce(pgvigil.servers.machine_id, EXCLUDED.machine_id)
     RETURNING server_id, machine_id`,
    [name, machineId],
  );
  return { serverId: Number(rows[0]!.server_id), machineId: rows[0]!.machine_id };
}

/** A server's name, or undefined when there is no such server. */
export async function serverName(db: Queryable, serverId: number): Promise<string | undefined> {
  const { rows } = await db.query<{ name: string }>('SELECT name FROM pgvigil.servers WHERE server_id = $1', [
    serverId,
  ]);
  return rows[0]?.name;
}

export interface ServerRow {
  server_id: number;
  name: string;
  labels: Record<string, unknown>;
  created_at: Date;
  /** Polled by the server (migration 0026): no host metrics are expected from it. */
  agentless?: boolean;
}

export async function serverById(db: Queryable, serverId: number): Promise<ServerRow[]> {
  const { rows } = await db.query<ServerRow>(
    'SELECT server_id, name, labels, created_at, agentless FROM pgvigil.servers WHERE server_id = $1',
    [serverId],
  );
  return rows;
}

/** Up to `limit` servers by name, after `after` (keyset pagination). */
export async function serversPage(db: Queryable, after: string | null, limit: number): Promise<ServerRow[]> {
  const { rows } = await db.query<ServerRow>(
    `SELECT server_id, name, labels, created_at, agentless FROM pgvigil.servers
      WHERE $1::text IS NULL OR name > $1 ORDER BY name LIMIT $2`,
    [after, limit],
  );
  return rows;
}

export interface ServerAgentRow {
  server_id: number;
  agent_id: string;
  hostname: string;
  os: string | null;
  agent_version: string | null;
  enrolled_at: Date;
  last_seen_at: Date | null;
  revoked_at: Date | null;
  status: unknown;
  config_status: unknown;
}

/** The agents of these servers, by server and enrolment. */
export async function agentsOfServers(db: Queryable, serverIds: number[]): Promise<ServerAgentRow[]> {
  const { rows } = await db.query<ServerAgentRow>(
    `SELECT server_id, agent_id, hostname, os, agent_version, enrolled_at, last_seen_at, revoked_at, status,
            config_status
       FROM pgvigil.agents WHERE server_id = ANY($1::bigint[]) ORDER BY server_id, enrolled_at, agent_id`,
    [serverIds],
  );
  return rows;
}

export interface ServerTargetRow {
  server_id: number;
  target_id: number;
  kind: string;
  name: string;
  created_at: Date;
  ts: Date | null;
  up: boolean | null;
  error: string | null;
  server_version: string | null;
  in_recovery: boolean | null;
}

/** The targets of these servers with their newest `pg_instance` row within `windowS` seconds. */
export async function targetsOfServers(
  db: Queryable,
  serverIds: number[],
  windowS: number,
): Promise<ServerTargetRow[]> {
  const { rows } = await db.query<ServerTargetRow>(
    `SELECT t.server_id, t.target_id, t.kind, t.name, t.created_at, i.ts, i.up, i.error, i.server_version,
            i.in_recovery
       FROM pgvigil.targets t
       LEFT JOIN LATERAL (
         SELECT p.ts, p.up, p.error, p.server_version, p.in_recovery FROM pgvigil.pg_instance p
          WHERE p.server_id = t.server_id AND p.target_id = t.target_id
            AND p.ts > now() - make_interval(secs => $2)
          ORDER BY p.ts DESC LIMIT 1) i ON true
      WHERE t.server_id = ANY($1::bigint[])
      ORDER BY t.server_id, t.name`,
    [serverIds, windowS],
  );
  return rows;
}

export interface FailingFamilyRow {
  server_id: number;
  target_id: number;
  family: string;
  datname: string;
  error: string | null;
  ts: Date;
}

/**
 * Families failing in their newest run: the newest failure of each family and database within the
 * window (partial index pg_collector_failing), unless an ok run of it came after.
 */
export async function failingFamilies(
  db: Queryable,
  serverIds: number[],
  windowS: number,
): Promise<FailingFamilyRow[]> {
  const { rows } = await db.query<FailingFamilyRow>(
    `SELECT t.server_id, t.target_id, f.family, f.datname, f.error, f.ts
       FROM pgvigil.targets t
       CROSS JOIN LATERAL (
         SELECT DISTINCT ON (c.family, c.datname) c.family, c.datname, c.error, c.ts FROM pgvigil.pg_collector c
          WHERE c.server_id = t.server_id AND c.target_id = t.target_id
            AND c.ts > now() - make_interval(secs => $2) AND c.ok IS NOT TRUE
          ORDER BY c.family, c.datname, c.ts DESC) f
       LEFT JOIN LATERAL (
         SELECT true AS found FROM pgvigil.pg_collector o
          WHERE o.server_id = t.server_id AND o.target_id = t.target_id AND o.ts > f.ts
            AND o.family = f.family AND o.datname = f.datname AND o.ok
          LIMIT 1) recovered ON true
      WHERE t.server_id = ANY($1::bigint[]) AND recovered.found IS NULL
      ORDER BY t.server_id, t.target_id, f.family, f.datname`,
    [serverIds, windowS],
  );
  return rows;
}

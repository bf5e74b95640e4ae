/**
 * Monitored servers with their status (role viewer): GET /servers (keyset-paginated by name),
 * GET /servers/:id, GET /servers/:id/targets.
 *
 * Where the status comes from:
 * - last seen: the newest `agents.last_seen_at` of the server's agents, which the ingest writer sets on
 *   commit at most every 10 s per agent (so it lags by up to 10 s);
 * - agent status: `agents.status`, the agent's self-report (collector health, and `health`: spool, losses,
 *   retries, read through `readAgentHealth` since it is the agent's input) that ingest keeps from the
 *   batches at most every 30 s; `agents.config_status`, what the agent said when applying pushed config;
 * - targets: the newest `pg_instance` row of each target within `window` (up, error, version) and the
 *   newest `pg_collector` row per family and database within `window` (families failing now).
 * Nothing is invented: a target without a collection in the window has status `unknown`.
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { readAgentHealth } from '../../protocol/agent-health.js';
import {
  agentsOfServers,
  failingFamilies,
  type ServerRow,
  serverById,
  serversPage,
  targetsOfServers,
} from '../../storage/queries/servers.sql.js';
import { inReadSnapshot } from '../../storage/tx.js';
import { agentHealthSchema } from './agent-health-schema.js';
import { agentlessHostMetricsNote } from './agentless.js';
import {
  ageSeconds,
  decodeCursor,
  defaultReadTimeoutMs,
  encodeCursor,
  freeObject,
  isObject,
  iso,
  nullableBoolean,
  nullableFreeObject,
  nullableInteger,
  nullableNumber,
  nullableString,
  type ReadRouteOptions,
  serverIdParams,
  windowParam,
  windowQuery,
} from './read-support.js';
import { errorBody } from './schemas.js';

/** A server whose agents sent nothing for this long is `silent`. */
export const silentAfterSeconds = 120;

const degradedSchema = {
  type: 'object',
  required: ['source', 'name', 'error'],
  properties: {
    source: {
      type: 'string',
      enum: ['agent', 'postgres', 'config'],
      description:
        'agent: a collector the agent reports failing; postgres: a family of a PostgreSQL target that failed in its newest collection; config: pushed configuration the agent refused',
    },
    name: { type: 'string', description: 'collector or family name' },
    agentId: nullableString,
    targetId: nullableInteger,
    target: nullableString,
    datname: { ...nullableString, description: 'database the family failed in ("" for instance-wide)' },
    error: nullableString,
    ts: { ...nullableString, description: 'when it was last reported' },
  },
} as const;

const targetSchema = {
  type: 'object',
  required: ['targetId', 'kind', 'name', 'status'],
  properties: {
    targetId: { type: 'integer' },
    kind: { type: 'string' },
    name: { type: 'string' },
    createdAt: { type: 'string' },
    status: {
      type: 'string',
      enum: ['up', 'degraded', 'down', 'unknown'],
      description:
        'newest collection in the window: up; up but some families failed: degraded; not reachable: down; no collection in the window: unknown',
    },
    lastCollectedAt: nullableString,
    ageSeconds: nullableNumber,
    error: { ...nullableString, description: 'why the instance is down' },
    serverVersion: nullableString,
    inRecovery: nullableBoolean,
    degradedFamilies: { type: 'array', items: degradedSchema },
  },
} as const;

const agentSchema = {
  type: 'object',
  required: ['agentId', 'hostname'],
  properties: {
    agentId: { type: 'string' },
    hostname: { type: 'string' },
    os: nullableString,
    version: nullableString,
    enrolledAt: { type: 'string' },
    lastSeenAt: nullableString,
    revokedAt: nullableString,
    status: { ...nullableFreeObject, description: "the agent's latest self-report (collector health)" },
    health: agentHealthSchema,
    configStatus: {
      ...nullableFreeObject,
      description: 'what the agent said when it last applied pushed configuration',
    },
  },
} as const;

const serverSchema = {
  type: 'object',
  required: ['serverId', 'name', 'status', 'agents', 'targets', 'degraded'],
  properties: {
    serverId: { type: 'integer' },
    name: { type: 'string' },
    labels: freeObject,
    createdAt: { type: 'string' },
    lastSeenAt: { ...nullableString, description: 'newest last_seen_at of its agents' },
    ageSeconds: nullableNumber,
    status: {
      type: 'string',
      enum: ['ok', 'degraded', 'silent', 'never-seen'],
      description: `never-seen: no agent ever delivered; silent: nothing delivered for ${silentAfterSeconds} s; degraded: a collector, family or target is failing; ok otherwise`,
    },
    agents: { type: 'array', items: agentSchema },
    targets: { type: 'array', items: targetSchema },
    degraded: { type: 'array', items: degradedSchema },
    agentless: {
      type: 'boolean',
      description: 'polled by the server itself (GET /agentless-targets): no agent, no host metrics',
    },
    hostMetrics: {
      ...nullableString,
      description: `"${agentlessHostMetricsNote}" for an agentless server: host families are absent by design, not a gap`,
    },
  },
} as const;

type Degraded = {
  source: 'agent' | 'postgres' | 'config';
  name: string;
  agentId: string | null;
  targetId: number | null;
  target: string | null;
  datname: string | null;
  error: string | null;
  ts: string | null;
};

interface TargetView {
  targetId: number;
  kind: string;
  name: string;
  createdAt: string | null;
  status: 'up' | 'degraded' | 'down' | 'unknown';
  lastCollectedAt: string | null;
  ageSeconds: number | null;
  error: string | null;
  serverVersion: string | null;
  inRecovery: boolean | null;
  degradedFamilies: Degraded[];
}

/** Collectors an agent reports failing; reads both the array form and a name-keyed object. */
export function failingCollectors(
  status: unknown,
): Array<{ name: string; error: string | null; ts: string | null }> {
  if (!isObject(status)) return [];
  const c = status.collectors;
  const list: unknown[] = Array.isArray(c)
    ? c
    : isObject(c)
      ? Object.entries(c).map(([name, v]) => (isObject(v) ? { name, ...v } : { name }))
      : [];
  const out: Array<{ name: string; error: string | null; ts: string | null }> = [];
  for (const x of list) {
    if (!isObject(x) || typeof x.name !== 'string') continue;
    if (x.status !== 'failing' && x.ok !== false) continue;
    const error =
      typeof x.lastError === 'string' ? x.lastError : typeof x.error === 'string' ? x.error : null;
    out.push({ name: x.name, error, ts: null });
  }
  return out;
}

/** Rows grouped by a key, in their order (a fleet of servers must not be filtered row by row). */
function groupBy<T>(rows: T[], key: (row: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

/**
 * Agents, targets and degraded parts of these servers, in their order: three statements whatever the
 * number of servers (the fleet view describes a thousand at once).
 */
export async function describeServers(c: pg.PoolClient, servers: ServerRow[], windowS: number) {
  const ids = servers.map((s) => s.server_id);
  const now = Date.now();
  const agentsBy = groupBy(await agentsOfServers(c, ids), (a) => String(a.server_id));
  const targetsBy = groupBy(await targetsOfServers(c, ids, windowS), (t) => String(t.server_id));
  const failingBy = groupBy(await failingFamilies(c, ids, windowS), (f) => `${f.server_id}:${f.target_id}`);

  return servers.map((s) => {
    const degraded: Degraded[] = [];
    const myAgents = agentsBy.get(String(s.server_id)) ?? [];
    let lastSeen: Date | null = null;
    for (const a of myAgents) {
      if (a.last_seen_at && (!lastSeen || a.last_seen_at > lastSeen)) lastSeen = a.last_seen_at;
      if (a.revoked_at) continue;
      for (const f of failingCollectors(a.status)) {
        degraded.push({
          source: 'agent',
          agentId: a.agent_id,
          targetId: null,
          target: null,
          datname: null,
          ...f,
        });
      }
      const cs = a.config_status;
      if (isObject(cs) && cs.applied === false) {
        degraded.push({
          source: 'config',
          name: 'agent-config',
          agentId: a.agent_id,
          targetId: null,
          target: null,
          datname: null,
          error: typeof cs.error === 'string' ? cs.error : null,
          ts: typeof cs.at === 'string' ? cs.at : null,
        });
      }
    }
    const myTargets: TargetView[] = (targetsBy.get(String(s.server_id)) ?? []).map((t) => {
      const targetId = Number(t.target_id);
      const families: Degraded[] = (failingBy.get(`${s.server_id}:${targetId}`) ?? []).map((f) => ({
        source: 'postgres' as const,
        name: f.family,
        agentId: null,
        targetId,
        target: t.name,
        datname: f.datname,
        error: f.error,
        ts: iso(f.ts),
      }));
      const status: TargetView['status'] =
        t.ts === null ? 'unknown' : t.up !== true ? 'down' : families.length > 0 ? 'degraded' : 'up';
      return {
        targetId,
        kind: t.kind,
        name: t.name,
        createdAt: iso(t.created_at),
        status,
        lastCollectedAt: iso(t.ts),
        ageSeconds: t.ts ? ageSeconds(t.ts, now) : null,
        error: t.error,
        serverVersion: t.server_version,
        inRecovery: t.in_recovery,
        degradedFamilies: families,
      };
    });
    for (const t of myTargets) {
      degraded.push(...t.degradedFamilies);
      if (t.status === 'down') {
        degraded.push({
          source: 'postgres',
          name: 'pg_instance',
          agentId: null,
          targetId: t.targetId,
          target: t.name,
          datname: '',
          error: t.error,
          ts: t.lastCollectedAt,
        });
      }
    }
    const age = lastSeen ? ageSeconds(lastSeen, now) : null;
    const status =
      age === null
        ? 'never-seen'
        : age > silentAfterSeconds
          ? 'silent'
          : degraded.length > 0
            ? 'degraded'
            : 'ok';
    return {
      serverId: Number(s.server_id),
      name: s.name,
      labels: s.labels,
      createdAt: iso(s.created_at),
      lastSeenAt: iso(lastSeen),
      ageSeconds: age,
      status,
      agents: myAgents.map((a) => ({
        agentId: a.agent_id,
        hostname: a.hostname,
        os: a.os,
        version: a.agent_version,
        enrolledAt: iso(a.enrolled_at),
        lastSeenAt: iso(a.last_seen_at),
        revokedAt: iso(a.revoked_at),
        status: isObject(a.status) ? a.status : null,
        health: readAgentHealth(a.status),
        configStatus: isObject(a.config_status) ? a.config_status : null,
      })),
      targets: myTargets,
      degraded,
      agentless: s.agentless === true,
      hostMetrics: s.agentless === true ? agentlessHostMetricsNote : null,
    };
  });
}

async function oneServer(c: pg.PoolClient, serverId: number, windowS: number) {
  const rows = await serverById(c, serverId);
  if (rows.length === 0) throw new PgvigilError('NOT_FOUND', `server ${serverId} does not exist`);
  return (await describeServers(c, rows, windowS))[0]!;
}

export const serverRoutes: FastifyPluginAsync<ReadRouteOptions> = async (app, opts) => {
  const { pool } = opts;
  const timeoutMs = opts.readTimeoutMs ?? defaultReadTimeoutMs;

  app.get<{ Querystring: { limit: number; cursor?: string; window: number } }>(
    '/servers',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Monitored servers with their status, agents and targets',
        description:
          'Ordered by name, `limit` at a time; pass `nextCursor` back as `cursor` for the next page (null on the last).',
        tags: ['servers'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
            cursor: {
              type: 'string',
              minLength: 1,
              maxLength: 400,
              description: 'nextCursor of the previous page',
            },
            window: windowParam,
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['servers', 'nextCursor'],
            properties: { servers: { type: 'array', items: serverSchema }, nextCursor: nullableString },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const { limit, window } = req.query;
      let after: string | null = null;
      if (req.query.cursor !== undefined) {
        const c = decodeCursor('cursor', req.query.cursor);
        if (!isObject(c) || typeof c.name !== 'string')
          throw new PgvigilError('BAD_ARGUMENT', 'cursor: not a cursor this server returned');
        after = c.name;
      }
      return inReadSnapshot(pool, timeoutMs, async (c) => {
        const rows = await serversPage(c, after, limit + 1);
        const page = rows.slice(0, limit);
        const more = rows.length > limit;
        return {
          servers: page.length > 0 ? await describeServers(c, page, window) : [],
          nextCursor: more ? encodeCursor({ name: page.at(-1)!.name }) : null,
        };
      });
    },
  );

  app.get<{ Params: { id: number }; Querystring: { window: number } }>(
    '/servers/:id',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'One server with its status, agents and targets',
        tags: ['servers'],
        params: serverIdParams,
        querystring: windowQuery,
        response: { 200: serverSchema, '4xx': errorBody },
      },
    },
    async (req) => inReadSnapshot(pool, timeoutMs, (c) => oneServer(c, req.params.id, req.query.window)),
  );

  app.get<{ Params: { id: number }; Querystring: { window: number } }>(
    '/servers/:id/targets',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "A server's PostgreSQL targets with their status",
        tags: ['servers'],
        params: serverIdParams,
        querystring: windowQuery,
        response: {
          200: {
            type: 'object',
            required: ['serverId', 'targets'],
            properties: { serverId: { type: 'integer' }, targets: { type: 'array', items: targetSchema } },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) =>
      inReadSnapshot(pool, timeoutMs, async (c) => {
        const s = await oneServer(c, req.params.id, req.query.window);
        return { serverId: s.serverId, targets: s.targets };
      }),
  );
};

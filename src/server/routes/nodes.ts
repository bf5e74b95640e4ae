/**
 * Current host metrics of a server (role viewer): GET /servers/:id/node (CPU total and per core, memory,
 * load, pressure, disks, filesystems, network, watched processes), GET /servers/:id/containers and
 * GET /servers/:id/containers/:name.
 *
 * "Current" is the newest collection of each family within `window` seconds: the rows at that family's
 * newest ts, read through the primary key (server_id, ts, label) — a backward index scan of the newest
 * partitions, pruned to the window. A family with no rows in the window is null: never zeros.
 * Each family carries its own ts and age (families are collected on their own intervals).
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { type FamilySpec, hostFamilies, processFamilies } from '../../protocol/families/index.js';
import type { ContainerRow } from '../../storage/queries/node-metrics.sql.js';
import { newestContainers, newestFamilyRows } from '../../storage/queries/node-metrics.sql.js';
import { inReadSnapshot } from '../../storage/tx.js';
import {
  ageSeconds,
  defaultReadTimeoutMs,
  familyProperties,
  jsonRow,
  type ReadRouteOptions,
  requireServer,
  serverIdParam,
  serverIdParams,
  snapshotMeta,
  windowQuery,
} from './read-support.js';
import { errorBody } from './schemas.js';

type Row = Record<string, unknown>;

/** The rows of a host family at its newest ts within the window, or null. */
async function latestRows(
  c: pg.PoolClient,
  spec: FamilySpec,
  serverId: number,
  windowS: number,
  orderBy?: string,
): Promise<{ ts: Date; rows: Row[] } | null> {
  const rows = await newestFamilyRows(c, spec, serverId, windowS, orderBy);
  if (rows.length === 0) return null;
  const ts = rows[0]!.ts;
  return {
    ts,
    rows: rows.map(({ ts: _ts, ...r }) => jsonRow(r)),
  };
}

function meta(ts: Date, now: number) {
  return { ts: ts.toISOString(), ageSeconds: ageSeconds(ts, now) };
}

/** Cores in numeric order ("2" before "10"). */
function byCore(a: Row, b: Row): number {
  return Number(a.cpu) - Number(b.cpu) || String(a.cpu).localeCompare(String(b.cpu));
}

const nullableSnapshot = (name: string, properties: Record<string, unknown>, required: string[] = []) => ({
  type: ['object', 'null'],
  description: `${name}; null when nothing was collected within the window`,
  required: ['ts', 'ageSeconds', ...required],
  properties: { ...snapshotMeta, ...properties },
});

const listOf = (spec: FamilySpec) => ({
  type: 'array',
  items: { type: 'object', properties: familyProperties(spec) },
});

const h = hostFamilies;
const nodeSchema = {
  type: 'object',
  required: [
    'serverId',
    'name',
    'window',
    'cpu',
    'memory',
    'load',
    'pressure',
    'disks',
    'filesystems',
    'network',
  ],
  properties: {
    serverId: { type: 'integer' },
    name: { type: 'string' },
    window: { type: 'integer', description: 'seconds back from now that counted as current' },
    cpu: nullableSnapshot(
      'CPU time by mode, % of elapsed time',
      {
        total: {
          type: ['object', 'null'],
          properties: familyProperties(h.host_cpu),
          description: 'all cores ("total" row)',
        },
        cores: listOf(h.host_cpu),
      },
      ['total', 'cores'],
    ),
    memory: nullableSnapshot('memory and swap', familyProperties(h.host_memory)),
    load: nullableSnapshot('load averages', familyProperties(h.host_load)),
    pressure: nullableSnapshot('pressure stall information', { resources: listOf(h.host_pressure) }, [
      'resources',
    ]),
    disks: nullableSnapshot('block devices', { devices: listOf(h.host_disk) }, ['devices']),
    filesystems: nullableSnapshot('filesystems', { mounts: listOf(h.host_filesystem) }, ['mounts']),
    network: nullableSnapshot('network interfaces', { interfaces: listOf(h.host_network) }, ['interfaces']),
    processes: nullableSnapshot(
      'watched processes, one row per watch (state "missing" when nothing matches it)',
      { watches: listOf(processFamilies.host_process) },
      ['watches'],
    ),
  },
} as const;

const container = processFamilies.host_container;
const containerSchema = {
  type: 'object',
  required: ['runtime', 'id', 'ts', 'ageSeconds', 'present'],
  properties: {
    ...familyProperties(container),
    ...snapshotMeta,
    present: {
      type: 'boolean',
      description: "seen in the server's newest container collection (false: stopped or gone since ts)",
    },
  },
} as const;

/** Newest row of each container seen within the window (optionally only ids equal to or starting with `id`). */
async function latestContainers(
  c: pg.PoolClient,
  serverId: number,
  windowS: number,
  id?: string,
): Promise<ContainerRow[]> {
  const prefix = id === undefined ? null : `${id.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
  return newestContainers(c, serverId, windowS, prefix);
}

function containerView(r: ContainerRow, now: number) {
  const { ts, newest, ...rest } = r;
  return { ...jsonRow(rest), ...meta(ts, now), present: ts.getTime() === newest.getTime() };
}

export const nodeRoutes: FastifyPluginAsync<ReadRouteOptions> = async (app, opts) => {
  const { pool } = opts;
  const timeoutMs = opts.readTimeoutMs ?? defaultReadTimeoutMs;

  app.get<{ Params: { id: number }; Querystring: { window: number } }>(
    '/servers/:id/node',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "A server's current host metrics",
        description:
          'The newest collection of each host family within `window` seconds, with its own ts and age. Rates and percentages are as the agent computed them over its last interval; a family without data in the window is null.',
        tags: ['nodes'],
        params: serverIdParams,
        querystring: windowQuery,
        response: { 200: nodeSchema, '4xx': errorBody },
      },
    },
    async (req) => {
      const { id } = req.params;
      const w = req.query.window;
      return inReadSnapshot(pool, timeoutMs, async (c) => {
        const server = await requireServer(c, id);
        const now = Date.now();
        const cpu = await latestRows(c, h.host_cpu, id, w);
        const memory = await latestRows(c, h.host_memory, id, w);
        const load = await latestRows(c, h.host_load, id, w);
        const pressure = await latestRows(c, h.host_pressure, id, w, 'resource');
        const disks = await latestRows(c, h.host_disk, id, w, 'device');
        const fs = await latestRows(c, h.host_filesystem, id, w, 'mountpoint');
        const net = await latestRows(c, h.host_network, id, w, 'interface');
        const procs = await latestRows(c, processFamilies.host_process, id, w, 'watch');
        return {
          serverId: id,
          name: server.name,
          window: w,
          cpu: cpu && {
            ...meta(cpu.ts, now),
            total: cpu.rows.find((r) => r.cpu === 'total') ?? null,
            cores: cpu.rows.filter((r) => r.cpu !== 'total').sort(byCore),
          },
          memory: memory && { ...meta(memory.ts, now), ...memory.rows[0] },
          load: load && { ...meta(load.ts, now), ...load.rows[0] },
          pressure: pressure && { ...meta(pressure.ts, now), resources: pressure.rows },
          disks: disks && { ...meta(disks.ts, now), devices: disks.rows },
          filesystems: fs && { ...meta(fs.ts, now), mounts: fs.rows },
          network: net && { ...meta(net.ts, now), interfaces: net.rows },
          processes: procs && { ...meta(procs.ts, now), watches: procs.rows },
        };
      });
    },
  );

  app.get<{ Params: { id: number }; Querystring: { window: number } }>(
    '/servers/:id/containers',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "A server's containers with their newest metrics",
        description:
          'Every container seen within `window` seconds, with its newest row; `present` tells whether it was in the newest collection.',
        tags: ['nodes'],
        params: serverIdParams,
        querystring: windowQuery,
        response: {
          200: {
            type: 'object',
            required: ['serverId', 'window', 'containers'],
            properties: {
              serverId: { type: 'integer' },
              window: { type: 'integer' },
              containers: { type: 'array', items: containerSchema },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) =>
      inReadSnapshot(pool, timeoutMs, async (c) => {
        await requireServer(c, req.params.id);
        const now = Date.now();
        const rows = await latestContainers(c, req.params.id, req.query.window);
        return {
          serverId: req.params.id,
          window: req.query.window,
          containers: rows.map((r) => containerView(r, now)),
        };
      }),
  );

  app.get<{ Params: { id: number; name: string }; Querystring: { window: number } }>(
    '/servers/:id/containers/:name',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'One container of a server: its newest metrics',
        description:
          'The container whose id is `name`, or whose id starts with it (short docker ids) when exactly one does.',
        tags: ['nodes'],
        params: {
          type: 'object',
          required: ['id', 'name'],
          additionalProperties: false,
          properties: {
            id: serverIdParam,
            name: {
              type: 'string',
              minLength: 1,
              maxLength: 253,
              description: 'container id, or a unique prefix of it',
            },
          },
        },
        querystring: windowQuery,
        response: { 200: containerSchema, '4xx': errorBody },
      },
    },
    async (req) =>
      inReadSnapshot(pool, timeoutMs, async (c) => {
        const { id, name } = req.params;
        await requireServer(c, id);
        const rows = await latestContainers(c, id, req.query.window, name);
        const exact = rows.filter((r) => r.id === name);
        const match = exact.length > 0 ? exact : rows;
        if (match.length === 0) {
          throw new PgvigilError(
            'NOT_FOUND',
            `server ${id} reported no container "${name}" in the last ${req.query.window} s`,
          );
        }
        if (match.length > 1) {
          throw new PgvigilError(
            'BAD_ARGUMENT',
            `"${name}" matches ${match.length} containers (${match
              .slice(0, 5)
              .map((r) => `${r.runtime}/${r.id}`)
              .join(', ')}); give more of the id`,
          );
        }
        return containerView(match[0]!, Date.now());
      }),
  );
};

/**
 * Baselines (viewer): what pgvigil has learnt is normal for each metric of a server, per target and
 * object (src/intelligence/baselines.ts; migration 0017) — the 7- and 30-day statistics, the slot that
 * applies now, and on request the whole seasonal profile.
 */
import type { FastifyPluginAsync } from 'fastify';
import { PgvigilError } from '../../errors.js';
import {
  type SlotStats,
  slotFor,
  unpackSlot,
  unpackWindow,
  type WindowStats,
} from '../../intelligence/baselines.js';
import { metricById, metrics } from '../../intelligence/metrics.js';
import { serverBaselines } from '../../storage/queries/baselines.sql.js';
import { serverById } from '../../storage/queries/servers.sql.js';
import { inReadSnapshot } from '../../storage/tx.js';
import { defaultReadTimeoutMs, type ReadRouteOptions, serverIdParams } from './read-support.js';
import { errorBody } from './schemas.js';

const maxRows = 2000;

const num = { type: 'number' } as const;
const windowSchema = {
  type: ['object', 'null'],
  required: ['count', 'mean', 'stddev', 'median', 'mad', 'min', 'max'],
  properties: {
    count: { type: 'integer' },
    mean: num,
    stddev: num,
    median: num,
    mad: num,
    min: num,
    max: num,
    within: {
      type: 'number',
      description: "root mean square of the hours' within-hour spreads (absent: unknown)",
    },
    residualMad: {
      type: 'number',
      description: "MAD of each hour from its own slot's median, pooled over the slots (30 days only)",
    },
  },
} as const;
const withinSchema = {
  type: 'number',
  description:
    "the slot's within-hour spread: how far minutes stray from their hour's level (absent: unknown)",
} as const;
const slotSchema = {
  type: ['object', 'null'],
  required: ['count', 'mean', 'stddev', 'median', 'mad'],
  properties: {
    count: { type: 'integer' },
    mean: num,
    stddev: num,
    median: num,
    mad: num,
    within: withinSchema,
  },
} as const;

const baselineSchema = {
  type: 'object',
  required: [
    'metric',
    'targetId',
    'object',
    'unit',
    'better',
    'through',
    'computedAt',
    'stats7d',
    'stats30d',
    'current',
  ],
  properties: {
    metric: { type: 'string' },
    targetId: { type: ['integer', 'null'], description: 'null for host metrics' },
    object: {
      type: 'string',
      description: "device, standby, database/schema.table or query:<queryid>; '' for none",
    },
    unit: { type: 'string' },
    better: { type: 'string', enum: ['lower', 'higher', 'both'] },
    through: { type: 'string', description: 'end of the last hour included (ISO 8601)' },
    computedAt: { type: 'string' },
    stats7d: windowSchema,
    stats30d: windowSchema,
    current: {
      type: ['object', 'null'],
      description: 'the slot a value now is judged against; null when no level has enough samples',
      required: ['level', 'slot', 'count', 'mean', 'stddev', 'median', 'mad'],
      properties: {
        level: { type: 'string', enum: ['hour_of_week', 'hour_of_day', 'window'] },
        slot: { type: ['integer', 'null'] },
        count: { type: 'integer' },
        mean: num,
        stddev: num,
        median: num,
        mad: num,
        within: withinSchema,
        residualMad: num,
      },
    },
    hourOfWeek: {
      type: 'array',
      items: slotSchema,
      description: '168 slots, Monday 00:00 UTC first (profile=true)',
    },
    hourOfDay: { type: 'array', items: slotSchema, description: '24 slots, UTC (profile=true)' },
  },
} as const;

const unpackSlots = (v: unknown, n: number): Array<SlotStats | null> =>
  Array.from({ length: n }, (_, i) => (Array.isArray(v) ? unpackSlot(v[i]) : null));

export const baselineRoutes: FastifyPluginAsync<ReadRouteOptions> = async (app, opts) => {
  const { pool } = opts;
  const timeoutMs = opts.readTimeoutMs ?? defaultReadTimeoutMs;

  app.get<{ Params: { id: number }; Querystring: { metric?: string; target?: number; profile: boolean } }>(
    '/servers/:id/baselines',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "A server's baselines: what is normal for each metric, per target and object",
        tags: ['servers'],
        params: serverIdParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            metric: {
              type: 'string',
              maxLength: 100,
              description: `one of ${metrics.map((m) => m.id).join(', ')}`,
            },
            target: {
              type: 'integer',
              minimum: 0,
              maximum: 9_007_199_254_740_991,
              description: 'a target id; 0 for host metrics',
            },
            profile: { type: 'boolean', default: false, description: 'include the 168 + 24 seasonal slots' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['serverId', 'baselines', 'truncated'],
            properties: {
              serverId: { type: 'integer' },
              baselines: { type: 'array', items: baselineSchema },
              truncated: { type: 'boolean', description: `more than ${maxRows} series matched` },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const q = req.query;
      if (q.metric !== undefined && !metricById(q.metric)) {
        throw new PgvigilError(
          'BAD_ARGUMENT',
          `metric: "${q.metric.slice(0, 100)}" is not one of ${metrics.map((m) => m.id).join(', ')}`,
        );
      }
      const now = Date.now();
      return inReadSnapshot(pool, timeoutMs, async (c) => {
        if ((await serverById(c, req.params.id)).length === 0) {
          throw new PgvigilError('NOT_FOUND', `server ${req.params.id} does not exist`);
        }
        const filter = {
          ...(q.metric !== undefined ? { metric: q.metric } : {}),
          ...(q.target !== undefined ? { target: q.target } : {}),
        };
        const rows = await serverBaselines(c, req.params.id, filter, maxRows + 1);
        return {
          serverId: req.params.id,
          truncated: rows.length > maxRows,
          baselines: rows.slice(0, maxRows).map((r) => {
            const m = metricById(r.metric);
            const week = unpackSlots(r.hourOfWeek, 168);
            const day = unpackSlots(r.hourOfDay, 24);
            const stats30d: WindowStats | null = unpackWindow(r.stats30d);
            return {
              metric: r.metric,
              targetId: r.targetId,
              object: r.object,
              unit: m?.unit ?? '',
              better: m?.better ?? 'both',
              through: r.through.toISOString(),
              computedAt: r.computedAt.toISOString(),
              stats7d: unpackWindow(r.stats7d),
              stats30d,
              current: slotFor(
                { hourOfWeek: (i) => week[i], hourOfDay: (i) => day[i], window: stats30d },
                now,
              ),
              ...(q.profile ? { hourOfWeek: week, hourOfDay: day } : {}),
            };
          }),
        };
      });
    },
  );
};

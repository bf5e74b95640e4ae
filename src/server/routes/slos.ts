/**
 * Service level objectives (src/intelligence/slo.ts, docs/slo.md): list and read with their error budget
 * and burn rates (viewer), a budget and burn-rate series for charts (viewer), create, change and delete
 * (admin). The indicator is checked with the series API's own plan, so an SLO names exactly what
 * GET /api/v1/series can chart; a bad field is a 400 naming it.
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import {
  burnSeries,
  countByHour,
  dayMs,
  describeIndicator,
  type HourCounts,
  hourMs,
} from '../../intelligence/slo.js';
import { definitionOf, loadSloInput, readStatus, resolveIndicator } from '../../intelligence/slo-store.js';
import {
  deleteSlo,
  insertSlo,
  listSlos,
  type SloRow,
  type SloWrite,
  sloById,
  sloHours,
  updateSlo,
} from '../../storage/queries/slos.sql.js';
import { inReadSnapshot } from '../../storage/tx.js';
import {
  defaultReadTimeoutMs,
  nullableInteger,
  nullableNumber,
  nullableString,
  timeRange,
} from './read-support.js';
import { errorBody, numericIdParams } from './schemas.js';

export interface SloRouteOptions {
  pool: pg.Pool;
  readTimeoutMs?: number;
}

const id = { type: 'integer', minimum: 1, maximum: 9_007_199_254_740_991 } as const;
const columnName = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z_][a-z0-9_]*$' } as const;

/** The writable fields; POST requires some, PATCH takes any. */
const writable = {
  name: {
    type: 'string',
    minLength: 1,
    maxLength: 100,
    pattern: '^[A-Za-z0-9][A-Za-z0-9 ._:/-]*$',
    description: 'unique per server and target',
  },
  description: { type: 'string', maxLength: 500 },
  family: { type: 'string', minLength: 1, maxLength: 64, description: 'a rolled-up metric family' },
  metric: { ...columnName, description: 'a numeric column of the family (the ratio numerator with per)' },
  per: {
    type: 'array',
    maxItems: 4,
    items: columnName,
    description: 'ratio: the value is scale × Σ metric / Σ per-columns over the minute',
  },
  labels: {
    type: 'array',
    maxItems: 20,
    items: { type: 'string', minLength: 3, maxLength: 300 },
    description: 'label filters name:value, as GET /series takes them',
  },
  agg: {
    type: 'string',
    enum: ['avg', 'min', 'max', 'p95'],
    description: 'per minute across the matching series (gauges; counters are their increase)',
  },
  scale: { type: 'number', minimum: 1e-9, maximum: 1e9, description: 'multiplies the value (100 for a %)' },
  minPer: {
    type: ['number', 'null'],
    minimum: 0,
    maximum: 1e15,
    description: 'a ratio minute with a smaller denominator is not counted',
  },
  missing: {
    type: 'string',
    enum: ['skip', 'bad'],
    description: 'a minute with rows but no value: not counted, or counted bad',
  },
  comparison: {
    type: 'string',
    enum: ['<=', '>='],
    description: 'a minute is good when value comparison threshold',
  },
  threshold: { type: 'number', minimum: -1e15, maximum: 1e15 },
  objective: {
    type: 'number',
    minimum: 50,
    maximum: 99.999,
    description: 'percent of counted minutes that must be good',
  },
  windowDays: { type: 'integer', minimum: 1, maximum: 90, description: 'the SLO window, days (default 30)' },
} as const;

const createBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'serverId', 'family', 'metric', 'comparison', 'threshold', 'objective'],
  properties: {
    serverId: id,
    targetId: { ...id, description: 'the PostgreSQL target, for target families' },
    ...writable,
  },
} as const;

const patchBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: writable,
} as const;

const burnSchema = {
  type: 'object',
  required: ['rate', 'bad', 'counted'],
  properties: {
    rate: {
      ...nullableNumber,
      description: '(bad / counted) / (1 − objective); null without counted minutes',
    },
    bad: { type: 'integer' },
    counted: { type: 'integer' },
  },
} as const;

const sloSchema = {
  type: 'object',
  required: ['id', 'name', 'serverId', 'family', 'metric', 'comparison', 'threshold', 'objective'],
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    serverName: nullableString,
    targetName: nullableString,
    indicator: { type: 'string', description: 'the indicator in words' },
    objective: { type: 'number' },
    windowDays: { type: 'integer' },
    sli_pct: { ...nullableNumber, description: 'share of good minutes over the window' },
    budget_remaining_pct: { ...nullableNumber, description: 'error budget left, % (negative: overspent)' },
    budgetRemainingMinutes: nullableNumber,
    budgetAllowedMinutes: nullableNumber,
    budgetExhausted: { type: 'boolean' },
    burn: {
      type: ['object', 'null'],
      properties: { '5m': burnSchema, '30m': burnSchema, '1h': burnSchema, '6h': burnSchema },
    },
    countedMinutes: nullableInteger,
    badMinutes: nullableInteger,
    excludedMinutes: nullableInteger,
    evaluatedAt: nullableString,
    serverId: { type: 'integer' },
    targetId: nullableInteger,
    description: { type: 'string' },
    family: { type: 'string' },
    metric: { type: 'string' },
    per: { type: 'array', items: { type: 'string' } },
    labels: { type: 'array', items: { type: 'string' } },
    agg: { type: 'string' },
    scale: { type: 'number' },
    minPer: nullableNumber,
    missing: { type: 'string' },
    comparison: { type: 'string' },
    threshold: { type: 'number' },
    source: { type: 'string', enum: ['default', 'api'] },
    createdBy: nullableString,
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;

function view(r: SloRow): Record<string, unknown> {
  const s = readStatus(r.status);
  const def = definitionOf(r);
  const pct = (v: number | null | undefined) =>
    v === null || v === undefined ? null : Math.round(v * 10_000) / 100;
  return {
    ...def,
    updatedAt: r.updatedAt,
    serverName: r.serverName,
    targetName: r.targetName,
    indicator: describeIndicator(def),
    sli_pct: s?.sli ?? null,
    budget_remaining_pct: pct(s?.budget.remainingFraction),
    budgetRemainingMinutes: s?.budget.remainingMinutes ?? null,
    budgetAllowedMinutes: s?.budget.allowedMinutes ?? null,
    budgetExhausted: s?.budget.exhausted ?? false,
    burn: s?.burn ?? null,
    countedMinutes: s?.counted ?? null,
    badMinutes: s?.bad ?? null,
    excludedMinutes: s?.excluded ?? null,
    evaluatedAt: r.evaluatedAt,
  };
}

type Writable = Partial<
  Pick<
    SloWrite,
    | 'name'
    | 'description'
    | 'family'
    | 'metric'
    | 'per'
    | 'labels'
    | 'agg'
    | 'scale'
    | 'minPer'
    | 'missing'
    | 'comparison'
    | 'threshold'
    | 'objective'
    | 'windowDays'
  >
>;

/** Checks a full definition; throws BAD_ARGUMENT naming the field. */
function checkDefinition(w: SloWrite): void {
  if (w.per.includes(w.metric) && w.per.length === 1) {
    throw new PgvigilError('BAD_ARGUMENT', 'per: a ratio of the metric to itself is always 1');
  }
  if (w.per.length === 0 && w.minPer !== null) {
    throw new PgvigilError('BAD_ARGUMENT', 'minPer: only a ratio indicator (per) has a denominator');
  }
  resolveIndicator(w, w.serverId, w.targetId);
}

function notFound(sloId: number): never {
  throw new PgvigilError('NOT_FOUND', `there is no SLO ${sloId}`);
}

/** Foreign-key failures name the field that pointed nowhere. */
function scopeError(err: unknown, serverId: number, targetId: number | null): never {
  const e = err as { code?: string; constraint?: string };
  if (e.code === '23503') {
    if (e.constraint?.includes('server_id_fkey') && !e.constraint.includes('target')) {
      throw new PgvigilError('BAD_ARGUMENT', `serverId: there is no server ${serverId}`);
    }
    throw new PgvigilError('BAD_ARGUMENT', `targetId: there is no target ${targetId} on server ${serverId}`);
  }
  throw err;
}

export const sloRoutes: FastifyPluginAsync<SloRouteOptions> = async (app, opts) => {
  const readTimeout = opts.readTimeoutMs ?? defaultReadTimeoutMs;

  app.get<{ Querystring: { server?: number; target?: number; after?: number; limit?: number } }>(
    '/slos',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'SLOs with their error budget remaining and burn rates (as of the last slos job run)',
        tags: ['slos'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            server: id,
            target: id,
            after: { ...id, description: 'cursor: list SLOs with a larger id' },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['slos', 'next'],
            properties: { slos: { type: 'array', items: sloSchema }, next: nullableInteger },
          },
          '4xx': errorBody,
          '5xx': errorBody,
        },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? 100;
      const rows = await inReadSnapshot(opts.pool, readTimeout, (c) =>
        listSlos(c, {
          serverId: req.query.server,
          targetId: req.query.target,
          afterId: req.query.after,
          limit: limit + 1,
        }),
      );
      const page = rows.slice(0, limit);
      return { slos: page.map(view), next: rows.length > limit ? page[page.length - 1]!.id : null };
    },
  );

  app.get<{ Params: { id: number } }>(
    '/slos/:id',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'One SLO with its error budget and burn rates',
        tags: ['slos'],
        params: numericIdParams,
        response: { 200: sloSchema, '4xx': errorBody, '5xx': errorBody },
      },
    },
    async (req) => {
      const row = await inReadSnapshot(opts.pool, readTimeout, (c) => sloById(c, req.params.id));
      return row ? view(row) : notFound(req.params.id);
    },
  );

  app.get<{ Params: { id: number }; Querystring: { from?: string; to?: string } }>(
    '/slos/:id/burn',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Hourly burn rate and error budget remaining of an SLO, for charts (at most 31 days)',
        tags: ['slos'],
        params: numericIdParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { type: 'string', maxLength: 40, description: 'ISO 8601 or ms; default: 24 h before to' },
            to: { type: 'string', maxLength: 40, description: 'ISO 8601 or ms (exclusive); default: now' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['id', 'stepSeconds', 'from', 'to', 'points'],
            properties: {
              id: { type: 'integer' },
              stepSeconds: { type: 'integer' },
              from: { type: 'string' },
              to: { type: 'string' },
              points: {
                type: 'array',
                description:
                  'per hour: burn rate over the hour and budget remaining (fraction) over the window ending with it; null where nothing was counted',
                items: {
                  type: 'object',
                  required: ['t', 'burn1h', 'budgetRemaining', 'good', 'bad'],
                  properties: {
                    t: { type: 'string' },
                    burn1h: nullableNumber,
                    budgetRemaining: nullableNumber,
                    good: { type: 'integer' },
                    bad: { type: 'integer' },
                  },
                },
              },
            },
          },
          '4xx': errorBody,
          '5xx': errorBody,
        },
      },
    },
    async (req) => {
      const now = new Date();
      const range = timeRange(req.query, dayMs, 31 * dayMs, now);
      const from = Math.floor(range.from.getTime() / hourMs) * hourMs;
      const to = range.to.getTime();
      return inReadSnapshot(opts.pool, readTimeout, async (c) => {
        const row = await sloById(c, req.params.id);
        if (!row) notFound(req.params.id);
        const plan = resolveIndicator(row, row.serverId, row.targetId, now);
        // Counted hours, then the recent hours judged minute by minute (as an evaluation reads them).
        const input = await loadSloInput(c, row, plan, now);
        const stored = await sloHours(
          c,
          row.id,
          new Date(from - row.windowDays * dayMs),
          new Date(Math.min(to, input.minutesFrom)),
        );
        // The edge hour's minutes are left to its stored count: only minutes from minutesFrom are added.
        const recent = input.minutes.filter((m) => m.t >= input.minutesFrom && m.t < to);
        const hours: HourCounts[] = [...stored, ...countByHour(recent)];
        const points = burnSeries(hours, row, from, Math.min(to, now.getTime()));
        return {
          id: row.id,
          stepSeconds: 3600,
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          points: points.map((p) => ({ ...p, t: new Date(p.t).toISOString() })),
        };
      });
    },
  );

  app.post<{ Body: Writable & { serverId: number; targetId?: number } }>(
    '/slos',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Create an SLO',
        tags: ['slos'],
        body: createBody,
        response: { 201: sloSchema, '4xx': errorBody, '5xx': errorBody },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const w: SloWrite = {
        serverId: b.serverId,
        targetId: b.targetId ?? null,
        name: b.name!,
        description: b.description ?? '',
        family: b.family!,
        metric: b.metric!,
        per: b.per ?? [],
        labels: b.labels ?? [],
        agg: b.agg ?? 'avg',
        scale: b.scale ?? 1,
        minPer: b.minPer ?? null,
        missing: b.missing ?? 'skip',
        comparison: b.comparison!,
        threshold: b.threshold!,
        objective: b.objective!,
        windowDays: b.windowDays ?? 30,
      };
      checkDefinition(w);
      const created = await insertSlo(opts.pool, w, 'api', req.user?.name ?? null).catch((err: unknown) =>
        scopeError(err, w.serverId, w.targetId),
      );
      if (created === undefined) {
        throw new PgvigilError(
          'SLO_EXISTS',
          `name: an SLO "${w.name}" exists already on that server and target`,
        );
      }
      req.log.info({ slo: created, by: req.user?.name }, 'SLO created');
      reply.code(201);
      return view((await sloById(opts.pool, created))!);
    },
  );

  app.patch<{ Params: { id: number }; Body: Writable }>(
    '/slos/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Change an SLO (a change of what judges a minute counts its history again)',
        tags: ['slos'],
        params: numericIdParams,
        body: patchBody,
        response: { 200: sloSchema, '4xx': errorBody, '5xx': errorBody },
      },
    },
    async (req) => {
      const row = await sloById(opts.pool, req.params.id);
      if (!row) notFound(req.params.id);
      const before = definitionOf(row);
      const w: SloWrite = {
        serverId: row.serverId,
        targetId: row.targetId,
        name: before.name,
        description: before.description,
        family: before.family,
        metric: before.metric,
        per: before.per,
        labels: before.labels,
        agg: before.agg,
        scale: before.scale,
        minPer: before.minPer,
        missing: before.missing,
        comparison: before.comparison,
        threshold: before.threshold,
        objective: before.objective,
        windowDays: before.windowDays,
      };
      for (const k of Object.keys(req.body) as Array<keyof Writable>) {
        if (Object.hasOwn(req.body, k)) (w as unknown as Record<string, unknown>)[k] = req.body[k];
      }
      checkDefinition(w);
      const judged = [
        'family',
        'metric',
        'per',
        'labels',
        'agg',
        'scale',
        'minPer',
        'missing',
        'comparison',
        'threshold',
      ] as const;
      const recount = judged.some((k) => JSON.stringify(w[k]) !== JSON.stringify(before[k]));
      const r = await updateSlo(opts.pool, row.id, w, recount);
      if (r === 'missing') notFound(req.params.id);
      if (r === 'conflict') {
        throw new PgvigilError(
          'SLO_EXISTS',
          `name: an SLO "${w.name}" exists already on that server and target`,
        );
      }
      req.log.info({ slo: row.id, by: req.user?.name, recount }, 'SLO changed');
      return view((await sloById(opts.pool, row.id))!);
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/slos/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Delete an SLO (a deleted default is not created again)',
        tags: ['slos'],
        params: numericIdParams,
        response: { 204: { type: 'null' }, '4xx': errorBody, '5xx': errorBody },
      },
    },
    async (req, reply) => {
      if (!(await deleteSlo(opts.pool, req.params.id))) notFound(req.params.id);
      req.log.info({ slo: req.params.id, by: req.user?.name }, 'SLO deleted');
      return reply.status(204).send();
    },
  );
};

/**
 * GET /api/v1/series — time series of one metric family for charts (role viewer). What it returns and
 * how tier and step are chosen: src/storage/series.ts.
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { defaultRetention, type RetentionPolicy } from '../../storage/partitions.js';
import {
  existingServerTails,
  existingServerTailsSql,
  gridOf,
  maxMetrics,
  planSeries,
  querySeries,
  type SeriesRequest,
} from '../../storage/series.js';
import { inReadSnapshot } from '../../storage/tx.js';
import { answerCoding, compressFrom, compressInOnePiece } from '../answer-coding.js';
import { cachedRetention } from '../settings.js';
import { defaultReadTimeoutMs } from './read-support.js';
import { errorBody } from './schemas.js';

export interface SeriesRouteOptions {
  pool: pg.Pool;
  /** Retention the server was started with; an admin's stored setting overrides it. */
  retention?: RetentionPolicy;
  readTimeoutMs?: number;
}

const querystring = {
  type: 'object',
  required: ['family', 'server'],
  additionalProperties: false,
  properties: {
    family: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: 'metric family, e.g. host_cpu (the families of docs/wire-format.md)',
    },
    metrics: {
      type: 'string',
      maxLength: 1000,
      description: `comma-separated numeric columns of the family, at most ${maxMetrics}, or derived metrics (pg_database: cache_hit_interval_pct per database, cache_hit_interval_pct_instance per target: the hit ratio of each step from the counters' increases); default: all columns when there are at most ${maxMetrics}`,
    },
    server: { type: 'integer', minimum: 1, maximum: 9_007_199_254_740_991, description: 'server id' },
    target: {
      type: 'integer',
      minimum: 1,
      maximum: 9_007_199_254_740_991,
      description: 'target id (PostgreSQL families); default: every target of the server',
    },
    label: {
      type: 'array',
      maxItems: 20,
      items: { type: 'string', minLength: 3, maxLength: 300 },
      description:
        'label filter name:value (e.g. cpu:total); repeat it, several values of one label match any',
    },
    from: {
      type: 'string',
      maxLength: 40,
      description: 'start: ISO 8601 or milliseconds since the epoch; default: one hour before to',
    },
    to: { type: 'string', maxLength: 40, description: 'end (exclusive): ISO 8601 or ms; default: now' },
    step: {
      type: 'string',
      maxLength: 20,
      description:
        'wished step (60s, 5m, 1h, 1d or seconds); the step used is the largest of this, the tier resolution and range/1500, rounded up',
    },
    tier: {
      type: 'string',
      enum: ['auto', 'raw', 'minute', 'hourly', 'daily'],
      default: 'auto',
      description:
        'auto: raw up to 4 h, minute up to 36 h, hourly up to 14 days, daily beyond, and never a tier whose retention ends after from',
    },
    agg: {
      type: 'string',
      enum: ['avg', 'min', 'max', 'p95'],
      default: 'avg',
      description:
        'aggregate of gauges per step (p95: float gauges only); counters are always their increase',
    },
    shape: {
      type: 'string',
      enum: ['points', 'grid'],
      default: 'points',
      description:
        'points: [time, value] pairs per series, steps without data absent; grid: one shared array of step times (times) and per series one value per step (values), null for a step without data — the same points in about 40 % fewer bytes',
    },
  },
} as const;

const seriesSchema = {
  type: 'object',
  required: ['metric', 'kind', 'agg', 'labels', 'points'],
  properties: {
    metric: { type: 'string' },
    kind: { type: 'string', enum: ['gauge', 'counter'] },
    agg: {
      type: 'string',
      enum: ['avg', 'min', 'max', 'p95', 'increase', 'ratio'],
      description:
        'increase: how much the counter grew within the step (not a per-second rate), resets counted; ratio: a derived metric, a ratio of counter increases within the step',
    },
    labels: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description: 'the series labels (target: the target id, for PostgreSQL families)',
    },
    points: {
      type: 'array',
      description: '[step start in ms since the epoch, value], in time order; steps without data are absent',
      items: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'number' } },
    },
  },
} as const;

const gridSeriesSchema = {
  type: 'object',
  required: ['metric', 'kind', 'agg', 'labels', 'values'],
  properties: {
    metric: seriesSchema.properties.metric,
    kind: seriesSchema.properties.kind,
    agg: seriesSchema.properties.agg,
    labels: seriesSchema.properties.labels,
    values: {
      type: 'array',
      description:
        'one per entry of times: the value of that step, or null for a step without data (a gap, never 0)',
      items: { type: ['number', 'null'] },
    },
  },
} as const;

const answerHead = {
  family: { type: 'string' },
  tier: { type: 'string', enum: ['raw', 'minute', 'hourly', 'daily'] },
  stepSeconds: { type: 'integer' },
  from: { type: 'integer', description: 'start of the first step, ms (the asked from, widened to a step)' },
  to: { type: 'integer', description: 'end of the last step, ms' },
} as const;

/** shape=points (the default). */
const pointsAnswer = {
  type: 'object',
  required: ['family', 'tier', 'stepSeconds', 'from', 'to', 'series'],
  properties: { ...answerHead, series: { type: 'array', items: seriesSchema } },
} as const;

/** shape=grid. */
const gridAnswer = {
  type: 'object',
  required: ['family', 'tier', 'stepSeconds', 'from', 'to', 'times', 'series'],
  properties: {
    ...answerHead,
    times: {
      type: 'array',
      description:
        'the start of every step from from up to to (exclusive), ms, in order; shared by every series',
      items: { type: 'integer' },
    },
    series: { type: 'array', items: gridSeriesSchema },
  },
} as const;

const response200 = {
  description: 'shape=points (default): series with points; shape=grid: one time grid, series with values',
  anyOf: [pointsAnswer, gridAnswer],
} as const;

export const seriesRoutes: FastifyPluginAsync<SeriesRouteOptions> = async (app, opts) => {
  const retention = cachedRetention(opts.pool, opts.retention ?? defaultRetention);

  app.get<{ Querystring: SeriesRequest }>(
    '/series',
    {
      config: { role: 'viewer' },
      schema: {
        summary:
          'Time series of a metric family, bucketed into steps from the raw, minute, hourly or daily tier',
        tags: ['series'],
        querystring,
        response: { 200: response200, '4xx': errorBody, '5xx': errorBody },
      },
    },
    async (req, reply) => {
      const now = new Date();
      const plan = planSeries(req.query, now, await retention());
      const answer = await inReadSnapshot(
        opts.pool,
        opts.readTimeoutMs ?? defaultReadTimeoutMs,
        async (c, first) => {
          // The server's existence and its tails: one statement, sent with the snapshot's BEGIN.
          const tails = existingServerTails(first, now);
          if (!tails) throw new PgvigilError('NOT_FOUND', `server ${plan.serverId} does not exist`);
          return querySeries(c, plan, now, tails);
        },
        plan,
        { first: existingServerTailsSql(plan.serverId) },
      );
      // JSON.stringify rather than the schema's serializer: a 24 h chart is ~15,000 [t, v] pairs, which
      // V8's native writer turns into text about three times faster. The answer is built with exactly the
      // schema's properties in its order (storage/series.ts), so the text is the same.
      // JSON.stringify writes each number as the shortest text that reads back as the same double, so the
      // values stay exact without carrying more digits than they need.
      const json = JSON.stringify(req.query.shape === 'grid' ? gridOf(answer) : answer);
      reply.type('application/json; charset=utf-8');
      const coding = answerCoding(req.headers['accept-encoding']);
      if (
        json.length < compressFrom ||
        req.headers['x-no-compression'] !== undefined ||
        coding === 'identity'
      ) {
        return reply.send(json); // the compression plugin's (deflate, or small enough to send as it is)
      }
      // Compressed here, brotli at quality 1 or gzip at level 1 (src/server/answer-coding.ts): less CPU than
      // the plugin's settings for these answers, and one write of a known length instead of a stream of chunks.
      const body = await compressInOnePiece(json, coding);
      return reply.header('content-encoding', coding).header('vary', 'accept-encoding').send(body);
    },
  );
};

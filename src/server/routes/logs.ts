/**
 * Log search and analysis (role viewer): GET /logs (newest first, keyset-paginated), GET /logs/counts
 * (entries per level per time bucket), GET /logs/patterns (top fingerprints).
 *
 * Pagination: log rows have no key of their own, so the order is (ts, ctid) descending — ctid tells rows
 * with the same ts apart, and rows with the same ts always sit in the same day partition. `nextBefore`
 * carries the last row's (ts, ctid): the next page starts strictly after it, so pages neither repeat nor
 * skip rows while new entries arrive at the top. (A VACUUM FULL of a partition moves rows; a cursor taken
 * before it may then repeat or skip — log partitions are never rewritten by pgvigil.)
 *
 * `q` is a case-insensitive substring match on the message (ILIKE with %, _ and \ escaped): no index
 * serves it, so it is bounded by the time range, the other filters and the read timeout.
 */
import type { FastifyPluginAsync } from 'fastify';
import { PgvigilError } from '../../errors.js';
import { isLogLevel, type LogLevel, logLevelRank, logLevels } from '../../protocol/logs.js';
import { type LogSelection, logCounts, logEntries, logPatterns } from '../../storage/queries/logs.sql.js';
import { inReadSnapshot } from '../../storage/tx.js';
import {
  decodeCursor,
  defaultReadTimeoutMs,
  encodeCursor,
  freeObject,
  type ReadRouteOptions,
  serverIdParam,
  timeParam,
  timeRange,
} from './read-support.js';
import { errorBody } from './schemas.js';

const dayMs = 86_400_000;
const maxRangeMs = 31 * dayMs;

interface LogFilters {
  from?: string;
  to?: string;
  server?: number;
  source?: string;
  level?: string;
  minLevel?: LogLevel;
  q?: string;
  fingerprint?: string;
  event?: string;
}

const filterProperties = {
  from: timeParam('start of the range (inclusive); default 24 h before `to`'),
  to: timeParam('end of the range (exclusive); default now'),
  server: serverIdParam,
  source: {
    type: 'string',
    minLength: 1,
    maxLength: 1000,
    description: 'source name, or several separated by commas',
  },
  level: {
    type: 'string',
    minLength: 1,
    maxLength: 100,
    description: `exact levels, separated by commas (${logLevels.join(', ')})`,
  },
  minLevel: { type: 'string', enum: [...logLevels], description: 'this level and more severe ones' },
  q: {
    type: 'string',
    minLength: 1,
    maxLength: 200,
    description: 'text the message contains (case-insensitive; % and _ match themselves)',
  },
  fingerprint: { type: 'string', pattern: '^[0-9a-f]{16}$', description: 'one message pattern' },
  event: {
    type: 'string',
    minLength: 1,
    maxLength: 100,
    description: 'classified PostgreSQL event (context.event), e.g. checkpoint_complete',
  },
} as const;

/** The request's filters, checked and bounded, as a selection for the log queries. */
export function logSelection(q: LogFilters, from: Date, to: Date): LogSelection {
  const sel: LogSelection = { from, to };
  if (q.server !== undefined) sel.serverId = q.server;
  if (q.source !== undefined) {
    const sources = [...new Set(q.source.split(',').map((s) => s.trim()))].filter((s) => s.length > 0);
    if (sources.length === 0 || sources.length > 50) {
      throw new PgvigilError('BAD_ARGUMENT', 'source: give 1 to 50 source names separated by commas');
    }
    sel.sources = sources;
  }
  let levels: LogLevel[] | undefined;
  if (q.level !== undefined) {
    levels = [];
    for (const l of q.level.split(',').map((s) => s.trim().toLowerCase())) {
      if (!isLogLevel(l)) {
        throw new PgvigilError(
          'BAD_ARGUMENT',
          `level: "${l.slice(0, 20)}" is not one of ${logLevels.join(', ')}`,
        );
      }
      levels.push(l);
    }
  }
  if (q.minLevel !== undefined) {
    const min = logLevelRank[q.minLevel];
    levels = (levels ?? [...logLevels]).filter((l) => logLevelRank[l] >= min);
  }
  if (levels !== undefined) sel.levels = [...new Set(levels)];
  if (q.q !== undefined) sel.contains = q.q;
  if (q.fingerprint !== undefined) sel.fingerprint = q.fingerprint;
  if (q.event !== undefined) sel.event = q.event;
  return sel;
}

const entrySchema = {
  type: 'object',
  required: ['serverId', 'ts', 'source', 'level', 'message', 'fingerprint'],
  properties: {
    serverId: { type: 'integer' },
    server: { type: 'string', description: 'server name' },
    ts: { type: 'string', description: 'ISO 8601, UTC, microseconds' },
    source: { type: 'string' },
    level: { type: 'string', enum: [...logLevels] },
    component: { type: 'string' },
    message: { type: 'string' },
    context: freeObject,
    fingerprint: { type: 'string' },
  },
} as const;

const tsKeyRe = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const ctidRe = /^\(\d{1,10},\d{1,5}\)$/;

/** A step that gives about 60 buckets: 1, 5, 10, 15, 30 min, 1, 3, 6, 12 h, 1 d. */
export function defaultStepSeconds(rangeMs: number): number {
  const steps = [60, 300, 600, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400];
  return steps.find((s) => rangeMs / 1000 / s <= 60) ?? 86_400;
}

export const logRoutes: FastifyPluginAsync<ReadRouteOptions> = async (app, opts) => {
  const { pool } = opts;
  const timeoutMs = opts.readTimeoutMs ?? defaultReadTimeoutMs;

  app.get<{ Querystring: LogFilters & { limit: number; before?: string } }>(
    '/logs',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Search log entries, newest first',
        description:
          'Filters combine with AND. Pass `nextBefore` back as `before` for the next (older) page; it is null on the last page.',
        tags: ['logs'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...filterProperties,
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            before: {
              type: 'string',
              minLength: 1,
              maxLength: 200,
              description: 'nextBefore of the previous page',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['entries', 'nextBefore'],
            properties: {
              from: { type: 'string' },
              to: { type: 'string' },
              entries: { type: 'array', items: entrySchema },
              nextBefore: { type: ['string', 'null'] },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const { from, to } = timeRange(req.query, dayMs, maxRangeMs);
      const sel = logSelection(req.query, from, to);
      let before: [string, string] | undefined;
      if (req.query.before !== undefined) {
        const c = decodeCursor('before', req.query.before);
        if (
          !Array.isArray(c) ||
          typeof c[0] !== 'string' ||
          typeof c[1] !== 'string' ||
          !tsKeyRe.test(c[0]) ||
          !ctidRe.test(c[1])
        ) {
          throw new PgvigilError('BAD_ARGUMENT', 'before: not a cursor this server returned');
        }
        before = [c[0], c[1]];
      }
      const rows = await inReadSnapshot(
        pool,
        timeoutMs,
        (c) => logEntries(c, sel, before, req.query.limit + 1),
        { from, to },
      );
      const page = rows.slice(0, req.query.limit);
      const last = page.at(-1);
      return {
        from: from.toISOString(),
        to: to.toISOString(),
        entries: page.map((r) => ({
          serverId: Number(r.server_id),
          server: r.server,
          ts: r.ts_key,
          source: r.source,
          level: r.level,
          component: r.component,
          message: r.message,
          context: r.context,
          fingerprint: r.fingerprint,
        })),
        nextBefore: rows.length > req.query.limit && last ? encodeCursor([last.ts_key, last.row_key]) : null,
      };
    },
  );

  app.get<{ Querystring: LogFilters & { step?: number } }>(
    '/logs/counts',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Log entries per level per time bucket',
        description:
          'Buckets are aligned to multiples of `step` since the epoch (the first and last may be partial). A bucket without any stored entry is left out rather than reported as zeros: no entries stored is not the same as none written (see /gaps).',
        tags: ['logs'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...filterProperties,
            step: {
              type: 'integer',
              minimum: 1,
              maximum: 7 * 86_400,
              description: 'bucket width in seconds; default: about 60 buckets over the range',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['from', 'to', 'step', 'buckets'],
            properties: {
              from: { type: 'string' },
              to: { type: 'string' },
              step: { type: 'integer' },
              buckets: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['ts', 'total', 'counts'],
                  properties: {
                    ts: { type: 'string', description: 'bucket start' },
                    total: { type: 'integer' },
                    counts: {
                      type: 'object',
                      properties: Object.fromEntries(logLevels.map((l) => [l, { type: 'integer' }])),
                    },
                  },
                },
              },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const { from, to } = timeRange(req.query, dayMs, maxRangeMs);
      const rangeMs = to.getTime() - from.getTime();
      const step = req.query.step ?? defaultStepSeconds(rangeMs);
      const buckets = Math.ceil(rangeMs / 1000 / step) + 1;
      if (buckets > 2000) {
        throw new PgvigilError(
          'BAD_ARGUMENT',
          `step: ${step} s gives ${buckets} buckets over this range; at most 2000`,
        );
      }
      const sel = logSelection(req.query, from, to);
      const rows = await inReadSnapshot(pool, timeoutMs, (c) => logCounts(c, sel, step), { from, to });
      const out: Array<{ ts: string; total: number; counts: Record<LogLevel, number> }> = [];
      for (const r of rows) {
        const ts = r.bucket.toISOString();
        let b = out.at(-1);
        if (b?.ts !== ts) {
          b = {
            ts,
            total: 0,
            counts: Object.fromEntries(logLevels.map((l) => [l, 0])) as Record<LogLevel, number>,
          };
          out.push(b);
        }
        b.counts[r.level] += Number(r.n);
        b.total += Number(r.n);
      }
      return { from: from.toISOString(), to: to.toISOString(), step, buckets: out };
    },
  );

  app.get<{ Querystring: LogFilters & { limit: number } }>(
    '/logs/patterns',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'The most frequent message patterns (fingerprints) in a time range',
        description:
          'Entries grouped by fingerprint (messages that differ only in numbers, names, literals…), most entries first, with first and last occurrence in the range and the newest message as a sample.',
        tags: ['logs'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...filterProperties,
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 20 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['from', 'to', 'patterns'],
            properties: {
              from: { type: 'string' },
              to: { type: 'string' },
              patterns: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['fingerprint', 'count', 'firstSeen', 'lastSeen', 'sample'],
                  properties: {
                    fingerprint: { type: 'string' },
                    count: { type: 'integer' },
                    servers: { type: 'integer', description: 'servers it occurred on' },
                    firstSeen: { type: 'string' },
                    lastSeen: { type: 'string' },
                    level: { type: 'string' },
                    source: { type: 'string' },
                    component: { type: 'string' },
                    sample: { type: 'string', description: 'the newest message of this pattern' },
                    sampleServerId: { type: 'integer' },
                  },
                },
              },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const { from, to } = timeRange(req.query, dayMs, maxRangeMs);
      const sel = logSelection(req.query, from, to);
      const rows = await inReadSnapshot(pool, timeoutMs, (c) => logPatterns(c, sel, req.query.limit), {
        from,
        to,
      });
      return {
        from: from.toISOString(),
        to: to.toISOString(),
        patterns: rows.map((r) => ({
          fingerprint: r.fingerprint,
          count: Number(r.n),
          servers: r.servers,
          firstSeen: r.first_seen.toISOString(),
          lastSeen: r.last_seen.toISOString(),
          level: r.level ?? '',
          source: r.source ?? '',
          component: r.component ?? '',
          sample: r.message ?? '',
          sampleServerId: Number(r.sample_server),
        })),
      };
    },
  );
};

/**
 * Persisted log analysis (role viewer), what the log-analysis job keeps (src/server/jobs/log-analysis.ts):
 * GET /log-patterns (message patterns per server over their lifetime: open/resolved, counts, reopenings;
 * keyset-paginated) and GET /log-trends (one server's hourly counts by source and level, and the hourly
 * series of its busiest patterns, up to 90 days).
 *
 * GET /logs/patterns (routes/logs.ts) answers a different question from the raw entries: the most frequent
 * fingerprints within a time range of at most 31 days, computed on the fly. These routes read the stored
 * results, so they cost the same whatever the history, and they know what the raw window cannot: when a
 * pattern first appeared, whether it went quiet and came back.
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { isLogLevel, type LogLevel, logLevels } from '../../protocol/logs.js';
import {
  listLogPatterns,
  logCountsHourly,
  type PatternFilter,
  type PatternOrder,
  patternSamples,
  topFingerprintSeries,
} from '../../storage/queries/log-analysis.sql.js';
import { inReadSnapshot } from '../../storage/tx.js';
import {
  decodeCursor,
  defaultReadTimeoutMs,
  encodeCursor,
  nullableString,
  requireServer,
  serverIdParam,
  timeParam,
  timeRange,
} from './read-support.js';
import { errorBody } from './schemas.js';

export interface LogPatternRouteOptions {
  pool: pg.Pool;
  readTimeoutMs?: number;
}

const dayMs = 86_400_000;
/** Hourly counts are kept 90 days; a longer range could only add empty hours. */
const maxTrendRangeMs = 92 * dayMs;
/** Rows of hourly counts one answer carries (90 days × 24 h × ~9 source/level pairs). */
const maxCountRows = 20_000;

const patternSchema = {
  type: 'object',
  required: [
    'serverId',
    'fingerprint',
    'source',
    'level',
    'firstSeen',
    'lastSeen',
    'count',
    'sample',
    'state',
    'reopenCount',
  ],
  properties: {
    serverId: { type: 'integer' },
    serverName: { type: 'string' },
    fingerprint: { type: 'string' },
    source: { type: 'string' },
    level: { type: 'string', enum: [...logLevels], description: 'the most severe level seen' },
    component: { type: 'string' },
    firstSeen: { type: 'string' },
    lastSeen: { type: 'string' },
    count: { type: 'integer', description: 'entries since first seen' },
    sample: { type: 'string', description: 'the newest message (at most 500 characters)' },
    event: { ...nullableString, description: 'the classified PostgreSQL event of the sample, if any' },
    state: { type: 'string', enum: ['open', 'resolved'] },
    resolvedAt: { ...nullableString, description: 'last seen + 1 h, when resolved' },
    reopenedAt: nullableString,
    reopenCount: { type: 'integer', description: 'times it came back after being resolved' },
  },
} as const;

function commaList(name: string, v: string, max: number): string[] {
  const list = [...new Set(v.split(',').map((s) => s.trim()))].filter((s) => s.length > 0);
  if (list.length === 0 || list.length > max) {
    throw new PgvigilError('BAD_ARGUMENT', `${name}: give 1 to ${max} values separated by commas`);
  }
  return list;
}

interface PatternQuery {
  server?: number;
  source?: string;
  level?: string;
  state?: 'open' | 'resolved';
  q?: string;
  sort: PatternOrder;
  limit: number;
  cursor?: string;
}

export const logPatternRoutes: FastifyPluginAsync<LogPatternRouteOptions> = async (app, opts) => {
  const { pool } = opts;
  const timeoutMs = opts.readTimeoutMs ?? defaultReadTimeoutMs;

  app.get<{ Querystring: PatternQuery }>(
    '/log-patterns',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Stored message patterns (fingerprints) per server, with their lifecycle',
        description:
          'Kept by the log-analysis job: open while seen, resolved after an hour unseen, reopened when seen again. Sorted by `sort` (newest last seen, or most entries), largest first; pass `nextCursor` back as `cursor` for the next page. Filters combine with AND.',
        tags: ['logs'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
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
              description: `levels, separated by commas (${logLevels.join(', ')})`,
            },
            state: { type: 'string', enum: ['open', 'resolved'] },
            q: {
              type: 'string',
              minLength: 1,
              maxLength: 200,
              description: 'text the sample message contains (case-insensitive)',
            },
            sort: { type: 'string', enum: ['last_seen', 'count'], default: 'last_seen' },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
            cursor: {
              type: 'string',
              minLength: 1,
              maxLength: 300,
              description: 'nextCursor of the previous page',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['patterns', 'nextCursor'],
            properties: {
              patterns: { type: 'array', items: patternSchema },
              nextCursor: { type: ['string', 'null'] },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const f: PatternFilter = { order: q.sort, limit: q.limit + 1 };
      if (q.server !== undefined) f.serverId = q.server;
      if (q.source !== undefined) f.sources = commaList('source', q.source, 50);
      if (q.level !== undefined) {
        const levels: LogLevel[] = [];
        for (const l of commaList('level', q.level.toLowerCase(), 7)) {
          if (!isLogLevel(l)) {
            throw new PgvigilError(
              'BAD_ARGUMENT',
              `level: "${l.slice(0, 20)}" is not one of ${logLevels.join(', ')}`,
            );
          }
          levels.push(l);
        }
        f.levels = levels;
      }
      if (q.state !== undefined) f.state = q.state;
      if (q.q !== undefined) f.contains = q.q;
      if (q.cursor !== undefined) {
        const c = decodeCursor('cursor', q.cursor);
        if (
          !Array.isArray(c) ||
          c[0] !== q.sort ||
          !Number.isSafeInteger(c[1]) ||
          !Number.isSafeInteger(c[2]) ||
          typeof c[3] !== 'string' ||
          !/^[0-9a-f]{16}$/.test(c[3])
        ) {
          throw new PgvigilError('BAD_ARGUMENT', 'cursor: not a cursor this server returned for this sort');
        }
        f.after = { value: c[1] as number, serverId: c[2] as number, fingerprint: c[3] };
      }
      const rows = await inReadSnapshot(pool, timeoutMs, (c) => listLogPatterns(c, f));
      const page = rows.slice(0, q.limit);
      const last = page.at(-1);
      return {
        patterns: page.map((r) => ({
          serverId: r.serverId,
          serverName: r.serverName,
          fingerprint: r.fingerprint,
          source: r.source,
          level: r.level,
          component: r.component,
          firstSeen: r.firstSeen.toISOString(),
          lastSeen: r.lastSeen.toISOString(),
          count: Number(r.count),
          sample: r.sample,
          event: r.event,
          state: r.state,
          resolvedAt: r.resolvedAt?.toISOString() ?? null,
          reopenedAt: r.reopenedAt?.toISOString() ?? null,
          reopenCount: r.reopenCount,
        })),
        nextCursor:
          rows.length > q.limit && last
            ? encodeCursor([q.sort, Number(last.sortValue), last.serverId, last.fingerprint])
            : null,
      };
    },
  );

  const point = {
    type: 'object',
    required: ['hour', 'count'],
    properties: { hour: { type: 'string' }, count: { type: 'integer' } },
  } as const;

  app.get<{ Querystring: { server: number; from?: string; to?: string; top: number } }>(
    '/log-trends',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "One server's hourly log counts by source and level, and its busiest patterns per hour",
        description:
          'From the hourly counts the log-analysis job keeps (90 days). `from` is rounded down to its hour. An hour without a point had no entries counted (or the job had not reached it yet). Pattern series: hours older than 48 h keep only the 20 busiest patterns of each hour, so a pattern outside them has no point there.',
        tags: ['logs'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['server'],
          properties: {
            server: serverIdParam,
            from: timeParam('start of the range (inclusive); default 7 days before `to`'),
            to: timeParam('end of the range (exclusive); default now; at most 92 days after `from`'),
            top: { type: 'integer', minimum: 1, maximum: 20, default: 10, description: 'patterns to return' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['serverId', 'from', 'to', 'series', 'topPatterns', 'truncated'],
            properties: {
              serverId: { type: 'integer' },
              server: { type: 'string' },
              from: { type: 'string' },
              to: { type: 'string' },
              series: {
                type: 'array',
                description: 'one series per source and level',
                items: {
                  type: 'object',
                  required: ['source', 'level', 'total', 'points'],
                  properties: {
                    source: { type: 'string' },
                    level: { type: 'string' },
                    total: { type: 'integer' },
                    points: { type: 'array', items: point },
                  },
                },
              },
              topPatterns: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['fingerprint', 'source', 'level', 'total', 'points'],
                  properties: {
                    fingerprint: { type: 'string' },
                    source: { type: 'string' },
                    level: { type: 'string' },
                    total: { type: 'integer' },
                    sample: nullableString,
                    points: { type: 'array', items: point },
                  },
                },
              },
              truncated: {
                type: 'boolean',
                description: `true when the hourly counts exceeded ${maxCountRows} rows and the newest were left out`,
              },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const { from: rawFrom, to } = timeRange(req.query, 7 * dayMs, maxTrendRangeMs);
      const from = new Date(Math.floor(rawFrom.getTime() / 3_600_000) * 3_600_000);
      const serverId = req.query.server;
      const out = await inReadSnapshot(pool, timeoutMs, async (c) => {
        const server = await requireServer(c, serverId);
        const counts = await logCountsHourly(c, serverId, from, to, maxCountRows + 1);
        const top = await topFingerprintSeries(c, serverId, from, to, req.query.top);
        const samples = await patternSamples(c, serverId, [...new Set(top.map((t) => t.fingerprint))]);
        return { server, counts, top, samples };
      });
      const truncated = out.counts.length > maxCountRows;
      const series = new Map<
        string,
        { source: string; level: string; total: number; points: Array<{ hour: string; count: number }> }
      >();
      for (const r of out.counts.slice(0, maxCountRows)) {
        const k = `${r.source}\u0000${r.level}`;
        let s = series.get(k);
        if (!s) {
          s = { source: r.source, level: r.level, total: 0, points: [] };
          series.set(k, s);
        }
        s.total += Number(r.count);
        s.points.push({ hour: r.hour.toISOString(), count: Number(r.count) });
      }
      const sampleOf = new Map(out.samples.map((s) => [s.fingerprint, s.sample]));
      const patterns = new Map<
        string,
        {
          fingerprint: string;
          source: string;
          level: string;
          total: number;
          sample: string | null;
          points: Array<{ hour: string; count: number }>;
        }
      >();
      for (const r of out.top) {
        let p = patterns.get(r.fingerprint);
        if (!p) {
          p = {
            fingerprint: r.fingerprint,
            source: r.source,
            level: r.level,
            total: Number(r.total),
            sample: sampleOf.get(r.fingerprint) ?? null,
            points: [],
          };
          patterns.set(r.fingerprint, p);
        }
        p.points.push({ hour: r.hour.toISOString(), count: Number(r.count) });
      }
      return {
        serverId,
        server: out.server.name,
        from: from.toISOString(),
        to: to.toISOString(),
        series: [...series.values()].sort((a, b) => b.total - a.total),
        topPatterns: [...patterns.values()],
        truncated,
      };
    },
  );
};

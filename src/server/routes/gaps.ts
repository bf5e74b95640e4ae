/**
 * Where a server's data is missing and why (role viewer): GET /gaps?server&from&to.
 *
 * Two kinds, newest first:
 * - recorded: what `pgvigil.gaps` holds — batches the agent dropped (spool full, corrupt, dead-lettered)
 *   and rows the server refused (timestamps in the future or past retention). They are counted by batch
 *   sequence numbers, not time: `recordedAt` is when the server learnt of them.
 * - agent-silent: a stretch longer than `silentAfter` seconds in which an agent delivered no batch, from
 *   the ingest ledger's receive times (the last batch before the range counts, so a silence that began
 *   earlier shows its real start). A silence that is still going on ends at min(to, now) and is
 *   `ongoing`. An agent that was only cut off from the server delivers its spooled batches later:
 *   `backfilled` says whether data with timestamps inside the silence (older than the batch that ended
 *   it could hold on its own) has arrived since, so the chart has no hole there.
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import {
  agentDeliveries,
  dataBetween,
  interiorSilences,
  recordedGaps,
} from '../../storage/queries/gaps.sql.js';
import { inReadSnapshot } from '../../storage/tx.js';
import {
  defaultReadTimeoutMs,
  freeObject,
  iso,
  nullableInteger,
  nullableString,
  type ReadRouteOptions,
  requireServer,
  serverIdParam,
  timeParam,
  timeRange,
} from './read-support.js';
import { errorBody } from './schemas.js';

const dayMs = 86_400_000;
const maxPeriods = 1000;

interface Gap {
  kind: 'recorded' | 'silent';
  reason: string;
  agentId: string;
  start: string | null;
  end: string | null;
  ongoing: boolean;
  backfilled: boolean | null;
  recordedAt: string | null;
  fromSeq: number | null;
  toSeq: number | null;
  count: number | null;
  detail: Record<string, unknown>;
}

/**
 * Silent stretches of one agent (pure): `interior` are the silences between two batches in the range
 * (found in SQL); this adds the one from the last batch before the range (or the range start, or
 * enrollment) to the first batch in it, and the one after the last batch.
 */
export function silentPeriods(
  a: {
    enrolledAt: Date;
    revokedAt: Date | null;
    before: Date | null;
    first: Date | null;
    last: Date | null;
    interior: Array<{ start: Date; end: Date }>;
  },
  from: Date,
  end: Date,
  now: Date,
  silentAfterMs: number,
): Array<{ start: Date; end: Date; ongoing: boolean }> {
  const out: Array<{ start: Date; end: Date; ongoing: boolean }> = [];
  // Without a batch before the range, the silence can only be known from the range start (or enrollment).
  let cursor = a.before ?? new Date(Math.max(from.getTime(), a.enrolledAt.getTime()));
  if (a.first && a.last) {
    if (a.first.getTime() - cursor.getTime() > silentAfterMs)
      out.push({ start: cursor, end: a.first, ongoing: false });
    for (const p of a.interior) out.push({ ...p, ongoing: false });
    cursor = a.last;
  }
  const stop = Math.min(end.getTime(), now.getTime(), a.revokedAt?.getTime() ?? Number.POSITIVE_INFINITY);
  if (stop - cursor.getTime() > silentAfterMs) {
    const ongoing = a.revokedAt === null && end.getTime() >= now.getTime();
    out.push({ start: cursor, end: new Date(stop), ongoing });
  }
  return out;
}

/** Whether host or PostgreSQL data with ts inside (start, end − silentAfter) reached the store. */
async function backfilled(
  c: pg.PoolClient,
  serverId: number,
  start: Date,
  end: Date,
  silentAfterMs: number,
): Promise<boolean> {
  const until = new Date(end.getTime() - silentAfterMs);
  if (until <= start) return false;
  return dataBetween(c, serverId, start, until);
}

const gapSchema = {
  type: 'object',
  required: ['kind', 'reason', 'agentId'],
  properties: {
    kind: { type: 'string', enum: ['recorded', 'silent'] },
    reason: {
      type: 'string',
      description:
        'agent-silent, or as recorded: spool-full, corrupt, memory-full, dead-letter (batches the agent dropped), rows-in-future, rows-too-old (rows the server refused)',
    },
    agentId: { type: 'string' },
    start: { ...nullableString, description: 'silent: the last batch before the silence' },
    end: {
      ...nullableString,
      description: 'silent: the first batch after it (or min(to, now) when ongoing)',
    },
    ongoing: { type: 'boolean' },
    backfilled: {
      type: ['boolean', 'null'],
      description: 'silent: data from inside the silence arrived later (delivered from the spool)',
    },
    recordedAt: { ...nullableString, description: 'recorded: when the server learnt of it' },
    fromSeq: nullableInteger,
    toSeq: nullableInteger,
    count: { ...nullableInteger, description: 'recorded: batches dropped or rows refused' },
    detail: freeObject,
  },
} as const;

export const gapRoutes: FastifyPluginAsync<ReadRouteOptions> = async (app, opts) => {
  const { pool } = opts;
  const timeoutMs = opts.readTimeoutMs ?? defaultReadTimeoutMs;

  app.get<{ Querystring: { server: number; from?: string; to?: string; silentAfter: number } }>(
    '/gaps',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "Periods of a server's data that are missing, and why",
        description:
          'Recorded gaps (dropped batches, refused rows) and agent silences longer than `silentAfter` in (from, to]; newest first. Default range: the last 24 hours.',
        tags: ['gaps'],
        querystring: {
          type: 'object',
          required: ['server'],
          additionalProperties: false,
          properties: {
            server: serverIdParam,
            from: timeParam('start of the range'),
            to: timeParam('end of the range; default now'),
            silentAfter: {
              type: 'integer',
              minimum: 10,
              maximum: 86_400,
              default: 120,
              description: 'seconds without a batch that count as a silence',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['serverId', 'from', 'to', 'silentAfter', 'gaps'],
            properties: {
              serverId: { type: 'integer' },
              from: { type: 'string' },
              to: { type: 'string' },
              silentAfter: { type: 'integer' },
              gaps: { type: 'array', items: gapSchema },
              truncated: {
                type: 'boolean',
                description: `more than ${maxPeriods} gaps: the newest are shown`,
              },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const { from, to } = timeRange(req.query, dayMs, 31 * dayMs);
      const { server, silentAfter } = req.query;
      const silentMs = silentAfter * 1000;
      return inReadSnapshot(pool, timeoutMs, async (c) => {
        await requireServer(c, server);
        const gaps: Gap[] = [];
        const recorded = await recordedGaps(c, server, from, to, maxPeriods + 1);
        for (const r of recorded) {
          gaps.push({
            kind: 'recorded',
            reason: r.reason,
            agentId: r.agent_id,
            start: null,
            end: null,
            ongoing: false,
            backfilled: null,
            recordedAt: iso(r.recorded_at),
            fromSeq: r.from_seq === null ? null : Number(r.from_seq),
            toSeq: r.to_seq === null ? null : Number(r.to_seq),
            count: Number(r.count),
            detail: r.detail,
          });
        }
        // Per agent: its last batch before the range, its first and last in it, and the silences between
        // batches in it.
        const agents = await agentDeliveries(c, server, from, to);
        const interior = await interiorSilences(c, server, from, to, silentAfter, maxPeriods + 1);
        for (const a of agents) {
          const periods = silentPeriods(
            {
              enrolledAt: a.enrolled_at,
              revokedAt: a.revoked_at,
              before: a.before,
              first: a.first,
              last: a.last,
              interior: interior.filter((r) => r.agent_id === a.agent_id),
            },
            from,
            // Without an explicit end the range ends now, by the store's clock (what `now` is).
            req.query.to === undefined ? a.now : to,
            a.now,
            silentMs,
          );
          for (const p of periods.slice(-maxPeriods)) {
            gaps.push({
              kind: 'silent',
              reason: 'agent-silent',
              agentId: a.agent_id,
              start: p.start.toISOString(),
              end: p.end.toISOString(),
              ongoing: p.ongoing,
              backfilled: await backfilled(c, server, p.start, p.end, silentMs),
              recordedAt: null,
              fromSeq: null,
              toSeq: null,
              count: null,
              detail: {},
            });
          }
        }
        const when = (g: Gap) => g.end ?? g.recordedAt ?? '';
        gaps.sort((x, y) => (when(x) < when(y) ? 1 : when(x) > when(y) ? -1 : 0));
        return {
          serverId: server,
          from: from.toISOString(),
          to: to.toISOString(),
          silentAfter,
          gaps: gaps.slice(0, maxPeriods),
          truncated: gaps.length > maxPeriods,
        };
      });
    },
  );
};

/**
 * Security events (viewer): what the findings job detected in the logs — SSH brute force, fail2ban bans,
 * firewall blocks, PostgreSQL authentication failures — one row per server, type, address, user and
 * 5-minute window, newest first (src/storage/queries/security.sql.ts, migration 0016).
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { listSecurityEvents, securityEventTypes } from '../../storage/queries/security.sql.js';
import { inReadSnapshot } from '../../storage/tx.js';
import {
  decodeTimeIdCursor,
  defaultReadTimeoutMs,
  encodeCursor,
  freeObject,
  parseTime,
  timePageProperties,
} from './read-support.js';
import { errorBody } from './schemas.js';

export interface SecurityEventRouteOptions {
  pool: pg.Pool;
}

const securityEventSchema = {
  type: 'object',
  required: ['id', 'serverId', 'type', 'sourceIp', 'username', 'windowStart', 'windowEnd', 'ts', 'count'],
  properties: {
    id: { type: 'string' },
    serverId: { type: 'integer' },
    serverName: { type: 'string' },
    type: { type: 'string', enum: securityEventTypes },
    sourceIp: { type: 'string', description: "the address the lines name ('' when none)" },
    username: {
      type: 'string',
      description:
        "the PostgreSQL user tried ('' for address-only events; SSH user names are in detail.users)",
    },
    windowStart: { type: 'string', description: 'start of the 5-minute window (ISO 8601)' },
    windowEnd: { type: 'string' },
    ts: { type: 'string', description: 'the newest line of the event in the window' },
    firstTs: { type: 'string', description: 'the oldest line of the event in the window' },
    count: { type: 'integer', description: 'attempts, bans or blocks in the window' },
    sampleLines: { type: 'array', items: { type: 'string' }, description: 'up to 5 log lines, newest first' },
    detail: { ...freeObject, description: 'users tried (SSH), databases (PostgreSQL), jails (fail2ban)' },
  },
} as const;

/** An IPv4 or IPv6 address, or a host name as PostgreSQL logs it: what the source_ip column holds. */
const ipPattern = /^[0-9A-Za-z:._%-]{1,100}$/;

export const securityEventRoutes: FastifyPluginAsync<SecurityEventRouteOptions> = async (app, { pool }) => {
  app.get<{
    Querystring: {
      server?: number;
      type?: string;
      ip?: string;
      from?: string;
      to?: string;
      limit?: number;
      cursor?: string;
    };
  }>(
    '/security-events',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Security events detected in the logs, newest first; filters combine',
        tags: ['findings'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            server: { type: 'integer', minimum: 1 },
            type: {
              type: 'string',
              maxLength: 200,
              description: `comma-separated: ${securityEventTypes.join(', ')}`,
            },
            ip: { type: 'string', maxLength: 100, description: 'the source address, exactly' },
            ...timePageProperties('newest line'),
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['events', 'nextCursor'],
            properties: {
              events: { type: 'array', items: securityEventSchema },
              nextCursor: { type: ['string', 'null'] },
            },
          },
          400: errorBody,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? 100;
      let types: string[] | undefined;
      if (q.type !== undefined && q.type !== '') {
        types = q.type.split(',').map((w) => w.trim());
        for (const t of types) {
          if (!(securityEventTypes as readonly string[]).includes(t)) {
            throw new PgvigilError(
              'BAD_ARGUMENT',
              `type: "${t.slice(0, 40)}" is not one of ${securityEventTypes.join(', ')}`,
            );
          }
        }
      }
      if (q.ip !== undefined && !ipPattern.test(q.ip)) {
        throw new PgvigilError('BAD_ARGUMENT', `ip: "${q.ip.slice(0, 40)}" is not an address`);
      }
      const from = parseTime('from', q.from);
      const to = parseTime('to', q.to);
      if (from && to && from >= to) throw new PgvigilError('BAD_ARGUMENT', 'from: must be before to');
      const key = q.cursor === undefined ? undefined : decodeTimeIdCursor('cursor', q.cursor);
      const before = key && { ts: key.ms, id: key.id };
      const rows = await inReadSnapshot(pool, defaultReadTimeoutMs, (c) =>
        listSecurityEvents(c, {
          serverId: q.server,
          types,
          ip: q.ip,
          from,
          to,
          before,
          limit: limit + 1,
        }),
      );
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        events: page.map(({ tsMs: _, ...e }) => e),
        nextCursor: rows.length > limit && last ? encodeCursor([last.tsMs, last.id]) : null,
      };
    },
  );
};

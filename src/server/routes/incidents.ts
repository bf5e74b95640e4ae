/**
 * Incidents (src/intelligence/incidents.ts, written by the incidents job): the list with filters
 * (viewer) and one incident with its members, cause chain, evidence, confidence and correlated series
 * (viewer). Read-only: incidents follow their findings (acknowledge or resolve those).
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { incidentById, incidentMembers, listIncidents } from '../../storage/queries/incidents.sql.js';
import { inReadSnapshot } from '../../storage/tx.js';
import {
  decodeTimeIdCursor,
  defaultReadTimeoutMs,
  encodeCursor,
  freeObject,
  nullableFreeObject,
  nullableInteger,
  nullableNumber,
  nullableString,
  parseTime,
  timePageProperties,
} from './read-support.js';
import { errorBody, numericIdParams } from './schemas.js';

export interface IncidentRouteOptions {
  pool: pg.Pool;
}

const severity = { type: 'string', enum: ['info', 'warning', 'critical'] } as const;

const incidentSchema = {
  type: 'object',
  required: ['id', 'serverId', 'state', 'openedAt', 'title', 'severity', 'members'],
  properties: {
    id: { type: 'string' },
    serverId: { type: 'integer' },
    serverName: nullableString,
    state: { type: 'string', enum: ['open', 'resolved'] },
    openedAt: { type: 'string' },
    resolvedAt: nullableString,
    title: { type: 'string' },
    severity,
    confidence: {
      ...nullableNumber,
      description: 'of the named cause, 0..1; null when no chain explains it',
    },
    cause: {
      ...nullableFreeObject,
      description:
        'chainId, name, chain (root → symptom: findingId, check, role, label, title), links, evidence, confidence, explanation, action',
    },
    correlated: {
      ...freeObject,
      description:
        'findings no chain explains and, for each, the strongest co-moving series of another member (Pearson r over one-minute steps)',
    },
    members: { type: 'integer', description: 'number of findings' },
    updatedAt: { type: 'string' },
  },
} as const;

const memberSchema = {
  type: 'object',
  required: ['role', 'finding'],
  properties: {
    role: { type: 'string', enum: ['cause', 'effect', 'symptom', 'correlated'] },
    addedAt: { type: 'string' },
    episodeOpenedAt: { type: 'string', description: 'when the finding’s episode that joined opened' },
    finding: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        check: { type: 'string' },
        kind: { type: 'string' },
        object: { type: 'string' },
        targetId: nullableInteger,
        targetName: nullableString,
        severity,
        state: { type: 'string' },
        title: { type: 'string' },
        explanation: { type: 'string' },
        action: { type: 'string' },
        openedAt: { type: 'string' },
        resolvedAt: nullableString,
      },
    },
  },
} as const;

/** Members listed with one incident. */
const maxMembers = 200;

export const incidentRoutes: FastifyPluginAsync<IncidentRouteOptions> = async (app, { pool }) => {
  app.get<{
    Querystring: {
      server?: number;
      state?: 'open' | 'resolved';
      from?: string;
      to?: string;
      limit?: number;
      cursor?: string;
    };
  }>(
    '/incidents',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Incidents, newest first: findings grouped with their named cause; filters combine',
        tags: ['findings'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            server: { type: 'integer', minimum: 1 },
            state: { type: 'string', enum: ['open', 'resolved'] },
            ...timePageProperties('open'),
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['incidents', 'nextCursor'],
            properties: { incidents: { type: 'array', items: incidentSchema }, nextCursor: nullableString },
          },
          400: errorBody,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? 100;
      const before = q.cursor === undefined ? undefined : decodeTimeIdCursor('cursor', q.cursor);
      const from = parseTime('from', q.from)?.getTime();
      const to = parseTime('to', q.to)?.getTime();
      if (from !== undefined && to !== undefined && from >= to) {
        throw new PgvigilError('BAD_ARGUMENT', 'from must be before to');
      }
      const rows = await inReadSnapshot(pool, defaultReadTimeoutMs, (c) =>
        listIncidents(c, {
          serverId: q.server,
          state: q.state,
          from,
          to,
          limit: limit + 1,
          before: before ? { openedAt: before.ms, id: before.id } : undefined,
        }),
      );
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        incidents: page.map(({ openedAtMs: _, ...r }) => r),
        nextCursor: rows.length > limit && last ? encodeCursor([last.openedAtMs, last.id]) : null,
      };
    },
  );

  app.get<{ Params: { id: number } }>(
    '/incidents/:id',
    {
      config: { role: 'viewer' },
      schema: {
        summary: `One incident with its findings (up to ${maxMembers}: cause first, then effects, symptom, correlated)`,
        tags: ['findings'],
        params: numericIdParams,
        response: {
          200: {
            type: 'object',
            required: ['incident', 'members'],
            properties: { incident: incidentSchema, members: { type: 'array', items: memberSchema } },
          },
          404: errorBody,
        },
      },
    },
    async (req) => {
      const id = String(req.params.id);
      return inReadSnapshot(pool, defaultReadTimeoutMs, async (c) => {
        const incident = await incidentById(c, id);
        if (!incident) throw new PgvigilError('NOT_FOUND', `no incident ${id}`);
        return { incident, members: await incidentMembers(c, id, maxMembers) };
      });
    },
  );
};

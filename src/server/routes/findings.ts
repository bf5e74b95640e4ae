/**
 * Findings (src/intelligence/): list and filter (viewer), one with its history (viewer), acknowledge,
 * silence, unsilence and resolve by hand (user), and the check catalogue with the thresholds in force
 * (viewer) and their overrides (admin).
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { parseDurationMs } from '../../duration.js';
import { PgvigilError } from '../../errors.js';
import { checkById, checks } from '../../intelligence/checks/index.js';
import type { FindingsEngine } from '../../intelligence/engine.js';
import { findingKinds, findingStates, severities } from '../../intelligence/model.js';
import { validateThresholds } from '../../intelligence/thresholds.js';
import {
  checkSettings,
  deleteCheckSetting,
  findingHistory,
  findingsByIds,
  listFindings,
  storeCheckSetting,
} from '../../storage/queries/findings.sql.js';
import { inReadSnapshot, inTransaction } from '../../storage/tx.js';
import {
  decodeCursor,
  defaultReadTimeoutMs,
  encodeCursor,
  freeObject,
  nullableInteger,
  nullableNumber,
  nullableString,
  parseTime,
} from './read-support.js';
import { durationString, errorBody, numericIdParams } from './schemas.js';

export interface FindingRouteOptions {
  pool: pg.Pool;
  engine: FindingsEngine;
}

const findingSchema = {
  type: 'object',
  required: ['id', 'key', 'check', 'serverId', 'kind', 'severity', 'title', 'state'],
  properties: {
    id: { type: 'string' },
    key: {
      type: 'string',
      description: 'check|server|target|object: the identity findings are de-duplicated by',
    },
    check: { type: 'string' },
    serverId: { type: 'integer' },
    serverName: nullableString,
    targetId: nullableInteger,
    targetName: nullableString,
    object: { type: 'string' },
    kind: { type: 'string', enum: findingKinds },
    severity: { type: 'string', enum: severities },
    title: { type: 'string' },
    explanation: { type: 'string' },
    evidence: freeObject,
    action: { type: 'string', description: 'the exact SQL or shell command that fixes it' },
    value: nullableNumber,
    state: { type: 'string', enum: findingStates },
    firstSeen: { type: 'string' },
    lastSeen: { type: 'string' },
    openedAt: { type: 'string' },
    resolvedAt: nullableString,
    resolvedReason: nullableString,
    silencedUntil: nullableString,
    acknowledgedBy: nullableString,
  },
} as const;

/** A comma-separated list of allowed words. */
function wordList(name: string, value: string | undefined, allowed: readonly string[]): string[] | undefined {
  if (value === undefined || value === '') return undefined;
  const words = value.split(',').map((w) => w.trim());
  for (const w of words) {
    if (!allowed.includes(w)) {
      throw new PgvigilError(
        'BAD_ARGUMENT',
        `${name}: "${w.slice(0, 40)}" is not one of ${allowed.join(', ')}`,
      );
    }
  }
  return words;
}

const checkIdParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

function knownCheck(id: string) {
  const c = checkById(id);
  if (!c) throw new PgvigilError('NOT_FOUND', `no check ${id.slice(0, 100)}`);
  return c;
}

export const findingRoutes: FastifyPluginAsync<FindingRouteOptions> = async (app, { pool, engine }) => {
  app.get<{
    Querystring: {
      state?: string;
      kind?: string;
      severity?: string;
      server?: number;
      target?: number;
      check?: string;
      from?: string;
      to?: string;
      limit?: number;
      cursor?: string;
    };
  }>(
    '/findings',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Findings, most recently changed first; filters combine',
        tags: ['findings'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            state: {
              type: 'string',
              maxLength: 100,
              description: 'comma-separated: open, acknowledged, silenced, resolved',
            },
            kind: { type: 'string', maxLength: 100, description: 'alert, recommendation' },
            severity: { type: 'string', maxLength: 100, description: 'info, warning, critical' },
            server: { type: 'integer', minimum: 1 },
            target: { type: 'integer', minimum: 1 },
            check: { type: 'string', maxLength: 100 },
            from: { type: 'string', maxLength: 40, description: 'changed at or after (ISO 8601 or ms)' },
            to: { type: 'string', maxLength: 40, description: 'changed before' },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
            cursor: { type: 'string', maxLength: 200 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['findings', 'nextCursor'],
            properties: { findings: { type: 'array', items: findingSchema }, nextCursor: nullableString },
          },
          400: errorBody,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? 100;
      let before: { updatedAt: number; id: string } | undefined;
      if (q.cursor !== undefined) {
        const c = decodeCursor('cursor', q.cursor);
        if (
          !Array.isArray(c) ||
          typeof c[0] !== 'number' ||
          typeof c[1] !== 'string' ||
          !/^\d{1,19}$/.test(c[1])
        ) {
          throw new PgvigilError('BAD_ARGUMENT', 'cursor: not a cursor this server returned');
        }
        before = { updatedAt: c[0], id: c[1] };
      }
      const rows = await inReadSnapshot(pool, defaultReadTimeoutMs, (c) =>
        listFindings(c, {
          states: wordList('state', q.state, findingStates),
          kinds: wordList('kind', q.kind, findingKinds),
          severities: wordList('severity', q.severity, severities),
          serverId: q.server,
          targetId: q.target,
          check: q.check,
          since: parseTime('from', q.from)?.getTime(),
          until: parseTime('to', q.to)?.getTime(),
          limit: limit + 1,
          before,
        }),
      );
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        findings: page,
        nextCursor: rows.length > limit && last ? encodeCursor([last.updatedAt, last.id]) : null,
      };
    },
  );

  app.get<{ Params: { id: number } }>(
    '/findings/:id',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'One finding with its history (newest first, up to 200 entries)',
        tags: ['findings'],
        params: numericIdParams,
        response: {
          200: {
            type: 'object',
            required: ['finding', 'history'],
            properties: {
              finding: findingSchema,
              history: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    ts: { type: 'string' },
                    event: { type: 'string' },
                    severity: { type: 'string' },
                    actor: nullableString,
                    detail: freeObject,
                  },
                },
              },
            },
          },
          404: errorBody,
        },
      },
    },
    async (req) => {
      const id = String(req.params.id);
      return inReadSnapshot(pool, defaultReadTimeoutMs, async (c) => {
        const [finding] = await findingsByIds(c, [id]);
        if (!finding) throw new PgvigilError('NOT_FOUND', `no finding ${id}`);
        return { finding, history: await findingHistory(c, id, 200) };
      });
    },
  );

  const act = (
    action: 'acknowledge' | 'silence' | 'unsilence' | 'resolve',
    summary: string,
    body?: Record<string, unknown>,
  ) =>
    app.post<{ Params: { id: number }; Body: { for?: string; until?: string } }>(
      `/findings/:id/${action}`,
      {
        config: { role: 'user' },
        schema: {
          summary,
          tags: ['findings'],
          params: numericIdParams,
          ...(body ? { body } : {}),
          response: {
            200: { type: 'object', properties: { finding: findingSchema } },
            400: errorBody,
            404: errorBody,
          },
        },
      },
      async (req) => {
        const id = String(req.params.id);
        let until: Date | undefined;
        if (action === 'silence') {
          const b = req.body ?? {};
          if ((b.for === undefined) === (b.until === undefined)) {
            throw new PgvigilError(
              'BAD_ARGUMENT',
              'give either "for" (a duration such as 2h) or "until" (a time)',
            );
          }
          until =
            b.until !== undefined
              ? parseTime('until', b.until)
              : new Date(Date.now() + parseDurationMs(b.for!)!);
          if (!until || until.getTime() <= Date.now() || until.getTime() > Date.now() + 90 * 86_400_000) {
            throw new PgvigilError('BAD_ARGUMENT', 'the silence must end in the future and within 90 days');
          }
        }
        if (!(await engine.act(id, action, req.user?.name ?? 'unknown', until))) {
          throw new PgvigilError('NOT_FOUND', `no unresolved finding ${id}`);
        }
        req.log.info({ finding: id, action, by: req.user?.name }, 'finding changed by hand');
        const [finding] = await findingsByIds(pool, [id]);
        return { finding };
      },
    );
  act('acknowledge', 'Acknowledge a finding: someone is on it (it is not delivered again when it escalates)');
  act('silence', 'Silence a finding until a time or for a while (nothing about it is delivered meanwhile)', {
    type: 'object',
    additionalProperties: false,
    properties: {
      for: { ...durationString, description: 'how long, such as 2h or 1d' },
      until: { type: 'string', maxLength: 40, description: 'until when (ISO 8601 or ms)' },
    },
  });
  act('unsilence', 'End a silence now');
  act('resolve', 'Resolve a finding by hand (it reopens if its check still holds)');

  const thresholdSpecSchema = {
    type: 'object',
    properties: {
      default: { type: 'number' },
      unit: { type: 'string' },
      help: { type: 'string' },
      min: { type: 'number' },
      max: { type: 'number' },
    },
  } as const;

  app.get(
    '/checks',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'The check catalogue: each check, its thresholds with defaults, and the overrides in force',
        tags: ['findings'],
        response: {
          200: {
            type: 'object',
            required: ['checks'],
            properties: {
              checks: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string' },
                    group: { type: 'string' },
                    kind: { type: 'string' },
                    mode: { type: 'string', enum: ['ingest', 'job'] },
                    title: { type: 'string' },
                    evidence: { type: 'string' },
                    action: { type: 'string' },
                    thresholds: { type: 'object', additionalProperties: thresholdSpecSchema },
                    offByDefault: {
                      ...nullableString,
                      description:
                        'why the check is off unless an override switches it on; null: on by default',
                    },
                    overrides: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          serverId: nullableInteger,
                          targetId: nullableInteger,
                          enabled: { type: 'boolean' },
                          thresholds: { type: 'object', additionalProperties: { type: 'number' } },
                          updatedBy: nullableString,
                          updatedAt: { type: 'string' },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    async () => {
      const settings = await checkSettings(pool);
      return {
        checks: checks.map((c) => ({
          id: c.id,
          group: c.group,
          kind: c.kind,
          mode: c.mode,
          title: c.title,
          evidence: c.doc.evidence,
          action: c.doc.action,
          thresholds: c.thresholds,
          offByDefault: c.offByDefault ?? null,
          overrides: settings.filter((s) => s.check === c.id),
        })),
      };
    },
  );

  const scopeProps = {
    serverId: { type: 'integer', minimum: 1, description: 'only on this server (default: every server)' },
    targetId: { type: 'integer', minimum: 1, description: 'only on this target of the server' },
  } as const;

  app.put<{
    Params: { id: string };
    Body: { serverId?: number; targetId?: number; enabled?: boolean; thresholds?: Record<string, unknown> };
  }>(
    '/checks/:id/settings',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Override a check’s thresholds or switch it off, globally, for a server or for one target',
        tags: ['findings'],
        params: checkIdParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...scopeProps,
            enabled: { type: 'boolean', default: true },
            thresholds: { type: 'object', maxProperties: 20, additionalProperties: { type: 'number' } },
          },
        },
        response: { 204: { type: 'null' }, 400: errorBody, 404: errorBody },
      },
    },
    async (req, reply) => {
      const check = knownCheck(req.params.id);
      const b = req.body ?? {};
      if (b.targetId !== undefined && b.serverId === undefined) {
        throw new PgvigilError('BAD_ARGUMENT', 'targetId needs serverId');
      }
      const thresholds = validateThresholds(check, b.thresholds ?? {});
      await inTransaction(pool, (c) =>
        storeCheckSetting(
          c,
          {
            check: check.id,
            serverId: b.serverId ?? null,
            targetId: b.targetId ?? null,
            enabled: b.enabled ?? true,
            thresholds,
          },
          req.user?.name ?? 'unknown',
        ),
      );
      await engine.refresh(true);
      req.log.info(
        { check: check.id, serverId: b.serverId, targetId: b.targetId, by: req.user?.name },
        'check settings changed',
      );
      return reply.status(204).send();
    },
  );

  app.delete<{ Params: { id: string }; Querystring: { serverId?: number; targetId?: number } }>(
    '/checks/:id/settings',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Remove an override (the next broader one, or the defaults, apply again)',
        tags: ['findings'],
        params: checkIdParams,
        querystring: { type: 'object', additionalProperties: false, properties: scopeProps },
        response: { 204: { type: 'null' }, 404: errorBody },
      },
    },
    async (req, reply) => {
      const check = knownCheck(req.params.id);
      const removed = await deleteCheckSetting(
        pool,
        check.id,
        req.query.serverId ?? null,
        req.query.targetId ?? null,
      );
      if (!removed) throw new PgvigilError('NOT_FOUND', `no override of ${check.id} there`);
      await engine.refresh(true);
      return reply.status(204).send();
    },
  );
};

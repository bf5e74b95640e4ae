/**
 * PostgreSQL views of one target (a monitored instance) of a server, under
 * /servers/:id/targets/:target/… — activity, statements, tables, indexes, replication (role viewer) and
 * settings (role user: values may hold secrets such as connection strings).
 *
 * Every family of one collection shares its ts, and every collection writes one `pg_instance` row and
 * one `pg_collector` row per family it ran. So "now" is the newest `pg_instance` row within `window`, the
 * families are read at exactly that ts, and a family the collection did not collect (failed, or not
 * enabled) is null with the reason — an empty list means "collected, and there were none".
 * Tables, indexes and settings are collected less often (settings only when they change), so those views
 * show the newest snapshot whatever its age, with its ts.
 *
 * Statement texts and the text of blocked statements are shown to roles user and admin only; viewers
 * get `query: null` with `queryRedacted: true`.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { type FamilySpec, postgresFamilies } from '../../protocol/families/index.js';
import {
  type CollectionFamily,
  collectionFamilies,
  familyRowsAt,
  indexesAt,
  newestInstance,
  newestTargetTs,
  type StatementOrder,
  settingsAt,
  statementOrders,
  summedFloat,
  summedInt,
  type TableOrder,
  tableOrders,
  tablesAt,
  topStatements,
} from '../../storage/queries/postgres-views.sql.js';
import {
  historyColumns,
  type StatementKey,
  statementHistory,
  statementIdentities,
  statementSparklines,
  statementStepSeconds,
  statementTexts,
} from '../../storage/queries/statements.sql.js';
import { inReadSnapshot } from '../../storage/tx.js';
import {
  ageSeconds,
  defaultReadTimeoutMs,
  familyProperties,
  iso,
  jsonRow,
  nullableBoolean,
  nullableInteger,
  nullableNumber,
  nullableString,
  type ReadRouteOptions,
  requireServer,
  requireTarget,
  serverIdParam,
  snapshotMeta,
  type TargetRef,
  targetParam,
  timeParam,
  timeRange,
  windowQuery,
} from './read-support.js';
import { errorBody } from './schemas.js';

type Row = Record<string, unknown>;
const f = postgresFamilies;

/** Whether the caller may read statement texts (user and admin). */
function mayReadQueries(req: FastifyRequest): boolean {
  const role = req.user?.role;
  return role === 'user' || role === 'admin';
}

interface Collection {
  ts: Date;
  /** ts as PostgreSQL prints it, passed back as is so microseconds survive. */
  key: string;
  up: boolean | null;
  error: string | null;
  serverVersion: string | null;
  inRecovery: boolean | null;
  /** Instance-wide families this collection ran: ok, or the reason it failed. */
  families: Map<string, { ok: boolean; error: string | null }>;
}

async function newestCollection(
  c: pg.PoolClient,
  serverId: number,
  targetId: number,
  windowS: number,
): Promise<Collection | null> {
  const r = await newestInstance(c, serverId, targetId, windowS);
  if (!r) return null;
  const st = await collectionFamilies(c, serverId, targetId, r.key);
  return {
    ts: r.ts,
    key: r.key,
    up: r.up,
    error: r.error,
    serverVersion: r.server_version,
    inRecovery: r.in_recovery,
    families: new Map(st.map((s) => [s.family, { ok: s.ok === true, error: s.error }])),
  };
}

/** The rows of a family at one collection, or null (with why) when that collection did not collect it. */
async function atCollection(
  c: pg.PoolClient,
  family: CollectionFamily,
  serverId: number,
  targetId: number,
  col: Collection,
  notCollected: Record<string, string>,
): Promise<Row[] | null> {
  const state = col.families.get(family);
  if (col.up !== true || !state?.ok) {
    notCollected[family] =
      col.up !== true
        ? `instance not reachable: ${col.error ?? 'unknown reason'}`
        : (state?.error ?? 'not collected (family disabled, or not available on this version)');
    return null;
  }
  const rows = await familyRowsAt(c, family, serverId, targetId, col.key);
  return rows.map(jsonRow);
}

function instanceView(col: Collection | null, now: number) {
  if (!col) return null;
  return {
    ts: col.ts.toISOString(),
    ageSeconds: ageSeconds(col.ts, now),
    up: col.up,
    error: col.error,
    serverVersion: col.serverVersion,
    inRecovery: col.inRecovery,
  };
}

/**
 * A blocker that does not wait itself is in no lock_waits row; when its transaction is among the oldest
 * ones, pg_xmin_holders of the same collection has its statement, role and application (keyed by pid).
 */
function blockerSessions(holders: Row[] | null, seeQueries: boolean): Map<number, Row> {
  const out = new Map<number, Row>();
  for (const h of holders ?? []) {
    if (h.holder !== 'session') continue;
    const pid = Number(h.ident);
    if (!Number.isSafeInteger(pid) || pid <= 0) continue;
    const hasText = typeof h.query === 'string';
    out.set(pid, {
      datname: h.datname ?? '',
      usename: h.usename ?? '',
      application_name: h.application_name ?? '',
      state: h.state ?? '',
      xact_age_s: typeof h.age_s === 'number' ? h.age_s : null,
      query: seeQueries ? (h.query ?? null) : null,
      queryRedacted: hasText && !seeQueries,
    });
  }
  return out;
}

// Schemas -----------------------------------------------------------------------------------------------

const targetParams = {
  type: 'object',
  required: ['id', 'target'],
  additionalProperties: false,
  properties: { id: serverIdParam, target: targetParam },
} as const;

const targetMeta = {
  serverId: { type: 'integer' },
  targetId: { type: 'integer' },
  target: { type: 'string', description: 'target name' },
} as const;

const instanceSchema = {
  type: ['object', 'null'],
  description: 'the newest collection within the window; null when there was none',
  properties: {
    ...snapshotMeta,
    up: nullableBoolean,
    error: nullableString,
    serverVersion: nullableString,
    inRecovery: nullableBoolean,
  },
} as const;

const notCollectedSchema = {
  type: 'object',
  additionalProperties: { type: 'string' },
  description: 'families that are null in this answer, with the reason',
} as const;

const rowsOrNull = (spec: FamilySpec, extra: Record<string, unknown> = {}, omit: string[] = []) => ({
  type: ['array', 'null'],
  description: `${spec.help} Null when the collection did not collect it (see notCollected).`,
  items: { type: 'object', properties: { ...familyProperties(spec, omit), ...extra } },
});

const queryTextProps = {
  query: { ...nullableString, description: 'statement text (roles user and admin only)' },
  queryRedacted: { type: 'boolean', description: 'true when the text exists but your role may not see it' },
} as const;

// Statements --------------------------------------------------------------------------------------------

const statementSchema = {
  type: 'object',
  required: ['queryid', 'dbid', 'userid', 'intervals', 'query', 'queryRedacted'],
  properties: {
    queryid: { type: 'string', description: 'query id (a 64-bit integer, as a string to keep every digit)' },
    dbid: { type: 'integer' },
    userid: { type: 'integer' },
    datname: nullableString,
    usename: nullableString,
    intervals: {
      type: 'integer',
      description: 'collection intervals in the range in which it made a top list',
    },
    covered_s: { ...nullableNumber, description: 'seconds those intervals cover' },
    first_ts: { type: 'string', description: 'end of the first such interval' },
    last_ts: { type: 'string', description: 'end of the last such interval' },
    total_time_ms: { ...nullableNumber, description: 'exec_time_ms + plan_time_ms' },
    mean_exec_time_ms: { ...nullableNumber, description: 'exec_time_ms / calls over the range' },
    io_blocks: {
      type: 'integer',
      description: 'blocks read and written (shared, local, temp): the io ranking',
    },
    ...Object.fromEntries(summedInt.map((n) => [n, { ...nullableInteger, description: `${n}, summed` }])),
    ...Object.fromEntries(summedFloat.map((n) => [n, { ...nullableNumber, description: `${n}, summed` }])),
    queryTruncated: nullableBoolean,
    ...queryTextProps,
    spark: {
      type: 'array',
      description:
        'with `spark`: total time (ms) per step as [step start in ms, value]; a step in which the statement made no top list is absent (unknown, not zero)',
      items: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 },
    },
  },
} as const;

const statementParams = {
  type: 'object',
  required: ['id', 'target', 'queryid'],
  additionalProperties: false,
  properties: {
    id: serverIdParam,
    target: targetParam,
    queryid: {
      type: 'string',
      pattern: '^-?[0-9]{1,20}$',
      description: 'query id (a 64-bit integer, as the statements list gives it)',
    },
  },
} as const;

const oidParam = (description: string) =>
  ({ type: 'integer', minimum: 0, maximum: 4_294_967_295, description }) as const;

const int8Min = -(2n ** 63n);
const int8Max = 2n ** 63n - 1n;
/** A query id from the path, in the 64-bit range (the pattern alone lets 20 digits past it). */
function checkedQueryId(text: string): string {
  const n = BigInt(text);
  if (n < int8Min || n > int8Max)
    throw new PgvigilError('BAD_ARGUMENT', `queryid ${text}: outside the 64-bit integer range`);
  return n.toString();
}

// Tables ------------------------------------------------------------------------------------------------

const bloatDescription =
  'ESTIMATE of the space dead rows take: table_bytes (heap, free space map, visibility map) × n_dead_tup / (n_live_tup + n_dead_tup). Both tuple counts are PostgreSQL estimates from pg_stat_user_tables; free space left by earlier vacuums is not counted, so real bloat can be larger. Null when the table has no tuples counted.';

/** The 200 schema of a view of a target's newest snapshot of a family: its rows under `key`. */
function snapshotResponse(key: string, family: FamilySpec, extra: Record<string, unknown> = {}) {
  return {
    type: 'object',
    required: ['ts', key],
    properties: {
      ...targetMeta,
      ts: nullableString,
      ageSeconds: nullableNumber,
      [key]: {
        type: 'array',
        items: { type: 'object', properties: { ...familyProperties(family), ...extra } },
      },
    },
  } as const;
}

/**
 * A target's newest snapshot of a family (tables, indexes, settings are sent whole): `read` gets the
 * snapshot's ts key; no snapshot at all is ts null and no rows, never an empty snapshot made up.
 */
async function newestSnapshot(
  c: pg.PoolClient,
  family: FamilySpec,
  serverId: number,
  t: TargetRef,
  key: string,
  read: (tsKey: string) => Promise<Row[]>,
) {
  const base = { serverId, targetId: t.targetId, target: t.name };
  const newest = await newestTargetTs(c, family, serverId, t.targetId);
  if (!newest) return { ...base, ts: null, ageSeconds: null, [key]: [] };
  const rows = await read(newest.key);
  return { ...base, ts: iso(newest.ts), ageSeconds: ageSeconds(newest.ts), [key]: rows.map(jsonRow) };
}

export const postgresRoutes: FastifyPluginAsync<ReadRouteOptions> = async (app, opts) => {
  const { pool } = opts;
  const timeoutMs = opts.readTimeoutMs ?? defaultReadTimeoutMs;

  /** Runs `fn` for an existing server and target (404 otherwise). */
  const forTarget = <T>(
    params: { id: number; target: string },
    fn: (c: pg.PoolClient, t: TargetRef) => Promise<T>,
  ): Promise<T> =>
    inReadSnapshot(pool, timeoutMs, async (c) => {
      await requireServer(c, params.id);
      return fn(c, await requireTarget(c, params.id, params.target));
    });

  app.get<{ Params: { id: number; target: string }; Querystring: { window: number } }>(
    '/servers/:id/targets/:target/activity',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'What a PostgreSQL instance is doing now: sessions, wait events, lock waits and blockers',
        tags: ['postgres'],
        params: targetParams,
        querystring: windowQuery,
        response: {
          200: {
            type: 'object',
            required: ['instance', 'sessions', 'waitEvents', 'lockWaits', 'blockers', 'notCollected'],
            properties: {
              ...targetMeta,
              instance: instanceSchema,
              summary: {
                type: ['object', 'null'],
                properties: {
                  processes: { type: 'integer' },
                  byState: {
                    type: 'object',
                    additionalProperties: { type: 'integer' },
                    description:
                      "processes by state; '(none)' for processes without one (background processes), '(hidden)' for those the agent's role may not see",
                  },
                  waiting: { type: 'integer', description: 'waiting for a heavyweight lock' },
                  blocked: { type: 'integer', description: 'blocked by another process' },
                  hidden: {
                    type: 'integer',
                    description:
                      "processes of other roles the agent's role may not see (it lacks pg_read_all_stats, which pg_monitor has): counted in processes, but whether they wait, are blocked or how old their transactions are is unknown, so they are in none of those figures",
                  },
                  idleInTransaction: { type: 'integer' },
                  longestTransactionS: nullableNumber,
                  longestQueryS: nullableNumber,
                },
              },
              sessions: rowsOrNull(f.pg_activity),
              waitEvents: rowsOrNull(f.pg_wait_events),
              lockWaits: rowsOrNull(
                f.pg_lock_waits,
                {
                  blocking_pids: {
                    type: 'array',
                    items: { type: 'integer' },
                    description: 'processes it waits for',
                  },
                  ...queryTextProps,
                },
                ['blocking_pids', 'query'],
              ),
              blockers: {
                type: ['array', 'null'],
                description:
                  'processes others wait for, most waiters first; a blocker that is not itself waiting is the head of its chain',
                items: {
                  type: 'object',
                  properties: {
                    pid: { type: 'integer' },
                    blocks: { type: 'integer', description: 'processes waiting for it directly' },
                    waiting: { type: 'boolean', description: 'it waits for another process itself' },
                    session: {
                      type: ['object', 'null'],
                      description:
                        'the blocker as a session holding the xmin horizon (pg_xmin_holders: the oldest few transactions of the collection); null when it is not among them — when it waits itself, its row in lockWaits tells the same',
                      properties: {
                        datname: { type: 'string' },
                        usename: { type: 'string' },
                        application_name: { type: 'string' },
                        state: { type: 'string', description: 'pg_stat_activity.state' },
                        xact_age_s: {
                          ...nullableNumber,
                          description: 'age of its open transaction, seconds',
                        },
                        ...queryTextProps,
                      },
                    },
                  },
                },
              },
              notCollected: notCollectedSchema,
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const seeQueries = mayReadQueries(req);
      return forTarget(req.params, async (c, t) => {
        const now = Date.now();
        const col = await newestCollection(c, req.params.id, t.targetId, req.query.window);
        const notCollected: Record<string, string> = {};
        const base = {
          serverId: req.params.id,
          targetId: t.targetId,
          target: t.name,
          instance: instanceView(col, now),
        };
        if (!col) {
          const reason = `no collection in the last ${req.query.window} s`;
          for (const n of ['pg_activity', 'pg_wait_events', 'pg_lock_waits']) notCollected[n] = reason;
          return {
            ...base,
            summary: null,
            sessions: null,
            waitEvents: null,
            lockWaits: null,
            blockers: null,
            notCollected,
          };
        }
        const { id } = req.params;
        const sessions = await atCollection(c, 'pg_activity', id, t.targetId, col, notCollected);
        const waitEvents = await atCollection(c, 'pg_wait_events', id, t.targetId, col, notCollected);
        const waits = await atCollection(c, 'pg_lock_waits', id, t.targetId, col, notCollected);
        const lockWaits =
          waits?.map((w) => {
            const blocking = String(w.blocking_pids ?? '')
              .split(',')
              .map((p) => Number(p.trim()))
              .filter((p) => Number.isInteger(p) && p > 0);
            const hasText = typeof w.query === 'string';
            return {
              ...w,
              pid: Number(w.pid),
              blocking_pids: blocking,
              query: seeQueries ? (w.query ?? null) : null,
              queryRedacted: hasText && !seeQueries,
            };
          }) ?? null;
        let blockers: Array<{ pid: number; blocks: number; waiting: boolean; session: Row | null }> | null =
          null;
        if (lockWaits) {
          const waitingPids = new Set(lockWaits.map((w) => w.pid));
          const counts = new Map<number, number>();
          for (const w of lockWaits) for (const p of w.blocking_pids) counts.set(p, (counts.get(p) ?? 0) + 1);
          const holders =
            counts.size === 0 ? null : await atCollection(c, 'pg_xmin_holders', id, t.targetId, col, {});
          const sessionsByPid = blockerSessions(holders, seeQueries);
          blockers = [...counts]
            .map(([pid, blocks]) => ({
              pid,
              blocks,
              waiting: waitingPids.has(pid),
              session: sessionsByPid.get(pid) ?? null,
            }))
            .sort((a, b) => b.blocks - a.blocks || a.pid - b.pid);
        }
        let summary = null;
        if (sessions) {
          const byState: Record<string, number> = {};
          let processes = 0;
          let waiting = 0;
          let blocked = 0;
          let hidden = 0;
          let longestTransactionS: number | null = null;
          let longestQueryS: number | null = null;
          const max = (a: number | null, b: unknown) =>
            typeof b === 'number' ? (a === null ? b : Math.max(a, b)) : a;
          for (const s of sessions) {
            const n = Number(s.count ?? 0);
            // Unknown waits mark the processes the agent's role may not see: their state is unknown too.
            const state = s.waiting === null ? '(hidden)' : String(s.state) || '(none)';
            byState[state] = (byState[state] ?? 0) + n;
            processes += n;
            // The agent reports waits of sessions its role cannot see as unknown (null), not 0.
            if (s.waiting === null) hidden += n;
            waiting += Number(s.waiting ?? 0);
            blocked += Number(s.blocked ?? 0);
            longestTransactionS = max(longestTransactionS, s.max_xact_age_s);
            longestQueryS = max(longestQueryS, s.max_query_age_s);
          }
          summary = {
            processes,
            byState,
            waiting,
            blocked,
            hidden,
            idleInTransaction:
              (byState['idle in transaction'] ?? 0) + (byState['idle in transaction (aborted)'] ?? 0),
            longestTransactionS,
            longestQueryS,
          };
        }
        return { ...base, summary, sessions, waitEvents, lockWaits, blockers, notCollected };
      });
    },
  );

  app.get<{
    Params: { id: number; target: string };
    Querystring: {
      from?: string;
      to?: string;
      order: StatementOrder;
      limit: number;
      datname?: string;
      spark: number;
      text: boolean;
    };
  }>(
    '/servers/:id/targets/:target/statements',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Top statements over a time range (pg_stat_statements deltas summed)',
        description:
          "Per (queryid, dbid, userid), the per-interval deltas of every collection interval whose end lies in (from, to], summed, ranked by `order`. The agent sends only each interval's top N statements (by time, calls and I/O), so a statement's sums cover the intervals in which it made a top list (`intervals`): they are lower bounds when it did not make every one. Default range: the last hour.",
        tags: ['postgres'],
        params: targetParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: timeParam('start of the range (exclusive)'),
            to: timeParam('end of the range (inclusive); default now'),
            order: { type: 'string', enum: statementOrders, default: 'total_time' },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 20 },
            datname: {
              type: 'string',
              minLength: 1,
              maxLength: 63,
              description: 'only statements of this database',
            },
            spark: {
              type: 'integer',
              minimum: 0,
              maximum: 240,
              default: 0,
              description:
                'with n > 0, each statement carries `spark`: its total time per step, in at most n steps (see sparkStepSeconds); 0: none',
            },
            text: {
              type: 'boolean',
              default: true,
              description:
                'false: no statement texts (`query` null) even for roles that may read them; a viewer never gets them',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['from', 'to', 'order', 'statements'],
            properties: {
              ...targetMeta,
              from: { type: 'string' },
              to: { type: 'string' },
              order: { type: 'string' },
              sparkStepSeconds: {
                ...nullableInteger,
                description: 'step of the sparklines (null without `spark`)',
              },
              statements: { type: 'array', items: statementSchema },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const { from, to } = timeRange(req.query, 3_600_000, 31 * 86_400_000);
      const { order, limit, spark } = req.query;
      const seeQueries = mayReadQueries(req);
      return forTarget(req.params, async (c, t) => {
        const serverId = req.params.id;
        const rows = await topStatements(c, {
          serverId,
          targetId: t.targetId,
          from,
          to,
          order,
          limit,
          datname: req.query.datname ?? null,
          withText: seeQueries && req.query.text,
        });
        let sparkStepSeconds: number | null = null;
        const sparks = new Map<string, [number, number][]>();
        const keyOf = (k: StatementKey) => `${k.queryid}/${k.dbid}/${k.userid}`;
        if (spark > 0 && rows.length > 0) {
          const range = { serverId, targetId: t.targetId, from, to };
          sparkStepSeconds = await statementStepSeconds(c, { ...range, steps: spark });
          const keys = rows.map((r) => ({
            queryid: String(r.queryid),
            dbid: Number(r.dbid),
            userid: Number(r.userid),
          }));
          for (const p of await statementSparklines(c, { ...range, stepSeconds: sparkStepSeconds, keys })) {
            const k = keyOf(p);
            const list = sparks.get(k) ?? [];
            list.push([p.step_ms, p.total_time_ms]);
            sparks.set(k, list);
          }
        }
        return {
          serverId,
          targetId: t.targetId,
          target: t.name,
          from: from.toISOString(),
          to: to.toISOString(),
          order,
          sparkStepSeconds,
          statements: rows.map((r) => {
            const { has_text, query_truncated, ...rest } = r;
            const k = keyOf({ queryid: String(r.queryid), dbid: Number(r.dbid), userid: Number(r.userid) });
            return {
              ...jsonRow(rest),
              queryTruncated: (query_truncated as boolean | null) ?? null,
              queryRedacted: has_text === true && !seeQueries,
              ...(spark > 0 ? { spark: sparks.get(k) ?? [] } : {}),
            };
          }),
        };
      });
    },
  );

  app.get<{
    Params: { id: number; target: string; queryid: string };
    Querystring: { from?: string; to?: string; dbid?: number; userid?: number; steps: number };
  }>(
    '/servers/:id/targets/:target/statements/:queryid',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "One statement's history over a time range: its deltas summed per step (no text)",
        description:
          'The per-interval deltas of a query id summed per step (steps aligned on the epoch, at least the usual collection interval long). Without dbid/userid every (database, role) the query id ran as is summed. A step in which it made no top list is absent: its values then are unknown, not zero. Rates: divide by `covered_s`, the seconds the summed intervals cover. The text is at …/text (role user).',
        tags: ['postgres'],
        params: statementParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: timeParam('start of the range (exclusive)'),
            to: timeParam('end of the range (inclusive); default now'),
            dbid: oidParam('only this database (oid)'),
            userid: oidParam('only this role (oid)'),
            steps: {
              type: 'integer',
              minimum: 1,
              maximum: 1000,
              default: 240,
              description: 'at most this many steps',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['queryid', 'from', 'to', 'stepSeconds', 'runsAs', 'steps'],
            properties: {
              ...targetMeta,
              queryid: { type: 'string' },
              from: { type: 'string' },
              to: { type: 'string' },
              stepSeconds: { type: 'integer' },
              runsAs: {
                type: 'array',
                description:
                  '(database, role) pairs the query id ran as in the range, with their newest names',
                items: {
                  type: 'object',
                  properties: {
                    dbid: { type: 'integer' },
                    userid: { type: 'integer' },
                    datname: nullableString,
                    usename: nullableString,
                  },
                },
              },
              steps: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    ts: { type: 'number', description: 'start of the step, ms since the epoch' },
                    intervals: { type: 'integer', description: 'collection intervals summed' },
                    covered_s: { type: 'number', description: 'seconds they cover' },
                    ...Object.fromEntries(
                      historyColumns.map((n) => [n, { ...nullableNumber, description: `${n}, summed` }]),
                    ),
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
      const queryid = checkedQueryId(req.params.queryid);
      const { from, to } = timeRange(req.query, 3_600_000, 31 * 86_400_000);
      return forTarget(req.params, async (c, t) => {
        const range = { serverId: req.params.id, targetId: t.targetId, from, to };
        const which = { queryid, dbid: req.query.dbid ?? null, userid: req.query.userid ?? null };
        const stepSeconds = await statementStepSeconds(c, { ...range, steps: req.query.steps });
        const steps = await statementHistory(c, { ...range, ...which, stepSeconds });
        const runsAs = await statementIdentities(c, { ...range, ...which });
        return {
          serverId: req.params.id,
          targetId: t.targetId,
          target: t.name,
          queryid,
          from: from.toISOString(),
          to: to.toISOString(),
          stepSeconds,
          runsAs: runsAs.map(({ queryid: _q, ...r }) => r),
          steps: steps.map(({ step_ms, ...r }) => ({ ts: step_ms, ...r })),
        };
      });
    },
  );

  app.get<{
    Params: { id: number; target: string; queryid: string };
    Querystring: { dbid?: number; userid?: number };
  }>(
    '/servers/:id/targets/:target/statements/:queryid/text',
    {
      config: { role: 'user' },
      schema: {
        summary: 'The text of a statement (role user: texts may hold names and literals)',
        description:
          'The normalised text the agent sent for the query id, one per (database, role) it ran as (narrowed by dbid/userid). A query id without a stored text gives an empty list.',
        tags: ['postgres'],
        params: statementParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            dbid: oidParam('only this database (oid)'),
            userid: oidParam('only this role (oid)'),
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['queryid', 'texts'],
            properties: {
              ...targetMeta,
              queryid: { type: 'string' },
              texts: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    dbid: { type: 'integer' },
                    userid: { type: 'integer' },
                    query: { type: 'string' },
                    truncated: nullableBoolean,
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
      const queryid = checkedQueryId(req.params.queryid);
      return forTarget(req.params, async (c, t) => {
        const texts = await statementTexts(c, {
          serverId: req.params.id,
          targetId: t.targetId,
          queryid,
          dbid: req.query.dbid ?? null,
          userid: req.query.userid ?? null,
        });
        return {
          serverId: req.params.id,
          targetId: t.targetId,
          target: t.name,
          queryid,
          texts: texts.map(({ queryid: _q, ...r }) => r),
        };
      });
    },
  );

  app.get<{
    Params: { id: number; target: string };
    Querystring: { datname?: string; order: TableOrder; limit: number };
  }>(
    '/servers/:id/targets/:target/tables',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Tables of a PostgreSQL target: size, dead tuples, vacuum and analyze times, bloat estimate',
        description:
          'The newest tables snapshot (whatever its age; see ts). The agent sends the largest tables of each database, capped per database. `dead_pct` is the dead-tuple ratio in %. `bloat_bytes_estimate` is an estimate: see its description.',
        tags: ['postgres'],
        params: targetParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            datname: { type: 'string', minLength: 1, maxLength: 63 },
            order: { type: 'string', enum: tableOrders, default: 'size' },
            limit: { type: 'integer', minimum: 1, maximum: 2000, default: 100 },
          },
        },
        response: {
          200: snapshotResponse('tables', f.pg_tables, {
            bloat_bytes_estimate: { ...nullableInteger, description: bloatDescription },
          }),
          '4xx': errorBody,
        },
      },
    },
    async (req) =>
      forTarget(req.params, (c, t) =>
        newestSnapshot(c, f.pg_tables, req.params.id, t, 'tables', async (tsKey) => {
          return tablesAt(c, {
            serverId: req.params.id,
            targetId: t.targetId,
            tsKey,
            datname: req.query.datname ?? null,
            order: req.query.order,
            limit: req.query.limit,
          });
        }),
      ),
  );

  app.get<{
    Params: { id: number; target: string };
    Querystring: { datname?: string; unused?: boolean; limit: number };
  }>(
    '/servers/:id/targets/:target/indexes',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Indexes of a PostgreSQL target: scans, size, unused and invalid ones',
        description:
          'The newest indexes snapshot, largest first. `unused=true`: only indexes never scanned since the statistics were reset that enforce neither uniqueness nor a primary key.',
        tags: ['postgres'],
        params: targetParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            datname: { type: 'string', minLength: 1, maxLength: 63 },
            unused: { type: 'boolean' },
            limit: { type: 'integer', minimum: 1, maximum: 2000, default: 100 },
          },
        },
        response: {
          200: snapshotResponse('indexes', f.pg_indexes),
          '4xx': errorBody,
        },
      },
    },
    async (req) =>
      forTarget(req.params, (c, t) =>
        newestSnapshot(c, f.pg_indexes, req.params.id, t, 'indexes', async (tsKey) => {
          return indexesAt(c, {
            serverId: req.params.id,
            targetId: t.targetId,
            tsKey,
            datname: req.query.datname ?? null,
            unused: req.query.unused,
            limit: req.query.limit,
          });
        }),
      ),
  );

  app.get<{ Params: { id: number; target: string }; Querystring: { window: number } }>(
    '/servers/:id/targets/:target/replication',
    {
      config: { role: 'viewer' },
      schema: {
        summary:
          'Replication of a PostgreSQL target now: standbys, slots with retained WAL, standby-side lag, logical replication subscriptions',
        tags: ['postgres'],
        params: targetParams,
        querystring: windowQuery,
        response: {
          200: {
            type: 'object',
            required: ['instance', 'standbys', 'slots', 'standby', 'subscriptions', 'notCollected'],
            properties: {
              ...targetMeta,
              instance: instanceSchema,
              standbys: rowsOrNull(f.pg_replication),
              slots: rowsOrNull(f.pg_replication_slots),
              standby: {
                type: ['object', 'null'],
                description:
                  'this instance as a standby (receiving side); null on a primary or when not collected',
                properties: familyProperties(f.pg_standby),
              },
              subscriptions: rowsOrNull(f.pg_subscriptions),
              notCollected: notCollectedSchema,
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) =>
      forTarget(req.params, async (c, t) => {
        const { id } = req.params;
        const col = await newestCollection(c, id, t.targetId, req.query.window);
        const notCollected: Record<string, string> = {};
        const base = {
          serverId: id,
          targetId: t.targetId,
          target: t.name,
          instance: instanceView(col, Date.now()),
        };
        if (!col) {
          const reason = `no collection in the last ${req.query.window} s`;
          for (const n of ['pg_replication', 'pg_replication_slots', 'pg_standby', 'pg_subscriptions'])
            notCollected[n] = reason;
          return { ...base, standbys: null, slots: null, standby: null, subscriptions: null, notCollected };
        }
        const standbys = await atCollection(c, 'pg_replication', id, t.targetId, col, notCollected);
        const slots = await atCollection(c, 'pg_replication_slots', id, t.targetId, col, notCollected);
        const standby = await atCollection(c, 'pg_standby', id, t.targetId, col, notCollected);
        const subscriptions = await atCollection(c, 'pg_subscriptions', id, t.targetId, col, notCollected);
        return { ...base, standbys, slots, standby: standby?.[0] ?? null, subscriptions, notCollected };
      }),
  );

  app.get<{ Params: { id: number; target: string } }>(
    '/servers/:id/targets/:target/settings',
    {
      config: { role: 'user' },
      schema: {
        summary:
          'Settings of a PostgreSQL target changed from their defaults (role user: values may hold secrets)',
        description:
          'The newest snapshot; the agent sends one when the settings change (and when it starts), so ts is when they were last seen changed.',
        tags: ['postgres'],
        params: targetParams,
        response: {
          200: snapshotResponse('settings', f.pg_settings),
          '4xx': errorBody,
        },
      },
    },
    async (req) =>
      forTarget(req.params, (c, t) =>
        newestSnapshot(c, f.pg_settings, req.params.id, t, 'settings', async (tsKey) => {
          return settingsAt(c, { serverId: req.params.id, targetId: t.targetId, tsKey });
        }),
      ),
  );
};

/**
 * GET /api/v1/fleet — the overview of every monitored server in one answer (role viewer): status, PostgreSQL
 * targets, findings that ask for attention, and sparklines. One request per view, never one per row: a
 * fixed number of set-based statements (servers, agents, targets, failing families, findings, pending
 * buckets, four series) whatever the number of servers, in one read snapshot with the read timeout.
 *
 * Server status (from what GET /servers computes, src/server/routes/servers.ts), first match wins:
 * - `silent`: no agent of the server ever delivered, or the newest delivery (newest `agents.last_seen_at`)
 *   is older than `silentAfterSeconds` (120 s); its other data is stale, so nothing else is claimed;
 * - `down`: a PostgreSQL target of the server is down (its newest `pg_instance` row within `window` says
 *   it could not be reached);
 * - `degraded`: a collector the agent reports failing, pushed configuration the agent refused, or a
 *   PostgreSQL family that failed in its newest collection;
 * - `ok` otherwise.
 * Target status: up, degraded (up, some families failing), down, unknown (no collection within `window`).
 *
 * Findings: counts by severity of findings in state open or acknowledged (silenced and resolved ones do not
 * ask for attention).
 *
 * Sparklines over `from`..`to` (default: the last hour; ISO 8601 or ms, as /series), at most ~60 steps:
 * the plan /series makes (storage/series.ts: tier by range and retention, the step being range / 60
 * rounded up to a round value), read for the whole fleet at once — with the minute tier instead of raw
 * rows when steps are a minute or longer (what /series?tier=minute gives); with one-minute steps the rolled
 * minutes come from the fleet's narrow per-minute tables, written from the minute tier as it is rolled.
 * A sparkline is one value per step of the answer's grid (value i: the step starting at from + i × step),
 * to four significant digits; a step without data, or whose value cannot be computed (an instance that was
 * down has no backends), is null — never 0. (One shared grid rather than [time, value] pairs: 1,000
 * servers' lines are 240,000 values, and pairs were two thirds of the answer and most of its cost.)
 * - cpu: busy % of all cores, 100 − idle_pct − iowait_pct (host_cpu, cpu=total; the agent computes the
 *   percentages from the counters' rates, so one sample never makes a value);
 * - memory: used % = 100 × (total − available) / total (host_memory);
 * - per target, connections: backends (pg_instance: server processes of any kind, pg_stat_activity rows);
 * - per target, tps: (xact_commit + xact_rollback) increase over the step, summed over databases, / step
 *   seconds (pg_database; counters' increases as /series gives them, reset-aware, none from one sample).
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { parseTimeText } from '../../protocol/batch.js';
import { defaultRetention, type RetentionPolicy } from '../../storage/partitions.js';
import {
  activeFindingCounts,
  type FleetLine,
  fleetMinuteLines,
  fleetSeries,
  fleetServers,
  fleetTails,
} from '../../storage/queries/fleet.sql.js';
import {
  planSeries,
  type SeriesPlan,
  type SeriesRequest,
  type Tails,
  tierResolutionSeconds,
} from '../../storage/series.js';
import { inReadSnapshot } from '../../storage/tx.js';
import { answerCoding, compressInOnePiece } from '../answer-coding.js';
import { cachedRetention } from '../settings.js';
import {
  defaultReadTimeoutMs,
  nullableNumber,
  nullableString,
  timeParam,
  windowParam,
} from './read-support.js';
import { errorBody } from './schemas.js';
import { describeServers, silentAfterSeconds } from './servers.js';

export interface FleetRouteOptions {
  pool: pg.Pool;
  /** Retention the server was started with; an admin's stored setting overrides it. */
  retention?: RetentionPolicy;
  readTimeoutMs?: number;
  /** The shared answer of the default view (see `FleetCache`); defaults: `defaultFleetCache`. */
  cache?: Partial<FleetCacheOptions>;
}

export const fleetStatuses = ['ok', 'degraded', 'silent', 'down'] as const;
type FleetStatus = (typeof fleetStatuses)[number];

/** Points per sparkline the step aims at (the step is rounded up, so there are at most this many + 1). */
export const sparklinePoints = 60;
export const defaultFleetLimit = 2000;
export const maxFleetLimit = 5000;
/** Servers a status filter looks through before `limit` applies: the status is computed, not stored. */
const maxStatusCandidates = 100_000;

const points = {
  type: 'array',
  description:
    'one value per step of the grid (from, stepSeconds), in time order; null for a step without data or without a computable value; empty when the line has no value at all',
  items: { type: ['number', 'null'] },
} as const;

const fleetTargetSchema = {
  type: 'object',
  required: ['targetId', 'name', 'status', 'serverVersion', 'connections', 'tps'],
  properties: {
    targetId: { type: 'integer' },
    name: { type: 'string' },
    status: {
      type: 'string',
      enum: ['up', 'degraded', 'down', 'unknown'],
      description:
        'newest collection in the window: up; up but some families failed: degraded; not reachable: down; none in the window: unknown',
    },
    serverVersion: nullableString,
    connections: { ...points, description: 'backends (pg_stat_activity rows), average per step' },
    tps: { ...points, description: 'transactions (commits + rollbacks) per second, all databases' },
  },
} as const;

const fleetServerSchema = {
  type: 'object',
  required: ['serverId', 'name', 'status', 'lastSeenAt', 'findings', 'targets', 'cpu', 'memory'],
  properties: {
    serverId: { type: 'integer' },
    name: { type: 'string' },
    status: {
      type: 'string',
      enum: fleetStatuses,
      description: `silent: never delivered or nothing for ${silentAfterSeconds} s; down: a PostgreSQL target is down; degraded: a collector, family or pushed config is failing; ok otherwise`,
    },
    lastSeenAt: { ...nullableString, description: 'newest delivery of its agents' },
    ageSeconds: nullableNumber,
    findings: {
      type: 'object',
      required: ['critical', 'warning', 'info'],
      description: 'findings open or acknowledged, by severity',
      properties: {
        critical: { type: 'integer' },
        warning: { type: 'integer' },
        info: { type: 'integer' },
      },
    },
    targets: { type: 'array', items: fleetTargetSchema },
    cpu: { ...points, description: 'busy % of all cores: 100 − idle − iowait' },
    memory: { ...points, description: 'used %: 100 × (total − available) / total' },
    agentless: { type: 'boolean', description: 'polled by the server itself: cpu and memory stay empty' },
    hostMetrics: { ...nullableString, description: '"agentless: no host metrics" for an agentless server' },
  },
} as const;

const querystring = {
  type: 'object',
  additionalProperties: false,
  properties: {
    q: {
      type: 'string',
      minLength: 1,
      maxLength: 200,
      description: 'case-insensitive substring of the server name or of one of its targets’ names',
    },
    status: {
      type: 'array',
      maxItems: fleetStatuses.length,
      items: { type: 'string', enum: fleetStatuses },
      description: 'only servers with this status; repeat it for several',
    },
    limit: { type: 'integer', minimum: 1, maximum: maxFleetLimit, default: defaultFleetLimit },
    from: timeParam('start of the sparklines; default: one hour before to'),
    to: timeParam('end (exclusive) of the sparklines; default: now'),
    window: windowParam,
  },
} as const;

const response200 = {
  type: 'object',
  required: ['tier', 'stepSeconds', 'from', 'to', 'truncated', 'asOf', 'servers'],
  properties: {
    tier: {
      type: 'string',
      enum: ['raw', 'minute', 'hourly', 'daily'],
      description: 'where sparklines come from',
    },
    stepSeconds: { type: 'integer' },
    from: { type: 'integer', description: 'start of the first step, ms' },
    to: { type: 'integer', description: 'end of the last step, ms' },
    truncated: { type: 'boolean', description: 'more servers matched than `limit`; narrow with q or status' },
    asOf: {
      type: 'integer',
      description:
        'when the answer was made, ms: the default view (no q, status, from, to, limit or window) is one answer shared by every viewer, at most `maxAgeMs` old (docs/api.md)',
    },
    servers: { type: 'array', items: fleetServerSchema },
  },
} as const;

interface FleetQuery {
  q?: string;
  status?: FleetStatus[];
  limit: number;
  from?: string;
  to?: string;
  window: number;
}

/** The view the overview opens with: every server, the last hour, nothing filtered. */
const defaultQuery: FleetQuery = { limit: defaultFleetLimit, window: windowParam.default };
const defaultWindow = windowParam.default;

export type FleetAnswer = {
  tier: string;
  stepSeconds: number;
  from: number;
  to: number;
  truncated: boolean;
  asOf: number;
  servers: unknown[];
};

export interface FleetCacheOptions {
  /** An answer younger than this is served as it is. */
  maxAgeMs: number;
  /** While the view was asked for within `keepWarmMs` (the start counts as asking), it is remade every `refreshMs`. */
  refreshMs: number;
  keepWarmMs: number;
}

export const defaultFleetCache: FleetCacheOptions = {
  maxAgeMs: 15_000,
  refreshMs: 10_000,
  keepWarmMs: 15 * 60_000,
};

/**
 * The default view's answer, shared. With a thousand servers an answer costs about half a second of the
 * server and the store; made per viewer and per refresh tick it would be most of their work, and the
 * overview would open in seconds. So the default view is made once for everyone: kept at most `maxAgeMs`
 * old (the collection interval is 10 s, so the newest sparkline step is what a fresh answer would show),
 * remade in the background every `refreshMs` while someone looked within `keepWarmMs` (the start counts),
 * and requests arriving while it is being made wait for that one making rather than starting their own.
 * A failed making is not kept: the next request tries again, and its error is that request's.
 * Filtered, searched or other-range views are made per request, as before.
 */
export class FleetCache {
  #make: () => Promise<FleetAnswer>;
  #opts: FleetCacheOptions;
  #made: MadeAnswer | undefined;
  #making: Promise<MadeAnswer> | undefined;
  #askedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /** `firstMs`: when the answer is first made, after start (the server settles first). */
  constructor(make: () => Promise<FleetAnswer>, opts: FleetCacheOptions, firstMs = 1_000) {
    this.#make = make;
    this.#opts = opts;
    // A server just started is likely looked at (a restart, a first run): warm from the start.
    this.#askedAt = Date.now();
    this.#schedule(firstMs);
  }

  async get(): Promise<MadeAnswer> {
    this.#askedAt = Date.now();
    const m = this.#made;
    if (m && Date.now() - m.answer.asOf <= this.#opts.maxAgeMs) return m;
    return this.#remake();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #remake(): Promise<MadeAnswer> {
    this.#making ??= this.#make()
      .then(async (answer) => {
        // Encoded once for all its requests: the JSON of a thousand servers is megabytes, and turning it
        // into text and gzip per request was most of a shared answer's cost (gzip on the thread pool).
        const made = madeAnswer(answer, JSON.stringify(answer));
        // Compressed before it is served, as the answer it replaces was asked for (at first, as the
        // dashboard's browsers ask): a request then finds it ready.
        await Promise.all((this.#made?.codings() ?? ['br']).map((c) => made.encoded(c)));
        this.#made = made;
        return made;
      })
      .finally(() => {
        this.#making = undefined;
      });
    return this.#making;
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      const warm = Date.now() - this.#askedAt <= this.#opts.keepWarmMs;
      const done = warm ? this.#remake().then(() => undefined) : Promise.resolve();
      // A store that is away now is the next request's error; the timer carries on.
      done.catch(() => undefined).finally(() => this.#schedule(this.#opts.refreshMs));
    }, delayMs);
    this.#timer.unref();
  }
}

/** A shared answer with its JSON text, and that text compressed once per coding asked for. */
export interface MadeAnswer {
  answer: FleetAnswer;
  json: string;
  encoded(coding: 'br' | 'gzip'): Promise<Buffer>;
  /** The codings it was compressed with so far. */
  codings(): Array<'br' | 'gzip'>;
}

function madeAnswer(answer: FleetAnswer, json: string): MadeAnswer {
  const encoded = new Map<'br' | 'gzip', Promise<Buffer>>();
  return {
    answer,
    json,
    encoded(coding) {
      let e = encoded.get(coding);
      if (!e) {
        // gzip at level 4: about 60 % of level 6's CPU for a 10 % larger answer (5.4 MB of fleet JSON).
        e = Promise.resolve(compressInOnePiece(json, coding, 4));
        encoded.set(coding, e);
      }
      return e;
    },
    codings: () => [...encoded.keys()],
  };
}

/** A sparkline: a value per step of the answer's grid, null for a gap. */
type Line = Array<number | null>;

/**
 * Sparklines per (server, target) key on the grid of `steps` steps from `from` (ms), `value` computing step
 * `i` of a line from its sums per metric (null: no value). A line without any value is left out.
 */
function byKey(
  lines: FleetLine[],
  grid: { from: number; stepMs: number; steps: number },
  value: (v: ReadonlyArray<ReadonlyArray<number | null>>, i: number) => number | null,
): Map<string, Line> {
  const out = new Map<string, Line>();
  for (const line of lines) {
    let list: Line | undefined;
    for (let i = 0; i < line.t.length; i++) {
      const v = value(line.values, i);
      const at = Math.round((line.t[i]! - grid.from) / grid.stepMs);
      // As /series: a step with nothing to show stays a gap (null), never 0.
      if (v === null || at < 0 || at >= grid.steps) continue;
      list ??= new Array<number | null>(grid.steps).fill(null);
      list[at] = sparklineValue(v);
    }
    if (list) out.set(`${line.serverId}:${line.targetId ?? ''}`, list);
  }
  return out;
}

/**
 * Four significant digits: a sparkline is a few dozen pixels high, and 1,000 servers' lines are 240,000
 * points, whose full float digits were half the answer's size.
 */
export function sparklineValue(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  // As Number(x.toPrecision(4)) but without a string per value (a third of the answer's time): a division
  // or product by an exact power of ten is correctly rounded, so it gives the double nearest the decimal.
  const digits = 3 - Math.floor(Math.log10(Math.abs(x)));
  if (digits > 22 || digits < -22) return Number(x.toPrecision(4));
  return digits >= 0
    ? Math.round(x * powersOfTen[digits]!) / powersOfTen[digits]!
    : Math.round(x / powersOfTen[-digits]!) * powersOfTen[-digits]!;
}

/** 10⁰ … 10²², every one exact as a double. */
const powersOfTen = Array.from({ length: 23 }, (_, i) => 10 ** i);

const finite = (x: number) => (Number.isFinite(x) ? x : null);
const clampPct = (x: number) => Math.min(100, Math.max(0, x));

export const fleetRoutes: FastifyPluginAsync<FleetRouteOptions> = async (app, opts) => {
  const retention = cachedRetention(opts.pool, opts.retention ?? defaultRetention);
  const timeoutMs = opts.readTimeoutMs ?? defaultReadTimeoutMs;

  /** The answer to `query` at `now`. */
  async function answer(query: FleetQuery, now: Date): Promise<FleetAnswer> {
    const { limit, window } = query;
    const wanted = query.status?.length ? new Set(query.status) : undefined;
    const policy = await retention();
    // One plan per family over the same range and step: planSeries parses from/to and picks the tier
    // exactly as /series does — except that where it would read raw rows with steps of a minute or more,
    // the minute tier is read (its rows are complete where raw rows were rolled; the tail comes from raw
    // rows all the same), so a fleet's hour costs one row per server and minute instead of six.
    // `server` is unused: the fleet plan names its servers below.
    const plan = (family: string, metrics: string, label?: string[]) => {
      const request: SeriesRequest = {
        family,
        metrics,
        server: 0,
        ...(label ? { label } : {}),
        ...(query.from !== undefined ? { from: query.from } : {}),
        ...(query.to !== undefined ? { to: query.to } : {}),
        step: String(Math.ceil(rangeSeconds(query.from, query.to, now) / sparklinePoints)),
      };
      const auto = planSeries(request, now, policy);
      return auto.tier === 'raw' && auto.stepSeconds >= tierResolutionSeconds.minute
        ? planSeries({ ...request, tier: 'minute' }, now, policy)
        : auto;
    };
    const plans = {
      cpu: plan('host_cpu', 'idle_pct,iowait_pct', ['cpu:total']),
      memory: plan('host_memory', 'total_bytes,available_bytes'),
      connections: plan('pg_instance', 'backends'),
      tps: plan('pg_database', 'xact_commit,xact_rollback'),
    };
    const { cpu: first } = plans;

    return inReadSnapshot(
      opts.pool,
      timeoutMs,
      async (c) => {
        const candidates = await fleetServers(c, query.q ?? null, wanted ? maxStatusCandidates : limit + 1);
        const described = candidates.length > 0 ? await describeServers(c, candidates, window) : [];
        const withStatus = described
          .map((s) => ({ s, status: fleetStatus(s) }))
          .filter((x) => !wanted || wanted.has(x.status));
        const truncated = withStatus.length > limit || candidates.length >= maxStatusCandidates;
        const kept = withStatus.slice(0, limit);
        const ids = kept.map((x) => x.s.serverId);
        const out = {
          tier: first.tier,
          stepSeconds: first.stepSeconds,
          from: first.from.getTime(),
          to: first.to.getTime(),
          truncated,
          asOf: now.getTime(),
          servers: [] as unknown[],
        };
        if (ids.length === 0) return out;

        const counts = await activeFindingCounts(c, ids);
        const tails = await fleetTails(c, ids, now);
        const lines = await readLines(c, plans, ids, tails);
        const stepS = first.stepSeconds;
        const grid = {
          from: first.from.getTime(),
          stepMs: stepS * 1000,
          steps: Math.round((first.to.getTime() - first.from.getTime()) / (stepS * 1000)),
        };
        const cpu = byKey(lines.cpu, grid, (v, i) => {
          const idle = v[0]![i];
          const iowait = v[1]![i];
          return idle == null || iowait == null ? null : clampPct(100 - idle - iowait);
        });
        const memory = byKey(lines.memory, grid, (v, i) => {
          const total = v[0]![i];
          const available = v[1]![i];
          return total == null || available == null || total <= 0
            ? null
            : finite(clampPct((100 * (total - available)) / total));
        });
        const connections = byKey(lines.connections, grid, (v, i) => v[0]![i] ?? null);
        const tps = byKey(lines.tps, grid, (v, i) => {
          const commit = v[0]![i];
          const rollback = v[1]![i];
          return commit == null || rollback == null ? null : (commit + rollback) / stepS;
        });

        const findings = new Map<number, { critical: number; warning: number; info: number }>();
        for (const r of counts) {
          const id = Number(r.server_id);
          const f = findings.get(id) ?? { critical: 0, warning: 0, info: 0 };
          findings.set(id, f);
          if (Object.hasOwn(f, r.severity)) f[r.severity] += r.count;
        }
        out.servers = kept.map(({ s, status }) => ({
          serverId: s.serverId,
          name: s.name,
          status,
          lastSeenAt: s.lastSeenAt,
          ageSeconds: s.ageSeconds,
          findings: findings.get(s.serverId) ?? { critical: 0, warning: 0, info: 0 },
          targets: s.targets.map((t) => ({
            targetId: t.targetId,
            name: t.name,
            status: t.status,
            serverVersion: t.serverVersion,
            connections: connections.get(`${s.serverId}:${t.targetId}`) ?? [],
            tps: tps.get(`${s.serverId}:${t.targetId}`) ?? [],
          })),
          cpu: cpu.get(`${s.serverId}:`) ?? [],
          memory: memory.get(`${s.serverId}:`) ?? [],
          agentless: s.agentless,
          hostMetrics: s.hostMetrics,
        }));
        return out;
      },
      first,
    );
  }

  const cache = new FleetCache(() => answer(defaultQuery, new Date()), {
    ...defaultFleetCache,
    ...opts.cache,
  });
  app.addHook('onClose', async () => cache.close());

  app.get<{ Querystring: FleetQuery }>(
    '/fleet',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Every server with its status, targets, findings and sparklines, in one answer',
        description:
          'For the overview page: one request for the whole fleet (ordered by name, up to `limit`). Status and sparkline definitions: docs/api.md.',
        tags: ['servers'],
        querystring,
        response: { 200: response200, '4xx': errorBody, '5xx': errorBody },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const isDefault =
        q.q === undefined &&
        !q.status?.length &&
        q.from === undefined &&
        q.to === undefined &&
        q.limit === defaultFleetLimit &&
        q.window === defaultWindow;
      if (!isDefault) return answer(q, new Date());
      const made = await cache.get();
      reply.type('application/json; charset=utf-8').header('vary', 'accept-encoding');
      // Sent as encoded once (a string or a Buffer passes fastify's serializer and the compression hook).
      const coding = answerCoding(req.headers['accept-encoding']);
      if (coding !== 'identity')
        return reply.header('content-encoding', coding).send(await made.encoded(coding));
      return reply.send(made.json);
    },
  );
};

type SparklinePlans = Record<'cpu' | 'memory' | 'connections' | 'tps', SeriesPlan>;

/**
 * The four sparklines' lines. With minute steps, the minutes the minute tier holds come from the fleet's
 * narrow tables (one small row per line and minute) and only the tail after them from /series' reading of
 * the families; other steps read the families throughout.
 */
async function readLines(
  c: pg.PoolClient,
  plans: SparklinePlans,
  ids: number[],
  tails: Tails,
): Promise<Record<keyof SparklinePlans, FleetLine[]>> {
  const read = (p: SeriesPlan) => fleetSeries(c, { ...p, serverIds: ids }, tails);
  const p = plans.cpu;
  if (p.tier !== 'minute' || p.stepSeconds !== tierResolutionSeconds.minute) {
    return {
      cpu: await read(plans.cpu),
      memory: await read(plans.memory),
      connections: await read(plans.connections),
      tps: await read(plans.tps),
    };
  }
  const split = Math.min(p.to.getTime(), Math.max(p.from.getTime(), tails.minute));
  const rolled = await fleetMinuteLines(c, ids, p.from, new Date(split));
  const pick = (lines: FleetLine[], a: number, b: number) =>
    lines.map((l) => ({ ...l, values: l.values.slice(a, b) }));
  const tail = async (q: SeriesPlan) => (split < q.to.getTime() ? read({ ...q, from: new Date(split) }) : []);
  return {
    cpu: joinLines(pick(rolled.host, 0, 2), await tail(plans.cpu)),
    memory: joinLines(pick(rolled.host, 2, 4), await tail(plans.memory)),
    connections: joinLines(pick(rolled.targets, 0, 1), await tail(plans.connections)),
    tps: joinLines(pick(rolled.targets, 1, 3), await tail(plans.tps)),
  };
}

/** Lines of the same server and target one after the other (`b`'s steps all after `a`'s). */
function joinLines(a: FleetLine[], b: FleetLine[]): FleetLine[] {
  const out = new Map<string, FleetLine>();
  for (const l of [...a, ...b]) {
    const k = `${l.serverId}:${l.targetId ?? ''}`;
    const have = out.get(k);
    if (!have) out.set(k, { ...l, t: [...l.t], values: l.values.map((v) => [...v]) });
    else {
      have.t.push(...l.t);
      for (let i = 0; i < l.values.length; i++) have.values[i]!.push(...l.values[i]!);
    }
  }
  return [...out.values()];
}

/** The fleet status of a described server (see the header for the order). */
function fleetStatus(s: { status: string; targets: Array<{ status: string }> }): FleetStatus {
  if (s.status === 'never-seen' || s.status === 'silent') return 'silent';
  if (s.targets.some((t) => t.status === 'down')) return 'down';
  return s.status === 'degraded' ? 'degraded' : 'ok';
}

/**
 * Length of the asked range in seconds, for the step. A malformed time counts as absent here; planSeries
 * then refuses it with its message.
 */
function rangeSeconds(from: string | undefined, to: string | undefined, now: Date): number {
  const t = (to !== undefined ? parseTimeText(to) : undefined) ?? now.getTime();
  const f = (from !== undefined ? parseTimeText(from) : undefined) ?? t - 3_600_000;
  return Math.max(1, (t - f) / 1000);
}

/**
 * Liveness (`/health`) and readiness (`/ready`), answered whatever the store does: what they say about the
 * store comes from the store watcher (storage/db.ts), never from a query that could wait on it. The one
 * query they run — the migration level — is skipped while the store is away and bounded by
 * `levelTimeoutMs` otherwise, falling back to the last level seen.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../../storage/db.js';
import { currentLevel } from '../../storage/migrate.js';
import { version } from '../../version.js';

interface HealthOptions {
  store: Store;
  latestMigration: number;
  /** How long the migration-level query may take (default 500 ms). */
  levelTimeoutMs?: number;
}

const storeSchema = {
  type: 'object',
  required: ['kind', 'postgresVersion', 'reachable', 'checkedAt', 'since'],
  properties: {
    kind: { type: 'string', enum: ['embedded', 'external'] },
    postgresVersion: { type: 'string' },
    reachable: { type: 'boolean' },
    checkedAt: { type: 'string', format: 'date-time' },
    since: { type: 'string', format: 'date-time' },
    error: { type: 'string' },
    readReplicas: {
      description:
        'The streaming standbys history reads may use (DATABASE_READ_URL), in their order there; absent without them. `lagMs`: how far behind the primary, as of the last probe (null: unknown).',
      type: 'array',
      items: {
        type: 'object',
        required: ['state', 'lagMs', 'reads'],
        properties: {
          state: { type: 'string', enum: ['starting', 'ready', 'lagging', 'down', 'not-a-standby'] },
          lagMs: { type: ['integer', 'null'] },
          reads: { type: 'integer' },
        },
      },
    },
  },
} as const;

const migrationsSchema = {
  type: 'object',
  required: ['level', 'latest'],
  properties: { level: { type: ['integer', 'null'] }, latest: { type: 'integer' } },
} as const;

const readySchema = {
  type: 'object',
  required: ['ready'],
  properties: { ready: { type: 'boolean' }, reason: { type: 'string' } },
} as const;

export const healthRoutes: FastifyPluginAsync<HealthOptions> = async (app, opts) => {
  const { store, latestMigration } = opts;
  const levelTimeoutMs = opts.levelTimeoutMs ?? 500;
  let lastLevel: number | null = await currentLevel(store.pool).catch(() => null);

  const replicas = store.readReplicas();
  const storeStatus = () => {
    const h = store.health();
    return {
      kind: store.kind,
      postgresVersion: store.serverVersion,
      reachable: h.reachable,
      checkedAt: h.checkedAt,
      since: h.since,
      ...(h.error ? { error: h.error } : {}),
      // States and lag only: the standbys' addresses and errors are for the log, not a public answer.
      ...(replicas.length > 0
        ? {
            readReplicas: store
              .readReplicas()
              .map((r) => ({ state: r.state, lagMs: r.lagMs, reads: r.reads })),
          }
        : {}),
    };
  };
  /** The migration level now, or the last one seen when the store is away or slow (null: never seen). */
  const level = async (): Promise<{ level: number | null; fresh: boolean }> => {
    if (!store.health().reachable) return { level: lastLevel, fresh: false };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), levelTimeoutMs);
    });
    const query = currentLevel(store.pool).catch(() => undefined);
    const lvl = await Promise.race([query, late]);
    clearTimeout(timer);
    if (lvl === undefined) return { level: lastLevel, fresh: false };
    lastLevel = lvl;
    return { level: lvl, fresh: true };
  };

  app.get(
    '/health',
    {
      config: { role: 'public', needsStore: false },
      schema: {
        summary: 'Liveness: the process answers; the store as the watcher last saw it',
        description:
          '`status` is "ok" when the store is reachable and "degraded" when it is not (`store.reachable` false, ' +
          '`store.error` says why). Always 200 while the process runs; answers within a second whatever the store does.',
        tags: ['meta'],
        response: {
          200: {
            type: 'object',
            required: ['status', 'version', 'store', 'migrations'],
            properties: {
              status: { type: 'string', enum: ['ok', 'degraded'] },
              version: { type: 'string' },
              store: storeSchema,
              migrations: migrationsSchema,
            },
          },
        },
      },
    },
    async () => {
      const s = storeStatus();
      return {
        status: s.reachable ? ('ok' as const) : ('degraded' as const),
        version,
        store: s,
        migrations: { level: (await level()).level, latest: latestMigration },
      };
    },
  );

  app.get(
    '/ready',
    {
      config: { role: 'public', needsStore: false },
      schema: {
        summary: 'Readiness: the store is reachable and at the migration level this server expects',
        tags: ['meta'],
        response: { '2xx': readySchema, 503: readySchema },
      },
    },
    async (_req, reply) => {
      const h = store.health();
      if (!h.reachable) {
        return reply.status(503).send({ ready: false, reason: `store unreachable: ${h.error ?? 'unknown'}` });
      }
      const lvl = await level();
      if (!lvl.fresh) return reply.status(503).send({ ready: false, reason: 'store did not answer in time' });
      if (lvl.level !== latestMigration) {
        return reply
          .status(503)
          .send({ ready: false, reason: `store at migration ${lvl.level}, expected ${latestMigration}` });
      }
      return { ready: true };
    },
  );
};

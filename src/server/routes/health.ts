import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../../storage/db.js';
import { currentLevel } from '../../storage/migrate.js';
import { version } from '../../version.js';

interface HealthOptions {
  store: Store;
  latestMigration: number;
}

const storeSchema = {
  type: 'object',
  required: ['kind', 'postgresVersion', 'reachable'],
  properties: {
    kind: { type: 'string', enum: ['embedded', 'external'] },
    postgresVersion: { type: 'string' },
    reachable: { type: 'boolean' },
    error: { type: 'string' },
  },
} as const;

const migrationsSchema = {
  type: 'object',
  required: ['level', 'latest'],
  properties: { level: { type: ['integer', 'null'] }, latest: { type: 'integer' } },
} as const;

/** Liveness (`/health`: the process answers, with what it runs on) and readiness (`/ready`: store usable). */
export const healthRoutes: FastifyPluginAsync<HealthOptions> = async (app, { store, latestMigration }) => {
  const storeStatus = () => {
    const h = store.health();
    return {
      kind: store.kind,
      postgresVersion: store.serverVersion,
      reachable: h.reachable,
      ...(h.error ? { error: h.error } : {}),
    };
  };
  const level = async (): Promise<number | null> => currentLevel(store.pool).catch(() => null);

  app.get(
    '/health',
    {
      config: { role: 'public' },
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['status', 'version', 'store', 'migrations'],
            properties: {
              status: { type: 'string', enum: ['ok'] },
              version: { type: 'string' },
              store: storeSchema,
              migrations: migrationsSchema,
            },
          },
        },
      },
    },
    async () => ({
      status: 'ok' as const,
      version,
      store: storeStatus(),
      migrations: { level: await level(), latest: latestMigration },
    }),
  );

  app.get(
    '/ready',
    {
      config: { role: 'public' },
      schema: {
        response: {
          '2xx': {
            type: 'object',
            required: ['ready'],
            properties: { ready: { type: 'boolean' }, reason: { type: 'string' } },
          },
          503: {
            type: 'object',
            required: ['ready'],
            properties: { ready: { type: 'boolean' }, reason: { type: 'string' } },
          },
        },
      },
    },
    async (_req, reply) => {
      const lvl = await level();
      if (lvl === null) return reply.status(503).send({ ready: false, reason: 'store unreachable' });
      if (lvl !== latestMigration) {
        return reply
          .status(503)
          .send({ ready: false, reason: `store at migration ${lvl}, expected ${latestMigration}` });
      }
      return { ready: true };
    },
  );
};

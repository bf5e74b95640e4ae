/**
 * The HTTP server: fastify with its plugins registered in this order —
 *   1. error handler (coded errors → status + JSON body; no stack traces to clients)
 *   2. role guard: a route without `config.role` cannot be registered (deny by default)
 *   3. route plugins under /api/v1, one file per resource in ./routes
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { isPgvigilError, PgvigilError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../storage/db.js';
import { roles } from './roles.js';
import { healthRoutes } from './routes/health.js';

export interface AppOptions {
  store: Store;
  log: Logger;
  /** Migration level the code knows, for health and readiness. */
  latestMigration: number;
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: opts.log.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    trustProxy: false,
  });

  app.setErrorHandler((err, req, reply) => {
    if (isPgvigilError(err)) {
      return reply.status(err.status).send({ error: { code: err.code, message: err.message } });
    }
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
      return reply
        .status(e.statusCode)
        .send({ error: { code: e.code ?? 'BAD_REQUEST', message: e.message ?? '' } });
    }
    req.log.error({ err }, 'request failed');
    return reply.status(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
  });

  app.addHook('onRoute', (route) => {
    const role = route.config?.role;
    if (role === undefined || !roles.includes(role)) {
      throw new PgvigilError(
        'ROUTE_ROLE_MISSING',
        `route ${String(route.method)} ${route.url} declares no role (config.role); every route must`,
      );
    }
  });

  await app.register(healthRoutes, {
    prefix: '/api/v1',
    store: opts.store,
    latestMigration: opts.latestMigration,
  });
  return app;
}

/**
 * The HTTP server: fastify with its plugins registered in this order —
 *   1. error handler (coded errors → status + JSON body; no stack traces to clients). Any error that
 *      means the store is away (`isConnectionError`), wherever it was thrown — a route, a job it calls,
 *      the credential lookups in the auth hooks — is 503 STORE_UNAVAILABLE with Retry-After, never 500
 *   2. request guard (./request-guard.ts): JSON bodies bounded in shape before anything walks them, a NUL
 *      in a query or path parameter refused; fastify's own 4xx mapped to documented codes; on the agent
 *      port (./agent-listener.ts) anything but agent routes is 404
 *   3. role guard: a route without `config.role` cannot be registered (deny by default); then
 *      @fastify/swagger, which collects the same routes for the OpenAPI document (./openapi.ts)
 *   4. store gate: while the store watcher reports the store away, every route that needs it answers
 *      503 at once (rather than waiting for connection timeouts); health and readiness keep answering
 *   5. user check: routes for viewer/user/admin need a signed-in user or API token of that role
 *      (agent routes check their agent credential themselves)
 *   6. HTTP metrics hook; response compression (@fastify/compress: brotli, gzip or deflate over 1 kB)
 *   7. route plugins under /api/v1, one file per resource in ./routes (ingest in its own context,
 *      because it replaces the body parsers); @fastify/websocket (for the live feed) goes before 5
 *   8. the dashboard (./web.ts), last and at the root: its `/*` wildcard answers what no route above
 *      claims (fastify prefers static and parametric routes), except under /api/, which keeps the JSON 404
 *
 * The findings engine (./findings.ts) is made here: ingest hands it every committed batch, the findings
 * routes act through it, and the findings job (started by ./run.ts) runs its job checks.
 * The notification delivery worker (intelligence/notify/worker.ts) starts when the app is ready and stops,
 * after its sends in flight, when it closes.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type Server as TlsServer } from 'node:tls';
import fastifyCompress from '@fastify/compress';
import fastifySwagger from '@fastify/swagger';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify';
import { isPgvigilError, PgvigilError } from '../errors.js';
import type { FindingsEngine } from '../intelligence/engine.js';
import { DeliveryWorker, type DeliveryWorkerOptions } from '../intelligence/notify/worker.js';
import { componentLogger, type Logger } from '../log.js';
import { SecretBox } from '../secrets.js';
import type { Store } from '../storage/db.js';
import { defaultRetention, type RetentionPolicy } from '../storage/partitions.js';
import { isConnectionError, storeRetryAfterSeconds, storeUnavailable } from '../storage/tx.js';
import { Registry } from '../telemetry/metrics.js';
import { type AgentListener, agentPortOnly, startAgentListener } from './agent-listener.js';
import { answerBrotliParams, compressFrom } from './answer-coding.js';
import { AgentAuthenticator } from './auth/agents.js';
import type { AgentCa } from './auth/ca.js';
import { signingKey } from './auth/sessions.js';
import { UserAuthenticator, userGuard } from './auth/users.js';
import { createFindingsEngine } from './findings.js';
import { IngestWriter, ingestMetrics, type WriterOptions } from './ingest/writer.js';
import { jobMetrics } from './jobs/runner.js';
import { lazySchemas } from './lazy-schemas.js';
import { defaultLiveLimits, LiveHub, type LiveOptions } from './live/hub.js';
import { liveMetrics } from './live/metrics.js';
import { announceWritten } from './live/notify.js';
import { openapiOptions } from './openapi.js';
import { clientErrorOf, parseJsonBody, refuseNulParameters } from './request-guard.js';
import { roles } from './roles.js';
import { adminRoutes } from './routes/admin.js';
import { agentlessRoutes } from './routes/agentless.js';
import { agentRoutes } from './routes/agents.js';
import { authRoutes } from './routes/auth.js';
import { baselineRoutes } from './routes/baselines.js';
import { channelRoutes, deliveryMetrics } from './routes/channels.js';
import { findingRoutes } from './routes/findings.js';
import { type FleetCacheOptions, fleetRoutes } from './routes/fleet.js';
import { gapRoutes } from './routes/gaps.js';
import { healthRoutes } from './routes/health.js';
import { incidentRoutes } from './routes/incidents.js';
import { defaultIngestLimits, type IngestLimits, ingestRoutes } from './routes/ingest.js';
import { liveRoutes } from './routes/live.js';
import { logPatternRoutes } from './routes/log-patterns.js';
import { logRoutes } from './routes/logs.js';
import { nodeRoutes } from './routes/nodes.js';
import { postgresRoutes } from './routes/postgres.js';
import { scrapeTargetRoutes } from './routes/scrape-targets.js';
import { securityEventRoutes } from './routes/security-events.js';
import { seriesRoutes } from './routes/series.js';
import { serverRoutes } from './routes/servers.js';
import { sloRoutes } from './routes/slos.js';
import { ServerScraper } from './scrape/scraper.js';
import { webRoutes } from './web.js';

export interface AppOptions {
  store: Store;
  log: Logger;
  /** Migration level the code knows, for health and readiness. */
  latestMigration: number;
  ingestLimits?: Partial<IngestLimits>;
  writerOptions?: WriterOptions;
  /** How long a credential check is cached (revocation delay). */
  credentialCacheMs?: number;
  /** Enrollment attempts allowed per client address: a steady rate and a burst. */
  enrollLimit?: { perSecond: number; burst: number };
  /** Sign-in attempts allowed per client address and per user name. */
  loginLimit?: { perSecond: number; burst: number };
  /** Retention the server was started with (an admin may override it through the API). */
  retention?: RetentionPolicy;
  tls?: ServerTls;
  /** The live feed (GET /api/v1/live): allowed browser origins, limits. */
  live?: LiveOptions;
  /** Evaluate the ingest checks on every accepted batch (default true; the findings job runs regardless). */
  findingsOnIngest?: boolean;
  /** Seals channel secrets; `startServer` passes the kept key. Without it, a key that dies with the process. */
  secrets?: SecretBox;
  /** Notification delivery tuning (retry delays, attempts, poll interval). */
  delivery?: Partial<Omit<DeliveryWorkerOptions, 'pool' | 'box' | 'log' | 'metrics'>>;
  /** The dashboard build to serve at / (default dist/web beside the compiled server). */
  webDir?: string;
  /** How the overview's default answer is shared and kept (GET /api/v1/fleet). */
  fleetCache?: Partial<FleetCacheOptions>;
  /** The agent CA (./auth/ca.ts): with `tls`, `listenAgents` opens the mutual-TLS agent port. */
  agentCa?: AgentCa;
  /** Lifetime of the agent certificates it issues (default 30 days). */
  agentCertificateLifetimeMs?: number;
  /** The clock ingest evaluations apply findings at (default the wall clock; `pgvigil replay` simulates one). */
  clock?: () => number;
}

/** HTTPS for the server; with `clientCa`, every client must present a certificate signed by it (mTLS). */
export interface ServerTls {
  cert: string;
  key: string;
  clientCa?: string;
  /** Lowest TLS version accepted on every port (default TLS 1.3; `--tls-min-version 1.2` allows 1.2). */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

function tlsOptions(tls: ServerTls) {
  return {
    cert: readFileSync(tls.cert),
    key: readFileSync(tls.key),
    minVersion: tls.minVersion ?? ('TLSv1.3' as const),
    ...(tls.clientCa ? { ca: readFileSync(tls.clientCa), requestCert: true, rejectUnauthorized: true } : {}),
  };
}

/**
 * The TLS files read again, for a certificate renewed in place: checked whole (a key that does not match
 * its certificate, a file half written) before anything changes, so a bad file leaves the running one.
 */
function reloadedTlsOptions(tls: ServerTls): ReturnType<typeof tlsOptions> {
  let o: ReturnType<typeof tlsOptions>;
  try {
    o = tlsOptions(tls);
    createSecureContext(o);
  } catch (err) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `TLS files not reloaded (${tls.cert}, ${tls.key}): ${(err as Error).message}; the running certificate stays`,
    );
  }
  return o;
}

export interface App {
  app: FastifyInstance;
  userAuth: UserAuthenticator;
  registry: Registry;
  writer: IngestWriter;
  engine: FindingsEngine;
  /** Sends queued notifications; `kick()` it after committing finding events. */
  delivery: DeliveryWorker;
  /** Server-side scrapes of application targets (run by the scrapes job and POST …/scrape). */
  scraper: ServerScraper;
  /**
   * Opens the agent port (./agent-listener.ts) once the app is ready; its URL. Needs `tls` and `agentCa`.
   * It closes with the app.
   */
  listenAgents(host: string, port: number): Promise<string>;
  /**
   * Reads the TLS certificate and key files again and serves them on every port from the next connection
   * (the server's SIGHUP); false without TLS. A bad file throws and changes nothing.
   */
  reloadTls(): boolean;
  /** Compiles the route schemas not used yet (./lazy-schemas.ts); the server calls it soon after listening. */
  compileSchemas(): Promise<void>;
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  return (await buildServerApp(opts)).app;
}

export async function buildServerApp(opts: AppOptions): Promise<App> {
  const schemas = lazySchemas();
  const app: FastifyInstance = Fastify({
    schemaController: { compilersFactory: schemas.compilersFactory },
    ...(opts.tls ? { https: tlsOptions(opts.tls) } : {}),
    loggerInstance: componentLogger(opts.log, 'http') as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    trustProxy: false,
    // A URL that cannot be decoded, or a path parameter over the length limit, is refused before routing.
    frameworkErrors: (err, _req, reply) => {
      const coded = clientErrorOf({ code: err.code, message: err.message, statusCode: 400 }, false);
      (reply as FastifyReply)
        .status(coded.status)
        .send({ error: { code: coded.code, message: coded.message } });
    },
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!.slice(0, 200);
    reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${path}` } });
  });

  app.setErrorHandler((err, req, reply) => {
    const e = err as { statusCode?: number; code?: string; message?: string };
    const clientError = e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500;
    if (!clientError && !isPgvigilError(err) && isConnectionError(err)) {
      req.log.warn({ err }, 'store unavailable for a request');
      return reply
        .status(503)
        .header('retry-after', String(storeRetryAfterSeconds))
        .send({ error: { code: 'STORE_UNAVAILABLE', message: storeUnavailable(err).message } });
    }
    if (isPgvigilError(err)) {
      if (err.code === 'STORE_UNAVAILABLE') reply.header('retry-after', String(storeRetryAfterSeconds));
      return reply.status(err.status).send({ error: { code: err.code, message: err.message } });
    }
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
      // fastify's own refusals (FST_* codes) never reach a client: each maps to a documented code.
      const coded = clientErrorOf(e, req.url.startsWith('/api/v1/ingest'));
      return reply.status(coded.status).send({ error: { code: coded.code, message: coded.message } });
    }
    req.log.error({ err }, 'request failed');
    return reply.status(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
  });

  // Every JSON body is bounded (depth, keys, strings, values) before validation or a handler walks it.
  // No route reads text/plain; without its parser such a body gets 415 instead of failing validation.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody);
  // Before any other hook: no credential lookup or query is made with a NUL in a parameter.
  app.addHook('onRequest', refuseNulParameters);
  // The agent port answers agent routes only, before any user check could look at a request there.
  app.addHook('onRequest', agentPortOnly);
  app.addHook('onRoute', (route) => {
    const role = route.config?.role;
    if (role === undefined || !roles.includes(role)) {
      throw new PgvigilError(
        'ROUTE_ROLE_MISSING',
        `route ${String(route.method)} ${route.url} declares no role (config.role); every route must`,
      );
    }
  });
  // Its onRoute hook collects the routes registered after it, which is all of them.
  await app.register(fastifySwagger, openapiOptions);

  // Before the user check: its onRequest hook marks upgrade requests, so that a refused handshake's socket
  // is closed after the answer.
  await app.register(fastifyWebsocket, {
    options: {
      maxPayload: { ...defaultLiveLimits, ...opts.live?.limits }.maxPayloadBytes,
      perMessageDeflate: false,
    },
  });
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.needsStore === false) return;
    const health = opts.store.health();
    if (!health.reachable) {
      throw new PgvigilError(
        'STORE_UNAVAILABLE',
        `the store is not reachable since ${health.since} (${health.error ?? 'unknown'}); retry later`,
      );
    }
  });
  const key = await signingKey(opts.store.pool);
  const userAuth = new UserAuthenticator(opts.store.pool, key, opts.credentialCacheMs);
  app.addHook('onRequest', userGuard(userAuth));

  const registry = new Registry();
  const http = registry.histogram(
    'pgvigil_http_request_duration_seconds',
    'HTTP request duration by route and status class.',
  );
  app.addHook('onResponse', async (req, reply) => {
    http.observe(reply.elapsedTime / 1000, {
      route: req.routeOptions.url ?? 'unmatched',
      status: `${Math.floor(reply.statusCode / 100)}xx`,
    });
  });
  const pool = opts.store.pool;
  registry
    .gauge('pgvigil_db_pool_busy_connections', 'Store connections in use.')
    .set(() => pool.totalCount - pool.idleCount);
  registry
    .gauge('pgvigil_db_pool_waiting', 'Requests waiting for a store connection.')
    .set(() => pool.waitingCount);

  // Answers over 1 kB compressed for clients that accept it (the fleet's 1,000 servers are megabytes of
  // JSON); the dashboard's assets come compressed already (web.ts sets Content-Encoding) and pass through.
  await app.register(fastifyCompress, {
    global: true,
    // Request bodies are not its business: ingest reads its gzip bodies itself, with its own limits.
    globalDecompression: false,
    threshold: compressFrom,
    // Brotli first, at quality 1: cheaper and smaller than gzip on JSON (src/server/answer-coding.ts);
    // browsers ask for it. gzip at level 4 for the clients that do not: about 60 % of level 6's CPU for a
    // 10 % larger answer (5.4 MB of fleet JSON: 76 vs 133 ms).
    encodings: ['br', 'gzip', 'deflate'],
    brotliOptions: { params: { ...answerBrotliParams } },
    zlibOptions: { level: 4 },
  });

  const metrics = ingestMetrics(registry);
  const live = new LiveHub({
    ...opts.live,
    storeUrl: opts.store.url,
    log: componentLogger(opts.log, 'live'),
    metrics: liveMetrics(registry),
  });
  const writer = new IngestWriter(pool, componentLogger(opts.log, 'ingest'), metrics, {
    ...opts.writerOptions,
    announce: announceWritten(live.metrics),
  });
  const auth = new AgentAuthenticator(pool, opts.credentialCacheMs);
  const box = opts.secrets ?? SecretBox.random();
  const delivery = new DeliveryWorker({
    ...opts.delivery,
    pool,
    box,
    log: componentLogger(opts.log, 'notify'),
    metrics: deliveryMetrics(registry),
  });
  const engine = createFindingsEngine({ pool, log: opts.log, registry, delivery, clock: opts.clock });
  const limits = { ...defaultIngestLimits, ...opts.ingestLimits };

  await app.register(healthRoutes, {
    prefix: '/api/v1',
    store: opts.store,
    latestMigration: opts.latestMigration,
  });
  await app.register(agentRoutes, {
    prefix: '/api/v1',
    pool,
    auth,
    enrollLimit: opts.enrollLimit,
    ca: opts.agentCa,
    certificateLifetimeMs: opts.agentCertificateLifetimeMs,
  });
  await app.register(ingestRoutes, {
    prefix: '/api/v1',
    pool,
    auth,
    writer,
    metrics,
    registry,
    limits,
    engine: opts.findingsOnIngest === false ? undefined : engine,
  });
  await app.register(liveRoutes, {
    prefix: '/api/v1',
    hub: live,
    allowedOrigins: opts.live?.allowedOrigins ?? [],
    userAuth,
    recheckMs: opts.live?.recheckMs,
  });
  await app.register(authRoutes, { prefix: '/api/v1', pool, key, userAuth, loginLimit: opts.loginLimit });
  await app.register(adminRoutes, {
    prefix: '/api/v1',
    pool,
    userAuth,
    retention: opts.retention ?? defaultRetention,
  });
  // The read API: servers, node metrics, PostgreSQL views, logs, gaps.
  for (const routes of [serverRoutes, nodeRoutes, postgresRoutes, logRoutes, gapRoutes]) {
    await app.register(routes, { prefix: '/api/v1', pool });
  }
  await app.register(findingRoutes, { prefix: '/api/v1', pool, engine });
  await app.register(incidentRoutes, { prefix: '/api/v1', pool });
  await app.register(channelRoutes, {
    prefix: '/api/v1',
    pool,
    box,
    worker: delivery,
    lookup: opts.delivery?.lookup,
  });
  await app.register(agentlessRoutes, { prefix: '/api/v1', pool, box });
  await app.register(securityEventRoutes, { prefix: '/api/v1', pool });
  await app.register(logPatternRoutes, { prefix: '/api/v1', pool });
  await app.register(sloRoutes, { prefix: '/api/v1', pool });
  await app.register(baselineRoutes, { prefix: '/api/v1', pool });
  const scraper = new ServerScraper({
    pool,
    writer,
    registry,
    log: componentLogger(opts.log, 'scrape'),
    engine: opts.findingsOnIngest === false ? undefined : engine,
  });
  await app.register(scrapeTargetRoutes, { prefix: '/api/v1', pool, scraper });
  await app.register(seriesRoutes, {
    prefix: '/api/v1',
    pool,
    retention: opts.retention ?? defaultRetention,
  });
  await app.register(fleetRoutes, {
    prefix: '/api/v1',
    pool,
    retention: opts.retention ?? defaultRetention,
    ...(opts.fleetCache ? { cache: opts.fleetCache } : {}),
  });
  app.get(
    '/api/v1/openapi.json',
    {
      config: { role: 'public', needsStore: false },
      schema: { summary: 'This API as an OpenAPI 3.1 document', tags: ['meta'] },
    },
    async () => app.swagger(),
  );
  const jobStats = jobMetrics(registry);
  app.get(
    '/metrics',
    {
      config: { role: 'viewer' },
      schema: { summary: 'The server’s own metrics in the Prometheus text format', tags: ['meta'] },
    },
    async (_req, reply) => {
      await jobStats.refresh(pool).catch(() => {});
      reply.type('text/plain; version=0.0.4; charset=utf-8');
      return registry.render();
    },
  );
  await app.register(webRoutes, { webDir: opts.webDir, log: componentLogger(opts.log, 'web') });
  app.addHook('onReady', async () => delivery.start());
  let agentListener: AgentListener | undefined;
  const listenAgents = async (host: string, port: number): Promise<string> => {
    if (!opts.tls || !opts.agentCa) {
      throw new PgvigilError('BAD_ARGUMENT', 'the agent port needs TLS (--tls-cert, --tls-key)');
    }
    await app.ready();
    agentListener = await startAgentListener(app, {
      cert: opts.tls.cert,
      key: opts.tls.key,
      caCertificate: opts.agentCa.certificatePem,
      minVersion: opts.tls.minVersion ?? 'TLSv1.3',
      host,
      port,
    });
    return agentListener.url;
  };
  app.addHook('onClose', async () => {
    await agentListener?.close();
    await delivery.stop();
    await live.close();
    await writer.drain();
    await engine.idle();
  });
  const reloadTls = (): boolean => {
    if (!opts.tls) return false;
    const o = reloadedTlsOptions(opts.tls);
    (app.server as unknown as TlsServer).setSecureContext(o);
    agentListener?.setCertificate(o.cert, o.key);
    return true;
  };
  return {
    app,
    registry,
    writer,
    userAuth,
    engine,
    delivery,
    scraper,
    listenAgents,
    reloadTls,
    compileSchemas: () => schemas.compileAll(),
  };
}

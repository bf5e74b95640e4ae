/**
 * Serves the built dashboard (web/, built by `npm run build` into dist/web/) at `/`.
 *
 * At registration the whole build is read into memory — bounded: at most `maxFiles` files and `maxBytes`
 * in all — and every compressible file is gzip-compressed once. Brotli (quality 11, most of a second of a
 * core for the build) waits until the server listens, so it does not compete with the rest of start-up for
 * the CPU; it runs on the thread pool, and gzip is offered until a file's brotli variant is whole (a
 * variant is only put in place complete). The first request for a file of the build starts it too, for an
 * app that is only ever injected into and never listens. After that the plugin never
 * touches the disk: a request path is only ever a key looked up in that map (exact match, no path
 * normalisation), so `..`, encoded separators or a NUL cannot reach a file outside the build; symbolic
 * links in the build are not followed.
 *
 * Routes (public, answered without the store, hidden from the OpenAPI document):
 * - `/assets/*`: the hashed bundles; cached for a year as immutable, strong ETag, 304 on If-None-Match.
 *   A missing asset is the JSON 404 (never index.html, which a browser would try to run as a script).
 * - `/*`: a top-level file of the build (favicon …) with a short cache; every other path answers
 *   index.html with `no-cache` because the app routes in the browser (/servers/3/host, /findings …), with
 *   404 when its first segment is none of the app's pages' (`dashboardSections`).
 *   Paths under /api/ keep the JSON 404. Routes the app registers itself (/metrics, /api/v1/…) win over
 *   the wildcard: fastify prefers static and parametric routes.
 * Every answer carries a strict Content-Security-Policy (no inline script or style; `connect-src 'self'`
 * also covers ws:/wss: to the same host for the live feed, per CSP Level 3 as Chromium implements it).
 * Without a build, the dashboard paths answer 503 DASHBOARD_NOT_BUILT and the API works as before.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, gzipSync, constants as zlibConstants } from 'node:zlib';
import {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  errorCodes as fastifyErrors,
} from 'fastify';
import { PgvigilError } from '../errors.js';
import type { Logger } from '../log.js';

export interface WebOptions {
  /** The build directory; default dist/web beside the compiled server. */
  webDir?: string;
  log: Logger;
  maxFiles?: number;
  maxBytes?: number;
}

/** From dist/src/server/web.js, `../../web/` is dist/web/. */
export const defaultWebDir = fileURLToPath(new URL('../../web/', import.meta.url));

export const webLimits = { maxFiles: 200, maxBytes: 20 * 1024 * 1024 };

export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

const securityHeaders = {
  'content-security-policy': contentSecurityPolicy,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const immutable = 'public, max-age=31536000, immutable';
const shortCache = 'public, max-age=300';

const contentTypes: Record<string, { type: string; compress: boolean }> = {
  html: { type: 'text/html; charset=utf-8', compress: true },
  js: { type: 'text/javascript; charset=utf-8', compress: true },
  mjs: { type: 'text/javascript; charset=utf-8', compress: true },
  css: { type: 'text/css; charset=utf-8', compress: true },
  json: { type: 'application/json; charset=utf-8', compress: true },
  map: { type: 'application/json; charset=utf-8', compress: true },
  webmanifest: { type: 'application/manifest+json; charset=utf-8', compress: true },
  svg: { type: 'image/svg+xml', compress: true },
  txt: { type: 'text/plain; charset=utf-8', compress: true },
  ico: { type: 'image/x-icon', compress: true },
  png: { type: 'image/png', compress: false },
  jpg: { type: 'image/jpeg', compress: false },
  webp: { type: 'image/webp', compress: false },
  woff2: { type: 'font/woff2', compress: false },
  woff: { type: 'font/woff', compress: false },
};

type Coding = 'br' | 'gzip' | 'identity';

interface Variant {
  body: Buffer;
  etag: string;
}

interface WebFile {
  type: string;
  variants: Partial<Record<Coding, Variant>> & { identity: Variant };
  /** Whether more than one coding exists (then every answer says Vary: Accept-Encoding). */
  varies: boolean;
}

export type WebBuild =
  | {
      ok: true;
      files: Map<string, WebFile>;
      /**
       * Starts making the brotli variants (at most once; later calls return the same promise), which settles
       * when every one is made. It never rejects: a variant that failed is not offered.
       */
      compress(): Promise<void>;
    }
  | { ok: false; reason: string };

function typeOf(name: string): { type: string; compress: boolean } {
  const dot = name.lastIndexOf('.');
  const ext = dot < 0 ? '' : name.slice(dot + 1).toLowerCase();
  return Object.hasOwn(contentTypes, ext)
    ? contentTypes[ext]!
    : { type: 'application/octet-stream', compress: false };
}

const brotli = promisify(brotliCompress);

/** The file with its identity and gzip variants, and, for a compressible one, how to add its brotli variant. */
function prepare(name: string, body: Buffer): { file: WebFile; brotli?: () => Promise<void> } {
  const { type, compress } = typeOf(name);
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 27);
  const variants: WebFile['variants'] = { identity: { body, etag: `"${hash}"` } };
  if (!compress || body.length <= 256) return { file: { type, variants, varies: false } };
  // A coding is kept only where it saves something.
  const gz = gzipSync(body, { level: 9 });
  if (gz.length < body.length) variants.gzip = { body: gz, etag: `"${hash}-gz"` };
  const file: WebFile = { type, variants, varies: true };
  // Brotli at its best quality takes about a second per 650 kB: on the thread pool, once started (see the
  // header). The variant is set only once the whole compressed body exists.
  const makeBrotli = () =>
    brotli(body, {
      params: {
        [zlibConstants.BROTLI_PARAM_QUALITY]: 11,
        [zlibConstants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    })
      .then((br) => {
        if (br.length < body.length) variants.br = { body: br, etag: `"${hash}-br"` };
      })
      .catch(() => {});
  return { file, brotli: makeBrotli };
}

/**
 * Reads the build into memory, or says why there is none (in words fit for an anonymous client: no path;
 * the server log names the directory). Never follows a symbolic link.
 */
export function loadWebBuild(dir: string, limits = webLimits): WebBuild {
  const read: Array<{ name: string; body: Buffer }> = [];
  let bytes = 0;
  try {
    if (!lstatSync(join(dir, 'index.html'), { throwIfNoEntry: false })?.isFile()) {
      return {
        ok: false,
        reason: 'the dashboard was not built (its build directory has no index.html); run `npm run build`',
      };
    }
    const walk = (rel: string, depth: number): string | undefined => {
      for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
        const name = rel === '' ? entry.name : `${rel}/${entry.name}`;
        if (entry.isDirectory()) {
          if (depth >= 4) continue;
          const err = walk(name, depth + 1);
          if (err) return err;
        } else if (entry.isFile()) {
          if (read.length >= limits.maxFiles) return `more than ${limits.maxFiles} files`;
          const body = readFileSync(join(dir, name));
          bytes += body.length;
          if (bytes > limits.maxBytes) return `more than ${limits.maxBytes} bytes`;
          read.push({ name, body });
        }
      }
      return undefined;
    };
    const over = walk('', 0);
    if (over) {
      return {
        ok: false,
        reason: `the dashboard build is not usable (${over}); rebuild it with \`npm run build\``,
      };
    }
  } catch (err) {
    return {
      ok: false,
      reason: `the dashboard build cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    };
  }
  const files = new Map<string, WebFile>();
  const pending: Array<() => Promise<void>> = [];
  for (const { name, body } of read) {
    const prepared = prepare(name, body);
    files.set(name, prepared.file);
    if (prepared.brotli) pending.push(prepared.brotli);
  }
  let compressed: Promise<void> | undefined;
  const compress = () => {
    compressed ??= Promise.all(pending.map((make) => make())).then(() => undefined);
    return compressed;
  };
  return { ok: true, files, compress };
}

/** The preferred coding the client accepts (q > 0) among those the file has: br, then gzip, else identity. */
export function chooseCoding(acceptEncoding: string | undefined, have: ReadonlySet<Coding>): Coding {
  if (!acceptEncoding) return 'identity';
  const accepted = new Map<string, number>();
  for (const part of acceptEncoding.slice(0, 512).split(',')) {
    const [token, ...params] = part.trim().toLowerCase().split(';');
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) q = Number(m[1]);
    }
    if (token) accepted.set(token, Number.isFinite(q) ? q : 0);
  }
  const ok = (c: string) => (accepted.get(c) ?? accepted.get('*') ?? 0) > 0;
  if (have.has('br') && ok('br')) return 'br';
  if (have.has('gzip') && (ok('gzip') || ok('x-gzip'))) return 'gzip';
  return 'identity';
}

function matches(ifNoneMatch: string, file: WebFile): boolean {
  if (ifNoneMatch.trim() === '*') return true;
  const tags = new Set(Object.values(file.variants).map((v) => (v as Variant).etag));
  return ifNoneMatch
    .slice(0, 2048)
    .split(',')
    .some((t) => tags.has(t.trim().replace(/^W\//, '')));
}

function send(
  req: FastifyRequest,
  reply: FastifyReply,
  file: WebFile,
  cacheControl: string,
  status: 200 | 404 = 200,
) {
  const have = new Set(Object.keys(file.variants) as Coding[]);
  const coding = chooseCoding(req.headers['accept-encoding'], have);
  const variant = file.variants[coding] ?? file.variants.identity;
  reply.headers(securityHeaders).header('cache-control', cacheControl).header('etag', variant.etag);
  if (file.varies) reply.header('vary', 'Accept-Encoding');
  const inm = req.headers['if-none-match'];
  if (status === 200 && typeof inm === 'string' && matches(inm, file)) return reply.status(304).send();
  if (coding !== 'identity') reply.header('content-encoding', coding);
  return reply.status(status).type(file.type).send(variant.body);
}

/**
 * The first path segments of the dashboard's pages (the `routes` of web/src/main.tsx; a test keeps the two
 * alike). Their paths answer index.html with 200. Any other path answers it too, and the app shows its
 * "There is no page at …", but with 404: a probe or a script that asks for a path pgvigil does not have
 * (`/health`, `/healthz`, `/status`) is told so instead of getting a page that looks like an answer.
 */
export const dashboardSections: ReadonlySet<string> = new Set([
  '',
  'servers',
  'logs',
  'findings',
  'settings',
]);

function isApiPath(path: string): boolean {
  return path === 'api' || path.startsWith('api/');
}

/** The dashboard routes (see the header). Register after the API routes, at the root (no prefix). */
export async function webRoutes(app: FastifyInstance, opts: WebOptions): Promise<void> {
  const dir = opts.webDir ?? defaultWebDir;
  const build = loadWebBuild(dir.endsWith('/') ? dir : `${dir}/`, {
    maxFiles: opts.maxFiles ?? webLimits.maxFiles,
    maxBytes: opts.maxBytes ?? webLimits.maxBytes,
  });
  let startBrotli = () => {};
  if (build.ok) {
    opts.log.debug({ dir, files: build.files.size }, 'dashboard loaded');
    startBrotli = () => {
      startBrotli = () => {};
      void build.compress().then(() => opts.log.debug({ dir }, 'dashboard compressed with brotli'));
    };
    // Not awaited: listening goes on while the thread pool compresses.
    app.addHook('onListen', async () => startBrotli());
  } else {
    opts.log.warn({ dir, reason: build.reason }, 'dashboard not served');
  }
  const notBuilt = () => {
    throw new PgvigilError('DASHBOARD_NOT_BUILT', build.ok ? undefined : build.reason);
  };
  const maxParamLength = app.initialConfig.maxParamLength ?? 100;
  const route = { config: { role: 'public', needsStore: false }, schema: { hide: true } } as const;

  app.get<{ Params: { '*': string } }>('/assets/*', route, async (req, reply) => {
    if (!build.ok) return notBuilt();
    const file = build.files.get(`assets/${req.params['*']}`);
    if (!file) return reply.callNotFound();
    startBrotli();
    return send(req, reply, file, immutable);
  });

  app.get<{ Params: { '*': string } }>('/*', route, async (req, reply) => {
    const path = req.params['*'];
    if (isApiPath(path)) {
      // Only the wildcard saved the router from its over-long-parameter refusal: keep that answer (400).
      if (path.split('/').some((segment) => segment.length > maxParamLength)) {
        throw new fastifyErrors.FST_ERR_MAX_PARAM_LENGTH(`/${path.slice(0, 200)}`);
      }
      return reply.callNotFound();
    }
    if (!build.ok) return notBuilt();
    const index = build.files.get('index.html')!;
    const file = path === '' || path.startsWith('assets/') ? undefined : build.files.get(path);
    startBrotli();
    if (file && file !== index) return send(req, reply, file, shortCache);
    const page = file === index || dashboardSections.has(path.split('/', 1)[0]!);
    return send(req, reply, index, 'no-cache', page ? 200 : 404);
  });
}

/** The dashboard served by the app (src/server/web.ts), in-process on a real store, over a fixture build. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { errorCodes } from '../src/errors.js';
import { buildApp } from '../src/server/app.js';
import { contentSecurityPolicy, dashboardSections, loadWebBuild } from '../src/server/web.js';
import { openStore, type Store } from '../src/storage/db.js';
import { migrate } from '../src/storage/migrate.js';
import { packageRoot } from '../src/version.js';
import { createTestDatabase, quietLog, type TestDatabase } from './helpers/db.js';

const fixtureWebDir = `${packageRoot}/test/fixtures/web`;

let db: TestDatabase;
let store: Store;
let app: FastifyInstance;
let unbuilt: FastifyInstance;
let latest: number;

before(async () => {
  db = await createTestDatabase('web');
  store = await openStore({ databaseUrl: db.url, log: quietLog });
  latest = (await migrate(store.pool, quietLog)).latest;
  app = await buildApp({ store, log: quietLog, latestMigration: latest, webDir: fixtureWebDir });
  unbuilt = await buildApp({
    store,
    log: quietLog,
    latestMigration: latest,
    webDir: join(tmpdir(), 'pgvigil-no-such-build'),
  });
});

after(async () => {
  await app.close();
  await unbuilt.close();
  await store.close();
  await db.drop();
});

const get = (url: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'GET', url, headers });

test('hashed_assets_are_cached_for_a_year_as_immutable_with_a_strong_etag_and_304', async () => {
  const res = await get('/assets/app-abc123.js');
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
  const etag = String(res.headers.etag);
  assert.match(etag, /^"[A-Za-z0-9_-]{20,}"$/, 'a strong ETag');
  assert.match(res.body, /securitypolicyviolation/);
  const again = await get('/assets/app-abc123.js', { 'if-none-match': etag });
  assert.equal(again.statusCode, 304);
  assert.equal(again.body, '');
  assert.equal(again.headers.etag, etag);
  const other = await get('/assets/app-abc123.js', { 'if-none-match': '"something-else"' });
  assert.equal(other.statusCode, 200);
  const css = await get('/assets/app-abc123.css');
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
});

test('answers_are_compressed_by_accept_encoding_with_vary', async () => {
  const plain = await get('/assets/app-abc123.js');
  // Brotli variants are made in the background after start-up, file by file; until then gzip is offered.
  const brotliOf = async (url: string) => {
    let res = await get(url, { 'accept-encoding': 'gzip, deflate, br' });
    for (let i = 0; i < 250 && res.headers['content-encoding'] !== 'br'; i++) {
      assert.equal(res.headers['content-encoding'], 'gzip', url);
      await new Promise((r) => setTimeout(r, 20));
      res = await get(url, { 'accept-encoding': 'gzip, deflate, br' });
    }
    return res;
  };
  const br = await brotliOf('/assets/app-abc123.js');
  await brotliOf('/');
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(br.headers.vary, 'Accept-Encoding');
  assert.equal(brotliDecompressSync(br.rawPayload).toString(), plain.body);
  assert.ok(br.rawPayload.length < plain.rawPayload.length);
  assert.notEqual(br.headers.etag, plain.headers.etag, 'each coding has its own strong ETag');
  const gz = await get('/assets/app-abc123.js', { 'accept-encoding': 'gzip, br;q=0' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(gz.rawPayload).toString(), plain.body);
  const none = await get('/assets/app-abc123.js', { 'accept-encoding': 'identity' });
  assert.equal(none.headers['content-encoding'], undefined);
  assert.equal(none.headers.vary, 'Accept-Encoding');
  const html = await get('/', { 'accept-encoding': 'br' });
  assert.equal(html.headers['content-encoding'], 'br');
  assert.match(brotliDecompressSync(html.rawPayload).toString(), /<title>pgvigil fixture<\/title>/);
});

test('brotli_waits_until_the_server_listens_then_runs_without_a_request', async () => {
  const messages: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      messages.push((JSON.parse(String(chunk)) as { msg: string }).msg);
      done();
    },
  });
  const compressedLog = 'dashboard compressed with brotli';
  const listening = await buildApp({
    store,
    log: pino({ level: 'debug' }, sink),
    latestMigration: latest,
    webDir: fixtureWebDir,
  });
  try {
    await listening.ready();
    // The fixture compresses in milliseconds once started: a quarter of a second shows it did not start.
    await new Promise((r) => setTimeout(r, 250));
    assert.ok(messages.includes('dashboard loaded'));
    assert.ok(!messages.includes(compressedLog), 'brotli started before the server listened');
    await listening.listen({ host: '127.0.0.1', port: 0 });
    for (let i = 0; i < 500 && !messages.includes(compressedLog); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(messages.includes(compressedLog), 'brotli did not run once the server listened');
    const res = await listening.inject({
      method: 'GET',
      url: '/assets/app-abc123.js',
      headers: { 'accept-encoding': 'br' },
    });
    assert.equal(res.headers['content-encoding'], 'br', 'the first answer after compression is brotli');
  } finally {
    await listening.close();
  }
});

test('every_dashboard_answer_carries_the_strict_csp_and_security_headers', async () => {
  for (const url of ['/', '/findings', '/assets/app-abc123.js', '/favicon.svg']) {
    const res = await get(url);
    assert.equal(res.statusCode, 200, url);
    assert.equal(res.headers['content-security-policy'], contentSecurityPolicy, url);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', url);
    assert.equal(res.headers['referrer-policy'], 'no-referrer', url);
    assert.equal(res.headers['x-frame-options'], 'DENY', url);
  }
  assert.match(contentSecurityPolicy, /script-src 'self';/);
  assert.doesNotMatch(contentSecurityPolicy, /unsafe/);
});

test('app_paths_answer_index_html_uncached_and_top_level_files_briefly_cached', async () => {
  for (const url of [
    '/',
    '/servers/3/host',
    '/findings?severity=critical',
    '/settings/users',
    '/index.html',
  ]) {
    const res = await get(url);
    assert.equal(res.statusCode, 200, url);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8', url);
    assert.equal(res.headers['cache-control'], 'no-cache', url);
    assert.match(res.body, /<script type="module" src="\/assets\/app-abc123.js">/, url);
  }
  const icon = await get('/favicon.svg');
  assert.equal(icon.headers['content-type'], 'image/svg+xml');
  assert.equal(icon.headers['cache-control'], 'public, max-age=300');
  const head = await app.inject({ method: 'HEAD', url: '/servers/3/host' });
  assert.equal(head.statusCode, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-type'], 'text/html; charset=utf-8');
  const headAsset = await app.inject({ method: 'HEAD', url: '/assets/app-abc123.js' });
  assert.equal(headAsset.statusCode, 200);
  assert.equal(headAsset.body, '');
});

test('paths_that_are_no_page_of_the_app_answer_its_page_with_404', async () => {
  for (const url of ['/health', '/healthz', '/status', '/server/3', '/findingsx', '/etc/passwd']) {
    const res = await get(url);
    assert.equal(res.statusCode, 404, url);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8', url);
    assert.equal(res.headers['cache-control'], 'no-cache', url);
    assert.match(res.body, /<title>pgvigil fixture/, url);
    // Never a 304 for a 404, whatever the client holds.
    const again = await app.inject({
      method: 'GET',
      url,
      headers: { 'if-none-match': String(res.headers.etag) },
    });
    assert.equal(again.statusCode, 404, url);
  }
});

test('the_server_knows_the_first_segment_of_every_page_the_app_routes', () => {
  const main = readFileSync(`${packageRoot}/web/src/main.tsx`, 'utf8');
  const patterns = [...main.matchAll(/pattern: '([^']*)'/g)].map((m) => m[1]!);
  assert.ok(patterns.length >= 5, 'the routes of web/src/main.tsx are read');
  assert.deepEqual(
    new Set(patterns.map((p) => p.split('/')[1] ?? '')),
    new Set(dashboardSections),
    'dashboardSections (src/server/web.ts) and the routes of web/src/main.tsx name the same sections',
  );
});

test('api_paths_missing_assets_and_other_methods_keep_the_json_404_and_app_routes_win', async () => {
  for (const url of ['/api/v1/nope', '/api', '/api/', '/api/v2/servers', '/assets/app-missing.js']) {
    const res = await get(url);
    assert.equal(res.statusCode, 404, url);
    assert.equal(res.json().error.code, 'NOT_FOUND', url);
  }
  const post = await app.inject({ method: 'POST', url: '/findings', payload: {} });
  assert.equal(post.statusCode, 404);
  const health = await get('/api/v1/health');
  assert.equal(health.json().store.reachable, true);
  const metrics = await get('/metrics');
  assert.equal(metrics.statusCode, 401, 'the metrics route answers, not the dashboard');
  const doc = (await get('/api/v1/openapi.json')).json() as { paths: Record<string, unknown> };
  assert.deepEqual(
    Object.keys(doc.paths).filter((p) => !p.startsWith('/api/v1/') && p !== '/metrics'),
    [],
    'the dashboard routes are not in the API document',
  );
});

test('path_traversal_never_leaves_the_in_memory_build', async () => {
  for (const url of [
    '/assets/../../etc/passwd',
    '/assets/..%2f..%2fetc%2fpasswd',
    '/assets/%2e%2e/%2e%2e/etc/passwd',
    '/assets/..\\..\\etc\\passwd',
    '/assets/app-abc123.js%00.html',
    '/assets//etc/passwd',
    '/assets/%2fetc%2fpasswd',
    '/../../etc/passwd',
    '/..%2f..%2fetc%2fpasswd',
    '/%2e%2e%2fpackage.json',
    '/..%2f..%2f..%2fpackage.json',
    '/etc/passwd',
  ]) {
    const res = await get(url);
    assert.doesNotMatch(res.body, /root:|"name": "pgvigil"/, url);
    if (res.statusCode === 200 || res.headers['content-type'] === 'text/html; charset=utf-8') {
      // A URL the client normalised, or any path outside /assets/, is the app's page (404 when no page of it).
      assert.match(res.body, /<title>pgvigil fixture/, url);
    } else {
      assert.ok([400, 404].includes(res.statusCode), `${url}: ${res.statusCode}`);
      assert.ok(Object.hasOwn(errorCodes, res.json().error.code), url);
    }
  }
  const nul = await get('/settings%00/users');
  assert.equal(nul.statusCode, 400);
  assert.equal(nul.json().error.code, 'BAD_ARGUMENT');
});

test('without_a_build_the_dashboard_answers_503_and_the_api_keeps_working', async () => {
  for (const url of ['/', '/servers/3/host', '/assets/app-abc123.js']) {
    const res = await unbuilt.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 503, url);
    assert.equal(res.json().error.code, 'DASHBOARD_NOT_BUILT', url);
    assert.match(res.json().error.message, /not built .*npm run build/, url);
    assert.doesNotMatch(res.json().error.message, /pgvigil-no-such-build/, 'no server path to clients');
  }
  assert.equal((await unbuilt.inject({ method: 'GET', url: '/api/v1/nope' })).statusCode, 404);
  const health = await unbuilt.inject({ method: 'GET', url: '/api/v1/health' });
  assert.equal(health.statusCode, 200);
});

test('a_build_over_the_file_or_size_bound_is_refused_and_symlinks_are_not_followed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-web-'));
  try {
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>x</title>');
    writeFileSync(join(dir, 'a.txt'), 'x'.repeat(1000));
    symlinkSync('/etc/passwd', join(dir, 'passwd'));
    const ok = loadWebBuild(`${dir}/`);
    assert.ok(ok.ok);
    assert.deepEqual([...ok.files.keys()].sort(), ['a.txt', 'index.html']);
    const tooMany = loadWebBuild(`${dir}/`, { maxFiles: 1, maxBytes: 1e6 });
    assert.ok(!tooMany.ok && /more than 1 files/.test(tooMany.reason));
    const tooBig = loadWebBuild(`${dir}/`, { maxFiles: 10, maxBytes: 500 });
    assert.ok(!tooBig.ok && /more than 500 bytes/.test(tooBig.reason));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

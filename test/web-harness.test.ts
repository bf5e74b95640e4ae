/**
 * The browser harness (test/helpers/browser.ts) proven on a fixture build: Debian's Chromium loads a page
 * served by the real app under its strict CSP, runs the external bundle without a violation, axe runs
 * in the page despite the CSP, screenshots land in both themes; and `startUp` brings up a real
 * `pgvigil up` whose admin signs in through the page's context.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/server/app.js';
import { openStore, type Store } from '../src/storage/db.js';
import { migrate } from '../src/storage/migrate.js';
import { packageRoot } from '../src/version.js';
import {
  browserSkip,
  type LaunchedBrowser,
  launchBrowser,
  runAxe,
  screenshot,
  signIn,
  startUp,
  watchPage,
} from './helpers/browser.js';
import { createTestDatabase, quietLog, type TestDatabase, testPgLabel } from './helpers/db.js';

const skip = browserSkip();

describe('the browser harness on a fixture build', { skip }, () => {
  let db: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let base: string;
  let b: LaunchedBrowser;

  before(async () => {
    db = await createTestDatabase('webharness');
    store = await openStore({ databaseUrl: db.url, log: quietLog });
    const { latest } = await migrate(store.pool, quietLog);
    app = await buildApp({
      store,
      log: quietLog,
      latestMigration: latest,
      webDir: `${packageRoot}/test/fixtures/web`,
    });
    base = (await app.listen({ host: '127.0.0.1', port: 0 })).replace(/\/$/, '');
    b = await launchBrowser();
  });

  after(async () => {
    await b?.close();
    await app?.close();
    await store?.close();
    await db?.drop();
  });

  test('the_fixture_bundle_runs_under_the_strict_csp_without_a_violation', async () => {
    const watch = watchPage(b.page);
    const res = await b.page.goto(`${base}/servers/3/host`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    await b.page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
    assert.equal(await b.page.textContent('#status'), 'ready at /servers/3/host');
    assert.equal(await b.page.getAttribute('body', 'data-violations'), null);
    watch.assertClean();
  });

  test('connect_src_self_lets_the_page_open_a_websocket_to_its_own_host_and_no_other', async () => {
    await b.page.goto(`${base}/`);
    await b.page.waitForSelector('body[data-ready="true"]');
    // Resolves with the CSP violation the attempt caused, or 'none' once the socket opened or failed
    // for another reason (the live feed refuses a handshake without a session: that is not the CSP).
    const attempt = (wsUrl: string) =>
      b.page.evaluate(`new Promise((resolve) => {
        const seen = (e) => resolve('violation ' + e.violatedDirective);
        document.addEventListener('securitypolicyviolation', seen, { once: true });
        let ws;
        try { ws = new WebSocket(${JSON.stringify(wsUrl)}); } catch (e) { resolve('threw ' + e.name); return; }
        const done = () => setTimeout(() => resolve('none'), 200);
        ws.onopen = () => { ws.close(); done(); };
        ws.onerror = done;
      })`);
    const own = `${base.replace(/^http/, 'ws')}/api/v1/live`;
    assert.equal(await attempt(own), 'none', 'same host over ws: is covered by connect-src self');
    const other = own.replace('127.0.0.1', '127.0.0.2');
    assert.match(String(await attempt(other)), /^violation connect-src/, 'another host is refused');
  });

  test('axe_runs_in_the_page_under_the_csp_and_reports_serious_violations', async () => {
    await b.page.goto(`${base}/`);
    await b.page.waitForSelector('body[data-ready="true"]');
    assert.deepEqual(await runAxe(b.page), [], 'the fixture page is accessible');
    // A control without a name is a serious violation: axe must see it, or an empty list proves nothing.
    await b.page.evaluate(`document.querySelector('main').append(document.createElement('input'))`);
    const found = await runAxe(b.page);
    assert.ok(
      found.some((v) => v.id === 'label' && (v.impact === 'serious' || v.impact === 'critical')),
      JSON.stringify(found),
    );
  });

  test('screenshots_are_saved_in_both_themes', async () => {
    await b.page.goto(`${base}/findings`);
    await b.page.waitForSelector('body[data-ready="true"]');
    const paths = await screenshot(b.page, 'harness-fixture');
    assert.deepEqual(
      paths.map((p) => p.slice(packageRoot.length)),
      [
        '/test-output/screenshots/harness-fixture-light.png',
        '/test-output/screenshots/harness-fixture-dark.png',
      ],
    );
    for (const p of paths) assert.ok(existsSync(p) && statSync(p).size > 1000, p);
  });

  test('watch_page_reports_failed_responses_and_lets_expected_ones_pass', async () => {
    const watch = watchPage(b.page);
    await b.page.goto(`${base}/`);
    await b.page.waitForSelector('body[data-ready="true"]');
    await b.page.evaluate(`fetch('/api/v1/servers').then((r) => r.status)`);
    assert.throws(() => watch.assertClean(), /response: 401 GET .*\/api\/v1\/servers/);
    watch.assertClean([/^response: 401 GET .*\/api\/v1\/servers$/, /^console: .*401/]);
  });
});

describe('a real pgvigil up for browser tests', {
  skip: skip || (testPgLabel === 'debian-15' && 'embedded store only'),
}, () => {
  test('start_up_waits_for_agent_data_and_the_admin_signs_in_through_the_page_context', {
    timeout: 120_000,
  }, async () => {
    const up = await startUp();
    const b = await launchBrowser();
    try {
      assert.match(up.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.match(up.output().stdout, new RegExp(`dashboard +${up.url}/`));
      await signIn(b.page, up.url, up.admin.name, up.admin.password);
      const cookies = await b.context.cookies(up.url);
      assert.ok(cookies.some((c) => c.name === 'pgvigil_access' && c.httpOnly));
      const me = await b.page.request.get(`${up.url}/api/v1/auth/me`);
      assert.equal(me.status(), 200);
      assert.equal((await me.json()).name, up.admin.name);
      const servers = await b.page.request.get(`${up.url}/api/v1/servers`);
      const list = (await servers.json()) as { servers: Array<{ lastSeenAt: string | null }> };
      assert.ok(
        list.servers.some((s) => s.lastSeenAt !== null),
        'the local agent has reported',
      );
    } finally {
      await b.close();
      await up.stop();
    }
  });
});

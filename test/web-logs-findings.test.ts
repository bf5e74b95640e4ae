/**
 * The Logs and Findings pages in Chromium against a real `pgvigil up`: the watched PostgreSQL (the
 * embedded store) is made to log errors and a burst of FATALs; the logs page finds them with its filters
 * (a shared URL reopens the same view) and draws its histogram; the FATAL burst raises a finding that
 * shows its evidence and action, an admin acknowledges it (on screen and in the API), and a viewer is
 * offered no button to change it. Every page is checked for console errors, failed requests and axe
 * violations, and saved as screenshots in both themes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  assertAccessible,
  browserSkip,
  type LaunchedBrowser,
  launchBrowser,
  type RunningUp,
  screenshot,
  signIn,
  startUp,
  watchPage,
} from './helpers/browser.js';
import { until, waitFor } from './helpers/wait.js';

const skip = browserSkip();

const missingTables = ['pgvigil_e2e_missing_a', 'pgvigil_e2e_missing_b', 'pgvigil_e2e_missing_c'];
const fatalCount = 12;
/** More errors of one kind than a page of the logs page shows (100). */
const pagedTables = Array.from({ length: 105 }, (_v, i) => `pgvigil_e2e_page_${i}`);

/** How to reach the PostgreSQL `up` watches: its own embedded store. */
function watchedPostgres(dataDir: string) {
  const store = JSON.parse(readFileSync(join(dataDir, 'store.json'), 'utf8')) as {
    port: number;
    password: string;
  };
  return { host: '127.0.0.1', port: store.port, user: 'pgvigil', password: store.password };
}

/** One ERROR line per table in the watched PostgreSQL's log: a SELECT from each, as they do not exist. */
async function selectMissing(dataDir: string, tables: readonly string[]): Promise<void> {
  const c = new pg.Client({ ...watchedPostgres(dataDir), database: 'pgvigil' });
  await c.connect();
  try {
    for (const t of tables) await assert.rejects(c.query(`SELECT * FROM ${t}`), /does not exist/);
  } finally {
    await c.end();
  }
}

/** Errors the watched PostgreSQL writes to its log: failing statements, then refused connections. */
async function makePostgresComplain(dataDir: string): Promise<void> {
  const conn = watchedPostgres(dataDir);
  await selectMissing(dataDir, [...missingTables, ...pagedTables]);
  // Each refused connection is a FATAL line; more than 10 in 5 minutes is the logs.pg_fatal_burst alert.
  for (let i = 0; i < fatalCount; i++) {
    const bad = new pg.Client({ ...conn, database: 'pgvigil_e2e_no_such_db' });
    await assert.rejects(bad.connect(), /does not exist/);
  }
}

describe('the logs and findings pages', { skip }, () => {
  let up: RunningUp;
  let b: LaunchedBrowser;
  let auth: { authorization: string };
  let viewer: { name: string; password: string };
  let findingId: string;

  const apiGet = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${up.url}/api/v1${path}`, { headers: auth });
    assert.equal(r.status, 200, `GET ${path}: ${await r.clone().text()}`);
    return (await r.json()) as T;
  };

  before(async () => {
    // The findings job every 5 s instead of 60, so the FATAL burst is judged while the test waits.
    const saved = process.env.PGVIGIL_FINDINGS_INTERVAL;
    process.env.PGVIGIL_FINDINGS_INTERVAL = '5';
    try {
      up = await startUp({ interval: '1s', pushInterval: '1s' });
    } finally {
      if (saved === undefined) delete process.env.PGVIGIL_FINDINGS_INTERVAL;
      else process.env.PGVIGIL_FINDINGS_INTERVAL = saved;
    }
    const login = await fetch(`${up.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(up.admin),
    });
    auth = { authorization: `Bearer ${((await login.json()) as { accessToken: string }).accessToken}` };
    const made = await fetch(`${up.url}/api/v1/users`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e2e-viewer', role: 'viewer' }),
    });
    assert.equal(made.status, 201, await made.clone().text());
    viewer = { name: 'e2e-viewer', password: ((await made.json()) as { password: string }).password };
    const launching = launchBrowser();
    await makePostgresComplain(up.dataDir);
    b = await launching;
    const logEntries = (query: string, n: number, what: string) =>
      until(
        async () => (await apiGet<{ entries: unknown[] }>(`/logs?${query}`)).entries.length >= n,
        30_000,
        `${what} in the log API`,
      );
    await logEntries('level=error&q=pgvigil_e2e_missing', missingTables.length, 'the three errors');
    await logEntries('q=pgvigil_e2e_page&limit=200', pagedTables.length, 'the paged errors');
    findingId = await waitFor(
      'the FATAL burst finding',
      async () =>
        (await apiGet<{ findings: { id: string }[] }>('/findings?check=logs.pg_fatal_burst')).findings[0]?.id,
      30_000,
    );
  });

  after(async () => {
    await b?.close();
    await up?.stop();
  });

  test('errors_postgresql_logged_are_narrowed_by_level_and_text_and_a_shared_url_reopens_the_view', async () => {
    const page = b.page;
    const watch = watchPage(page);
    await signIn(page, up.url, up.admin.name, up.admin.password);
    await page.goto(`${up.url}/logs`);
    const rows = page.locator('table.log-table tbody tr');
    await rows.first().waitFor();
    await page.waitForSelector('figure.chart[data-drawn]:not([data-drawn="0"])');
    const levels = () => page.locator('table.log-table tbody tr td:nth-child(3)').allTextContents();
    await until(
      async () => (await levels()).some((l) => l !== 'error'),
      30_000,
      'info lines besides the errors',
    );

    // Level: only ERROR lines remain (the FATALs and the checkpoints' LOG lines go).
    await page.getByRole('checkbox', { name: 'error', exact: true }).check();
    await page.waitForURL(/[?&]level=error(&|$)/);
    await until(
      async () => {
        const l = await levels();
        return l.length >= missingTables.length && l.every((x) => x === 'error');
      },
      30_000,
      'only error rows',
    );

    // Text: one statement's error out of the three.
    await page.getByLabel('Message contains').fill(missingTables[1]!);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(new RegExp(`[?&]q=${missingTables[1]}`));
    await until(async () => (await rows.count()) === 1, 30_000, 'the one matching row');
    assert.match((await rows.first().textContent()) ?? '', new RegExp(`relation "${missingTables[1]}"`));
    assert.match((await rows.first().textContent()) ?? '', /pgvigil_store/);
    // The histogram and the patterns load apart from the rows: each is waited for in its own right.
    await until(
      async () => Number(await page.locator('figure.chart').first().getAttribute('data-drawn')) >= 1,
      30_000,
      'the histogram of the matching entry',
    );
    const patterns = page.locator('#log-patterns tbody tr');
    await until(
      async () =>
        (await patterns.count()) === 1 && /^1\s*error/.test((await patterns.first().textContent()) ?? ''),
      30_000,
      'the one matching pattern',
    );

    // From the line to the metrics then: the host page, 15 minutes either side of the line.
    const host = await rows.first().getByRole('link', { name: 'Host' }).getAttribute('href');
    const m = /^\/servers\/(\d+)\?from=(\d+)&to=(\d+)$/.exec(host ?? '');
    assert.ok(m, `host link: ${host}`);
    assert.equal(Number(m[3]) - Number(m[2]), 30 * 60_000);

    await assertAccessible(page, 'the logs page with filters');
    await screenshot(page, 'logs-filtered');

    // The URL alone reopens the same view in a fresh page.
    const shared = page.url();
    const again = await b.context.newPage();
    const watchAgain = watchPage(again);
    await again.goto(shared);
    const rowsAgain = again.locator('table.log-table tbody tr');
    await rowsAgain.first().waitFor();
    assert.equal(await rowsAgain.count(), 1);
    assert.equal(await again.getByLabel('Message contains').inputValue(), missingTables[1]);
    assert.equal(await again.getByRole('checkbox', { name: 'error', exact: true }).isChecked(), true);
    await again.waitForSelector('figure.chart[data-drawn]:not([data-drawn="0"])');
    await again.close();
    watchAgain.assertClean();

    // All levels again: the histogram stacks more than one level.
    await page.goto(`${up.url}/logs`);
    await rows.first().waitFor();
    await page.waitForSelector('figure.chart[data-drawn]:not([data-drawn="0"])');
    assert.ok((await page.locator('figure.chart .u-legend .u-series').count()) >= 3, 'time + two levels');
    await assertAccessible(page, 'the logs page');
    await screenshot(page, 'logs');
    watch.assertClean();
  });

  test('older_entries_come_a_page_at_a_time_without_repeats', async () => {
    const page = b.page;
    const watch = watchPage(page);
    await page.goto(`${up.url}/logs?q=pgvigil_e2e_page_`);
    const rows = page.locator('table.log-table tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 100, 'the first page');
    await page.getByRole('button', { name: 'Older entries' }).click();
    // Every entry of the range: the second page's rows may come in more than one render.
    const messages = page.locator('table.log-table tbody td.log-message');
    await until(async () => (await messages.count()) >= pagedTables.length, 30_000, 'the second page');
    const names = (await messages.allTextContents()).map((t) => /pgvigil_e2e_page_\d+/.exec(t)?.[0]);
    assert.equal(names.length, pagedTables.length);
    assert.deepEqual([...new Set(names)].sort(), [...pagedTables].sort(), 'each entry once');
    await page.getByText('That is all in this range.').waitFor();
    // The last hour is re-read every 15 s of the clock; the older page stays through such a refresh.
    await page.waitForTimeout(16_000);
    assert.equal(await messages.count(), pagedTables.length, 'the older page stays through a refresh');
    watch.assertClean();
  });

  test('live_tail_shows_a_new_error_without_reloading_the_page', async () => {
    const page = b.page;
    const watch = watchPage(page);
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.goto(`${up.url}/logs?level=error&tail=1`);
    const rows = page.locator('table.log-table tbody tr');
    await rows.first().waitFor();
    assert.equal(await page.getByRole('checkbox', { name: 'Live tail' }).isChecked(), true);
    await page.evaluate('window.samePage = true');
    await selectMissing(up.dataDir, ['pgvigil_e2e_tail']);
    await page
      .locator('table.log-table tbody tr', { hasText: 'pgvigil_e2e_tail' })
      .waitFor({ timeout: 30_000 });
    assert.equal(await page.evaluate('window.samePage'), true, 'the entry came without a page load');
    assert.ok(
      sockets.some((u) => u.endsWith('/api/v1/live')),
      `the tail follows the live feed: ${sockets}`,
    );
    watch.assertClean();
  });

  test('the_fatal_burst_finding_shows_its_evidence_and_action_and_an_admin_acknowledges_it', async () => {
    const page = b.page;
    const watch = watchPage(page);
    await page.goto(`${up.url}/findings`);
    const link = page.getByRole('link', { name: /FATAL in 5 min in the PostgreSQL log/ });
    await link.waitFor();
    await assertAccessible(page, 'the findings list');
    await screenshot(page, 'findings');
    await link.click();
    await page.waitForURL(new RegExp(`/findings/${findingId}(\\?|$)`));
    const panel = page.locator('#finding');
    await panel.getByText('Evidence', { exact: true }).waitFor();
    // Evidence as key/values, the most frequent messages as a table.
    assert.match((await panel.locator('dl.kv').first().textContent()) ?? '', /fatal\s*1\d/);
    assert.match(
      (await panel.locator('table.evidence-table').textContent()) ?? '',
      /database "pgvigil_e2e_no_such_db" does not exist/,
    );
    assert.match((await panel.locator('.codeblock pre').textContent()) ?? '', /pg_stat_activity/);
    assert.ok(await panel.getByRole('button', { name: 'Copy action' }).isVisible());
    // And back: the logs of that source around the finding's time.
    const logs = await panel.getByRole('link', { name: 'Logs then' }).getAttribute('href');
    const logsUrl = new URL(logs ?? '', up.url);
    assert.equal(logsUrl.pathname, '/logs');
    assert.equal(logsUrl.searchParams.get('source'), 'pgvigil_store');
    assert.match(logsUrl.searchParams.get('server') ?? '', /^\d+$/);
    assert.ok(Number(logsUrl.searchParams.get('from')) < Number(logsUrl.searchParams.get('to')));
    await assertAccessible(page, 'a finding');
    await screenshot(page, 'finding');

    await page.getByRole('button', { name: 'Acknowledge' }).click();
    await page.locator('#finding strong[data-state="acknowledged"]').waitFor();
    await page.locator('#finding-history td', { hasText: 'acknowledged' }).first().waitFor();
    assert.equal(await page.getByRole('button', { name: 'Acknowledge' }).count(), 0);
    const { finding } = await apiGet<{ finding: { state: string; acknowledgedBy: string | null } }>(
      `/findings/${findingId}`,
    );
    assert.equal(finding.state, 'acknowledged');
    assert.equal(finding.acknowledgedBy, up.admin.name);

    // The state filter lives in the URL and finds it among the acknowledged ones.
    await page.goto(`${up.url}/findings?state=acknowledged`);
    await page.getByRole('link', { name: /FATAL in 5 min/ }).waitFor();
    assert.equal(await page.getByLabel('State').inputValue(), 'acknowledged');
    await page.goto(`${up.url}/findings?state=open&kind=alert`);
    await page.locator('#finding-list table, #finding-list .empty').first().waitFor();
    assert.equal(await page.getByRole('link', { name: /FATAL in 5 min/ }).count(), 0);
    watch.assertClean();
  });

  test('a_viewer_sees_the_finding_but_no_button_to_change_it', async () => {
    const context = await b.browser.newContext({ viewport: { width: 1280, height: 720 } });
    try {
      const page = await context.newPage();
      const watch = watchPage(page);
      await signIn(page, up.url, viewer.name, viewer.password);
      await page.goto(`${up.url}/findings/${findingId}`);
      await page.locator('#finding').getByText('Evidence', { exact: true }).waitFor();
      for (const name of ['Acknowledge', 'Silence', 'Unsilence', 'Resolve']) {
        assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, name);
      }
      assert.ok(await page.getByRole('button', { name: 'Copy action' }).isVisible());
      await assertAccessible(page, 'a finding as a viewer');
      watch.assertClean();
    } finally {
      await context.close();
    }
  });
});

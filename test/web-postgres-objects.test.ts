/**
 * The PostgreSQL page's statements and tables-and-indexes tabs in Chromium against a real `pgvigil up`
 * watching its own embedded store: a table is made and queried in that store, its statement shows with
 * its text for an admin, its history draws its charts, sorting changes the order and the URL; a viewer
 * sees no text, the page asks for none, and the API refuses it; axe finds nothing serious; screenshots of
 * every view in both themes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Page } from 'playwright-core';
import { runningEmbeddedUrl } from '../src/storage/embedded.js';
import * as harness from './helpers/browser.js';
import { until } from './helpers/wait.js';

const skip = harness.browserSkip();

/** "11.1k" → 11100: the page's counts back to numbers ("—" is NaN). */
function count(text: string): number {
  const m = /^([\d.]+)\s*([kMGT]?)$/.exec(text.trim());
  if (!m) return Number.NaN;
  return Number(m[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12 } as Record<string, number>)[m[2]!]!;
}

/** Column `n` (1-based) of the statements table, as numbers. */
async function columnValues(page: Page, n: number): Promise<number[]> {
  const cells = await page.locator(`table.statements tbody tr td:nth-child(${n})`).allTextContents();
  return cells.map(count);
}

/** The statements of the table, top to bottom, by the links that open them. */
async function rowOrder(page: Page): Promise<(string | null)[]> {
  return page
    .locator('table.statements tbody tr td.stmt a')
    .evaluateAll((links) => links.map((a) => a.getAttribute('href')));
}

describe('PostgreSQL statements, tables and indexes in the browser', { skip }, () => {
  let up: harness.RunningUp;
  let b: harness.LaunchedBrowser;
  let store: pg.Client;
  let token: string;
  let base: string;
  let queryid: string;
  const viewer = { name: 'viewer-pg', password: 'viewer-password-1' };

  const api = async (path: string) => {
    const res = await fetch(`${up.url}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
    return (await res.json()) as Record<string, unknown>;
  };

  before(async () => {
    up = await harness.startUp({ interval: '1s', pushInterval: '1s' });
    b = await harness.launchBrowser();
    const url = await runningEmbeddedUrl(up.dataDir);
    assert.ok(url, 'the embedded store is running');
    store = new pg.Client({ connectionString: url });
    await store.connect();
    await store.query('CREATE TABLE public.shop_orders (id serial PRIMARY KEY, customer int, total numeric)');
    await store.query(
      'INSERT INTO public.shop_orders (customer, total) SELECT g % 50, g FROM generate_series(1, 5000) g',
    );
    const login = await fetch(`${up.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(up.admin),
    });
    token = ((await login.json()) as { accessToken: string }).accessToken;
    const { servers } = (await api('/servers')) as { servers: { serverId: number }[] };
    const serverId = servers[0]!.serverId;
    const { targets } = (await api(`/servers/${serverId}/targets`)) as { targets: { targetId: number }[] };
    const targetId = targets[0]!.targetId;
    base = `${up.url}/servers/${serverId}/postgres/${targetId}`;
    // Databases are visited once a minute; on a busy machine the first visit can miss its time limit.
    await until(
      async () => (await api(`/servers/${serverId}/targets/${targetId}/tables?limit=1`)).ts !== null,
      70_000,
      'the first tables snapshot',
    );
    // Run the statement until the agent has sent it with its text.
    await until(
      async () => {
        for (let i = 0; i < 1000; i++)
          await store.query('SELECT sum(total) FROM public.shop_orders WHERE customer = $1', [i % 50]);
        const { statements } = (await api(
          `/servers/${serverId}/targets/${targetId}/statements?order=calls&limit=100`,
        )) as { statements: { queryid: string; query: string | null }[] };
        const mine = statements.find((s) => s.query?.includes('shop_orders WHERE customer'));
        if (mine) queryid = mine.queryid;
        if (!mine) await new Promise((r) => setTimeout(r, 500));
        return mine !== undefined;
      },
      30_000,
      'the shop_orders statement with its text in the top statements',
    );
  });

  after(async () => {
    await store?.end();
    await b?.close();
    await up?.stop();
  });

  test('an_admin_sees_statement_texts_sorts_them_and_opens_one_statements_history', async () => {
    const { page } = b;
    const watch = harness.watchPage(page);
    await harness.signIn(page, up.url, up.admin.name, up.admin.password);
    await page.goto(`${base}/statements`);
    await page.locator('table.statements tbody tr').first().waitFor({ timeout: 15_000 });
    assert.equal(
      await page.locator('th[aria-sort="descending"]').textContent(),
      'Total time ▼',
      'sorted by total time unless the URL says otherwise',
    );
    const sparks = await page.locator('table.statements svg.spark path').count();
    assert.ok(sparks > 0, 'statements carry sparklines of their time per step');
    const byTime = await rowOrder(page);
    await harness.assertAccessible(page, 'the statements list');
    await harness.screenshot(page, 'postgres-statements');

    // Sorting by calls: the URL says so and the calls column comes largest first.
    await page.getByRole('button', { name: 'Calls' }).click();
    await page.waitForURL(/[?&]sort=calls/);
    await page.locator('th[aria-sort="descending"]', { hasText: 'Calls' }).waitFor();
    // Run more than anything else, the test's statement leads by calls, with its text for an admin.
    const row = page.locator('table.statements tbody tr', { hasText: 'shop_orders WHERE customer' });
    await row.first().waitFor({ timeout: 15_000 });
    await until(
      async () => {
        const calls = await columnValues(page, 3);
        return calls.length > 1 && calls.every((v, i) => i === 0 || v <= calls[i - 1]!);
      },
      10_000,
      'the calls column in descending order',
    );
    assert.notDeepEqual(await rowOrder(page), byTime, 'sorting by calls changed the order of the rows');

    // One statement's history: charts drawn, the whole text with a copy button; back returns to the list.
    await row.first().getByRole('link').click();
    await page.waitForURL(new RegExp(`[?&]statement=${queryid}`));
    const charts = page.locator('figure.chart');
    await until(async () => (await charts.count()) === 4, 15_000, 'four history charts');
    for (const c of await charts.all()) {
      const name = await c.getAttribute('data-chart');
      await until(async () => Number(await c.getAttribute('data-drawn')) > 0, 10_000, `${name} drawn`);
    }
    assert.match(
      (await page.locator('.codeblock code').textContent()) ?? '',
      /FROM public\.shop_orders WHERE customer = \$1/,
    );
    assert.equal(await page.getByRole('button', { name: 'Copy statement' }).count(), 1);
    await harness.assertAccessible(page, "a statement's history");
    await harness.screenshot(page, 'postgres-statement-history');
    await page.goBack();
    await page.waitForURL((u) => !u.searchParams.has('statement') && u.searchParams.get('sort') === 'calls');
    await row.first().waitFor();
    watch.assertClean();
  });

  test('tables_and_indexes_filter_and_sort_through_the_url', async () => {
    const { page } = b;
    const watch = harness.watchPage(page);
    // The agent visits databases once a minute: the store's own tables are in its first snapshot.
    await page.goto(`${base}/objects?schema=pgvigil&q=pg_statement`);
    const tables = page.locator('#tables table.objects tbody tr');
    await tables.first().waitFor({ timeout: 15_000 });
    for (const name of await page.locator('#tables tbody th[scope="row"]').allTextContents())
      assert.match(name, /^pgvigil\.\S*pg_statement/, 'only tables of the schema and name filtered');
    assert.match((await page.locator('#tables').textContent()) ?? '', /Bloat is an estimate/);
    await page.getByRole('button', { name: 'Live rows' }).click();
    await page.waitForURL(/[?&]tsort=rows/);
    let rows: number[] = [];
    await until(
      async () => {
        rows = (await page.locator('#tables tbody tr td:nth-child(3)').allTextContents()).map(count);
        return rows.length > 0 && rows.every((v, i) => i === 0 || v <= rows[i - 1]!);
      },
      10_000,
      'live rows largest first',
      () => rows.join(', '),
    );
    await page.getByRole('button', { name: 'Live rows' }).click();
    await page.waitForURL(/[?&]tdir=asc/);
    // The indexes come in their own request, which a loaded machine may answer after the tables.
    await page.locator('#indexes tbody tr').first().waitFor({ timeout: 15_000 });
    await page.getByLabel('Only unused or duplicate').check();
    await page.waitForURL(/[?&]unused=1/);
    await harness.assertAccessible(page, 'tables and indexes');
    // A full-page screenshot of a scrolled page draws the sticky top bar where it was scrolled to.
    await page.evaluate('window.scrollTo(0, 0)');
    await harness.screenshot(page, 'postgres-objects');
    watch.assertClean();
  });

  test('a_viewer_sees_no_statement_text_the_page_asks_for_none_and_the_api_refuses_it', async () => {
    const created = await b.page.request.post(`${up.url}/api/v1/users`, {
      data: { name: viewer.name, role: 'viewer', password: viewer.password },
      headers: { origin: up.url },
    });
    assert.equal(created.status(), 201, await created.text());

    const context = await b.browser.newContext({ viewport: { width: 1280, height: 720 } });
    try {
      const page = await context.newPage();
      const watch = harness.watchPage(page);
      const requested: string[] = [];
      page.on('request', (r) => requested.push(r.url()));
      await harness.signIn(page, up.url, viewer.name, viewer.password);
      await page.goto(`${base}/statements?sort=calls`);
      const link = page.getByRole('link', { name: `Statement ${queryid}`, exact: true });
      await link.waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('table.statements code', { hasText: 'shop_orders' }).count(), 0);
      assert.ok((await page.getByText('text hidden for your role').count()) > 0);
      await link.click();
      await page.waitForURL(new RegExp(`[?&]statement=${queryid}`));
      await page.locator('figure.chart[data-drawn]').first().waitFor({ timeout: 15_000 });
      await page.getByText('The statement text is hidden for your role (viewer)').waitFor();
      assert.equal(await page.locator('.codeblock').count(), 0);
      await harness.screenshot(page, 'postgres-statement-viewer', 'light');

      const lists = requested.filter((u) => /\/api\/v1\/.*\/statements\?/.test(u));
      assert.ok(lists.length > 0, 'the list was requested');
      assert.deepEqual(
        lists.filter((u) => new URL(u).searchParams.get('text') !== 'false'),
        [],
        'every list request asks for no texts',
      );
      assert.deepEqual(
        requested.filter((u) => /\/statements\/[^/?]+\/text/.test(u)),
        [],
        'no request for a statement text',
      );
      const refused = await page.request.get(
        `${up.url}/api/v1${new URL(base).pathname.replace('/postgres/', '/targets/')}/statements/${queryid}/text`,
      );
      assert.equal(refused.status(), 403, 'the API refuses a viewer the text');
      watch.assertClean([/response: 403 GET .*\/statements\/-?\d+\/text/]);
    } finally {
      await context.close();
    }
  });
});

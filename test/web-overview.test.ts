/**
 * The overview page (`/`) in Chromium against a real `pgvigil up`: the local server and its PostgreSQL
 * appear with their status and drawn sparklines, links carry the time range, search and status filter
 * change the rows and the URL and survive a reload, the "what is wrong now" strip links real findings,
 * axe finds nothing serious, and screenshots are saved in both themes on a laptop and on a phone.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import {
  assertAccessible,
  browserSkip,
  launchBrowser,
  screenshot,
  signIn,
  startUp,
  waitInPage,
  watchPage,
} from './helpers/browser.js';
import { testPgLabel } from './helpers/db.js';

const skip = browserSkip();

interface FleetAnswer {
  servers: Array<{
    serverId: number;
    name: string;
    status: string;
    cpu: unknown[];
    memory: unknown[];
    targets: Array<{
      targetId: number;
      name: string;
      status: string;
      connections: unknown[];
      tps: unknown[];
    }>;
  }>;
}

/** Rows the list shows (after filters), from the page's own count. */
const shownRows = async (page: Page) => Number(await page.getAttribute('.fleet', 'data-rows'));

async function openOverview(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('.fleet[data-loaded="yes"]', { timeout: 20_000 });
}

describe('the overview page', {
  skip: skip || (testPgLabel === 'debian-15' && 'embedded store only'),
}, () => {
  test('the_overview_lists_the_local_server_with_status_and_sparklines_and_filters_through_the_url', {
    timeout: 150_000,
  }, async () => {
    const up = await startUp();
    const b = await launchBrowser();
    try {
      const { page } = b;
      const watch = watchPage(page);
      await signIn(page, up.url, up.admin.name, up.admin.password);

      // Wait until the fleet API has every sparkline of the local server (CPU and TPS are rates: they need
      // a second sample) and the server is ok; then the page must show what the API says.
      let fleet: FleetAnswer | undefined;
      let last = '';
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
        const res = await page.request.get(`${up.url}/api/v1/fleet`);
        last = await res.text();
        fleet = JSON.parse(last) as FleetAnswer;
        const s = fleet.servers[0];
        const t = s?.targets[0];
        if (s?.status === 'ok' && s.cpu.length && s.memory.length && t?.connections.length && t.tps.length)
          break;
        fleet = undefined;
        await new Promise((r) => setTimeout(r, 1000));
      }
      assert.ok(
        fleet,
        `the local server is ok with all four sparklines within 60 s; last /fleet: ${last.slice(0, 600)}`,
      );
      const server = fleet.servers[0]!;
      const target = server.targets[0]!;

      await openOverview(page, `${up.url}/?from=now-15m`);
      await page.waitForSelector('.fleet[data-ready="yes"]');
      assert.equal(await page.getAttribute('.fleet', 'data-total'), '1');
      const serverRow = page.locator('.fleet tbody tr', {
        has: page.locator(`a[href^="/servers/${server.serverId}?"]`),
      });
      assert.equal(await serverRow.locator('.c-status .badge').textContent(), 'ok');
      assert.equal(
        await serverRow.locator('.c-name a').getAttribute('href'),
        `/servers/${server.serverId}?from=now-15m`,
        'the host link carries the time range',
      );
      const targetLink = page.locator(
        `a[href="/servers/${server.serverId}/postgres/${target.targetId}?from=now-15m"]`,
      );
      assert.equal(
        await targetLink.textContent(),
        target.name,
        'the PostgreSQL page link carries the time range',
      );
      const targetRow = page.locator('.fleet tbody tr', { has: targetLink });
      assert.equal(await targetRow.locator('.c-status .badge').textContent(), target.status);
      // Every sparkline of both rows is drawn: a path with a line in it, not the dashed "no data" line.
      for (const [row, cells] of [
        [serverRow, ['.c-cpu', '.c-mem']],
        [targetRow, ['.c-conn', '.c-tps']],
      ] as const) {
        for (const cell of cells) {
          const d = await row.locator(`${cell} svg.spark path`).getAttribute('d');
          assert.match(d ?? '', /^M[\d.]+ [\d.]+/, `${cell} sparkline drawn`);
        }
      }

      // The strip links findings that the API says are open critical or warning ones.
      const stripLinks = await page
        .locator('#wrong .wrong-list a')
        .evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
      for (const href of stripLinks) {
        const id = /^\/findings\/(\d+)\?from=now-15m$/.exec(href)?.[1];
        assert.ok(id, `strip link ${href}`);
        const f = (await (await page.request.get(`${up.url}/api/v1/findings/${id}`)).json()) as {
          finding: { severity: string };
        };
        assert.match(f.finding.severity, /^(critical|warning)$/);
      }
      if (stripLinks.length === 0) await page.getByText('Nothing critical or warning is open.').waitFor();

      await assertAccessible(page, 'the overview');
      await screenshot(page, 'overview');

      // Search: no match, then the server's own name; the URL follows and a reload keeps it.
      const search = page.getByLabel('Search');
      await search.fill('no-such-host-zz');
      await waitInPage(page, `document.querySelector('.fleet').dataset.rows === '0'`, '0 row(s) shown');
      assert.equal(new URL(page.url()).searchParams.get('q'), 'no-such-host-zz');
      await page.getByText('No server matches').waitFor();
      await page.reload();
      await page.waitForSelector('.fleet[data-loaded="yes"]');
      assert.equal(await search.inputValue(), 'no-such-host-zz', 'a reload keeps the search');
      assert.equal(await shownRows(page), 0);
      await search.fill(server.name.slice(0, 3).toUpperCase());
      await waitInPage(page, `document.querySelector('.fleet').dataset.rows === '1'`, '1 row(s) shown');

      // A target's name finds its server too.
      await search.fill(target.name);
      await waitInPage(page, `document.querySelector('.fleet').dataset.rows === '1'`, '1 row(s) shown');
      await search.fill('');
      assert.equal(new URL(page.url()).searchParams.get('q'), null);

      // Status filter: silent hides the (ok) server, ok shows it; each is in the URL and survives a reload.
      await page.getByRole('button', { name: /^silent/ }).click();
      await waitInPage(page, `document.querySelector('.fleet').dataset.rows === '0'`, '0 row(s) shown');
      assert.equal(new URL(page.url()).searchParams.get('status'), 'silent');
      await page.reload();
      await page.waitForSelector('.fleet[data-loaded="yes"]');
      assert.equal(await shownRows(page), 0, 'a reload keeps the status filter');
      assert.equal(await page.getByRole('button', { name: /^silent/ }).getAttribute('aria-pressed'), 'true');
      await page.getByRole('button', { name: /^ok/ }).click();
      await waitInPage(page, `document.querySelector('.fleet').dataset.rows === '1'`, '1 row(s) shown');
      assert.equal(new URL(page.url()).searchParams.get('status'), 'ok');
      await page.goBack();
      await waitInPage(page, `document.querySelector('.fleet').dataset.rows === '0'`, '0 row(s) shown');
      assert.equal(
        new URL(page.url()).searchParams.get('status'),
        'silent',
        'the back button undoes a filter',
      );
      await page.getByRole('button', { name: /^All/ }).click();
      await waitInPage(page, `document.querySelector('.fleet').dataset.rows === '1'`, '1 row(s) shown');

      // A phone: rows stack on two lines (taller), the column headers are for screen readers only.
      await page.setViewportSize({ width: 390, height: 844 });
      await waitInPage(
        page,
        `document.querySelector('.fleet tbody tr').getBoundingClientRect().height > 50`,
        'rows stacked on a phone',
      );
      const head = await page.locator('.fleet thead').boundingBox();
      assert.ok(head && head.height <= 1, 'headers hidden on a phone');
      const row = await serverRow.boundingBox();
      assert.ok(row && row.width <= 390, `a row fits the phone's width (${row?.width})`);
      await assertAccessible(page, 'the overview on a phone');
      await screenshot(page, 'overview-phone');

      watch.assertClean();
    } finally {
      await b.close();
      await up.stop();
    }
  });
});

/**
 * The PostgreSQL page against a real `pgvigil up`: a session blocked behind an open transaction in the
 * monitored PostgreSQL (the embedded store `up` watches) shows in the blocking tree with both statements
 * for an admin, and without them for a viewer, who also never asks for the settings; every chart of the
 * overview, activity and replication sections draws data; axe finds nothing serious; screenshots in both
 * themes. A second agent watching the same instance as a role without pg_monitor sees the others' processes
 * hidden, and its activity page says so.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Page } from 'playwright-core';
import { runningEmbeddedUrl } from '../src/storage/embedded.js';
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
import { startCli } from './helpers/cli.js';
import { until } from './helpers/wait.js';

const skip = browserSkip();

/** Opens `path` until every chart on it has drawn data (a fresh `up` needs a few collections). */
async function openWithData(page: Page, url: string, timeoutMs = 30_000): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  let drawn: Record<string, number> = {};
  for (;;) {
    await page.goto(url);
    await page.waitForSelector('.tabs .tab.current');
    // Every panel's data has arrived when no "Loading" status is left.
    await page.waitForSelector('[role=status]', { state: 'detached', timeout: 10_000 });
    drawn = Object.fromEntries(
      await page
        .locator('figure.chart')
        .evaluateAll((els) =>
          els.map((e) => [e.getAttribute('data-chart'), Number(e.getAttribute('data-drawn'))]),
        ),
    );
    if (Object.values(drawn).every((n) => n > 0) || Date.now() > deadline) return drawn;
    await page.waitForTimeout(2000);
  }
}

/** The first target across the servers, in the API's order, that `pick` takes (the page's session asks). */
async function findTarget(
  page: Page,
  url: string,
  pick: (t: { targetId: number; name: string }) => boolean,
): Promise<{ serverId: number; targetId: number } | undefined> {
  const { servers } = (await (await page.request.get(`${url}/api/v1/servers`)).json()) as {
    servers: Array<{ serverId: number }>;
  };
  for (const { serverId } of servers) {
    const { targets } = (await (
      await page.request.get(`${url}/api/v1/servers/${serverId}/targets`)
    ).json()) as {
      targets: Array<{ targetId: number; name: string }>;
    };
    const t = targets.find(pick);
    if (t) return { serverId, targetId: t.targetId };
  }
  return undefined;
}

describe('the PostgreSQL page on a live instance', { skip }, () => {
  let up: RunningUp;
  let b: LaunchedBrowser;
  let holder: pg.Client;
  let waiter: pg.Client;
  let waiting: Promise<unknown>;
  let holderPid: number;
  let waiterPid: number;
  let base: string;
  /** The embedded store's superuser URL: the instance `up` watches. */
  let url: string;

  before(async () => {
    up = await startUp({ interval: '1s', pushInterval: '1s' });
    const running = await runningEmbeddedUrl(up.dataDir);
    assert.ok(running, 'the embedded store is running');
    url = running;
    holder = new pg.Client({ connectionString: url, application_name: 'web-holder' });
    waiter = new pg.Client({ connectionString: url, application_name: 'web-waiter' });
    await holder.connect();
    await waiter.connect();
    holderPid = (await holder.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
    waiterPid = (await waiter.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
    await holder.query('CREATE TABLE public.web_block (id int PRIMARY KEY, v int)');
    await holder.query('INSERT INTO public.web_block VALUES (1, 0)');
    // The holder takes a transaction id (an UPDATE), so the xmin holders list it with its statement.
    await holder.query('BEGIN');
    await holder.query('UPDATE public.web_block SET v = 1 WHERE id = 1');
    waiting = waiter.query('UPDATE public.web_block SET v = 2 WHERE id = 1').catch(() => {});
    b = await launchBrowser();
    await signIn(b.page, up.url, up.admin.name, up.admin.password, { via: 'form' });
    const first = await findTarget(b.page, up.url, () => true);
    assert.ok(first, 'the local agent reports its PostgreSQL');
    base = `${up.url}/servers/${first.serverId}/postgres/${first.targetId}`;
  });

  after(async () => {
    await holder?.query('ROLLBACK').catch(() => {});
    await waiting;
    await holder?.end().catch(() => {});
    await waiter?.end().catch(() => {});
    await b?.close();
    await up?.stop();
  });

  test('an_admin_sees_the_blocking_tree_with_both_statements_and_every_chart_drawn', async () => {
    const page = b.page;
    const watch = watchPage(page);

    const activity = await openWithData(page, `${base}/activity`);
    const tree = page.locator('.pg-blocktree');
    await tree.locator(`text=pid ${waiterPid}`).waitFor({ timeout: 30_000 });
    // Wait for the live reload that brings the blocker's session (the first collection may miss it).
    await tree.locator('text=UPDATE public.web_block SET v = 1 WHERE id = 1').waitFor({ timeout: 30_000 });
    const head = page.locator('.pg-blocktree > li > .pg-session');
    assert.match(
      (await head.textContent()) ?? '',
      new RegExp(`pid ${holderPid}[\\s\\S]*blocking[\\s\\S]*web-holder`),
    );
    assert.match((await head.textContent()) ?? '', /idle in transaction/);
    const blocked = page.locator('.pg-blocktree > li > ul > li > .pg-session');
    const blockedText = (await blocked.textContent()) ?? '';
    assert.match(blockedText, new RegExp(`pid ${waiterPid}[\\s\\S]*blocked[\\s\\S]*web-waiter`));
    assert.match(blockedText, /UPDATE public\.web_block SET v = 2 WHERE id = 1/);
    assert.match(blockedText, new RegExp(`waits for\\s*pid ${holderPid}`));
    // Live: the wait grows on screen without a navigation (a sample reloads the section).
    const waited = blocked.locator('dd').first();
    const first = await waited.textContent();
    await until(
      async () => (await waited.textContent()) !== first,
      20_000,
      'the blocking tree following live samples',
    );
    assert.ok(Object.keys(activity).length >= 2, `activity charts: ${JSON.stringify(activity)}`);
    for (const [name, n] of Object.entries(activity)) assert.ok(n > 0, `${name} drew nothing`);
    await assertAccessible(page, 'activity');
    await screenshot(page, 'postgres-activity');

    const overview = await openWithData(page, base);
    assert.ok(Object.keys(overview).length >= 9, `overview charts: ${JSON.stringify(overview)}`);
    for (const [name, n] of Object.entries(overview)) assert.ok(n > 0, `${name} drew nothing`);
    assert.ok((await page.locator('table.pg-wrap tbody tr').count()) >= 1, 'wraparound ages per database');
    await assertAccessible(page, 'overview');
    await screenshot(page, 'postgres-overview');

    const replication = await openWithData(page, `${base}/replication`);
    assert.deepEqual(Object.keys(replication), ['WAL generated per second']);
    assert.ok(replication['WAL generated per second']! > 0);
    await page.locator('text=No standbys').first().waitFor();
    await assertAccessible(page, 'replication');
    await screenshot(page, 'postgres-replication');

    await page.goto(`${base}/settings`);
    await page
      .locator('table.pg-settings tbody tr')
      .first()
      .waitFor({ timeout: 30_000 })
      .catch(async (err: Error) => {
        throw new Error(
          `${err.message}\nthe settings section said: ${await page.locator('#pg-settings').textContent()}`,
        );
      });
    assert.ok((await page.locator('table.pg-settings tbody tr').count()) > 0, 'changed settings listed');
    await assertAccessible(page, 'settings');
    await screenshot(page, 'postgres-settings');
    watch.assertClean();
  });

  test('a_viewer_sees_no_statement_and_never_asks_for_the_settings', async () => {
    const created = await b.page.request.post(`${up.url}/api/v1/users`, {
      data: { name: 'watcher', role: 'viewer', password: 'watcher-password-1' },
      headers: { origin: up.url },
    });
    assert.equal(created.status(), 201, await created.text());
    const context = await b.browser.newContext({ viewport: { width: 1280, height: 720 } });
    try {
      const page = await context.newPage();
      const watch = watchPage(page);
      const asked: string[] = [];
      page.on('request', (r) => asked.push(new URL(r.url()).pathname));
      await signIn(page, up.url, 'watcher', 'watcher-password-1');

      await page.goto(`${base}/activity`);
      const tree = page.locator('.pg-blocktree');
      await tree.locator(`text=pid ${waiterPid}`).waitFor({ timeout: 30_000 });
      assert.equal(await page.locator('.pg-query').count(), 0, 'no statement text for a viewer');
      assert.ok((await tree.locator('text=hidden for your role').count()) >= 2, 'both statements hidden');
      assert.doesNotMatch(await page.content(), /web_block SET/);
      await screenshot(page, 'postgres-activity-viewer', 'light');

      await page.goto(`${base}/settings`);
      await page.locator('text=Settings need the').waitFor();
      assert.equal(await page.locator('table.pg-settings').count(), 0);
      await assertAccessible(page, 'settings as a viewer');
      await screenshot(page, 'postgres-settings-viewer', 'light');
      assert.deepEqual(
        asked.filter((p) => /\/targets\/[^/]+\/settings$/.test(p)),
        [],
        'the settings were never requested',
      );
      watch.assertClean();
    } finally {
      await context.close();
    }
  });

  test('processes_a_role_without_pg_monitor_may_not_see_are_counted_apart_and_named_on_its_activity_page', async () => {
    const page = b.page;
    const watch = watchPage(page);
    const su = new pg.Client({ connectionString: url });
    await su.connect();
    const state = mkdtempSync(join(tmpdir(), 'pgvigil-nomon-agent-'));
    let agent: ReturnType<typeof startCli> | undefined;
    try {
      await su.query("CREATE ROLE web_nomon LOGIN PASSWORD 'web-nomon-password'");
      const created = await page.request.post(`${up.url}/api/v1/enroll-tokens`, {
        data: { note: 'a role without pg_monitor' },
        headers: { origin: up.url },
      });
      assert.equal(created.status(), 201, await created.text());
      const { token } = (await created.json()) as { token: string };
      const port = new URL(url).port;
      agent = startCli(
        [
          'agent',
          '--server',
          up.url,
          '--state-dir',
          state,
          '--no-logs',
          '--interval',
          '1s',
          '--push-interval',
          '1s',
        ],
        {
          PGVIGIL_ENROLL_TOKEN: token,
          PGVIGIL_POSTGRES: `nomon=postgres://web_nomon:web-nomon-password@127.0.0.1:${port}/pgvigil`,
        },
      );
      // The target the second agent reports, once its activity has arrived with processes it may not see
      // (the server's, the holder's and the waiter's sessions: the store's superuser's).
      let activityPath = '';
      type Summary = { processes: number; hidden: number; byState: Record<string, number> } | null;
      // Written by the poll below: declared as its type, not narrowed to this null.
      let summary = null as Summary;
      await until(
        async () => {
          // One look a second: a look is two requests and one per server.
          await page.waitForTimeout(1000);
          const t = await findTarget(page, up.url, (x) => x.name === 'nomon');
          if (!t) return false;
          activityPath = `/servers/${t.serverId}/postgres/${t.targetId}/activity`;
          const a = (await (
            await page.request.get(`${up.url}/api/v1/servers/${t.serverId}/targets/${t.targetId}/activity`)
          ).json()) as { summary: Summary };
          summary = a.summary;
          return summary !== null && summary.hidden > 0;
        },
        45_000,
        "hidden processes in the second agent's activity",
        () => `${JSON.stringify(summary)}\n${agent?.output().stderr}`,
      );
      assert.ok(summary);
      assert.equal(summary.byState['(hidden)'], summary.hidden);

      await page.goto(`${up.url}${activityPath}`);
      const note = page.locator('p', { hasText: "belong to roles the agent's role may not see" });
      await note.waitFor({ timeout: 30_000 });
      assert.match(
        (await note.textContent()) ?? '',
        /^\d+ of the \d+ processes belong to roles the agent's role may not see[\s\S]*GRANT pg_monitor TO/,
      );
      // The "State now" table and the states chart's legend both name them.
      const row = page.locator('#pg-states tbody tr:not(.u-series)', {
        hasText: '(not visible to the agent)',
      });
      await row.waitFor({ timeout: 10_000 });
      assert.ok(Number(await row.locator('td').nth(1).textContent()) > 0);
      await page.locator('#pg-states tr.u-series', { hasText: '(not visible to the agent)' }).waitFor();
      await assertAccessible(page, 'activity seen by a role without pg_monitor');
      watch.assertClean();
    } finally {
      await agent?.stop();
      rmSync(state, { recursive: true, force: true });
      await su.end().catch(() => {});
    }
  });
});

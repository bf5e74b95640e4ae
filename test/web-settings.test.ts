/**
 * The settings pages in Chromium against a real `pgvigil up`: an admin visits every section (no console
 * error, no failed request, axe finds nothing serious, screenshots in both themes), creates an enrollment
 * token and enrolls a real agent with the command the page shows, sees an API error next to its form,
 * adds a viewer — who, signed in on a fresh profile, has no Settings link, is refused /settings/users
 * without the page asking the admin API for anything, and is refused by the API itself.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
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

const sections = [
  ['users', 'Users'],
  ['tokens', 'API tokens'],
  ['enrollment', 'Enrollment tokens'],
  ['agents', 'Agents'],
  ['notifications', 'Notification channels'],
  ['retention', 'Retention'],
  ['checks', 'Check thresholds'],
] as const;

/** The admin API paths the settings pages call; a viewer's page must call none of them. */
const adminPaths =
  /\/api\/v1\/(users|tokens|enroll-tokens|agents|channels|notifications|settings\/retention|checks)\b/;

/** Opens a section by its URL, or with `viaTab` by its tab (no page load, as a person moves between them). */
async function openSection(
  page: Page,
  url: string,
  id: string,
  label: string,
  viaTab = false,
): Promise<void> {
  if (viaTab)
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: label }).click();
  else await page.goto(`${url}/settings/${id}`);
  await page.getByRole('heading', { level: 1, name: `Settings: ${label}` }).waitFor();
  assert.equal(new URL(page.url()).pathname, `/settings/${id}`);
  // Every list has loaded once no "Loading …" status is left (polled here: the page's CSP refuses the
  // eval that a waitForFunction with source text needs).
  const loading = page.locator('[role=status]', { hasText: /^Loading/ });
  await until(async () => (await loading.count()) === 0, 15_000, `settings ${id} loaded`);
}

describe('the settings pages', { skip }, () => {
  let up: RunningUp;
  let b: LaunchedBrowser;

  before(async () => {
    up = await startUp();
    b = await launchBrowser();
    await signIn(b.page, up.url, up.admin.name, up.admin.password);
  });

  after(async () => {
    await b?.close();
    await up?.stop();
  });

  test('an_admin_visits_every_section_cleanly_accessibly_and_in_both_themes', async () => {
    const watch = watchPage(b.page);
    await b.page.goto(`${up.url}/settings`);
    await b.page.getByRole('heading', { level: 1, name: 'Settings: Users' }).waitFor();
    for (const [id, label] of sections) {
      await openSection(b.page, up.url, id, label, true);
      assert.equal(
        await b.page.locator('nav[aria-label=Sections] a[aria-current=page]').textContent(),
        label,
        `the ${label} tab is the current one`,
      );
      await assertAccessible(b.page, `settings ${id}`);
      await screenshot(b.page, `settings-${id}`);
    }
    await openSection(b.page, up.url, 'agents', 'Agents');
    assert.ok((await b.page.locator('#agents tbody tr').count()) >= 1, 'the local agent is listed');
    watch.assertClean();
  });

  test('an_enrollment_token_comes_with_the_agent_command_that_enrolls_a_real_agent', async () => {
    const watch = watchPage(b.page);
    await openSection(b.page, up.url, 'enrollment', 'Enrollment tokens');
    await b.page.getByLabel('Note').fill('browser test');
    await b.page.getByRole('button', { name: 'Create token' }).click();
    const token = (await b.page.locator('.shown-once .codeblock pre').first().textContent())?.trim() ?? '';
    assert.match(token, /^pgv_enroll_\S{20,}$/);
    const command = (await b.page.locator('.agent-command pre').textContent())?.trim() ?? '';
    assert.ok(command.includes(token), `the command carries the token: ${command}`);
    assert.ok(command.includes(`--server ${up.url}`), `the command names this server: ${command}`);
    await assertAccessible(b.page, 'the new enrollment token with its command');
    await screenshot(b.page, 'settings-enrollment-command');

    // Run the command as shown (plus a private state directory and no log files to follow).
    const m = /^PGVIGIL_ENROLL_TOKEN=(\S+) pgvigil (agent .*)$/.exec(command);
    assert.ok(m, `a command the CLI takes: ${command}`);
    const state = mkdtempSync(join(tmpdir(), 'pgvigil-settings-agent-'));
    const agent = startCli(
      [...m[2]!.split(' '), '--state-dir', state, '--no-logs', '--push-interval', '1s'],
      {
        PGVIGIL_ENROLL_TOKEN: m[1]!,
      },
    );
    try {
      await until(
        () => existsSync(join(state, 'credential.json')),
        20_000,
        'the agent enrolled',
        () => agent.output().stderr,
      );

      await b.page.getByRole('button', { name: 'Done' }).click();
      await openSection(b.page, up.url, 'enrollment', 'Enrollment tokens');
      const row = b.page.locator('#enroll-tokens tbody tr', { hasText: 'browser test' });
      assert.equal(await row.locator('td').nth(3).textContent(), '1', 'one agent enrolled with it');

      await openSection(b.page, up.url, 'agents', 'Agents');
      const rows = b.page.locator('#agents tbody tr');
      assert.equal(await rows.count(), 2, 'the local agent and the new one');
      const versions = await rows.locator('td:nth-child(4)').allTextContents();
      assert.ok(
        versions.some((v) => v !== 'local' && /\d+\.\d+/.test(v)),
        `the new agent reports its version: ${versions}`,
      );
    } finally {
      await agent.stop();
      rmSync(state, { recursive: true, force: true });
    }

    // Revoking asks first, then the token is shown revoked.
    await openSection(b.page, up.url, 'enrollment', 'Enrollment tokens');
    const row = b.page.locator('#enroll-tokens tbody tr', { hasText: 'browser test' });
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.getByRole('button', { name: 'Yes, revoke' }).click();
    await row.getByText('revoked').waitFor();
    watch.assertClean();
  });

  test('an_admin_adds_a_viewer_who_neither_sees_nor_reaches_the_settings', async () => {
    // The browser logs the refused request too.
    const watch = watchPage(b.page, [
      /response: 409 POST .*\/api\/v1\/users$/,
      /console: Failed to load resource: .* 409 \(Conflict\) \(.*\/api\/v1\/users:0\)$/,
    ]);
    await openSection(b.page, up.url, 'users', 'Users');
    // The API's refusal is shown next to the form.
    await b.page.getByLabel('Name').fill('admin');
    await b.page.getByRole('button', { name: 'Add user' }).click();
    const refusal = b.page.locator('form[aria-label="Add a user"] [role=alert]');
    await refusal.waitFor();
    assert.match((await refusal.textContent()) ?? '', /exists already/);

    await b.page.getByLabel('Name').fill('vera');
    await b.page.getByLabel('Role', { exact: true }).selectOption('viewer');
    await b.page.getByRole('button', { name: 'Add user' }).click();
    const password = (await b.page.locator('.shown-once .codeblock pre').textContent())?.trim() ?? '';
    assert.ok(password.length >= 20, 'the generated password is shown once');
    await b.page.locator('#users tbody tr', { hasText: 'vera' }).waitFor();
    watch.assertClean();

    const context = await b.browser.newContext({ viewport: { width: 1280, height: 720 } });
    try {
      const page = await context.newPage();
      const viewerWatch = watchPage(page, [/response: 403 GET .*\/api\/v1\/users$/]);
      const asked: string[] = [];
      page.on('request', (r) => asked.push(r.url()));
      await signIn(page, up.url, 'vera', password);
      await page.goto(`${up.url}/`);
      await page.getByRole('navigation', { name: 'Main' }).waitFor();
      assert.equal(await page.getByRole('link', { name: 'Settings' }).count(), 0, 'no Settings link');

      asked.length = 0;
      await page.goto(`${up.url}/settings/users`);
      await page.getByRole('heading', { level: 1, name: 'Not allowed' }).waitFor();
      await page.getByText('This page needs the admin role; you are signed in as viewer.').waitFor();
      await assertAccessible(page, 'the refusal of /settings/users');
      await screenshot(page, 'settings-refused-viewer');
      assert.deepEqual(
        asked.filter((u) => adminPaths.test(u)),
        [],
        'the page asked the admin API for nothing',
      );

      const res = await page.request.get(`${up.url}/api/v1/users`);
      assert.equal(res.status(), 403, 'the API refuses the viewer too');
      viewerWatch.assertClean();
    } finally {
      await context.close();
    }
  });
});

/**
 * The browser-test harness: Debian's Chromium driven by playwright-core (headless, `--no-sandbox`, a fresh
 * context = an empty profile), a real `pgvigil up` to point it at, sign-in, a watch on everything that goes
 * wrong in a page, axe-core, and screenshots in both themes.
 *
 * Without /usr/bin/chromium a browser test is skipped with a visible message, and fails under CI=true
 * (.ci/run installs the `chromium` package).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { freePort } from '../../src/storage/cluster.js';
import { packageRoot } from '../../src/version.js';
import { startCli } from './cli.js';

export const chromiumPath = '/usr/bin/chromium';

/** Where screenshots go (test-output/ is in .gitignore). */
export const screenshotDir = join(packageRoot, 'test-output', 'screenshots');

/**
 * A skip message when Chromium is missing (for `test(name, { skip: browserSkip() }, …)`), else false.
 * Under CI=true a missing Chromium throws: CI installs it, so a skip there would hide a gap.
 */
export function browserSkip(): string | false {
  if (existsSync(chromiumPath)) return false;
  const msg = `SKIPPED: ${chromiumPath} is missing (apt-get install chromium) — browser tests need it`;
  if (process.env.CI === 'true')
    throw new Error(`${chromiumPath} is missing in CI (apt-get install chromium)`);
  process.stdout.write(`# ${msg}\n`);
  return msg;
}

/** The same check inside a test: true when Chromium is there; otherwise skips `t` (or fails under CI). */
export function requireBrowser(t: TestContext): boolean {
  if (existsSync(chromiumPath)) return true;
  const msg = `${chromiumPath} is missing: apt-get install chromium`;
  if (process.env.CI === 'true') assert.fail(`${msg} (CI installs it; the test must not be skipped there)`);
  t.skip(msg);
  return false;
}

export interface LaunchedBrowser {
  browser: Browser;
  /** A fresh context: no cookies, no storage, viewport 1280×720. */
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Chromium headless with an empty profile; `close()` ends the browser process. */
export async function launchBrowser(
  opts: { viewport?: { width: number; height: number } } = {},
): Promise<LaunchedBrowser> {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox'],
  });
  try {
    const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 720 } });
    const page = await context.newPage();
    return { browser, context, page, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

export interface RunningUp {
  /** The server's base URL, without a trailing slash (http://127.0.0.1:PORT). */
  url: string;
  admin: { name: string; password: string };
  dataDir: string;
  /** stdout and stderr so far (for failure messages). */
  output(): { stdout: string; stderr: string };
  /** Stops the process (SIGTERM, its exit code asserted 0) and removes its data directory. */
  stop(): Promise<void>;
}

const urlLine = /(?:is up|server listening): (http:\/\/\S+)/;
const adminLine = /sign in +as "(\S+)" with password (\S+)/;

/**
 * A real `pgvigil up` (embedded store, built-in agent) in a temporary data directory on a free port,
 * resolved once the local agent's first batch is in the store (its server has been seen).
 * `pushInterval`/`interval` are the agent's (default 2s/1s, so the data grows while a test runs).
 */
export async function startUp(
  opts: { pushInterval?: string; interval?: string; timeoutMs?: number } = {},
): Promise<RunningUp> {
  const root = mkdtempSync(join(tmpdir(), 'pgvigil-browser-'));
  // Run as root, the embedded PostgreSQL runs as its own user, who must be able to enter the directory.
  chmodSync(root, 0o755);
  const dataDir = join(root, 'data');
  const cli = startCli([
    'up',
    '--data-dir',
    dataDir,
    '--port',
    String(await freePort()),
    '--push-interval',
    opts.pushInterval ?? '2s',
    '--interval',
    opts.interval ?? '1s',
  ]);
  const stop = async () => {
    try {
      const code = await cli.stop();
      assert.equal(code, 0, `pgvigil up exited with ${code}: ${cli.output().stderr}`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
  try {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const url = (await cli.waitFor(urlLine, timeoutMs))[1]!.replace(/\/$/, '');
    // The sign-in line comes with the summary, once the local agent has started (seconds on a loaded machine).
    const m = await cli.waitFor(adminLine, timeoutMs);
    const admin = { name: m[1]!, password: m[2]! };
    await cli.waitFor(/local agent \S+ is watching/, timeoutMs);
    await waitForAgentData(url, admin, timeoutMs);
    return { url, admin, dataDir, output: cli.output, stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

async function waitForAgentData(
  url: string,
  admin: { name: string; password: string },
  timeoutMs: number,
): Promise<void> {
  const login = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(admin),
  });
  assert.equal(login.status, 200, `admin sign-in: ${await login.clone().text()}`);
  const { accessToken } = (await login.json()) as { accessToken: string };
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/api/v1/servers`, { headers: { authorization: `Bearer ${accessToken}` } });
    last = await res.text();
    if (res.ok) {
      const { servers } = JSON.parse(last) as { servers: Array<{ lastSeenAt: string | null }> };
      if (servers.some((s) => s.lastSeenAt !== null)) return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no agent data within ${timeoutMs} ms; last /api/v1/servers answer: ${last.slice(0, 500)}`);
}

/**
 * Signs in through the API from the page's context (`page.request` shares the context's cookies, so the
 * page is signed in afterwards). `page.request` sends no Origin header: a later cookie-authenticated
 * change through it must send `{ headers: { origin: url } }`, as the server refuses cross-origin changes.
 * With `via: 'form'` it signs in through the sign-in page instead (signInWithForm).
 */
export async function signIn(
  page: Page,
  url: string,
  name: string,
  password: string,
  opts: { via?: 'api' | 'form' } = {},
): Promise<void> {
  if (opts.via === 'form') return signInWithForm(page, url, name, password);
  const res = await page.request.post(`${url}/api/v1/auth/login`, {
    data: { name, password },
    headers: { origin: url },
  });
  assert.equal(res.status(), 200, `sign-in of ${name}: ${await res.text()}`);
}

/**
 * Signs in the way a person does: opens `url` (the sign-in page shows when not signed in), fills the
 * labelled inputs "Name" and "Password", presses "Sign in" and waits for the sign-in answer.
 */
export async function signInWithForm(page: Page, url: string, name: string, password: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Password', { exact: true }).fill(password);
  const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  const res = await answered;
  assert.equal(res.status(), 200, `sign-in of ${name} through the form: ${await res.text()}`);
}

export interface PageProblems {
  consoleErrors: string[];
  pageErrors: string[];
  failedRequests: string[];
  /** Responses with status ≥ 400, as `STATUS METHOD URL`. */
  badResponses: string[];
}

export interface PageWatch {
  problems: PageProblems;
  /** Forgets what was collected so far (e.g. after an expected failure). */
  clear(): void;
  /**
   * Fails listing everything collected, apart from what `expected` matches (tested against each line:
   * `console: …`, `pageerror: …`, `requestfailed: METHOD URL (reason)`, `response: STATUS METHOD URL`).
   */
  assertClean(expected?: RegExp[]): void;
}

/**
 * Watches a page for console errors, uncaught page errors, failed requests and responses ≥ 400.
 * `expected` patterns given here apply to every `assertClean()`; a response or failure the test means to
 * provoke (a viewer refused with 403) belongs there, never the whole category.
 */
export function watchPage(page: Page, expected: RegExp[] = []): PageWatch {
  const problems: PageProblems = { consoleErrors: [], pageErrors: [], failedRequests: [], badResponses: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      problems.consoleErrors.push(`${msg.text()}${loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
    }
  });
  page.on('pageerror', (err) => problems.pageErrors.push(err.stack ?? err.message));
  page.on('requestfailed', (req) => {
    const reason = req.failure()?.errorText ?? 'failed';
    // ERR_ABORTED is the page's own cancel: a page left, or data no longer wanted once the range changed
    // (the dashboard aborts such requests on purpose). Every other failure is a problem.
    if (reason === 'net::ERR_ABORTED') return;
    problems.failedRequests.push(`${req.method()} ${req.url()} (${reason})`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400)
      problems.badResponses.push(`${res.status()} ${res.request().method()} ${res.url()}`);
  });
  const lines = () => [
    ...problems.consoleErrors.map((l) => `console: ${l}`),
    ...problems.pageErrors.map((l) => `pageerror: ${l}`),
    ...problems.failedRequests.map((l) => `requestfailed: ${l}`),
    ...problems.badResponses.map((l) => `response: ${l}`),
  ];
  return {
    problems,
    clear() {
      for (const list of Object.values(problems)) list.length = 0;
    },
    assertClean(more = []) {
      const allowed = [...expected, ...more];
      const left = lines().filter((l) => !allowed.some((re) => re.test(l)));
      assert.deepEqual(left, [], `problems in the page:\n${left.join('\n')}`);
    },
  };
}

export interface AxeViolation {
  id: string;
  impact: 'serious' | 'critical';
  help: string;
  helpUrl: string;
  /** CSS selectors of the offending nodes (at most 10) with axe's summary of the first. */
  targets: string[];
  summary: string;
}

let axeSource: string | undefined;

/**
 * Runs axe-core on the page and returns its violations of impact serious or critical (empty = pass).
 * axe is evaluated through the DevTools protocol (page.evaluate of its source), which the page's CSP does
 * not govern — a <script> tag would be refused by `script-src 'self'`. `exclude` lists selectors to skip.
 */
export async function runAxe(page: Page, opts: { exclude?: string[] } = {}): Promise<AxeViolation[]> {
  axeSource ??= readFileSync(join(packageRoot, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  const loaded = await page.evaluate(
    `(() => { if (!window.axe) { ${axeSource}\n; } return typeof window.axe; })()`,
  );
  assert.equal(loaded, 'object', 'axe-core loaded in the page');
  // Source text, not a function: this package compiles without the DOM types.
  const exclude = JSON.stringify((opts.exclude ?? []).map((sel) => [sel]));
  const violations = (await page.evaluate(`(async () => {
    const exclude = ${exclude};
    const context = exclude.length > 0 ? { include: [document], exclude } : document;
    const res = await window.axe.run(context, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      targets: v.nodes.slice(0, 10).map((n) => n.target.map(String).join(' ')),
      summary: v.nodes[0] ? v.nodes[0].failureSummary || '' : '',
    }));
  })()`)) as Array<Omit<AxeViolation, 'impact'> & { impact: string | null }>;
  return violations.filter((v): v is AxeViolation => v.impact === 'serious' || v.impact === 'critical');
}

/** Fails listing each serious or critical axe violation of the page (`what` names the page). */
export async function assertAccessible(page: Page, what: string, opts: { exclude?: string[] } = {}) {
  const v = await runAxe(page, opts);
  assert.deepEqual(
    v.map((x) => `${x.impact} ${x.id}: ${x.help} — ${x.targets.join(', ')}`),
    [],
    `axe on ${what}`,
  );
}

export type Theme = 'light' | 'dark';
export const themes: readonly Theme[] = ['light', 'dark'];

/**
 * Saves a full-page screenshot as test-output/screenshots/<name>-<theme>.png in each theme (or the one
 * given), switching `prefers-color-scheme` with emulateMedia; returns the paths. The page is left in the
 * last theme.
 */
export async function screenshot(page: Page, name: string, only?: Theme): Promise<string[]> {
  mkdirSync(screenshotDir, { recursive: true });
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '_');
  const paths: string[] = [];
  for (const theme of only ? [only] : themes) {
    await page.emulateMedia({ colorScheme: theme });
    // Give a theme switch done from JS (matchMedia listeners, chart redraws) a frame to land.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
    const path = join(screenshotDir, `${safe}-${theme}.png`);
    await page.screenshot({ path, fullPage: true });
    paths.push(path);
  }
  return paths;
}

/**
 * Waits in the page until `expr` (source text: this package compiles without the DOM types) is truthy,
 * checking every 100 ms. page.waitForFunction cannot be used: it evaluates strings with eval, which the
 * dashboard's CSP forbids; page.evaluate goes through the DevTools protocol, which the CSP does not govern.
 */
export async function waitInPage(page: Page, expr: string, what: string, timeoutMs = 30_000): Promise<void> {
  await page.evaluate(`new Promise((resolve, reject) => {
    const t0 = Date.now();
    const check = () => {
      let ok = false;
      try { ok = Boolean(${expr}); } catch {}
      if (ok) resolve(true);
      else if (Date.now() - t0 > ${timeoutMs}) reject(new Error(${JSON.stringify(`timed out waiting for ${what}`)}));
      else setTimeout(check, 100);
    };
    check();
  })`);
}

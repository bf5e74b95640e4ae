/**
 * The Host page in a real browser against a real `pgvigil up` (its own agent watching this machine every
 * second): every chart this machine can feed draws data, the time picker and a drag-zoom on the CPU chart
 * change the URL and what the charts draw, the URL reopens the same view, axe finds nothing serious, and
 * screenshots are saved in both themes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
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
  waitInPage,
  watchPage,
} from './helpers/browser.js';

/** Charts every Linux host draws (containers, watched processes, pressure may have nothing to show). */
const mustDraw = [
  'CPU by mode (% of all cores)',
  'Memory and swap',
  'Load average',
  'Operations per second',
  'Throughput',
  'Latency (await)',
  'Traffic',
];

const skip = browserSkip();
let up: RunningUp | undefined;
let b: LaunchedBrowser | undefined;

before(async () => {
  if (skip) return;
  up = await startUp({ interval: '1s', pushInterval: '1s' });
  b = await launchBrowser();
});
after(async () => {
  await b?.close();
  await up?.stop();
});

/** The page has loaded every section (nothing busy) and the charts named draw values. */
function drawn(page: Page, charts: readonly string[]): Promise<void> {
  return waitInPage(
    page,
    `(() => {
      const root = document.querySelector('.host-page');
      if (!root || root.querySelector('[aria-busy="true"]')) return false;
      return ${JSON.stringify(charts)}.every((n) => {
        const f = document.querySelector('figure.chart[data-chart="' + CSS.escape(n) + '"]');
        return f !== null && Number(f.getAttribute('data-drawn')) > 0;
      });
    })()`,
    `${charts.join(', ')} to draw`,
  );
}

/** Waits until chart `name` draws a range for which `test` (source text over from, to) holds. */
function chartRange(page: Page, name: string, test: string): Promise<void> {
  return waitInPage(
    page,
    `(() => {
      const f = document.querySelector('figure.chart[data-chart="' + CSS.escape(${JSON.stringify(name)}) + '"]');
      const from = Number(f?.getAttribute('data-from'));
      const to = Number(f?.getAttribute('data-to'));
      return ${test};
    })()`,
    `${name} to draw a range where ${test}`,
    15_000,
  );
}

/** data-from/data-to of every chart on the page, by title. */
async function ranges(page: Page): Promise<Record<string, [number, number]>> {
  // One evaluation: the page re-renders while it refreshes, attributes read one by one could mix two draws.
  return (await page.evaluate(`Object.fromEntries([...document.querySelectorAll('figure.chart')].map((f) => [
    f.getAttribute('data-chart'),
    [Number(f.getAttribute('data-from')), Number(f.getAttribute('data-to'))],
  ]))`)) as Record<string, [number, number]>;
}

test('the host page draws this machine, follows the time picker and a drag-zoom, and a shared link reopens the same view', {
  skip,
  timeout: 120_000,
}, async () => {
  const { page } = b!;
  const watch = watchPage(page);
  await signIn(page, up!.url, up!.admin.name, up!.admin.password);
  const servers = (await (await page.request.get(`${up!.url}/api/v1/servers`)).json()) as {
    servers: Array<{ serverId: number; name: string; targets: Array<{ targetId: number }> }>;
  };
  const server = servers.servers[0]!;

  await page.goto(`${up!.url}/servers/${server.serverId}`);
  await drawn(page, mustDraw);
  // The header: the server, its PostgreSQL with a link to it, its open findings.
  await page.getByRole('heading', { name: server.name, level: 2 }).waitFor();
  const target = server.targets[0]!;
  assert.equal(
    await page.locator(`a[href="/servers/${server.serverId}/postgres/${target.targetId}"]`).count(),
    1,
    'a link to the PostgreSQL page of its target',
  );
  assert.match(
    (await page.locator(`a[href="/findings?server=${server.serverId}"]`).textContent()) ?? '',
    /open finding/,
  );
  // Filesystems: at least the root one, with its use and a forecast (or why there is none).
  // The table waits for the mounts' use series, a request of its own beside the charts'.
  const fsRows = page.locator('#filesystems tbody tr');
  await fsRows.first().waitFor({ timeout: 15_000 });
  assert.match((await fsRows.first().textContent()) ?? '', /%.*(full in|not filling|no forecast|no steady)/);
  // Sections without data say so rather than drawing an empty chart (each section loads on its own).
  for (const id of ['processes', 'containers']) {
    await page
      .locator(`#${id}`)
      .locator('figure.chart, .empty')
      .first()
      .waitFor({ timeout: 15_000 })
      .catch(() => assert.fail(`${id}: neither charts nor a sentence saying there is nothing`));
  }
  await assertAccessible(page, 'the host page');
  await screenshot(page, 'host');

  // The time picker: the URL and the range every chart draws change.
  const before1h = await ranges(page);
  const cpu = 'CPU by mode (% of all cores)';
  await page.getByLabel('Time range').selectOption('now-15m');
  await page.waitForURL(/[?&]from=now-15m/);
  await chartRange(page, cpu, 'to - from <= 15 * 60000 + 1000');
  await drawn(page, mustDraw);
  const after15m = await ranges(page);
  for (const name of mustDraw) {
    const [f0, t0] = before1h[name]!;
    const [f1, t1] = after15m[name]!;
    assert.ok(Math.abs(t0 - f0 - 3_600_000) < 1000, `${name}: 1 h drawn first (${t0 - f0} ms)`);
    assert.ok(Math.abs(t1 - f1 - 900_000) < 1000, `${name}: 15 min drawn after the picker (${t1 - f1} ms)`);
  }

  // Drag across the CPU chart: an absolute range in the URL, and the charts draw it.
  // The chart is redrawn when a refresh lands (every 10–15 s here): a drag it interrupts is tried again,
  // and so is one it cut short of the right end, where the data is (the agent started a minute or so ago:
  // a range ending before that has nothing to draw).
  const zoomed = /[?&]from=\d{13}&to=\d{13}/;
  const [, t15end] = after15m[cpu]!;
  const reachesTheEnd = () =>
    zoomed.test(page.url()) && Number(new URL(page.url()).searchParams.get('to')) > t15end - 20_000;
  for (let attempt = 0; attempt < 4 && !reachesTheEnd(); attempt++) {
    if (zoomed.test(page.url())) {
      await page.getByLabel('Time range').selectOption('now-15m');
      await page.waitForURL(/[?&]from=now-15m/);
      await chartRange(page, cpu, 'to - from <= 15 * 60000 + 1000');
    }
    const plot = page.locator(`figure.chart[data-chart="${cpu}"] .u-over`);
    // A refresh may replace the chart between finding it and scrolling to it: try again, as for a drag.
    if (
      !(await plot.scrollIntoViewIfNeeded().then(
        () => true,
        () => false,
      ))
    )
      continue;
    const box = await plot.boundingBox();
    if (!box) continue;
    const y = box.y + box.height / 2;
    // The agent started a minute or two ago: its data is at the right end of the 15 minutes.
    await page.mouse.move(box.x + box.width * 0.8, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.9, y, { steps: 5 });
    await page.mouse.move(box.x + box.width - 2, y, { steps: 5 });
    await page.mouse.up();
    await page.waitForURL(zoomed, { timeout: 3_000 }).catch(() => {});
  }
  assert.match(page.url(), zoomed, 'a drag across the CPU chart sets an absolute range');
  assert.ok(reachesTheEnd(), `the drag reached the right end of the 15 minutes: ${page.url()}`);
  const q = new URL(page.url()).searchParams;
  const from = Number(q.get('from'));
  const to = Number(q.get('to'));
  const [f15, t15] = after15m[cpu]!;
  assert.ok(from > f15 && to < t15 + 60_000 && to > from, `zoomed inside the 15 min shown: ${from}–${to}`);
  await chartRange(page, cpu, `from === ${from} && to === ${to}`);
  await drawn(page, [cpu, 'Memory and swap', 'Load average']);
  assert.deepEqual((await ranges(page))[cpu], [from, to]);
  const zoomedDrawn = await page.locator(`figure.chart[data-chart="${cpu}"]`).getAttribute('data-drawn');
  // The picker shows the absolute range instead of a preset.
  assert.equal(await page.getByLabel('Time range').inputValue(), 'custom');

  // The same URL in a new tab: the same view.
  const again = await b!.context.newPage();
  const watchAgain = watchPage(again);
  await again.goto(page.url());
  await drawn(again, [cpu, 'Memory and swap', 'Load average']);
  assert.deepEqual((await ranges(again))[cpu], [from, to]);
  // The range reaches almost to now: samples may have come since, never fewer.
  const againDrawn = await again.locator(`figure.chart[data-chart="${cpu}"]`).getAttribute('data-drawn');
  assert.ok(Number(againDrawn) >= Number(zoomedDrawn), `${againDrawn} values drawn, ${zoomedDrawn} before`);
  assert.equal(await again.getByLabel('Time range').inputValue(), 'custom');
  await again.close();

  watch.assertClean();
  watchAgain.assertClean();
});

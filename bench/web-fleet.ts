/**
 * The dashboard's overview with a large fleet, in headless Chromium: how soon the fleet list is usable after
 * navigation, how fast it answers a search keystroke, and whether scrolling it to the bottom ever blocks
 * the main thread. Goals (issue 14): interactive < 1.5 s, no long task over 50 ms while scrolling.
 *
 * Definitions (all times from the navigation start of `/`, performance.timeOrigin):
 * - rendered: the page's `pgvigil:fleet-rendered` mark, set in the first animation frame after the list
 *   committed its first rows with their sparklines (the data of GET /api/v1/fleet is on screen);
 * - interactive: `rendered`, pushed to the end of every long task (PerformanceObserver 'longtask', > 50 ms)
 *   that starts before 500 ms of main-thread quiet have followed it — from then on input is handled
 *   within 50 ms. Long tasks are observed from the document's start (an init script, buffered);
 * - search response: one input event in the search box → the second animation frame after it (filter,
 *   render and paint of the new rows);
 * - scroll: the list's scroll container is moved by `--step` px every animation frame (a fast wheel) from
 *   the top to its last row, and on until the list has settled and drawn the rows in view in full; long
 *   tasks starting in that window are counted and the longest reported,
 *   with the longest gap between two frames. The last rendered row is checked to be the fleet's last.
 *
 * The fleet: bench/fleet-seed.ts (`seedFleet`) in an embedded store — 1,000 servers, each with a PostgreSQL
 * target, an hour of 10-s samples, statuses and findings mixed — served by a `pgvigil server` child, which
 * also serves the dashboard. Each run is a fresh browser context (empty cache) signed in as a viewer.
 *
 * Run: npm run build && node dist/bench/web-fleet.js [--servers 1000] [--runs 5] [--step 300]
 *   [--url URL --user NAME --password PW] measures a running server instead of seeding one.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type Browser, chromium } from 'playwright-core';
import { silentLogger } from '../src/log.js';
import { addUser } from '../src/server/auth/users.js';
import { type EmbeddedStore, startEmbeddedStore } from '../src/storage/embedded.js';
import { migrate } from '../src/storage/migrate.js';
import { startServerChild } from '../src/tools/bench-ingest.js';
import { version } from '../src/version.js';
import { arg } from './args.js';
import { seedFleet } from './fleet-seed.js';

/** Collects long tasks from the document's start (evaluated before any of the page's scripts). */
const observeLongTasks = `
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]);
  }).observe({ type: 'longtask', buffered: true });
`;

const twoFrames = 'new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))';

interface Run {
  servers: number;
  rendered: number;
  interactive: number;
  fleetMs: number;
  fleetBytes: number;
  /** From the /fleet answer's last byte to `rendered`: the page's own share (parse, sort, render). */
  afterFleet: number;
  loadLongTasks: number;
  searchMs: number;
  searchRows: number;
  scrollMs: number;
  scrollFrames: number;
  scrollLongTasks: number;
  /** Of those, the ones after the last scrolled frame (the list settling and drawing its rows in full). */
  scrollSettleTasks: number;
  scrollLongestTask: number;
  longestFrameGap: number;
  domRows: number;
  reachedEnd: boolean;
}

/** `rendered` pushed past every long task that starts before 500 ms of quiet have followed it. */
function interactiveAt(rendered: number, tasks: readonly (readonly [number, number])[]): number {
  let t = rendered;
  for (const [start, duration] of [...tasks].sort((a, b) => a[0] - b[0])) {
    if (start >= t + 500) break;
    t = Math.max(t, start + duration);
  }
  return t;
}

async function measure(
  browser: Browser,
  url: string,
  user: string,
  password: string,
  step: number,
): Promise<Run> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const page = await context.newPage();
    const login = await page.request.post(`${url}/api/v1/auth/login`, {
      data: { name: user, password },
      headers: { origin: url },
    });
    if (login.status() !== 200) throw new Error(`sign-in: ${login.status()} ${await login.text()}`);
    await page.addInitScript(observeLongTasks);
    await page.goto(`${url}/`);
    await page.waitForSelector('.fleet[data-ready="yes"]', { timeout: 60_000 });
    // Let whatever follows the first render (other requests, the live feed) happen before judging.
    await page.waitForTimeout(1500);
    const load = (await page.evaluate(`(() => {
      const mark = performance.getEntriesByName('pgvigil:fleet-rendered')[0];
      const fleet = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/v1/fleet'));
      return {
        rendered: mark ? mark.startTime : -1,
        tasks: window.__longTasks.slice(),
        fleetMs: fleet ? fleet.responseEnd - fleet.requestStart : -1,
        fleetEnd: fleet ? fleet.responseEnd : -1,
        fleetBytes: fleet ? fleet.encodedBodySize : -1,
        total: Number(document.querySelector('.fleet').dataset.total),
      };
    })()`)) as {
      rendered: number;
      tasks: [number, number][];
      fleetMs: number;
      fleetBytes: number;
      fleetEnd: number;
      total: number;
    };
    const interactive = interactiveAt(load.rendered, load.tasks);

    const search = (await page.evaluate(`(async () => {
      const input = document.getElementById('fleet-q');
      const set = async (v) => {
        const t0 = performance.now();
        input.value = v;
        input.dispatchEvent(new Event('input', { bubbles: true }));
        await ${twoFrames};
        return performance.now() - t0;
      };
      const ms = await set('fleet-01');
      const rows = Number(document.querySelector('.fleet').dataset.rows);
      await set('');
      return { ms, rows };
    })()`)) as { ms: number; rows: number };
    await page.waitForTimeout(300);

    const scroll = (await page.evaluate(`(async () => {
      const el = document.querySelector('.fleet .vlist');
      el.scrollTop = 0;
      await ${twoFrames};
      const t0 = performance.now();
      let last = t0, gap = 0, frames = 0;
      while (el.scrollTop + el.clientHeight < el.scrollHeight - 1) {
        el.scrollTop += ${step};
        await new Promise((r) => requestAnimationFrame(r));
        const now = performance.now();
        gap = Math.max(gap, now - last);
        last = now;
        frames++;
      }
      const lastFrame = performance.now();
      // The window ends after the list has settled and drawn its rows in full (VirtualList's settleMs is
      // 150 ms): that render is part of the scroll a person sees.
      await new Promise((r) => setTimeout(r, 400));
      await ${twoFrames};
      const t1 = performance.now();
      const rows = [...el.querySelectorAll('tbody tr')];
      const lastRow = Math.max(...rows.map((r) => Number(r.getAttribute('aria-rowindex'))));
      const count = Number(el.querySelector('table').getAttribute('aria-rowcount'));
      const tasks = window.__longTasks.filter(([s]) => s >= t0 && s <= t1);
      const settling = tasks.filter(([s]) => s >= lastFrame).length;
      return { ms: t1 - t0, frames, gap, tasks, settling, domRows: rows.length, reachedEnd: lastRow === count };
    })()`)) as {
      ms: number;
      frames: number;
      gap: number;
      tasks: [number, number][];
      settling: number;
      domRows: number;
      reachedEnd: boolean;
    };
    return {
      servers: load.total,
      rendered: load.rendered,
      interactive,
      fleetMs: load.fleetMs,
      fleetBytes: load.fleetBytes,
      afterFleet: load.rendered - load.fleetEnd,
      loadLongTasks: load.tasks.filter(([s]) => s <= interactive).length,
      searchMs: search.ms,
      searchRows: search.rows,
      scrollMs: scroll.ms,
      scrollFrames: scroll.frames,
      scrollLongTasks: scroll.tasks.length,
      scrollSettleTasks: scroll.settling,
      scrollLongestTask: Math.max(0, ...scroll.tasks.map(([, d]) => d)),
      longestFrameGap: scroll.gap,
      domRows: scroll.domRows,
      reachedEnd: scroll.reachedEnd,
    };
  } finally {
    await context.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};

async function main(): Promise<void> {
  const servers = Number(arg('servers', '1000'));
  const runs = Number(arg('runs', '5'));
  const step = Number(arg('step', '300'));
  let url = arg('url', '');
  let user = arg('user', '');
  let password = arg('password', '');
  const log = silentLogger();
  let dir: string | undefined;
  let store: EmbeddedStore | undefined;
  let pool: pg.Pool | undefined;
  let child: ChildProcess | undefined;
  let browser: Browser | undefined;
  try {
    if (!url) {
      dir = mkdtempSync(join(tmpdir(), 'pgvigil-bench-webfleet-'));
      chmodSync(dir, 0o755);
      store = await startEmbeddedStore(join(dir, 'data'), log);
      pool = new pg.Pool({ connectionString: store.url, max: 4 });
      pool.on('error', () => {});
      await migrate(pool, log);
      const t0 = performance.now();
      const seeded = await seedFleet(pool, servers);
      process.stdout.write(
        `seeded ${seeded.serverIds.length} servers (${seeded.rawRows.toLocaleString('en')} raw rows) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
      );
      user = `fleet-bench-${Date.now()}`;
      password = (await addUser(pool, { name: user, role: 'viewer' })).password;
      const server = await startServerChild(store.url);
      child = server.child;
      url = server.url;
    }
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox'],
    });
    const results: Run[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await measure(browser, url, user, password, step);
      results.push(r);
      process.stdout.write(
        `run ${i + 1}: rendered ${r.rendered.toFixed(0)} ms, interactive ${r.interactive.toFixed(0)} ms (GET /fleet ${r.fleetMs.toFixed(0)} ms, ${(r.fleetBytes / 1024).toFixed(0)} KiB on the wire; answer → rendered ${r.afterFleet.toFixed(0)} ms; ${r.loadLongTasks} long tasks before), search ${r.searchMs.toFixed(0)} ms (${r.searchRows} servers), scroll ${r.scrollFrames} frames in ${r.scrollMs.toFixed(0)} ms: ${r.scrollLongTasks} long tasks (${r.scrollSettleTasks} of them settling; longest ${r.scrollLongestTask.toFixed(0)} ms), longest frame gap ${r.longestFrameGap.toFixed(0)} ms, ${r.domRows} rows in the DOM, last row reached: ${r.reachedEnd}\n`,
      );
    }
    const col = (k: keyof Run) => results.map((r) => Number(r[k]));
    process.stdout.write(
      `\nmedian of ${runs}: rendered ${median(col('rendered')).toFixed(0)} ms, interactive ${median(col('interactive')).toFixed(0)} ms (goal < 1500; worst ${Math.max(...col('interactive')).toFixed(0)}), GET /fleet ${median(col('fleetMs')).toFixed(0)} ms, answer → rendered ${median(col('afterFleet')).toFixed(0)} ms, search ${median(col('searchMs')).toFixed(0)} ms; scroll: long tasks ${col('scrollLongTasks').join('/')} per run (goal 0 over 50 ms; longest ${Math.max(...col('scrollLongestTask')).toFixed(0)} ms), longest frame gap ${Math.max(...col('longestFrameGap')).toFixed(0)} ms\n`,
    );
    process.stdout.write(
      `pgvigil ${version}, ${results[0]?.servers ?? 0} servers in the list, viewport 1280×720, Chromium ${browser.version()} headless, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB\n`,
    );
  } finally {
    await browser?.close();
    if (child) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    await pool?.end();
    await store?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

await main();

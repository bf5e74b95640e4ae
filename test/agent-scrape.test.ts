/**
 * The agent's application scrapes (`--scrape-targets-file`), over real HTTP on loopback: `pgvigil collect`'s
 * code path with a Prometheus and a JSON target, rows of family app_metric as the endpoints served them,
 * the series limit counted on the agent's exposition, the documented example file readable.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createAppScrapeCollector } from '../src/agent/collectors/app.js';
import type { ExposedMetric } from '../src/agent/collectors/types.js';
import { readScrapeTargetsFile } from '../src/agent/options.js';
import { collectOnce } from '../src/agent/run.js';
import { silentLogger } from '../src/log.js';
import { packageRoot } from '../src/version.js';

const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function serve(body: string, type: string): Promise<string> {
  const s = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': type });
    res.end(body);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  return `http://127.0.0.1:${a.port}`;
}

test('collect_scrapes_the_targets_of_the_file_into_app_metric_rows', async () => {
  const prom = await serve(
    '# TYPE http_requests_total counter\nhttp_requests_total{code="200"} 41\nhttp_requests_total{code="500"} 2\n# TYPE queue_depth gauge\nqueue_depth 7\n',
    'text/plain; version=0.0.4',
  );
  const json = await serve(JSON.stringify({ pool: { active: 3, waiting: 0 } }), 'application/json');
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-scrape-'));
  const file = join(dir, 'targets.toml');
  writeFileSync(
    file,
    `[[target]]
name = "app"
url = "${prom}/metrics"
interval_ms = 1000
timeout_ms = 1000

[[target]]
name = "pool"
url = "${json}/"
format = "json"
json_mapping = [ { path = "pool.active", name = "pool_active", type = "gauge" } ]
`,
  );
  const scrape = await readScrapeTargetsFile(file);
  const report = await collectOnce({
    procRoot: '/proc',
    sysRoot: '/sys',
    rootFs: '/',
    only: new Set(['app']),
    intervalMs: 100,
    watches: [],
    scrape,
    log: silentLogger(),
  });
  assert.deepEqual(
    report.collectors.map((c) => [c.name, c.status]),
    [
      ['scrape:app', 'ok'],
      ['scrape:pool', 'ok'],
    ],
  );
  const rows = report.families.app_metric!.rows.map((r) => [r.target, r.name, r.labels, r.gauge, r.counter]);
  assert.deepEqual(
    rows.sort((a, b) => String(a[1]).localeCompare(String(b[1])) || String(a[2]).localeCompare(String(b[2]))),
    [
      ['app', 'http_requests_total', 'code="200"', null, 41],
      ['app', 'http_requests_total', 'code="500"', null, 2],
      ['pool', 'pool_active', '', 3, null],
      ['app', 'queue_depth', '', 7, null],
    ],
  );
});

test('the_agent_counts_series_over_the_limit_on_its_exposition', async () => {
  let body = '';
  for (let i = 0; i < 30; i++) body += `m{i="${i}"} ${i}\n`;
  const url = await serve(body, 'text/plain');
  const c = createAppScrapeCollector({
    name: 'big',
    url,
    format: 'prometheus',
    intervalMs: 1000,
    timeoutMs: 1000,
    maxBytes: 1 << 20,
    maxSeries: 20,
  });
  let exposed: ExposedMetric[] = [];
  const ctx = {
    procRoot: '/proc',
    sysRoot: '/sys',
    now: Date.now,
    monotonic: () => performance.now(),
    log: silentLogger(),
    signal: new AbortController().signal,
    expose: (m: ExposedMetric[]) => {
      exposed = m;
    },
  };
  const first = await c.collect(ctx);
  await c.collect(ctx);
  assert.equal(first[0]!.rows.length, 20);
  const dropped = exposed.find((m) => m.name === 'pgvigil_agent_scrape_dropped_samples_total')!;
  assert.deepEqual(dropped.samples, [{ labels: { target: 'big', reason: 'series_limit' }, value: 20 }]);
  assert.equal(c.ownInterval, true, 'a target keeps its own interval');
});

test('the_documented_example_targets_file_is_valid', async () => {
  const targets = await readScrapeTargetsFile(join(packageRoot, 'docs', 'examples', 'scrape-targets.toml'));
  assert.deepEqual(
    targets.map((t) => [t.name, t.format, t.jsonMapping?.length ?? 0]),
    [
      ['api', 'prometheus', 0],
      ['proxy', 'json', 4],
    ],
  );
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-scrape-'));
  writeFileSync(join(dir, 'bad.toml'), '[[target]]\nname = "x"\nurl = "ftp://h/"\n');
  await assert.rejects(
    readScrapeTargetsFile(join(dir, 'bad.toml')),
    /scrape target x\.url: expected an http/,
  );
});

/**
 * Application metrics scraped by the server, over real HTTP on loopback: node_exporter's exposition stored
 * exactly as served, a JSON endpoint through its mapping, the series limit, the SSRF rules (metadata
 * addresses, their IPv6-mapped forms, a redirect to one, a name resolving to a refused address) and the
 * caps (an oversized body, a slow endpoint).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import { ScrapeFetchError } from '../src/scrape/http.js';
import { type ScrapeTarget, scrapeTarget } from '../src/scrape/target.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { createTestStore, type TestStore, testPgLabel } from './helpers/db.js';
import { errorCollectingLogger } from './helpers/error-log.js';
import { nodeExporterPath, parsePromText, requireTool, startNodeExporter } from './helpers/prometheus.js';
import { roleHeaders } from './helpers/users.js';

let ts: TestStore;
let server: App;
let admin: { authorization: string };
let viewer: { authorization: string };
const servers: Server[] = [];
const errors: string[] = [];

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  return `http://127.0.0.1:${a.port}`;
}

before(async () => {
  ts = await createTestStore('scrape');
  server = await buildServerApp({
    store: ts.store,
    log: errorCollectingLogger(errors),
    latestMigration: ts.latest,
    credentialCacheMs: 0,
  });
  await server.app.ready();
  admin = await roleHeaders(ts.store.pool, 'admin');
  viewer = await roleHeaders(ts.store.pool, 'viewer');
});

after(async () => {
  assert.deepEqual(errors, [], 'the server logged no errors');
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await server.app.close();
  await ts.close();
});

async function addTarget(body: Record<string, unknown>) {
  return server.app.inject({ method: 'POST', url: '/api/v1/scrape-targets', headers: admin, payload: body });
}

async function scrapeNow(id: number) {
  const res = await server.app.inject({
    method: 'POST',
    url: `/api/v1/scrape-targets/${id}/scrape`,
    headers: admin,
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as {
    ok: boolean;
    series: number;
    dropped: Record<string, number>;
    error?: string;
    failure?: string;
  };
}

async function storedRows(target: string) {
  const { rows } = await ts.store.pool.query<{
    name: string;
    labels: string;
    gauge: number | null;
    counter: number | null;
    server: string;
  }>(
    `SELECT m.name, m.labels, m.gauge, m.counter, s.name AS server
       FROM pgvigil.app_metric m JOIN pgvigil.servers s USING (server_id) WHERE m.target = $1`,
    [target],
  );
  return rows;
}

/** Canonical label text, written out independently of src/scrape: sorted, `\\`, `"` and newline escaped. */
function canonical(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

test(`node_exporters_exposition_is_stored_exactly_as_served (${testPgLabel})`, async (t) => {
  if (!requireTool(t, nodeExporterPath, 'prometheus-node-exporter')) return;
  const ne = await startNodeExporter();
  try {
    // node_exporter's values move between two reads, so a pass-through keeps the very body it served.
    let served = '';
    const url = await serve(async (_req, res) => {
      served = await (await fetch(ne.url)).text();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(served);
    });
    const created = await addTarget({
      name: 'node',
      url: `${url}/metrics`,
      format: 'prometheus',
      maxSeries: 100_000,
    });
    assert.equal(created.statusCode, 201, created.body);
    const t0 = performance.now();
    const r = await scrapeNow(created.json().id);
    t.diagnostic(
      `scrape now (fetch, parse, write through ingest): ${(performance.now() - t0).toFixed(0)} ms`,
    );
    assert.equal(r.ok, true, r.error);
    const t1 = performance.now();
    const stored = await storedRows('node');
    const byKey = new Map(stored.map((s) => [`${s.name}{${s.labels}}`, s]));
    const metrics = parsePromText(served);
    let compared = 0;
    let counters = 0;
    for (const m of metrics.values()) {
      for (const s of m.samples) {
        const key = `${m.name}{${canonical(s.labels)}}`;
        const row = byKey.get(key);
        if (!Number.isFinite(s.value)) {
          assert.equal(row, undefined, `${key}: a non-finite value is not stored`);
          continue;
        }
        assert.ok(row, `${key} was served but not stored`);
        const isCounter =
          m.type === 'counter' ||
          ((metrics.get(m.name.replace(/_(bucket|sum|count)$/, ''))?.type ?? '').match(
            /histogram|summary/,
          ) !== null &&
            /_(bucket|sum|count)$/.test(m.name));
        assert.equal(isCounter ? row.counter : row.gauge, s.value, `${key}: stored value`);
        assert.equal(isCounter ? row.gauge : row.counter, null, `${key}: the other column is null`);
        if (isCounter) counters++;
        compared++;
      }
    }
    t.diagnostic(`read back and compared ${compared} samples: ${(performance.now() - t1).toFixed(0)} ms`);
    assert.ok(compared > 100, `node_exporter served ${compared} finite samples`);
    assert.ok(counters > 10, `${counters} counters`);
    assert.equal(stored.length, compared, 'nothing stored that was not served');
    assert.equal(stored[0]!.server, 'node', 'rows are stored under the server entry named after the target');
  } finally {
    await ne.stop();
  }
});

test(`a_json_endpoint_is_stored_through_its_mapping (${testPgLabel})`, async () => {
  const url = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        requests: { total: 1500, failed: 12 },
        latency: { p95_ms: 87.5 },
        up: true,
        build: 'x',
      }),
    );
  });
  const created = await addTarget({
    name: 'api',
    server: 'web-1',
    url: `${url}/stats`,
    format: 'json',
    jsonMapping: [
      { path: 'requests.total', name: 'http_requests_total', type: 'counter' },
      { path: 'requests.failed', name: 'http_requests_failed_total', type: 'counter' },
      {
        path: 'latency.p95_ms',
        name: 'http_request_latency',
        type: 'gauge',
        unit: 'ms',
        labels: { quantile: '0.95' },
      },
      { path: 'up', name: 'api_up', type: 'gauge' },
      { path: 'build', name: 'api_build', type: 'gauge' },
    ],
  });
  assert.equal(created.statusCode, 201, created.body);
  assert.equal(created.json().server, 'web-1');
  const r = await scrapeNow(created.json().id);
  assert.deepEqual(
    { ok: r.ok, series: r.series, dropped: r.dropped },
    { ok: true, series: 4, dropped: { not_numeric: 1 } },
  );
  const rows = (await storedRows('api')).sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(
    rows.map((x) => [x.name, x.labels, x.gauge, x.counter, x.server]),
    [
      ['api_up', '', 1, null, 'web-1'],
      ['http_request_latency', 'quantile="0.95",unit="ms"', 87.5, null, 'web-1'],
      ['http_requests_failed_total', '', null, 12, 'web-1'],
      ['http_requests_total', '', null, 1500, 'web-1'],
    ],
  );
  const series = await server.app.inject({
    method: 'GET',
    url: `/api/v1/series?family=app_metric&server=${created.json().serverId}&metrics=gauge&label=name:http_request_latency&tier=raw`,
    headers: viewer,
  });
  assert.equal(series.statusCode, 200, series.body);
  const s = series.json().series;
  assert.equal(s.length, 1, 'charted through the series API');
  assert.deepEqual(s[0].labels, {
    target: 'api',
    name: 'http_request_latency',
    labels: 'quantile="0.95",unit="ms"',
  });
  assert.equal(s[0].points[0][1], 87.5);
  const list = await server.app.inject({ method: 'GET', url: '/api/v1/scrape-targets', headers: viewer });
  assert.equal(list.statusCode, 200);
  const api = list.json().targets.find((x: { name: string }) => x.name === 'api');
  assert.equal(api.lastSeries, 4);
  assert.equal(api.lastError, null);
  const { rows: seen } = await ts.store.pool.query(
    "SELECT last_seen_at FROM pgvigil.servers WHERE name = 'web-1'",
  );
  assert.ok(seen[0].last_seen_at, 'a scrape-only server entry is seen when its scrape works');
  const denied = await server.app.inject({
    method: 'POST',
    url: '/api/v1/scrape-targets',
    headers: viewer,
    payload: {},
  });
  assert.equal(denied.statusCode, 403, 'a viewer may not add targets');
});

test(`the_series_limit_drops_the_excess_and_counts_it (${testPgLabel})`, async () => {
  const url = await serve((_req, res) => {
    let body = '# TYPE jobs gauge\n';
    for (let i = 0; i < 50; i++) body += `jobs{queue="q${i}"} ${i}\n`;
    res.end(body);
  });
  const created = await addTarget({ name: 'many', url, format: 'prometheus', maxSeries: 10 });
  const r = await scrapeNow(created.json().id);
  assert.equal(r.ok, true);
  assert.equal(r.series, 10);
  assert.equal(r.dropped.series_limit, 40);
  assert.equal((await storedRows('many')).length, 10);
  const one = await server.app.inject({
    method: 'GET',
    url: `/api/v1/scrape-targets/${created.json().id}`,
    headers: viewer,
  });
  assert.equal(one.json().lastDropped, 40);
  assert.equal(one.json().droppedTotal, 40);
  const metrics = await server.app.inject({ method: 'GET', url: '/metrics', headers: viewer });
  assert.match(metrics.body, /pgvigil_scrape_dropped_samples_total\{[^}]*reason="series_limit"[^}]*\} 40/);
});

test(`metadata_and_link_local_addresses_and_their_ipv6_forms_are_refused_naming_address_and_rule (${testPgLabel})`, async () => {
  const cases: Array<[string, RegExp]> = [
    [
      'http://169.254.169.254/latest/meta-data/',
      /169\.254\.169\.254 is a cloud metadata address \(rule cloud-metadata\)/,
    ],
    [
      'http://[::ffff:169.254.169.254]/',
      /::ffff:a9fe:a9fe is a cloud metadata address \(rule cloud-metadata\)/,
    ],
    ['http://[::ffff:a9fe:a9fe]:80/', /rule cloud-metadata/],
    ['http://[fd00:ec2::254]/latest/', /fd00:ec2::254 is a cloud metadata address/],
    ['http://169.254.10.1:9100/metrics', /169\.254\.10\.1 is a link-local address \(rule link-local\)/],
    ['http://[fe80::1]:9100/metrics', /fe80::1 is a link-local address/],
  ];
  for (const [url, message] of cases) {
    const res = await addTarget({ name: 'meta', url, format: 'prometheus' });
    assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
    assert.equal(res.json().error.code, 'SCRAPE_ADDRESS_REFUSED');
    assert.match(res.json().error.message, message, url);
  }
  const allowed = await addTarget({
    name: 'meta-allowed',
    url: 'http://169.254.169.254/latest/meta-data/',
    format: 'prometheus',
    allowAddresses: ['169.254.169.254'],
  });
  assert.equal(allowed.statusCode, 201, 'an admin may allow the address explicitly');
  const bad = await addTarget({
    name: 'x',
    url: 'http://127.0.0.1/',
    format: 'prometheus',
    allowAddresses: ['nope'],
  });
  assert.equal(bad.json().error.code, 'SCRAPE_TARGET_INVALID');
});

test(`a_redirect_to_a_metadata_address_is_refused_at_that_hop (${testPgLabel})`, async () => {
  let hits = 0;
  const url = await serve((req, res) => {
    hits++;
    const to =
      req.url === '/mapped'
        ? 'http://[::ffff:169.254.169.254]/latest/meta-data/'
        : 'http://169.254.169.254/latest/meta-data/';
    res.writeHead(302, { location: to });
    res.end();
  });
  for (const [path, shown] of [
    ['/plain', '169.254.169.254'],
    ['/mapped', '::ffff:a9fe:a9fe'],
  ] as const) {
    const created = await addTarget({
      name: `redir${path.replace('/', '-')}`,
      url: `${url}${path}`,
      format: 'prometheus',
    });
    assert.equal(created.statusCode, 201, 'the loopback target itself is allowed');
    const r = await scrapeNow(created.json().id);
    assert.equal(r.ok, false);
    assert.equal(r.failure, 'refused');
    assert.match(
      r.error!,
      new RegExp(
        `refused: ${shown.replace(/[.:]/g, '\\$&')} is a cloud metadata address \\(rule cloud-metadata\\)`,
      ),
    );
  }
  assert.equal(hits, 2, 'the loopback server was asked once per scrape; the metadata hop never');
  const one = await server.app.inject({ method: 'GET', url: '/api/v1/scrape-targets', headers: viewer });
  const t = one.json().targets.find((x: { name: string }) => x.name === 'redir-plain');
  assert.match(t.lastError, /rule cloud-metadata/);
  // Three intervals later the failing targets are findings naming the refusal.
  await server.engine.runJobChecks(new Date(Date.now() + 60_000), { everyCheck: true });
  const { rows: findings } = await ts.store.pool.query(
    "SELECT object, severity, title, action FROM pgvigil.findings WHERE check_id = 'host.app_scrape_failing' AND object LIKE 'redir-%' ORDER BY object",
  );
  assert.deepEqual(
    findings.map((f) => f.object),
    ['redir-mapped', 'redir-plain'],
  );
  assert.match(findings[1].title, /refused: 169\.254\.169\.254 is a cloud metadata address/);
  assert.match(findings[1].action, /allowAddresses/);
});

test('a_name_resolving_to_a_refused_address_is_refused_in_the_connections_lookup', async () => {
  let hits = 0;
  const url = await serve((_req, res) => {
    hits++;
    res.end('up 1\n');
  });
  const port = new URL(url).port;
  const target: ScrapeTarget = {
    name: 't',
    url: `http://localhost:${port}/`,
    format: 'prometheus',
    intervalMs: 10_000,
    timeoutMs: 2_000,
    maxBytes: 1 << 20,
    maxSeries: 10,
  };
  // A policy that refuses loopback stands in for a name whose DNS answer is a metadata address.
  const policy = (ip: string) =>
    ip === '127.0.0.1' || ip === '::1' ? `${ip} is refused (rule test)` : undefined;
  await assert.rejects(scrapeTarget(target, { policy }), (e: Error) => {
    assert.ok(e instanceof ScrapeFetchError);
    assert.equal(e.kind, 'refused');
    assert.match(e.message, /refused: localhost resolves to (127\.0\.0\.1|::1) is refused \(rule test\)/);
    return true;
  });
  assert.equal(hits, 0, 'no connection was made');
  const ok = await scrapeTarget(target);
  assert.deepEqual(ok.samples, [{ name: 'up', labels: '', value: 1, kind: 'gauge' }]);
});

test(`an_oversized_body_and_a_slow_endpoint_are_cut_by_the_caps (${testPgLabel})`, async () => {
  let written = 0;
  let closedEarly = false;
  const big = await serve((_req, res) => {
    const line = `${'x'.repeat(60)} 1\n`;
    const chunk = line.repeat(1000);
    const total = 20 * 1024 * 1024;
    res.on('close', () => {
      if (written < total) closedEarly = true;
    });
    const pump = () => {
      while (written < total) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const created = await addTarget({ name: 'big', url: big, format: 'prometheus', maxBytes: 64 * 1024 });
  const r = await scrapeNow(created.json().id);
  assert.equal(r.failure, 'too-large');
  assert.match(r.error!, /more than the 65536-byte cap; cut there/);
  await new Promise((res) => setTimeout(res, 100));
  assert.ok(closedEarly, `the connection was cut (the endpoint had written ${written} bytes of 20 MiB)`);

  const declared = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
    res.write('a 1\n');
  });
  const d = await addTarget({ name: 'declared', url: declared, format: 'prometheus', maxBytes: 64 * 1024 });
  const rd = await scrapeNow(d.json().id);
  assert.equal(rd.failure, 'too-large');
  assert.match(rd.error!, /declares 10485760 bytes/);

  const slow = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('a 1\n'); // and nothing more, ever
  });
  const s = await addTarget({ name: 'slow', url: slow, format: 'prometheus', timeoutMs: 300 });
  const started = Date.now();
  const rs = await scrapeNow(s.json().id);
  const took = Date.now() - started;
  assert.equal(rs.failure, 'timeout');
  assert.match(rs.error!, /within 300 ms/);
  assert.ok(took < 2_000, `cut after ${took} ms`);
  assert.equal((await storedRows('slow')).length, 0, 'a failed scrape stores nothing');
});

test('node_exporter_is_present_or_the_skip_says_how_to_get_it', (t) => {
  if (!existsSync(nodeExporterPath))
    t.diagnostic(`${nodeExporterPath} absent: the exposition test was skipped`);
});

test(`definitions_are_checked_replaced_and_deleted_by_admins (${testPgLabel})`, async () => {
  const bad = async (body: Record<string, unknown>, message: RegExp) => {
    const res = await addTarget({ name: 'def', url: 'http://127.0.0.1:9/', format: 'prometheus', ...body });
    assert.equal(res.statusCode, 400, res.body);
    assert.match(res.json().error.message, message);
  };
  await bad({ timeoutMs: 20_000, intervalMs: 10_000 }, /timeout_ms: 20000 is longer than interval_ms 10000/);
  await bad({ format: 'json' }, /json mapping: expected a list/);
  await bad({ jsonMapping: [{ path: 'a', name: 'x', type: 'gauge' }] }, /json_mapping: only for format json/);
  await bad({ url: 'http://user:secret@127.0.0.1:9/' }, /credentials in the URL are not accepted/);
  await bad({ url: 'file:///etc/passwd' }, /expected an http/);
  const created = await addTarget({ name: 'def', url: 'http://127.0.0.1:9/', format: 'prometheus' });
  assert.equal(created.statusCode, 201);
  assert.equal(
    (await addTarget({ name: 'def', url: 'http://127.0.0.1:9/', format: 'prometheus' })).json().error.code,
    'SCRAPE_TARGET_EXISTS',
  );
  const id = created.json().id;
  const put = await server.app.inject({
    method: 'PUT',
    url: `/api/v1/scrape-targets/${id}`,
    headers: admin,
    payload: { url: 'http://169.254.169.254/', format: 'prometheus' },
  });
  assert.equal(put.json().error.code, 'SCRAPE_ADDRESS_REFUSED', 'a replaced definition is checked too');
  const ok = await server.app.inject({
    method: 'PUT',
    url: `/api/v1/scrape-targets/${id}`,
    headers: admin,
    payload: { url: 'http://127.0.0.1:10/m', format: 'prometheus', maxSeries: 5 },
  });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(ok.json().maxSeries, 5);
  const r = await scrapeNow(id);
  assert.equal(r.failure, 'network', 'nothing listens on port 10');
  assert.match(r.error!, /ECONNREFUSED/);
  const del = await server.app.inject({
    method: 'DELETE',
    url: `/api/v1/scrape-targets/${id}`,
    headers: admin,
  });
  assert.equal(del.statusCode, 204);
  const gone = await server.app.inject({
    method: 'GET',
    url: `/api/v1/scrape-targets/${id}`,
    headers: viewer,
  });
  assert.equal(gone.statusCode, 404);
});

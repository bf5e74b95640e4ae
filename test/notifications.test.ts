/**
 * Notification delivery end to end on a real store, to real receivers on loopback: a signed webhook, a
 * real Alertmanager (Debian's), an SMTP server; retries, dead letters and their retry through the API;
 * the channel routes' secrecy (nothing of a URL's path or a secret in answers, the store or the log) and
 * their role checks. Finding events are made here, as the findings engine will make them, and queued with
 * `enqueueDeliveries` in a transaction, then the worker is kicked.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type { FindingEvent } from '../src/intelligence/model.js';
import { enqueueDeliveries } from '../src/intelligence/notify/enqueue.js';
import { DeliveryWorker } from '../src/intelligence/notify/worker.js';
import { SecretBox } from '../src/secrets.js';
import { type App, buildServerApp } from '../src/server/app.js';
import { pruneSentDeliveries } from '../src/storage/queries/notifications.sql.js';
import { inTransaction } from '../src/storage/tx.js';
import { packageRoot } from '../src/version.js';
import { createTestStore, type TestStore } from './helpers/db.js';
import { parsePromText, requireTool, sampleValue } from './helpers/prometheus.js';
import {
  alertmanagerPath,
  type HttpReceiver,
  startAlertmanager,
  startHttpReceiver,
  startSmtpReceiver,
} from './helpers/receivers.js';
import { roleHeaders } from './helpers/users.js';
import { until } from './helpers/wait.js';

type Json = Record<string, unknown>;

let ts: TestStore;
let server: App;
const box = SecretBox.random();
/** Every line the server logged, at every level. */
const logLines: string[] = [];
const receivers: HttpReceiver[] = [];
/** Delivery latencies seen (event time → arrival at the receiver), in ms. */
const latencies: number[] = [];

const fixture = JSON.parse(
  readFileSync(`${packageRoot}/test/fixtures/findings/blocked-session.json`, 'utf8'),
) as FindingEvent;

/** A fired event of check `check` happening now (each test routes on its own check id). */
function firedEvent(check: string, object = 'pid:4242'): FindingEvent {
  const now = new Date().toISOString();
  return {
    event: 'fired',
    at: now,
    finding: {
      ...fixture.finding,
      check,
      object,
      key: `${check}|7|12|${object}`,
      firstSeen: now,
      lastSeen: now,
    },
  };
}

function resolvedEvent(e: FindingEvent): FindingEvent {
  const now = new Date().toISOString();
  return {
    event: 'resolved',
    at: now,
    finding: { ...e.finding, state: 'resolved', resolvedAt: now, lastSeen: now },
  };
}

async function api(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  body?: unknown,
  role: 'viewer' | 'user' | 'admin' = 'admin',
) {
  const res = await server.app.inject({
    method,
    url: `/api/v1${url}`,
    headers: await roleHeaders(ts.store.pool, role),
    ...(body === undefined ? {} : { payload: body as Json }),
  });
  return { status: res.statusCode, body: (res.body ? res.json() : {}) as Json };
}

async function createChannel(body: Json): Promise<Json> {
  const res = await api('POST', '/channels', body);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** A webhook channel to a loopback receiver for these checks. */
function webhookChannel(name: string, url: string, checks: string[]): Promise<Json> {
  return createChannel({ name, type: 'webhook', config: { url }, allowPrivate: true, routing: { checks } });
}

async function enqueue(events: FindingEvent[]): Promise<number> {
  const n = await inTransaction(ts.store.pool, (c) => enqueueDeliveries(c, events));
  server.delivery.kick();
  return n;
}

async function metrics() {
  const res = await server.app.inject({
    method: 'GET',
    url: '/metrics',
    headers: await roleHeaders(ts.store.pool, 'viewer'),
  });
  return parsePromText(res.body);
}

async function deliveries(channelId: unknown) {
  const { rows } = await ts.store.pool.query<{
    state: string;
    attempts: number;
    event: string;
    last_error: string | null;
  }>(
    'SELECT state, attempts, event, last_error FROM pgvigil.notification_deliveries WHERE channel_id = $1 ORDER BY delivery_id',
    [channelId],
  );
  return rows;
}

/** An RFC 2047 header value (UTF-8 Q-encoded words, folded) as text. */
function decodeHeader(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?UTF-8\?Q\?([^?]*)\?=/gi, (_, q: string) => decodeQuotedPrintable(q.replace(/_/g, ' ')))
    .replace(/\r\n[ \t]/g, ' ');
}

function decodeQuotedPrintable(text: string): string {
  const bytes = text
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

before(async () => {
  ts = await createTestStore('notify');
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  server = await buildServerApp({
    store: ts.store,
    log: pino({ level: 'debug' }, sink),
    latestMigration: ts.latest,
    secrets: box,
    delivery: { pollMs: 200, baseDelayMs: 100, maxDelayMs: 400, resendMs: 1000 },
  });
  await server.app.ready();
});

after(async () => {
  await server?.app.close();
  for (const r of receivers) await r.close();
  await ts?.close();
  if (latencies.length > 0) {
    const sorted = [...latencies].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
    process.stdout.write(
      `# delivery latency (event → receiver), ms: n=${sorted.length} min=${sorted[0]} p50=${q(0.5)} p95=${q(0.95)} max=${sorted.at(-1)}\n`,
    );
  }
});

async function receiver(respond?: (n: number) => number): Promise<HttpReceiver> {
  const r = await startHttpReceiver(respond);
  receivers.push(r);
  return r;
}

describe('webhook', () => {
  test('a fired finding reaches a webhook receiver within a second, signed with the channel secret', async () => {
    const r = await receiver();
    const secret = 'test-webhook-secret-0123456789';
    const ch = await createChannel({
      name: 'ops-webhook',
      type: 'webhook',
      config: { url: `${r.url}/hooks/pgvigil-SECRETPATH?token=QUERYSECRET`, secret },
      routing: { checks: ['test.webhook'] },
      allowPrivate: true,
    });
    assert.equal(ch.secret, undefined, 'a given secret is not echoed');
    const e = firedEvent('test.webhook');
    assert.equal(await enqueue([e]), 1);
    await until(() => r.received.length === 1, 5000, 'webhook delivery');
    const got = r.received[0]!;
    latencies.push(got.at - Date.parse(e.at));
    assert.ok(got.at - Date.parse(e.at) < 1000, `delivered in ${got.at - Date.parse(e.at)} ms`);
    assert.equal(got.path, '/hooks/pgvigil-SECRETPATH?token=QUERYSECRET');
    // What a receiver does: recompute the HMAC of "<timestamp>.<body>" and compare in constant time.
    const ts_ = String(got.headers['x-pgvigil-timestamp']);
    assert.ok(Math.abs(Number(ts_) - Date.now() / 1000) < 60, 'a current timestamp');
    const expected = Buffer.from(
      `sha256=${createHmac('sha256', secret).update(`${ts_}.${got.body}`).digest('hex')}`,
    );
    const signature = Buffer.from(String(got.headers['x-pgvigil-signature']));
    assert.ok(
      signature.length === expected.length && timingSafeEqual(signature, expected),
      'signature verifies',
    );
    const body = JSON.parse(got.body) as Json;
    assert.equal(body.event, 'fired');
    assert.equal(typeof body.pgvigil, 'string');
    assert.deepEqual(body.finding, e.finding);
    await until(async () => (await deliveries(ch.channelId))[0]?.state === 'sent', 2000, 'marked sent');

    const m = await metrics();
    assert.equal(
      sampleValue(m, 'pgvigil_notifications_sent_total', { channel_type: 'webhook', event: 'fired' }),
      1,
    );
    assert.ok(m.get('pgvigil_notification_delivery_seconds_count'), 'latency histogram');
  });

  test('30 alerts one after another each arrive within a second of their event', async () => {
    const r = await receiver();
    const ch = await webhookChannel('latency', `${r.url}/in`, ['test.latency.*']);
    for (let i = 0; i < 30; i++) {
      const e = firedEvent(`test.latency.${i}`);
      await enqueue([e]);
      await until(() => r.received.length === i + 1, 5000, `alert ${i}`);
      const ms = r.received[i]!.at - Date.parse(e.at);
      latencies.push(ms);
      assert.ok(ms < 1000, `alert ${i} took ${ms} ms`);
    }
    await api('PATCH', `/channels/${ch.channelId}`, { enabled: false });
  });

  test('the channel’s URL path, query and secret are never returned, stored in clear or logged', async () => {
    const r = await receiver();
    const slackLike = `${r.url}/services/T0AAAA/B0BBBB/SLACKSECRETTOKEN`;
    const created = await createChannel({
      name: 'slack-like',
      type: 'slack',
      config: { url: slackLike.replace('http://', 'https://') },
      allowPrivate: true,
      routing: { checks: ['none'] },
    });
    const generated = await webhookChannel('generated-secret', `${r.url}/GENPATH`, ['test.generated']);
    assert.match(String(generated.secret), /^[A-Za-z0-9_-]{40,}$/, 'a generated secret is shown once');
    const list = await api('GET', '/channels');
    assert.equal(list.status, 200);
    const text = JSON.stringify(list.body);
    const secrets = [
      'SLACKSECRETTOKEN',
      'SECRETPATH',
      'QUERYSECRET',
      'GENPATH',
      'test-webhook-secret',
      String(generated.secret),
    ];
    for (const s of secrets) assert.ok(!text.includes(s), `GET /channels shows ${s}`);
    const slack = (list.body.channels as Json[]).find((c) => c.channelId === created.channelId)!;
    assert.equal(slack.display, `https://${new URL(r.url).host}/…`);

    const { rows } = await ts.store.pool.query<{ config_enc: Buffer; display: string; routing: unknown }>(
      'SELECT config_enc, display, routing FROM pgvigil.notification_channels',
    );
    for (const row of rows) {
      for (const s of ['SLACKSECRETTOKEN', 'SECRETPATH', 'QUERYSECRET', '127.0.0.1', 'test-webhook-secret']) {
        assert.ok(!row.config_enc.includes(Buffer.from(s)), `config_enc holds ${s} in clear`);
        assert.ok(!JSON.stringify(row).includes(s) || s === '127.0.0.1', `row shows ${s}`);
      }
    }
    // A send that fails, to a receiver whose error answer echoes the path: neither the stored error nor the
    // log shows it.
    r.respond = () => 500;
    await enqueue([firedEvent('test.generated')]);
    await until(
      async () => (await deliveries(generated.channelId))[0]?.last_error != null,
      3000,
      'a failed attempt',
    );
    const stored = String((await deliveries(generated.channelId))[0]!.last_error);
    assert.match(stored, /^HTTP 500: status 500 for \[redacted\]/);
    const log = logLines.join('');
    for (const s of secrets) assert.ok(!log.includes(s), `the log shows ${s}`);
    await api('PATCH', `/channels/${generated.channelId}`, { enabled: false });
  });

  test('the test route sends at once and reports the receiver’s status and latency', async () => {
    const r = await receiver();
    const ch = await webhookChannel('test-send', `${r.url}/t`, ['none']);
    const res = await api('POST', `/channels/${ch.channelId}/test`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.ok, true);
    assert.equal(res.body.status, 200);
    assert.equal(typeof res.body.latencyMs, 'number');
    assert.equal(r.received.length, 1);
    assert.equal((JSON.parse(r.received[0]!.body) as Json).event, 'test');
    r.respond = () => 403;
    const refused = await api('POST', `/channels/${ch.channelId}/test`);
    assert.deepEqual([refused.body.ok, refused.body.status, refused.body.reason], [false, 403, 'http-4xx']);
    assert.match(String(refused.body.error), /^HTTP 403/);
  });
});

describe('retries and dead letters', () => {
  test('a receiver answering 500 twice then 200 gets the alert on the third attempt', async () => {
    const r = await receiver((n) => (n < 2 ? 500 : 200));
    const ch = await webhookChannel('flaky', `${r.url}/in`, ['test.retry']);
    await enqueue([firedEvent('test.retry')]);
    await until(
      async () => (await deliveries(ch.channelId))[0]?.state === 'sent',
      5000,
      'sent after retries',
    );
    assert.deepEqual(
      r.received.map((x) => x.status),
      [500, 500, 200],
    );
    assert.equal((await deliveries(ch.channelId))[0]!.attempts, 3);
    const m = await metrics();
    assert.ok(
      sampleValue(m, 'pgvigil_notification_failures_total', {
        channel_type: 'webhook',
        reason: 'http-5xx',
      }) >= 2,
    );
  });

  test('a 400 is a dead letter at once, listed by the API, and sent again by retry', async () => {
    const r = await receiver(() => 400);
    const ch = await webhookChannel('refuses', `${r.url}/in`, ['test.dead']);
    const e = firedEvent('test.dead');
    await enqueue([e]);
    await until(async () => (await deliveries(ch.channelId))[0]?.state === 'dead', 5000, 'dead');
    assert.equal(r.received.length, 1, 'no retry of a 400');
    const dead = await api('GET', '/notifications/dead');
    assert.equal(dead.status, 200);
    const mine = (dead.body.deliveries as Json[]).filter((d) => d.channelId === ch.channelId);
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.findingKey, e.finding.key);
    assert.equal(mine[0]!.event, 'fired');
    assert.equal(mine[0]!.attempts, 1);
    assert.equal(mine[0]!.lastStatus, 400);
    assert.match(String(mine[0]!.lastError), /^HTTP 400/);
    await until(
      async () => sampleValue(await metrics(), 'pgvigil_notification_dead_letters') >= 1,
      3000,
      'dead-letter gauge',
    );

    r.respond = () => 200;
    const retry = await api('POST', `/notifications/${mine[0]!.deliveryId}/retry`);
    assert.equal(retry.status, 202);
    await until(() => r.received.length === 2, 3000, 'sent again');
    await until(async () => (await deliveries(ch.channelId))[0]?.state === 'sent', 2000, 'sent');
    assert.equal(
      (await api('POST', `/notifications/${mine[0]!.deliveryId}/retry`)).status,
      404,
      'only dead letters',
    );
  });

  test('a resolution waits for its alert: both arrive, in order, when the first was retried', async () => {
    const r = await receiver((n) => (n === 0 ? 503 : 200));
    const ch = await webhookChannel('ordered', `${r.url}/in`, ['test.order']);
    const e = firedEvent('test.order');
    await enqueue([e]);
    await enqueue([resolvedEvent(e)]);
    await until(
      async () => (await deliveries(ch.channelId)).every((d) => d.state === 'sent'),
      5000,
      'both sent',
    );
    assert.deepEqual(
      r.received.filter((x) => x.status === 200).map((x) => (JSON.parse(x.body) as Json).event),
      ['fired', 'resolved'],
    );
  });
});

describe('routing', () => {
  test('severity, server and check filters pick channels; a resolution follows its alert', async () => {
    const { rows } = await ts.store.pool.query<{ server_id: number }>(
      `INSERT INTO pgvigil.servers (name, labels) VALUES ('db-route-1', '{"env":"prod"}') RETURNING server_id`,
    );
    const serverId = Number(rows[0]!.server_id);
    const r = await receiver();
    const critical = await createChannel({
      name: 'route-critical',
      type: 'webhook',
      config: { url: `${r.url}/c` },
      allowPrivate: true,
      routing: { minSeverity: 'critical', checks: ['route.*'] },
    });
    const prod = await createChannel({
      name: 'route-prod',
      type: 'webhook',
      config: { url: `${r.url}/p` },
      allowPrivate: true,
      routing: {
        minSeverity: 'info',
        serverLabels: { env: 'prod' },
        checks: ['route.*'],
        excludeChecks: ['route.noisy'],
      },
    });
    const e = (check: string, severity: 'info' | 'warning' | 'critical', sid = serverId): FindingEvent => {
      const f = firedEvent(check);
      return { ...f, finding: { ...f.finding, serverId: sid, severity, key: `${check}|${sid}||` } };
    };
    const warn = e('route.a', 'warning');
    const crit = e('route.b', 'critical');
    const other = e('route.c', 'critical', serverId + 1000);
    const noisy = e('route.noisy', 'warning');
    assert.equal(await enqueue([warn, crit, other, noisy]), 4); // crit → both; warn → prod; other → critical
    const count = async (id: unknown) => (await deliveries(id)).length;
    assert.deepEqual([await count(critical.channelId), await count(prod.channelId)], [2, 2]);
    // The alert's severity drops below the channel's minimum before it resolves: the resolution still goes.
    const down = resolvedEvent(crit);
    down.finding.severity = 'warning';
    assert.equal(await enqueue([down]), 2);
    assert.deepEqual(
      (await deliveries(critical.channelId)).map((d) => d.event),
      ['fired', 'fired', 'resolved'],
    );
  });
});

describe('several instances', () => {
  test('two workers sharing the outbox send each of 60 notifications exactly once', async (t) => {
    const r = await receiver();
    const ch = await webhookChannel('shared', `${r.url}/in`, ['test.shared.*']);
    // Another server instance on the same store, with the same key.
    const other = new DeliveryWorker({ pool: ts.store.pool, box, log: pino({ level: 'silent' }) });
    other.start();
    t.after(() => other.stop());
    const events = Array.from({ length: 60 }, (_, i) => firedEvent(`test.shared.${i}`));
    await inTransaction(ts.store.pool, (c) => enqueueDeliveries(c, events));
    server.delivery.kick();
    other.kick();
    await until(
      async () => (await deliveries(ch.channelId)).every((d) => d.state === 'sent'),
      10_000,
      'all sent',
    );
    const keys = r.received.map((x) => (JSON.parse(x.body) as { finding: { key: string } }).finding.key);
    assert.equal(keys.length, 60);
    assert.equal(new Set(keys).size, 60);
    await api('PATCH', `/channels/${ch.channelId}`, { enabled: false });
  });
});

describe('outbox upkeep', () => {
  test('old sent notifications are pruned, but the newest alert of a finding still open is kept', async () => {
    const r = await receiver();
    const ch = await webhookChannel('prune', `${r.url}/in`, ['test.prune.*']);
    const open = firedEvent('test.prune.open');
    const closed = firedEvent('test.prune.closed');
    await enqueue([open, closed]);
    await enqueue([resolvedEvent(closed)]);
    await until(
      async () => (await deliveries(ch.channelId)).filter((d) => d.state === 'sent').length === 3,
      5000,
      'sent',
    );
    await ts.store.pool.query(
      "UPDATE pgvigil.notification_deliveries SET sent_at = now() - interval '8 days' WHERE channel_id = $1",
      [ch.channelId],
    );
    assert.equal(await pruneSentDeliveries(ts.store.pool, 7 * 86_400_000), 2);
    assert.deepEqual(
      (await deliveries(ch.channelId)).map((d) => d.event),
      ['fired'],
    );
    await api('PATCH', `/channels/${ch.channelId}`, { enabled: false });
  });
});

describe('address guard', () => {
  test('metadata, link-local and (without allowPrivate) loopback destinations are refused with 400', async () => {
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://[fe80::1]/x',
      'http://metadata.google.internal/',
    ]) {
      const res = await api('POST', '/channels', {
        name: `bad-${url.length}`,
        type: 'webhook',
        config: { url },
      });
      assert.equal(res.status, 400, url);
      assert.equal((res.body.error as Json).code, 'CHANNEL_ADDRESS_REFUSED', url);
    }
    const loop = await api('POST', '/channels', {
      name: 'loop',
      type: 'alertmanager',
      config: { url: 'http://127.0.0.1:9093' },
    });
    assert.equal(loop.status, 400);
    assert.match(
      String((loop.body.error as Json).message),
      /loopback address; an admin may allow it with allowPrivate: true/,
    );
    const scheme = await api('POST', '/channels', {
      name: 'file',
      type: 'webhook',
      config: { url: 'file:///etc/passwd' },
    });
    assert.equal((scheme.body.error as Json).code, 'CHANNEL_CONFIG_INVALID');
  });

  test('the address is checked again at send time: a refused one fails with reason address-refused', async () => {
    const r = await receiver();
    const ch = await webhookChannel('was-allowed', `${r.url}/in`, ['test.ssrf']);
    const patched = await api('PATCH', `/channels/${ch.channelId}`, { allowPrivate: false });
    assert.equal(patched.status, 400, 'taking allowPrivate away re-checks the address');
    // As if DNS had changed since: the stored channel no longer may reach its address.
    await ts.store.pool.query(
      'UPDATE pgvigil.notification_channels SET allow_private = false WHERE channel_id = $1',
      [ch.channelId],
    );
    await enqueue([firedEvent('test.ssrf')]);
    await until(
      async () => (await deliveries(ch.channelId))[0]?.last_error != null,
      3000,
      'a refused attempt',
    );
    assert.equal(r.received.length, 0);
    assert.match(
      String((await deliveries(ch.channelId))[0]!.last_error),
      /refused: 127\.0\.0\.1 is a loopback address/,
    );
    assert.ok(
      sampleValue(await metrics(), 'pgvigil_notification_failures_total', {
        channel_type: 'webhook',
        reason: 'address-refused',
      }) >= 1,
    );
    await api('PATCH', `/channels/${ch.channelId}`, { enabled: false });
  });
});

describe('e-mail', () => {
  test('an SMTP server on loopback gets the mail with the finding’s title and action', async (t) => {
    const smtp = await startSmtpReceiver();
    t.after(() => smtp.close());
    await createChannel({
      name: 'mail',
      type: 'email',
      config: {
        host: smtp.host,
        port: smtp.port,
        security: 'none',
        from: 'pgvigil@example.com',
        to: ['dba@example.com', 'oncall@example.com'],
      },
      allowPrivate: true,
      routing: { checks: ['test.mail'] },
    });
    const e = firedEvent('test.mail');
    await enqueue([e]);
    await until(() => smtp.mails.length === 1, 10_000, 'mail');
    latencies.push(smtp.mails[0]!.at - Date.parse(e.at));
    const mail = smtp.mails[0]!;
    assert.deepEqual(mail.to.sort(), ['dba@example.com', 'oncall@example.com']);
    assert.equal(mail.from, 'pgvigil@example.com');
    const subject = decodeHeader(/^Subject: (.*(?:\r\n[ \t].*)*)/m.exec(mail.raw)?.[1] ?? '');
    assert.equal(
      subject,
      `[pgvigil] [CRITICAL] ${e.finding.title} — db-eu-1 / orders@db-eu-1:5432 / pid:4242`,
    );
    const body = decodeQuotedPrintable(mail.raw);
    assert.match(
      body,
      /Content-Type: text\/plain[\s\S]*What to do:\r?\n\r?\n {4}SELECT pg_terminate_backend\(4242\);/,
    );
    assert.match(body, /Content-Type: text\/html[\s\S]*<pre>SELECT pg_terminate_backend\(4242\);<\/pre>/);
  });
});

describe('alertmanager', () => {
  test('a real Alertmanager shows the fired alert with its labels and annotations, then resolves it', async (t) => {
    if (!requireTool(t, alertmanagerPath, 'prometheus-alertmanager')) return;
    const am = await startAlertmanager();
    t.after(() => am.stop());
    await createChannel({
      name: 'am',
      type: 'alertmanager',
      config: { url: am.url },
      allowPrivate: true,
      routing: { checks: ['pg.blocked_sessions'] },
    });
    const e = firedEvent('pg.blocked_sessions');
    await enqueue([e]);
    const mine = async () => (await am.alerts()).filter((a) => a.labels.pgvigil_key === e.finding.key);
    await until(async () => (await mine()).length === 1, 10_000, 'alert in Alertmanager');
    const [alert] = await mine();
    assert.equal(alert!.status.state, 'active');
    const f = e.finding;
    assert.deepEqual(alert!.labels, {
      alertname: f.check,
      severity: f.severity,
      server: f.serverName,
      target: f.targetName,
      object: f.object,
      pgvigil_key: f.key,
    });
    assert.equal(alert!.annotations.summary, e.finding.title);
    assert.equal(alert!.annotations.description, e.finding.explanation);
    assert.equal(alert!.annotations.action, e.finding.action);
    assert.deepEqual(JSON.parse(alert!.annotations.evidence!), e.finding.evidence);
    assert.equal(Date.parse(alert!.startsAt), Date.parse(e.finding.firstSeen));
    assert.ok(Date.parse(alert!.endsAt) > Date.now(), 'no end given: Alertmanager keeps it active');
    // Alertmanager would let it lapse after resolve_timeout: the open alert is sent again, pushing endsAt on.
    await until(
      async () => Date.parse((await mine())[0]!.endsAt) > Date.parse(alert!.endsAt),
      10_000,
      'alert refreshed',
    );

    await enqueue([resolvedEvent(e)]);
    await until(
      async () => (await mine()).length === 0,
      10_000,
      'alert resolved (gone from the active list)',
    );
  });
});

describe('roles', () => {
  test('viewers and users get 403 on every channel and dead-letter route', async () => {
    const routes: Array<['GET' | 'POST' | 'PATCH' | 'DELETE', string, unknown?]> = [
      ['GET', '/channels'],
      ['POST', '/channels', { name: 'x', type: 'slack', config: { url: 'https://hooks.slack.com/x' } }],
      ['PATCH', '/channels/1', { enabled: false }],
      ['DELETE', '/channels/1'],
      ['POST', '/channels/1/test'],
      ['GET', '/notifications/dead'],
      ['POST', '/notifications/1/retry'],
    ];
    for (const role of ['viewer', 'user'] as const) {
      for (const [method, url, body] of routes) {
        const res = await api(method, url, body, role);
        assert.equal(res.status, 403, `${role} ${method} ${url}`);
        assert.equal((res.body.error as Json).code, 'FORBIDDEN');
      }
    }
  });

  test('a channel’s configuration is replaced whole by PATCH, and DELETE removes it', async () => {
    const r = await receiver();
    const ch = await webhookChannel('changing', `${r.url}/old-PATHSECRET`, ['none']);
    const changed = await api('PATCH', `/channels/${ch.channelId}`, {
      name: 'changed',
      config: { url: `${r.url}/`, secret: 'a-new-secret-of-enough-length' },
      routing: { minSeverity: 'critical' },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.name, 'changed');
    assert.equal(changed.body.display, r.url);
    assert.deepEqual(changed.body.routing, { minSeverity: 'critical' });
    const sent = await api('POST', `/channels/${ch.channelId}/test`);
    assert.equal(sent.body.ok, true);
    assert.equal(r.received.at(-1)!.path, '/');
    const badConfig = await api('PATCH', `/channels/${ch.channelId}`, {
      config: { url: `${r.url}/`, secret: 'short' },
    });
    assert.equal((badConfig.body.error as Json).code, 'CHANNEL_CONFIG_INVALID');
    assert.equal((await api('DELETE', `/channels/${ch.channelId}`)).status, 204);
    const list = await api('GET', '/channels');
    assert.ok(!(list.body.channels as Json[]).some((c) => c.channelId === ch.channelId));
  });

  test('channel names are unique; unknown ids are 404', async () => {
    await createChannel({
      name: 'unique',
      type: 'slack',
      config: { url: 'https://hooks.example/x' },
      allowPrivate: true,
      routing: { checks: ['none'] },
    });
    const again = await api('POST', '/channels', {
      name: 'unique',
      type: 'slack',
      config: { url: 'https://hooks.example/y' },
      allowPrivate: true,
    });
    assert.equal(again.status, 409);
    assert.equal((again.body.error as Json).code, 'CHANNEL_EXISTS');
    assert.equal((await api('PATCH', '/channels/999999', { enabled: true })).status, 404);
    assert.equal((await api('DELETE', '/channels/999999')).status, 404);
    assert.equal((await api('POST', '/channels/999999/test')).status, 404);
  });
});

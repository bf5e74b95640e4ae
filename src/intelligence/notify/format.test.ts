import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { packageRoot, version } from '../../version.js';
import { formatAlertmanager } from './alertmanager.js';
import type { DeliveryEvent } from './channels.js';
import { formatEmail } from './email.js';
import { formatSlack } from './slack.js';
import { formatWebhook, webhookSignature } from './webhook.js';
import { retryDelayMs } from './worker.js';

const fired = JSON.parse(
  readFileSync(`${packageRoot}/test/fixtures/findings/blocked-session.json`, 'utf8'),
) as DeliveryEvent;
const resolved: DeliveryEvent = {
  event: 'resolved',
  at: '2026-12-02T10:20:00.000Z',
  finding: { ...fired.finding, state: 'resolved', resolvedAt: '2026-12-02T10:19:45.000Z' },
};
const now = Date.parse('2026-12-02T10:15:31.250Z');

test('webhook: the event as JSON with the pgvigil version, signed over timestamp and body', () => {
  const req = formatWebhook(fired, { url: 'https://hooks.example/in', secret: 'webhook-secret-123' }, now);
  assert.equal(req.url, 'https://hooks.example/in');
  const body = JSON.parse(req.body) as Record<string, unknown>;
  assert.equal(body.pgvigil, version);
  assert.equal(body.event, 'fired');
  assert.deepEqual(body.finding, fired.finding);
  assert.equal(req.headers['x-pgvigil-timestamp'], '1796206531');
  assert.equal(
    req.headers['x-pgvigil-signature'],
    webhookSignature('webhook-secret-123', 1796206531, req.body),
  );
  assert.match(req.headers['x-pgvigil-signature']!, /^sha256=[0-9a-f]{64}$/);
  assert.notEqual(
    webhookSignature('other-secret-12345', 1796206531, req.body),
    req.headers['x-pgvigil-signature'],
  );
});

test('slack: text and blocks with severity, title, place, explanation and the action as code; no links', () => {
  const req = formatSlack(fired, { url: 'https://hooks.slack.com/services/T/B/S' });
  const body = JSON.parse(req.body) as { text: string; blocks: Array<{ text?: { text: string } }> };
  assert.equal(
    body.text,
    '[CRITICAL] 3 sessions blocked behind an idle transaction for 4 min — db-eu-1 / orders@db-eu-1:5432 / pid:4242',
  );
  const all = JSON.stringify(body.blocks);
  assert.match(all, /```SELECT pg_terminate_backend\(4242\);```/);
  assert.match(all, /app &lt;orders&gt;\) opened a transaction &amp; has been idle/, 'mrkdwn escaped');
  assert.doesNotMatch(all, /https?:\/\//);
  const done = JSON.parse(formatSlack(resolved, { url: 'https://x' }).body) as {
    text: string;
    blocks: unknown[];
  };
  assert.match(done.text, /^\[RESOLVED\] /);
  assert.doesNotMatch(
    JSON.stringify(done.blocks),
    /pg_terminate_backend/,
    'no action for a resolved finding',
  );
});

test('alertmanager: one alert, labels name the finding, annotations carry the words; endsAt only when resolved', () => {
  const req = formatAlertmanager(fired, { url: 'http://am.example:9093/' }, now);
  assert.equal(req.url, 'http://am.example:9093/api/v2/alerts');
  const [alert, ...more] = JSON.parse(req.body) as Array<Record<string, Record<string, string> | string>>;
  assert.equal(more.length, 0);
  assert.deepEqual(alert!.labels, {
    alertname: 'pg.blocked_sessions',
    severity: 'critical',
    server: 'db-eu-1',
    target: 'orders@db-eu-1:5432',
    object: 'pid:4242',
    pgvigil_key: 'pg.blocked_sessions|7|12|pid:4242',
  });
  const ann = alert!.annotations as Record<string, string>;
  assert.equal(ann.summary, fired.finding.title);
  assert.equal(ann.description, fired.finding.explanation);
  assert.equal(ann.action, 'SELECT pg_terminate_backend(4242);');
  assert.deepEqual(JSON.parse(ann.evidence!), fired.finding.evidence);
  assert.equal(alert!.startsAt, '2026-12-02T10:15:00.000Z');
  assert.ok(!('endsAt' in alert!));
  const [end] = JSON.parse(
    formatAlertmanager(resolved, { url: 'http://am.example:9093' }, now).body,
  ) as Array<Record<string, string>>;
  assert.equal(end!.endsAt, '2026-12-02T10:19:45.000Z');
  const basic = formatAlertmanager(fired, { url: 'http://am', username: 'u', password: 'p' }, now);
  assert.equal(basic.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
});

test('e-mail: subject with severity and title; text and HTML carry the action and escape the finding', () => {
  const m = formatEmail(fired, {
    host: 'mail',
    port: 25,
    security: 'none',
    from: 'pgvigil@example.com',
    to: ['ops@example.com'],
  });
  assert.equal(
    m.subject,
    '[pgvigil] [CRITICAL] 3 sessions blocked behind an idle transaction for 4 min — db-eu-1 / orders@db-eu-1:5432 / pid:4242',
  );
  assert.match(m.text, /What to do:\n\n {4}SELECT pg_terminate_backend\(4242\);/);
  assert.match(m.text, /"blockingPid": 4242/);
  assert.match(m.html, /<pre>SELECT pg_terminate_backend\(4242\);<\/pre>/);
  assert.match(m.html, /app &lt;orders&gt;\) opened a transaction &amp; has been idle/);
  assert.deepEqual(m.to, ['ops@example.com']);
});

test('retries wait 1 s, 2 s, 4 s … capped at 5 min, within ±20 %', () => {
  const mid = () => 0.5;
  assert.deepEqual(
    [1, 2, 3, 4, 9, 20].map((a) => retryDelayMs(a, 1000, 300_000, mid)),
    [1000, 2000, 4000, 8000, 256_000, 300_000],
  );
  assert.equal(
    retryDelayMs(1, 1000, 300_000, () => 0),
    800,
  );
  assert.equal(
    retryDelayMs(1, 1000, 300_000, () => 1),
    1200,
  );
});

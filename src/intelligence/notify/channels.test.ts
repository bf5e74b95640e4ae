import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Finding } from '../model.js';
import {
  channelDisplay,
  channelSecrets,
  parseChannelConfig,
  redact,
  routeMatches,
  type WebhookConfig,
} from './channels.js';

const gen = () => 'generated-secret-0123456789';

test('configurations are validated per type, naming the field', () => {
  const bad = (type: Parameters<typeof parseChannelConfig>[0], raw: unknown, message: RegExp) =>
    assert.throws(() => parseChannelConfig(type, raw, gen), { code: 'CHANNEL_CONFIG_INVALID', message });
  bad('webhook', { url: 'ftp://x.example/' }, /config\.url: must be http or https, not ftp/);
  bad('webhook', { url: 'https://u:p@x.example/' }, /config\.url: must not carry a user name or password/);
  bad('webhook', { url: 'https://x.example/', secret: 'short' }, /config\.secret: at least 16/);
  bad('webhook', { url: 'https://x.example/', extra: 1 }, /config\.extra: unknown field/);
  bad(
    'slack',
    { url: 'http://hooks.slack.com/services/x' },
    /config\.url: a Slack incoming webhook URL is https/,
  );
  bad('slack', {}, /config\.url: is required/);
  bad(
    'alertmanager',
    { url: 'http://am:9093', username: 'u' },
    /config\.password: username and password go together/,
  );
  bad('email', { host: 'mail.example', from: 'a@b.example', to: [] }, /config\.to: expected a list/);
  bad(
    'email',
    { host: 'mail.example', from: 'a@b.example', to: ['x'] },
    /config\.to\[0\]: not an e-mail address/,
  );
  bad(
    'email',
    { host: 'mail.example', port: 70000, from: 'a@b.example', to: ['c@d.example'] },
    /config\.port/,
  );
  bad('email', 'nope', /config: expected an object/);
  assert.deepEqual(parseChannelConfig('webhook', { url: 'https://x.example/hook' }, gen), {
    url: 'https://x.example/hook',
    secret: 'generated-secret-0123456789',
  });
  assert.deepEqual(
    parseChannelConfig(
      'email',
      { host: 'mail.example', security: 'tls', from: 'a@b.example', to: ['c@d.example'] },
      gen,
    ),
    {
      host: 'mail.example',
      port: 465,
      security: 'tls',
      from: 'a@b.example',
      to: ['c@d.example'],
    },
  );
});

test('the display form never carries the URL path, query or secret', () => {
  const slack = { url: 'https://hooks.slack.com/services/T0/B0/SECRETPART' };
  assert.equal(channelDisplay('slack', slack), 'https://hooks.slack.com/…');
  assert.equal(channelDisplay('alertmanager', { url: 'http://127.0.0.1:9093/' }), 'http://127.0.0.1:9093');
  assert.equal(
    channelDisplay('webhook', { url: 'https://x.example/?token=abc', secret: 's' } as WebhookConfig),
    'https://x.example/…',
  );
  assert.equal(
    channelDisplay('email', {
      host: 'mail.example',
      port: 587,
      security: 'starttls',
      from: 'a@b.example',
      to: ['ops@example.com'],
    }),
    'smtp://mail.example:587 → ops@example.com',
  );
});

test('errors are redacted against a channel’s URL, path and secret', () => {
  const config = { url: 'https://hooks.example/T0/SECRETPATH?k=QUERYSECRET', secret: 'hmac-secret-value' };
  const text = `failed for https://hooks.example/T0/SECRETPATH?k=QUERYSECRET, path /T0/SECRETPATH, ?k=QUERYSECRET, hmac-secret-value`;
  const out = redact(text, channelSecrets(config));
  for (const s of ['SECRETPATH', 'QUERYSECRET', 'hmac-secret-value']) assert.ok(!out.includes(s), out);
});

const finding = (over: Partial<Finding> = {}): Finding => ({
  id: '1',
  key: 'pg.connections|7||',
  check: 'pg.connections',
  serverId: 7,
  serverName: 'db-eu-1',
  targetId: null,
  targetName: null,
  object: '',
  kind: 'alert',
  severity: 'warning',
  title: 't',
  explanation: 'e',
  evidence: {},
  action: 'a',
  value: null,
  state: 'open',
  firstSeen: '2026-01-01T00:00:00.000Z',
  lastSeen: '2026-01-01T00:00:00.000Z',
  openedAt: '2026-01-01T00:00:00.000Z',
  resolvedAt: null,
  resolvedReason: null,
  silencedUntil: null,
  acknowledgedBy: null,
  ...over,
});

test('routing: severity at least the minimum (warning by default), then every filter given must match', () => {
  const server = { name: 'db-eu-1', labels: { env: 'prod', team: 'payments' } };
  assert.equal(routeMatches({}, finding({ severity: 'info' }), server), false);
  assert.equal(routeMatches({}, finding(), server), true);
  assert.equal(routeMatches({ minSeverity: 'info' }, finding({ severity: 'info' }), server), true);
  assert.equal(routeMatches({ minSeverity: 'critical' }, finding(), server), false);
  assert.equal(routeMatches({ serverIds: [7] }, finding(), server), true);
  assert.equal(routeMatches({ serverIds: [8] }, finding(), server), false);
  assert.equal(routeMatches({ serverNames: ['db-eu-1'] }, finding(), server), true);
  assert.equal(routeMatches({ serverNames: ['db-us-1'] }, finding(), server), false);
  assert.equal(routeMatches({ serverLabels: { env: 'prod' } }, finding(), server), true);
  assert.equal(routeMatches({ serverLabels: { env: 'prod', team: 'core' } }, finding(), server), false);
  assert.equal(
    routeMatches({ serverLabels: { toString: 'x' } }, finding(), server),
    false,
    'own labels only',
  );
  assert.equal(routeMatches({ serverLabels: { env: 'prod' } }, finding(), undefined), false);
  assert.equal(routeMatches({ checks: ['pg.*'] }, finding(), server), true);
  assert.equal(routeMatches({ checks: ['host.*', 'pg.locks'] }, finding(), server), false);
  assert.equal(routeMatches({ excludeChecks: ['pg.connections'] }, finding(), server), false);
  assert.equal(routeMatches({ checks: ['pg.*'], excludeChecks: ['pg.vacuum'] }, finding(), server), true);
});

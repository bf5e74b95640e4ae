/**
 * Notification channels and their dead letters — admin only. A channel's URL, secret and passwords are
 * sealed with the server's secret key when it is created and never returned: listings show a display form
 * (`https://hooks.slack.com/…`). A generated webhook secret is returned once, by the create call.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { checkDestination, type Lookup } from '../../intelligence/notify/address.js';
import {
  type ChannelConfig,
  type ChannelRouting,
  type ChannelType,
  channelDisplay,
  channelHost,
  channelSecrets,
  channelTypes,
  type DeliveryEvent,
  parseChannelConfig,
  redact,
  routingSchema,
} from '../../intelligence/notify/channels.js';
import { sendToChannel } from '../../intelligence/notify/send.js';
import type { DeliveryMetrics, DeliveryWorker } from '../../intelligence/notify/worker.js';
import type { SecretBox } from '../../secrets.js';
import {
  type ChannelRow,
  deadDeliveries,
  deleteChannel,
  insertChannel,
  killPendingDeliveries,
  listChannels,
  retryDeadDelivery,
  sealedChannel,
  updateChannel,
} from '../../storage/queries/notifications.sql.js';
import { inTransaction } from '../../storage/tx.js';
import type { Registry } from '../../telemetry/metrics.js';
import { version } from '../../version.js';
import { errorBody, numericIdParams } from './schemas.js';

export interface ChannelRouteOptions {
  pool: pg.Pool;
  box: SecretBox;
  worker: DeliveryWorker;
  /** For tests: the SSRF guard's resolver. */
  lookup?: Lookup;
}

/** The delivery metrics on the server's registry. */
export function deliveryMetrics(registry: Registry): DeliveryMetrics {
  const sent = registry.counter(
    'pgvigil_notifications_sent_total',
    'Notifications delivered, by channel type and event.',
  );
  const failures = registry.counter(
    'pgvigil_notification_failures_total',
    'Failed notification attempts, by channel type and reason.',
  );
  const seconds = registry.histogram(
    'pgvigil_notification_delivery_seconds',
    'Time from a finding event to the receiver accepting its notification.',
    [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
  );
  const dead = registry.gauge(
    'pgvigil_notification_dead_letters',
    'Notifications given up on (dead letters).',
  );
  return {
    sent: (l) => sent.inc(l),
    failed: (l) => failures.inc(l),
    latency: (s, l) => seconds.observe(s, l),
    deadLetters: (n) => dead.set(n),
  };
}

const channelRow = {
  type: 'object',
  required: ['channelId', 'name', 'type', 'display', 'routing', 'enabled', 'allowPrivate', 'createdAt'],
  properties: {
    channelId: { type: 'integer' },
    name: { type: 'string' },
    type: { type: 'string', enum: channelTypes },
    display: {
      type: 'string',
      description: 'scheme, host and port only; the URL path and secrets are never shown',
    },
    routing: routingSchema,
    enabled: { type: 'boolean' },
    allowPrivate: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: ['string', 'null'] },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

const configSchema = {
  type: 'object',
  maxProperties: 16,
  description:
    'by type — webhook: url, secret (generated when absent); slack: url; alertmanager: url, username, password; email: host, port, security (starttls|tls|none), username, password, from, to[]',
} as const;

const channelName = { type: 'string', minLength: 1, maxLength: 100 } as const;

function channelOut(r: ChannelRow) {
  return {
    channelId: r.channel_id,
    name: r.name,
    type: r.type,
    display: r.display,
    routing: r.routing,
    enabled: r.enabled,
    allowPrivate: r.allow_private,
    createdAt: r.created_at,
    createdBy: r.created_by,
    updatedAt: r.updated_at,
  };
}

function generatedSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The event a test send delivers: a finding made up for the purpose, marked as a test everywhere. */
export function testEvent(channel: string, by: string): DeliveryEvent {
  const now = new Date().toISOString();
  return {
    event: 'test',
    at: now,
    finding: {
      id: 'test',
      key: `pgvigil.test|0||${channel}`,
      check: 'pgvigil.test',
      serverId: 0,
      serverName: 'pgvigil',
      targetId: null,
      targetName: null,
      object: channel,
      kind: 'alert',
      severity: 'info',
      title: `Test notification to the channel "${channel}"`,
      explanation: `${by} asked pgvigil ${version} to send this test. Nothing is wrong.`,
      evidence: { test: true },
      action: 'No action needed.',
      value: null,
      state: 'open',
      firstSeen: now,
      lastSeen: now,
      openedAt: now,
      resolvedAt: null,
      resolvedReason: null,
      silencedUntil: null,
      acknowledgedBy: null,
    },
  };
}

export const channelRoutes: FastifyPluginAsync<ChannelRouteOptions> = async (
  app,
  { pool, box, worker, lookup },
) => {
  const seal = (config: ChannelConfig) => box.sealJson(config);

  app.get(
    '/channels',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'List notification channels (without their URLs’ paths, secrets or passwords)',
        tags: ['notifications'],
        response: {
          200: {
            type: 'object',
            required: ['channels'],
            properties: { channels: { type: 'array', items: channelRow } },
          },
          '4xx': errorBody,
        },
      },
    },
    async () => ({ channels: (await listChannels(pool, 1000)).map(channelOut) }),
  );

  app.post<{
    Body: {
      name: string;
      type: ChannelType;
      config: unknown;
      routing?: ChannelRouting;
      enabled?: boolean;
      allowPrivate?: boolean;
    };
  }>(
    '/channels',
    {
      config: { role: 'admin' },
      bodyLimit: 32 * 1024,
      schema: {
        summary: 'Add a notification channel (webhook, Slack, Alertmanager or e-mail)',
        tags: ['notifications'],
        body: {
          type: 'object',
          required: ['name', 'type', 'config'],
          additionalProperties: false,
          properties: {
            name: channelName,
            type: { type: 'string', enum: channelTypes },
            config: configSchema,
            routing: routingSchema,
            enabled: { type: 'boolean' },
            allowPrivate: {
              type: 'boolean',
              description:
                'allow a loopback, private or link-local destination (a receiver on this host or network)',
            },
          },
        },
        response: {
          201: {
            ...channelRow,
            properties: {
              ...channelRow.properties,
              secret: { type: 'string', description: 'a generated webhook secret: shown this once' },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req, reply) => {
      const b = req.body;
      let generated: string | undefined;
      const config = parseChannelConfig(b.type, b.config, () => {
        generated = generatedSecret();
        return generated;
      });
      const allowPrivate = b.allowPrivate ?? false;
      await checkDestination(channelHost(b.type, config), { allowPrivate, lookup });
      const row = await insertChannel(pool, {
        name: b.name,
        type: b.type,
        configEnc: seal(config),
        display: channelDisplay(b.type, config),
        routing: b.routing ?? {},
        enabled: b.enabled ?? true,
        allowPrivate,
        createdBy: req.user?.name ?? 'unknown',
      });
      if (!row) throw new PgvigilError('CHANNEL_EXISTS', `a channel named "${b.name}" exists already`);
      req.log.info(
        { channelId: row.channel_id, type: row.type, by: req.user?.name },
        'notification channel added',
      );
      return reply.status(201).send({ ...channelOut(row), ...(generated ? { secret: generated } : {}) });
    },
  );

  app.patch<{
    Params: { id: number };
    Body: {
      name?: string;
      config?: unknown;
      routing?: ChannelRouting;
      enabled?: boolean;
      allowPrivate?: boolean;
    };
  }>(
    '/channels/:id',
    {
      config: { role: 'admin' },
      bodyLimit: 32 * 1024,
      schema: {
        summary: 'Change a channel: name, configuration (replaced whole), routing, enabled, allowPrivate',
        tags: ['notifications'],
        params: numericIdParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            name: channelName,
            config: configSchema,
            routing: routingSchema,
            enabled: { type: 'boolean' },
            allowPrivate: { type: 'boolean' },
          },
        },
        response: { 200: channelRow, '4xx': errorBody },
      },
    },
    async (req) => {
      const b = req.body;
      const id = req.params.id;
      const row = await inTransaction(pool, async (c) => {
        const current = await sealedChannel(c, id);
        if (!current) throw new PgvigilError('NOT_FOUND', `no channel ${id}`);
        const allowPrivate = b.allowPrivate ?? current.allow_private;
        // The sealed configuration is opened only when needed: a channel sealed under a lost key can still
        // be renamed, disabled or given a new configuration.
        let config: ChannelConfig | undefined;
        if (b.config !== undefined) config = parseChannelConfig(current.type, b.config, generatedSecret);
        else if (allowPrivate !== current.allow_private)
          config = box.openJson<ChannelConfig>(current.config_enc);
        if (config) await checkDestination(channelHost(current.type, config), { allowPrivate, lookup });
        const changed = await updateChannel(c, id, {
          name: b.name,
          routing: b.routing,
          enabled: b.enabled,
          allowPrivate: b.allowPrivate,
          ...(b.config !== undefined && config
            ? { configEnc: seal(config), display: channelDisplay(current.type, config) }
            : {}),
        });
        if (changed === 'name-taken')
          throw new PgvigilError('CHANNEL_EXISTS', `a channel named "${b.name}" exists already`);
        if (!changed) throw new PgvigilError('NOT_FOUND', `no channel ${id}`);
        if (b.enabled === false) await killPendingDeliveries(c, id, 'the channel was disabled');
        return changed;
      });
      req.log.info(
        { channelId: id, fields: Object.keys(b), by: req.user?.name },
        'notification channel changed',
      );
      return channelOut(row);
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/channels/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Remove a channel and its queued and dead deliveries',
        tags: ['notifications'],
        params: numericIdParams,
        response: { 204: { type: 'null' }, '4xx': errorBody },
      },
    },
    async (req, reply) => {
      if (!(await deleteChannel(pool, req.params.id)))
        throw new PgvigilError('NOT_FOUND', `no channel ${req.params.id}`);
      req.log.info({ channelId: req.params.id, by: req.user?.name }, 'notification channel removed');
      return reply.status(204).send();
    },
  );

  app.post<{ Params: { id: number } }>(
    '/channels/:id/test',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Send a test notification now and report what the receiver answered',
        tags: ['notifications'],
        params: numericIdParams,
        response: {
          200: {
            type: 'object',
            required: ['ok', 'status', 'latencyMs'],
            properties: {
              ok: { type: 'boolean' },
              status: {
                type: ['integer', 'null'],
                description: 'the receiver’s HTTP status (SMTP reply for e-mail)',
              },
              latencyMs: { type: 'number' },
              reason: { type: 'string' },
              error: { type: 'string' },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const ch = await sealedChannel(pool, req.params.id);
      if (!ch) throw new PgvigilError('NOT_FOUND', `no channel ${req.params.id}`);
      const config = box.openJson<ChannelConfig>(ch.config_enc);
      const r = await sendToChannel(ch.type, config, testEvent(ch.name, req.user?.name ?? 'an admin'), {
        allowPrivate: ch.allow_private,
        lookup,
      });
      const error = r.error === undefined ? undefined : redact(r.error, channelSecrets(config));
      req.log.info(
        { channelId: ch.channel_id, type: ch.type, ok: r.ok, status: r.status, reason: r.reason },
        'test notification sent',
      );
      return {
        ok: r.ok,
        status: r.status,
        latencyMs: r.latencyMs,
        ...(r.reason ? { reason: r.reason } : {}),
        ...(error ? { error } : {}),
      };
    },
  );

  app.get<{ Querystring: { before?: number; limit?: number } }>(
    '/notifications/dead',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Notifications given up on (dead letters), newest first',
        tags: ['notifications'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            before: {
              type: 'integer',
              minimum: 1,
              maximum: 9_007_199_254_740_991,
              description: 'deliveryId to page from',
            },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['deliveries'],
            properties: {
              deliveries: {
                type: 'array',
                items: {
                  type: 'object',
                  required: [
                    'deliveryId',
                    'channelId',
                    'channelName',
                    'channelType',
                    'findingKey',
                    'event',
                    'attempts',
                  ],
                  properties: {
                    deliveryId: { type: 'integer' },
                    channelId: { type: 'integer' },
                    channelName: { type: 'string' },
                    channelType: { type: 'string', enum: channelTypes },
                    findingId: { type: 'string' },
                    findingKey: { type: 'string' },
                    event: { type: 'string', enum: ['fired', 'resolved', 'test'] },
                    attempts: { type: 'integer' },
                    lastStatus: { type: ['integer', 'null'] },
                    lastError: { type: ['string', 'null'] },
                    createdAt: { type: 'string', format: 'date-time' },
                    lastAttemptAt: { type: 'string', format: 'date-time' },
                  },
                },
              },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => ({
      deliveries: (await deadDeliveries(pool, req.query.before ?? null, req.query.limit ?? 100)).map((d) => ({
        deliveryId: d.delivery_id,
        channelId: d.channel_id,
        channelName: d.channel_name,
        channelType: d.channel_type,
        findingId: d.finding_id,
        findingKey: d.finding_key,
        event: d.event,
        attempts: d.attempts,
        lastStatus: d.last_status,
        lastError: d.last_error,
        createdAt: d.created_at,
        lastAttemptAt: d.last_attempt_at,
      })),
    }),
  );

  app.post<{ Params: { id: number } }>(
    '/notifications/:id/retry',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Send a dead letter again (with a fresh set of attempts)',
        tags: ['notifications'],
        params: numericIdParams,
        response: {
          202: {
            type: 'object',
            required: ['deliveryId', 'state'],
            properties: { deliveryId: { type: 'integer' }, state: { type: 'string', enum: ['pending'] } },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req, reply) => {
      if (!(await retryDeadDelivery(pool, req.params.id)))
        throw new PgvigilError('NOT_FOUND', `no dead notification ${req.params.id}`);
      worker.kick();
      req.log.info({ deliveryId: req.params.id, by: req.user?.name }, 'dead notification queued again');
      return reply.status(202).send({ deliveryId: req.params.id, state: 'pending' });
    },
  );
};

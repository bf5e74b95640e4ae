/**
 * Notification channels and the delivery outbox (`pgvigil.notification_channels`,
 * `pgvigil.notification_deliveries`). Channel configurations arrive here already sealed; this module
 * never sees a URL or a secret in plain text.
 */
import type { Queryable } from './queryable.js';

export type ChannelType = 'webhook' | 'slack' | 'alertmanager' | 'email';
export type DeliveryEventName = 'fired' | 'resolved' | 'test';
export type DeliveryState = 'pending' | 'sent' | 'dead';

export interface ChannelRow {
  channel_id: number;
  name: string;
  type: ChannelType;
  display: string;
  routing: Record<string, unknown>;
  enabled: boolean;
  allow_private: boolean;
  created_at: Date;
  created_by: string | null;
  updated_at: Date;
}

/** A channel with its sealed configuration, for sending. */
export interface SealedChannelRow extends ChannelRow {
  config_enc: Buffer;
}

const channelColumns =
  'channel_id, name, type, display, routing, enabled, allow_private, created_at, created_by, updated_at';

export interface NewChannel {
  name: string;
  type: ChannelType;
  configEnc: Buffer;
  display: string;
  routing: unknown;
  enabled: boolean;
  allowPrivate: boolean;
  createdBy: string;
}

/** The new channel, or undefined when the name is taken. */
export async function insertChannel(db: Queryable, c: NewChannel): Promise<ChannelRow | undefined> {
  const { rows } = await db.query<ChannelRow>(
    `INSERT INTO pgvigil.notification_channels
       (name, type, config_enc, display, routing, enabled, allow_private, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (name) DO NOTHING
     RETURNING ${channelColumns}`,
    [
      c.name,
      c.type,
      c.configEnc,
      c.display,
      JSON.stringify(c.routing),
      c.enabled,
      c.allowPrivate,
      c.createdBy,
    ],
  );
  return rows[0];
}

export async function listChannels(db: Queryable, limit: number): Promise<ChannelRow[]> {
  const { rows } = await db.query<ChannelRow>(
    `SELECT ${channelColumns} FROM pgvigil.notification_channels ORDER BY name LIMIT $1`,
    [limit],
  );
  return rows;
}

export async function sealedChannel(db: Queryable, channelId: number): Promise<SealedChannelRow | undefined> {
  const { rows } = await db.query<SealedChannelRow>(
    `SELECT ${channelColumns}, config_enc FROM pgvigil.notification_channels WHERE channel_id = $1`,
    [channelId],
  );
  return rows[0];
}

/** The enabled channels, for routing events. */
export async function enabledChannels(db: Queryable): Promise<ChannelRow[]> {
  const { rows } = await db.query<ChannelRow>(
    `SELECT ${channelColumns} FROM pgvigil.notification_channels WHERE enabled ORDER BY channel_id`,
  );
  return rows;
}

export interface ChannelChange {
  name?: string;
  configEnc?: Buffer;
  display?: string;
  routing?: unknown;
  enabled?: boolean;
  allowPrivate?: boolean;
}

/** The changed channel; undefined when there is none with this id; 'name-taken' on a name conflict. */
export async function updateChannel(
  db: Queryable,
  channelId: number,
  c: ChannelChange,
): Promise<ChannelRow | undefined | 'name-taken'> {
  try {
    const { rows } = await db.query<ChannelRow>(
      `UPDATE pgvigil.notification_channels SET
         name = coalesce($2, name),
         config_enc = coalesce($3, config_enc),
         display = coalesce($4, display),
         routing = coalesce($5::jsonb, routing),
         enabled = coalesce($6, enabled),
         allow_private = coalesce($7, allow_private),
         updated_at = now()
       WHERE channel_id = $1
       RETURNING ${channelColumns}`,
      [
        channelId,
        c.name ?? null,
        c.configEnc ?? null,
        c.display ?? null,
        c.routing === undefined ? null : JSON.stringify(c.routing),
        c.enabled ?? null,
        c.allowPrivate ?? null,
      ],
    );
    return rows[0];
  } catch (err) {
    if ((err as { code?: string }).code === '23505') return 'name-taken';
    throw err;
  }
}

export async function deleteChannel(db: Queryable, channelId: number): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM pgvigil.notification_channels WHERE channel_id = $1', [
    channelId,
  ]);
  return (rowCount ?? 0) > 0;
}

/** Pending deliveries of a channel that was disabled become dead letters (to retry once it is back). */
export async function killPendingDeliveries(
  db: Queryable,
  channelId: number,
  reason: string,
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE pgvigil.notification_deliveries SET state = 'dead', last_error = $2
      WHERE channel_id = $1 AND state = 'pending'`,
    [channelId, reason],
  );
  return rowCount ?? 0;
}

/** Server names and labels, for routing by server name or label. */
export async function serverLabels(
  db: Queryable,
  serverIds: number[],
): Promise<Array<{ server_id: number; name: string; labels: Record<string, unknown> }>> {
  const { rows } = await db.query<{ server_id: number; name: string; labels: Record<string, unknown> }>(
    'SELECT server_id, name, labels FROM pgvigil.servers WHERE server_id = ANY($1::bigint[])',
    [serverIds],
  );
  return rows;
}

/** (channel, finding key) pairs among these keys that were sent or queued a `fired` delivery. */
export async function channelsThatFired(
  db: Queryable,
  findingKeys: string[],
): Promise<Array<{ channel_id: number; finding_key: string }>> {
  const { rows } = await db.query<{ channel_id: number; finding_key: string }>(
    `SELECT DISTINCT channel_id, finding_key FROM pgvigil.notification_deliveries
      WHERE finding_key = ANY($1::text[]) AND event = 'fired' AND state IN ('pending', 'sent')`,
    [findingKeys],
  );
  return rows;
}

export interface NewDelivery {
  channelId: number;
  findingId: string;
  findingKey: string;
  event: DeliveryEventName;
  payload: unknown;
}

/** Queues deliveries (one statement for all); their count. */
export async function insertDeliveries(db: Queryable, ds: NewDelivery[]): Promise<number> {
  if (ds.length === 0) return 0;
  const { rowCount } = await db.query(
    `INSERT INTO pgvigil.notification_deliveries (channel_id, finding_id, finding_key, event, payload)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::jsonb[])`,
    [
      ds.map((d) => d.channelId),
      ds.map((d) => d.findingId),
      ds.map((d) => d.findingKey),
      ds.map((d) => d.event),
      ds.map((d) => JSON.stringify(d.payload)),
    ],
  );
  return rowCount ?? 0;
}

export interface ClaimedDelivery {
  delivery_id: number;
  channel_id: number;
  finding_key: string;
  event: DeliveryEventName;
  payload: unknown;
  /** Attempts including this one: the fencing token for the update after the send. */
  attempts: number;
  channel_type: ChannelType;
  config_enc: Buffer;
  allow_private: boolean;
}

/**
 * Claims up to `limit` due deliveries of enabled channels and leases them for `leaseMs` (their next
 * attempt moves past the lease, so an instance that dies mid-send leaves them to another). Rows locked by
 * another instance's claim are skipped; a delivery waits while an older one for the same channel and
 * finding is pending, so a resolution never overtakes its alert.
 */
export async function claimDueDeliveries(
  db: Queryable,
  limit: number,
  leaseMs: number,
): Promise<ClaimedDelivery[]> {
  const { rows } = await db.query<ClaimedDelivery>(
    `WITH due AS (
       SELECT d.delivery_id FROM pgvigil.notification_deliveries d
         JOIN pgvigil.notification_channels c USING (channel_id)
        WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND c.enabled
          AND NOT EXISTS (
            SELECT 1 FROM pgvigil.notification_deliveries o
             WHERE o.channel_id = d.channel_id AND o.finding_key = d.finding_key
               AND o.state = 'pending' AND o.delivery_id < d.delivery_id)
        ORDER BY d.next_attempt_at, d.delivery_id
        LIMIT $1
        FOR UPDATE OF d SKIP LOCKED)
     UPDATE pgvigil.notification_deliveries d
        SET attempts = d.attempts + 1, last_attempt_at = now(),
            next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
       FROM due, pgvigil.notification_channels c
      WHERE d.delivery_id = due.delivery_id AND c.channel_id = d.channel_id
      RETURNING d.delivery_id, d.channel_id, d.finding_key, d.event, d.payload, d.attempts,
                c.type AS channel_type, c.config_enc, c.allow_private`,
    [limit, leaseMs],
  );
  return rows;
}

/** Marks a claimed delivery sent; false when the claim was lost (the lease ran out and another took it). */
export async function markDeliverySent(
  db: Queryable,
  deliveryId: number,
  attempts: number,
  status: number | null,
  latencySeconds: number,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE pgvigil.notification_deliveries
        SET state = 'sent', sent_at = now(), last_status = $3, latency = $4, last_error = NULL
      WHERE delivery_id = $1 AND attempts = $2 AND state = 'pending'`,
    [deliveryId, attempts, status, latencySeconds],
  );
  return (rowCount ?? 0) > 0;
}

/** Records a failed attempt: retried after `retryInMs`, or dead when `retryInMs` is null. */
export async function markDeliveryFailed(
  db: Queryable,
  deliveryId: number,
  attempts: number,
  status: number | null,
  error: string,
  retryInMs: number | null,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE pgvigil.notification_deliveries
        SET state = CASE WHEN $5::double precision IS NULL THEN 'dead' ELSE 'pending' END,
            next_attempt_at = CASE WHEN $5::double precision IS NULL THEN next_attempt_at
                                   ELSE now() + make_interval(secs => $5::double precision / 1000) END,
            last_status = $3, last_error = $4
      WHERE delivery_id = $1 AND attempts = $2 AND state = 'pending'`,
    [deliveryId, attempts, status, error, retryInMs],
  );
  return (rowCount ?? 0) > 0;
}

export interface DeadDeliveryRow {
  delivery_id: number;
  channel_id: number;
  channel_name: string;
  channel_type: ChannelType;
  finding_id: string;
  finding_key: string;
  event: DeliveryEventName;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  created_at: Date;
  last_attempt_at: Date;
}

/** Dead letters, newest first, before `beforeId` (keyset pagination). */
export async function deadDeliveries(
  db: Queryable,
  beforeId: number | null,
  limit: number,
): Promise<DeadDeliveryRow[]> {
  const { rows } = await db.query<DeadDeliveryRow>(
    `SELECT d.delivery_id, d.channel_id, c.name AS channel_name, c.type AS channel_type, d.finding_id,
            d.finding_key, d.event, d.attempts, d.last_status, d.last_error, d.created_at,
            coalesce(d.last_attempt_at, d.created_at) AS last_attempt_at
       FROM pgvigil.notification_deliveries d JOIN pgvigil.notification_channels c USING (channel_id)
      WHERE d.state = 'dead' AND ($1::bigint IS NULL OR d.delivery_id < $1)
      ORDER BY d.delivery_id DESC LIMIT $2`,
    [beforeId, limit],
  );
  return rows;
}

export async function countDeadDeliveries(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pgvigil.notification_deliveries WHERE state = 'dead'",
  );
  return rows[0]?.n ?? 0;
}

/** Puts a dead letter back in the queue with a fresh set of attempts; false when it is not dead. */
export async function retryDeadDelivery(db: Queryable, deliveryId: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE pgvigil.notification_deliveries
        SET state = 'pending', attempts = 0, next_attempt_at = now()
      WHERE delivery_id = $1 AND state = 'dead'`,
    [deliveryId],
  );
  return (rowCount ?? 0) > 0;
}

export interface DeliveryRow {
  delivery_id: number;
  channel_id: number;
  finding_key: string;
  event: DeliveryEventName;
  state: DeliveryState;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  latency: number | null;
}

export interface RefreshRow {
  delivery_id: number;
  channel_id: number;
  payload: unknown;
  config_enc: Buffer;
  allow_private: boolean;
}

/**
 * Alerts to send again to Alertmanager, which forgets an alert `resolve_timeout` after it last received
 * it: per enabled Alertmanager channel and finding, the newest fired-or-resolved delivery, when it is a
 * sent `fired` not sent or refreshed for `olderThanMs`. Marked refreshed as they are returned (rows another
 * instance is marking are skipped), so instances do not all send the same.
 */
export async function claimAlertmanagerRefresh(
  db: Queryable,
  olderThanMs: number,
  limit: number,
): Promise<RefreshRow[]> {
  const { rows } = await db.query<RefreshRow>(
    `WITH latest AS (
       SELECT DISTINCT ON (d.channel_id, d.finding_key) d.delivery_id, d.event, d.state,
              coalesce(d.refreshed_at, d.sent_at) AS last_sent
         FROM pgvigil.notification_deliveries d JOIN pgvigil.notification_channels c USING (channel_id)
        WHERE c.type = 'alertmanager' AND c.enabled AND d.event IN ('fired', 'resolved')
        ORDER BY d.channel_id, d.finding_key, d.delivery_id DESC),
     due AS (
       SELECT d.delivery_id FROM pgvigil.notification_deliveries d JOIN latest USING (delivery_id)
        WHERE latest.event = 'fired' AND latest.state = 'sent'
          AND latest.last_sent < now() - make_interval(secs => $1::double precision / 1000)
        ORDER BY latest.last_sent LIMIT $2
        FOR UPDATE OF d SKIP LOCKED)
     UPDATE pgvigil.notification_deliveries d SET refreshed_at = now()
       FROM due, pgvigil.notification_channels c
      WHERE d.delivery_id = due.delivery_id AND c.channel_id = d.channel_id
      RETURNING d.delivery_id, d.channel_id, d.payload, c.config_enc, c.allow_private`,
    [olderThanMs, limit],
  );
  return rows;
}

/**
 * Deletes sent deliveries older than `olderThanMs`, except the newest of a channel and finding when it is
 * a `fired` (the finding is still open as far as that channel knows: its resolution must follow, and
 * Alertmanager alerts are refreshed from it). Dead letters stay until retried or their channel goes.
 */
export async function pruneSentDeliveries(db: Queryable, olderThanMs: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM pgvigil.notification_deliveries d
      WHERE d.state = 'sent' AND d.sent_at < now() - make_interval(secs => $1::double precision / 1000)
        AND (d.event <> 'fired' OR EXISTS (
              SELECT 1 FROM pgvigil.notification_deliveries n
               WHERE n.channel_id = d.channel_id AND n.finding_key = d.finding_key
                 AND n.delivery_id > d.delivery_id AND n.event IN ('fired', 'resolved')))`,
    [olderThanMs],
  );
  return rowCount ?? 0;
}

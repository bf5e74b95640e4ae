/**
 * Generic webhook: the finding event as JSON, signed.
 *
 * Headers: `X-Pgvigil-Timestamp: <unix seconds>` and `X-Pgvigil-Signature: sha256=<hex>`, the HMAC-SHA256
 * under the channel's secret of `<timestamp>.<body>` (the exact bytes of the body). A receiver recomputes
 * it, compares in constant time, and refuses a timestamp more than a few minutes old (a replay). Each
 * retry is signed afresh with its own timestamp.
 */
import { createHmac } from 'node:crypto';
import { version } from '../../version.js';
import type { DeliveryEvent, WebhookConfig } from './channels.js';
import type { HttpDelivery } from './http.js';

export const signatureHeader = 'x-pgvigil-signature';
export const timestampHeader = 'x-pgvigil-timestamp';

/** The signature header's value for a body sent at `timestamp` (unix seconds). */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function formatWebhook(e: DeliveryEvent, config: WebhookConfig, nowMs: number): HttpDelivery {
  const body = JSON.stringify({ pgvigil: version, event: e.event, at: e.at, finding: e.finding });
  const timestamp = Math.floor(nowMs / 1000);
  return {
    url: config.url,
    headers: {
      'content-type': 'application/json',
      'user-agent': `pgvigil/${version}`,
      [timestampHeader]: String(timestamp),
      [signatureHeader]: webhookSignature(config.secret, timestamp, body),
    },
    body,
  };
}

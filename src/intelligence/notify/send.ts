/** Sending one event to one channel, whatever its type. */
import type { ChannelType } from '../../storage/queries/notifications.sql.js';
import type { DestinationCheck } from './address.js';
import { formatAlertmanager } from './alertmanager.js';
import type {
  AlertmanagerConfig,
  ChannelConfig,
  DeliveryEvent,
  EmailConfig,
  SlackConfig,
  WebhookConfig,
} from './channels.js';
import { sendEmail } from './email.js';
import { postJson, type SendResult } from './http.js';
import { formatSlack } from './slack.js';
import { formatWebhook } from './webhook.js';

export const defaultSendTimeoutMs = 10_000;

export async function sendToChannel(
  type: ChannelType,
  config: ChannelConfig,
  event: DeliveryEvent,
  opts: DestinationCheck & { timeoutMs?: number },
): Promise<SendResult> {
  const o = { ...opts, timeoutMs: opts.timeoutMs ?? defaultSendTimeoutMs };
  switch (type) {
    case 'webhook':
      return postJson(formatWebhook(event, config as WebhookConfig, Date.now()), o);
    case 'slack':
      return postJson(formatSlack(event, config as SlackConfig), o);
    case 'alertmanager':
      return postJson(formatAlertmanager(event, config as AlertmanagerConfig, Date.now()), o);
    case 'email':
      return sendEmail(event, config as EmailConfig, o);
  }
}

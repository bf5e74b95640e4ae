/**
 * Alertmanager API v2: `POST {url}/api/v2/alerts` with an array of one alert. Labels identify the alert
 * (Alertmanager deduplicates by them), so they hold only what names the finding: alertname (the check id),
 * severity, server, target, object and pgvigil_key; the words go in annotations.
 *
 * A fired event sends no endsAt: Alertmanager then keeps the alert active for its `resolve_timeout` after
 * the last time it received it (5 minutes by default) — the documented contract for clients, which are
 * expected to re-send active alerts. A resolved event sends endsAt = the resolution time, which resolves it
 * at once. A test event ends a minute after it was sent.
 */
import type { AlertmanagerConfig, DeliveryEvent } from './channels.js';
import type { HttpDelivery } from './http.js';

export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
}

/** Alertmanager's label value limit is generous; keep ours readable. */
const maxLabel = 1024;
const maxAnnotation = 16 * 1024;

export function alertmanagerAlert(e: DeliveryEvent, nowMs: number): AlertmanagerAlert {
  const f = e.finding;
  const labels: Record<string, string> = {
    alertname: e.event === 'test' ? 'PgvigilTest' : f.check,
    severity: f.severity,
    server: f.serverName ?? String(f.serverId),
    pgvigil_key: f.key,
  };
  // An empty label value means "no label" to Alertmanager: leave them out instead.
  if (f.targetId !== null) labels.target = f.targetName ?? String(f.targetId);
  if (f.object) labels.object = f.object;
  for (const k of Object.keys(labels)) labels[k] = labels[k]!.slice(0, maxLabel);
  const annotations: Record<string, string> = {
    summary: f.title,
    description: f.explanation,
    action: f.action,
    evidence: JSON.stringify(f.evidence),
  };
  for (const k of Object.keys(annotations)) annotations[k] = annotations[k]!.slice(0, maxAnnotation);
  const alert: AlertmanagerAlert = { labels, annotations, startsAt: f.firstSeen };
  if (e.event === 'resolved') alert.endsAt = f.resolvedAt ?? e.at;
  if (e.event === 'test') {
    alert.startsAt = new Date(nowMs).toISOString();
    alert.endsAt = new Date(nowMs + 60_000).toISOString();
  }
  return alert;
}

export function formatAlertmanager(
  e: DeliveryEvent,
  config: AlertmanagerConfig,
  nowMs: number,
): HttpDelivery {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (config.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}`;
  }
  return {
    url: `${config.url.replace(/\/+$/, '')}/api/v2/alerts`,
    headers,
    body: JSON.stringify([alertmanagerAlert(e, nowMs)]),
  };
}

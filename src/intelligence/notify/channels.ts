/**
 * Notification channels: their configurations (what is sealed in the store), the display form that may be
 * shown (no path, query, credentials or secret: a Slack or webhook URL's path is its secret), and routing
 * (which finding events a channel gets). All pure.
 */
import { PgvigilError } from '../../errors.js';
import type { ChannelType } from '../../storage/queries/notifications.sql.js';
import { type Finding, type Severity, severities, severityRank } from '../model.js';

export type { ChannelType };
export const channelTypes: readonly ChannelType[] = ['webhook', 'slack', 'alertmanager', 'email'];

export interface WebhookConfig {
  url: string;
  /** HMAC-SHA256 key for X-Pgvigil-Signature. */
  secret: string;
}
export interface SlackConfig {
  url: string;
}
export interface AlertmanagerConfig {
  /** The Alertmanager base URL; alerts go to `{url}/api/v2/alerts`. */
  url: string;
  username?: string;
  password?: string;
}
export type SmtpSecurity = 'starttls' | 'tls' | 'none';
export interface EmailConfig {
  host: string;
  port: number;
  security: SmtpSecurity;
  username?: string;
  password?: string;
  from: string;
  to: string[];
}
export type ChannelConfig = WebhookConfig | SlackConfig | AlertmanagerConfig | EmailConfig;

/** What an event is sent as: a finding that fired or resolved, or an admin's test. */
export interface DeliveryEvent {
  event: 'fired' | 'resolved' | 'test';
  finding: Finding;
  /** ISO 8601: when it happened. */
  at: string;
}

const maxUrlLength = 2048;
const emailPattern = /^[^\s@<>(),;:"]{1,64}@[A-Za-z0-9.-]{1,253}$/;

type Raw = Record<string, unknown>;

function invalid(field: string, why: string): PgvigilError {
  return new PgvigilError('CHANNEL_CONFIG_INVALID', `config.${field}: ${why}`);
}

function onlyFields(raw: Raw, allowed: string[]): void {
  for (const k of Object.keys(raw)) {
    if (!allowed.includes(k)) throw invalid(k, `unknown field (expected ${allowed.join(', ')})`);
  }
}

function text(raw: Raw, field: string, required: true, max?: number): string;
function text(raw: Raw, field: string, required: false, max?: number): string | undefined;
function text(raw: Raw, field: string, required: boolean, max = 1024): string | undefined {
  const v = Object.hasOwn(raw, field) ? raw[field] : undefined;
  if (v === undefined || v === null) {
    if (required) throw invalid(field, 'is required');
    return undefined;
  }
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw invalid(field, `expected a non-empty string of at most ${max} characters`);
  }
  return v;
}

/** An http(s) URL without credentials in it (credentials go in their own fields, sealed). */
export function parseChannelUrl(value: string, field = 'url'): URL {
  if (value.length > maxUrlLength) throw invalid(field, `longer than ${maxUrlLength} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(field, 'not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(field, `must be http or https, not ${url.protocol.replace(/:$/, '')}`);
  }
  if (url.username || url.password) throw invalid(field, 'must not carry a user name or password');
  return url;
}

/**
 * Validates a channel configuration for its type (the request body's `config`). A webhook without a
 * secret gets a generated one (returned once by the create route).
 */
export function parseChannelConfig(
  type: ChannelType,
  raw: unknown,
  generateSecret: () => string,
): ChannelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PgvigilError('CHANNEL_CONFIG_INVALID', 'config: expected an object');
  }
  const r = raw as Raw;
  switch (type) {
    case 'webhook': {
      onlyFields(r, ['url', 'secret']);
      const url = parseChannelUrl(text(r, 'url', true, maxUrlLength)).toString();
      const secret = text(r, 'secret', false, 256) ?? generateSecret();
      if (secret.length < 16) throw invalid('secret', 'at least 16 characters');
      return { url, secret };
    }
    case 'slack': {
      onlyFields(r, ['url']);
      const url = parseChannelUrl(text(r, 'url', true, maxUrlLength));
      if (url.protocol !== 'https:') throw invalid('url', 'a Slack incoming webhook URL is https');
      return { url: url.toString() };
    }
    case 'alertmanager': {
      onlyFields(r, ['url', 'username', 'password']);
      const url = parseChannelUrl(text(r, 'url', true, maxUrlLength));
      if (url.search || url.hash)
        throw invalid('url', 'the Alertmanager base URL takes no query or fragment');
      const username = text(r, 'username', false, 256);
      const password = text(r, 'password', false, 1024);
      if ((username === undefined) !== (password === undefined))
        throw invalid(username === undefined ? 'username' : 'password', 'username and password go together');
      return { url: url.toString(), ...(username !== undefined ? { username, password } : {}) };
    }
    case 'email': {
      onlyFields(r, ['host', 'port', 'security', 'username', 'password', 'from', 'to']);
      const host = text(r, 'host', true, 253);
      if (!/^[A-Za-z0-9.:[\]-]+$/.test(host)) throw invalid('host', 'not a host name or address');
      const security = (text(r, 'security', false, 16) ?? 'starttls') as SmtpSecurity;
      if (!['starttls', 'tls', 'none'].includes(security))
        throw invalid('security', 'expected starttls, tls or none');
      const port = Object.hasOwn(r, 'port') ? r.port : security === 'tls' ? 465 : 587;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
        throw invalid('port', 'expected a port number 1–65535');
      const username = text(r, 'username', false, 256);
      const password = text(r, 'password', false, 1024);
      if ((username === undefined) !== (password === undefined))
        throw invalid(username === undefined ? 'username' : 'password', 'username and password go together');
      const from = text(r, 'from', true, 320);
      if (!emailPattern.test(from)) throw invalid('from', 'not an e-mail address');
      const to = Object.hasOwn(r, 'to') ? r.to : undefined;
      if (!Array.isArray(to) || to.length === 0 || to.length > 50)
        throw invalid('to', 'expected a list of 1 to 50 e-mail addresses');
      for (const [i, a] of to.entries()) {
        if (typeof a !== 'string' || !emailPattern.test(a))
          throw invalid(`to[${i}]`, 'not an e-mail address');
      }
      return {
        host,
        port,
        security,
        ...(username !== undefined ? { username, password } : {}),
        from,
        to: to as string[],
      };
    }
  }
}

/** The host a channel sends to (for the address check). */
export function channelHost(type: ChannelType, config: ChannelConfig): string {
  if (type === 'email') return (config as EmailConfig).host;
  return new URL((config as WebhookConfig).url).hostname;
}

/** What may be shown of a channel's destination: scheme, host and port; a path only as `…`. */
export function channelDisplay(type: ChannelType, config: ChannelConfig): string {
  if (type === 'email') {
    const c = config as EmailConfig;
    return `smtp://${c.host}:${c.port} → ${c.to.join(', ')}`;
  }
  const url = new URL((config as WebhookConfig).url);
  const more = url.pathname !== '/' || url.search !== '' ? '/…' : '';
  return `${url.protocol}//${url.host}${more}`;
}

/** The strings of a configuration that must never appear in a log line or a stored error. */
export function channelSecrets(config: ChannelConfig): string[] {
  const out: string[] = [];
  const c = config as Partial<WebhookConfig & AlertmanagerConfig & EmailConfig>;
  if (c.url) {
    out.push(c.url);
    const u = new URL(c.url);
    if (u.pathname.length > 1) out.push(u.pathname);
    if (u.search) out.push(u.search);
  }
  for (const s of [c.secret, c.password]) if (s) out.push(s);
  return out;
}

/** `text` with every secret replaced, longest first. */
export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s.length >= 4) out = out.split(s).join('[redacted]');
  }
  return out;
}

/** Which finding events a channel gets. Every list that is present must match; absent ones match all. */
export interface ChannelRouting {
  /** Lowest severity sent (default warning). */
  minSeverity?: Severity;
  serverIds?: number[];
  serverNames?: string[];
  /** Every label given must be on the server with this value. */
  serverLabels?: Record<string, string>;
  /** Check ids to send; `pg.*` matches every check starting with `pg.`. */
  checks?: string[];
  /** Check ids never sent (same patterns). */
  excludeChecks?: string[];
}

export const defaultMinSeverity: Severity = 'warning';

function checkMatches(patterns: string[], check: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? check.startsWith(p.slice(0, -1)) : p === check));
}

/** The server's name and labels as the store has them (the finding carries only its id and name). */
export interface ServerFacts {
  name: string | null;
  labels: Record<string, unknown>;
}

/** True when a channel with this routing gets this finding. */
export function routeMatches(
  routing: ChannelRouting,
  finding: Finding,
  server: ServerFacts | undefined,
): boolean {
  const min = routing.minSeverity ?? defaultMinSeverity;
  if (severityRank[finding.severity] < severityRank[min]) return false;
  if (routing.serverIds && !routing.serverIds.includes(finding.serverId)) return false;
  const name = server?.name ?? finding.serverName;
  if (routing.serverNames && (name === null || !routing.serverNames.includes(name))) return false;
  if (routing.serverLabels) {
    const labels = server?.labels ?? {};
    for (const [k, v] of Object.entries(routing.serverLabels)) {
      if (!Object.hasOwn(labels, k) || String(labels[k]) !== v) return false;
    }
  }
  if (routing.checks && !checkMatches(routing.checks, finding.check)) return false;
  if (routing.excludeChecks && checkMatches(routing.excludeChecks, finding.check)) return false;
  return true;
}

/** The JSON schema of a routing object (the routes validate with it; the store keeps what passed). */
export const routingSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    minSeverity: { type: 'string', enum: severities },
    serverIds: {
      type: 'array',
      maxItems: 1000,
      items: { type: 'integer', minimum: 1, maximum: 9_007_199_254_740_991 },
    },
    serverNames: { type: 'array', maxItems: 1000, items: { type: 'string', minLength: 1, maxLength: 253 } },
    serverLabels: {
      type: 'object',
      maxProperties: 32,
      additionalProperties: { type: 'string', maxLength: 256 },
      propertyNames: { maxLength: 128 },
    },
    checks: { type: 'array', maxItems: 200, items: { type: 'string', minLength: 1, maxLength: 128 } },
    excludeChecks: { type: 'array', maxItems: 200, items: { type: 'string', minLength: 1, maxLength: 128 } },
  },
} as const;

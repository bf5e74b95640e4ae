/**
 * The one API client of the dashboard: every request to /api/v1 goes through `request`, so pages and
 * components never call fetch. The session lives in httpOnly cookies set by the server (sign-in answers
 * with them); an expired access token is refreshed once, silently, and the request retried. When the
 * refresh fails the session is over: listeners of `onSignedOut` show the sign-in page.
 */

export type Role = 'viewer' | 'user' | 'admin';

export interface Me {
  userId: number;
  name: string;
  role: Role;
  via: 'session' | 'api-token';
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | undefined | readonly (string | number)[]>;

const signedOutListeners = new Set<() => void>();
/** Called when the session has ended (refresh refused); returns the unsubscribe function. */
export function onSignedOut(fn: () => void): () => void {
  signedOutListeners.add(fn);
  return () => signedOutListeners.delete(fn);
}

/** Tells every listener the session is over (after signing out, or when a refresh is refused). */
export function notifySignedOut(): void {
  for (const fn of signedOutListeners) fn();
}

let refreshing: Promise<boolean> | undefined;
/** One refresh at a time, whoever asks; resolves whether the session goes on. */
export function refreshSession(): Promise<boolean> {
  refreshing ??= fetch('/api/v1/auth/refresh', { method: 'POST', credentials: 'same-origin' })
    .then((r) => r.ok)
    .catch(() => false)
    .finally(() => {
      refreshing = undefined;
    });
  return refreshing;
}

export function queryString(query: Query | undefined): string {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) p.append(k, String(x));
    else p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

async function errorOf(r: Response): Promise<ApiError> {
  try {
    const body = (await r.json()) as { error?: { code?: string; message?: string } };
    return new ApiError(r.status, body.error?.code ?? 'HTTP_ERROR', body.error?.message ?? r.statusText);
  } catch {
    return new ApiError(r.status, 'HTTP_ERROR', `${r.status} ${r.statusText}`);
  }
}

/** A request to /api/v1`path`; JSON in and out; 204 gives undefined. */
export async function request<T>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  opts: { query?: Query; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const url = `/api/v1${path}${queryString(opts.query)}`;
  const init: RequestInit = {
    method,
    credentials: 'same-origin',
    headers: opts.body === undefined ? {} : { 'content-type': 'application/json' },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: opts.signal,
  };
  let r = await fetch(url, init);
  if (r.status === 401 && !path.startsWith('/auth/')) {
    if (await refreshSession()) r = await fetch(url, init);
    if (r.status === 401) notifySignedOut();
  }
  if (!r.ok) throw await errorOf(r);
  if (r.status === 204) return undefined as T;
  return (await r.json()) as T;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>('GET', path, { query, signal }),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, { body: body ?? {} }),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, { body }),
  patch: <T>(path: string, body?: unknown) => request<T>('PATCH', path, { body }),
  del: <T>(path: string) => request<T>('DELETE', path),
};

// ---- auth ----

export const signIn = (name: string, password: string) =>
  request<{ user: Me }>('POST', '/auth/login', { body: { name, password } });
export const signOut = () => request<void>('POST', '/auth/logout', { body: {} });

/** Who is signed in, refreshing an expired access token first; null when nobody is (never a 401). */
export async function currentUser(): Promise<Me | null> {
  let s = await api.get<{ user: Omit<Me, 'via'> | null; refreshable: boolean }>('/auth/session');
  if (!s.user && s.refreshable && (await refreshSession()))
    s = await api.get<{ user: Omit<Me, 'via'> | null; refreshable: boolean }>('/auth/session');
  return s.user ? { ...s.user, via: 'session' } : null;
}

let keepAlive: ReturnType<typeof setInterval> | undefined;
/**
 * Keeps the session going while the page is open: the access token lives 15 minutes, so it is renewed
 * every 10 (a request that still meets an expired one refreshes on its own, see `request`).
 */
export function keepSessionAlive(on: boolean): void {
  clearInterval(keepAlive);
  keepAlive = on
    ? setInterval(() => {
        void refreshSession().then((ok) => {
          if (!ok) notifySignedOut();
        });
      }, 10 * 60_000)
    : undefined;
}

// ---- series (GET /series: counters come as their increase per step, steps without data are absent) ----

export interface Series {
  metric: string;
  kind: 'gauge' | 'counter';
  agg: string;
  labels: Record<string, string>;
  points: [number, number][];
}
export interface SeriesResponse {
  family: string;
  tier: 'raw' | 'minute' | 'hourly' | 'daily';
  stepSeconds: number;
  from: number;
  to: number;
  series: Series[];
}
export interface SeriesQuery {
  family: string;
  server: number;
  target?: number;
  metrics?: string[];
  label?: string[];
  from: number;
  to: number;
  agg?: 'avg' | 'min' | 'max' | 'p95';
  step?: string;
}
export const fetchSeries = (q: SeriesQuery, signal?: AbortSignal) =>
  api.get<SeriesResponse>(
    '/series',
    {
      family: q.family,
      server: q.server,
      target: q.target,
      metrics: q.metrics?.join(','),
      label: q.label,
      from: q.from,
      to: q.to,
      agg: q.agg,
      step: q.step,
    },
    signal,
  );

// ---- Settings (admin): users, tokens, agents, channels, retention, check thresholds ----

export interface UserRow {
  userId: number;
  name: string;
  role: Role;
  createdAt: string;
  disabled: boolean;
}
export const listUsers = (signal?: AbortSignal) =>
  api.get<{ users: UserRow[] }>('/users', undefined, signal).then((r) => r.users);
/** Without a password the server generates one and returns it this once. */
export const addUser = (b: { name: string; role: Role; password?: string }) =>
  api.post<{ userId: number; name: string; role: Role; password?: string }>('/users', b);
/** A new password ends the user's sessions; so does disabling them. */
export const updateUser = (id: number, b: { role?: Role; disabled?: boolean; password?: string }) =>
  api.patch<UserRow>(`/users/${id}`, b);

export interface ApiTokenRow {
  tokenId: number;
  userId: number;
  name: string;
  role: Role;
  prefix: string;
  createdAt: string;
  expiresAt?: string | null;
  lastUsedAt?: string | null;
  revoked?: boolean;
}
export const listApiTokens = (signal?: AbortSignal) =>
  api.get<{ tokens: ApiTokenRow[] }>('/tokens', undefined, signal).then((r) => r.tokens);
export const createApiToken = (b: { name: string; role: Role; expires?: string }) =>
  api.post<{ tokenId: number; token: string; expiresAt?: string | null }>('/tokens', b);
export const revokeApiToken = (id: number) => api.del<void>(`/tokens/${id}`);

export interface EnrollTokenRow {
  tokenId: number;
  prefix: string;
  usesLeft?: number | null;
  expiresAt?: string | null;
  note?: string | null;
  createdAt: string;
  revokedAt?: string | null;
  agents: number;
}
export const listEnrollTokens = (signal?: AbortSignal) =>
  api.get<{ tokens: EnrollTokenRow[] }>('/enroll-tokens', undefined, signal).then((r) => r.tokens);
export const createEnrollToken = (b: { uses?: number; expires?: string; note?: string }) =>
  api.post<{ tokenId: number; token: string }>('/enroll-tokens', b);
export const revokeEnrollToken = (id: number) => api.del<void>(`/enroll-tokens/${id}`);

export interface AgentRow {
  agentId: string;
  serverId: number;
  serverName: string;
  hostname: string;
  os?: string | null;
  version?: string | null;
  enrolledAt: string;
  lastSeenAt?: string | null;
  revokedAt?: string | null;
  presence: 'unknown' | 'online' | 'offline' | 'degraded';
  presenceReason?: string | null;
  configStatus?: { etag?: string; applied?: boolean; error?: string; at?: string } | null;
  configured?: boolean;
}
export const listAgents = (signal?: AbortSignal) =>
  api.get<{ agents: AgentRow[] }>('/agents', undefined, signal).then((r) => r.agents);
/** One agent with its pushed config (passwords in target URLs come back as ***). */
export const getAgent = (id: string, signal?: AbortSignal) =>
  api.get<AgentRow & { config: Record<string, unknown> }>(
    `/agents/${encodeURIComponent(id)}`,
    undefined,
    signal,
  );
export const revokeAgent = (id: string) => api.post<void>(`/agents/${encodeURIComponent(id)}/revoke`);
/** Replaces the agent's pushed config whole; it applies it at its next pull. */
export const pushAgentConfig = (id: string, config: Record<string, unknown>) =>
  api.put<void>(`/agents/${encodeURIComponent(id)}/config`, config);

export type ChannelType = 'webhook' | 'slack' | 'alertmanager' | 'email';
export interface ChannelRow {
  channelId: number;
  name: string;
  type: ChannelType;
  /** Scheme, host and port only: the URL's path and every secret stay on the server. */
  display: string;
  routing: { minSeverity?: string; [k: string]: unknown };
  enabled: boolean;
  allowPrivate: boolean;
  createdAt: string;
  createdBy?: string | null;
}
export interface NewChannel {
  name: string;
  type: ChannelType;
  config: Record<string, unknown>;
  routing?: { minSeverity?: string };
  allowPrivate?: boolean;
}
export interface TestSend {
  ok: boolean;
  status: number | null;
  latencyMs: number;
  reason?: string;
  error?: string;
}
export interface DeadLetter {
  deliveryId: number;
  channelId: number;
  channelName: string;
  channelType: ChannelType;
  findingId?: string;
  findingKey: string;
  event: 'fired' | 'resolved' | 'test';
  attempts: number;
  lastStatus?: number | null;
  lastError?: string | null;
  createdAt?: string;
  lastAttemptAt?: string;
}
export const listChannels = (signal?: AbortSignal) =>
  api.get<{ channels: ChannelRow[] }>('/channels', undefined, signal).then((r) => r.channels);
/** A generated webhook secret comes back this once as `secret`. */
export const createChannel = (b: NewChannel) => api.post<ChannelRow & { secret?: string }>('/channels', b);
export const setChannelEnabled = (id: number, enabled: boolean) =>
  api.patch<ChannelRow>(`/channels/${id}`, { enabled });
export const deleteChannel = (id: number) => api.del<void>(`/channels/${id}`);
export const testChannel = (id: number) => api.post<TestSend>(`/channels/${id}/test`);
export const listDeadLetters = (signal?: AbortSignal) =>
  api
    .get<{ deliveries: DeadLetter[] }>('/notifications/dead', { limit: 100 }, signal)
    .then((r) => r.deliveries);
export const retryDeadLetter = (id: number) =>
  api.post<{ deliveryId: number; state: 'pending' }>(`/notifications/${id}/retry`);

export interface Retention {
  rawDays: number;
  hourlyDays: number;
  dailyDays: number;
}
export const getRetention = (signal?: AbortSignal) =>
  api.get<Retention>('/settings/retention', undefined, signal);
export const putRetention = (r: Retention) => api.put<Retention>('/settings/retention', r);

export interface ThresholdSpec {
  default: number;
  unit?: string;
  help?: string;
  min?: number;
  max?: number;
}
export interface CheckOverride {
  serverId: number | null;
  targetId: number | null;
  enabled: boolean;
  thresholds: Record<string, number>;
  updatedBy?: string | null;
  updatedAt?: string;
}
export interface CheckInfo {
  id: string;
  group: string;
  kind: string;
  mode: 'ingest' | 'job';
  title: string;
  evidence?: string;
  action?: string;
  thresholds: Record<string, ThresholdSpec>;
  overrides: CheckOverride[];
}
export interface CheckScope {
  serverId?: number;
  targetId?: number;
}
export const listChecks = (signal?: AbortSignal) =>
  api.get<{ checks: CheckInfo[] }>('/checks', undefined, signal).then((r) => r.checks);
export const putCheckSettings = (
  id: string,
  b: CheckScope & { enabled?: boolean; thresholds?: Record<string, number> },
) => api.put<void>(`/checks/${encodeURIComponent(id)}/settings`, b);
export const clearCheckSettings = (id: string, scope: CheckScope) =>
  request<void>('DELETE', `/checks/${encodeURIComponent(id)}/settings`, {
    query: { serverId: scope.serverId, targetId: scope.targetId },
  });

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

// ---- Logs ----

export const logLevels = ['debug', 'info', 'notice', 'warning', 'error', 'fatal', 'panic'] as const;
export type LogLevel = (typeof logLevels)[number];

export interface LogEntry {
  serverId: number;
  server?: string;
  /** ISO 8601, UTC, microseconds. */
  ts: string;
  source: string;
  level: LogLevel;
  component?: string;
  message: string;
  context?: Record<string, unknown>;
  fingerprint: string;
}
/** The filters GET /logs, /logs/counts and /logs/patterns share (docs/api.md "Logs"). */
export interface LogFilter {
  from: number;
  to: number;
  server?: number;
  /** Comma-separated source names. */
  source?: string;
  /** Comma-separated exact levels. */
  level?: string;
  q?: string;
  event?: string;
  fingerprint?: string;
}
export interface LogPattern {
  fingerprint: string;
  count: number;
  servers?: number;
  firstSeen: string;
  lastSeen: string;
  level?: string;
  source?: string;
  component?: string;
  sample: string;
}
export interface LogCountBucket {
  ts: string;
  total: number;
  counts: Partial<Record<LogLevel, number>>;
}

const logQuery = (f: LogFilter) => ({
  from: f.from,
  to: f.to,
  server: f.server,
  source: f.source,
  level: f.level,
  q: f.q,
  event: f.event,
  fingerprint: f.fingerprint,
});
export const fetchLogs = (f: LogFilter, page: { limit?: number; before?: string }, signal?: AbortSignal) =>
  api.get<{ entries: LogEntry[]; nextBefore: string | null }>(
    '/logs',
    { ...logQuery(f), limit: page.limit ?? 100, before: page.before },
    signal,
  );
export const fetchLogCounts = (f: LogFilter, signal?: AbortSignal) =>
  api.get<{ step: number; buckets: LogCountBucket[] }>('/logs/counts', logQuery(f), signal);
export const fetchLogPatterns = (f: LogFilter, limit: number, signal?: AbortSignal) =>
  api.get<{ patterns: LogPattern[] }>('/logs/patterns', { ...logQuery(f), limit }, signal);

export interface ServerChoice {
  serverId: number;
  name: string;
}
/** The servers to choose from in a filter (the first 500 by name). */
export const fetchServerChoices = (signal?: AbortSignal) =>
  api
    .get<{ servers: ServerChoice[] }>('/servers', { limit: 500 }, signal)
    .then((r) => r.servers.map((s) => ({ serverId: s.serverId, name: s.name })));
export const fetchTargetIds = (server: number, signal?: AbortSignal) =>
  api
    .get<{ targets: { targetId: number; name: string }[] }>(`/servers/${server}/targets`, undefined, signal)
    .then((r) => r.targets);

// ---- Findings ----

export type Severity = 'info' | 'warning' | 'critical';
export type FindingState = 'open' | 'acknowledged' | 'silenced' | 'resolved';
export interface Finding {
  id: string;
  key: string;
  check: string;
  serverId: number;
  serverName?: string | null;
  targetId?: number | null;
  targetName?: string | null;
  object?: string;
  kind: 'alert' | 'recommendation';
  severity: Severity;
  title: string;
  explanation?: string;
  evidence?: Record<string, unknown>;
  action?: string;
  value?: number | null;
  state: FindingState;
  firstSeen?: string;
  lastSeen?: string;
  openedAt?: string;
  resolvedAt?: string | null;
  resolvedReason?: string | null;
  silencedUntil?: string | null;
  acknowledgedBy?: string | null;
}
export interface FindingEvent {
  ts: string;
  event: string;
  severity?: string;
  actor?: string | null;
  detail?: Record<string, unknown>;
}
export interface FindingFilter {
  state?: string;
  kind?: string;
  severity?: string;
  server?: number;
}
export const fetchFindings = (f: FindingFilter, cursor: string | undefined, signal?: AbortSignal) =>
  api.get<{ findings: Finding[]; nextCursor: string | null }>(
    '/findings',
    { ...f, limit: 100, cursor },
    signal,
  );
export const fetchFinding = (id: string, signal?: AbortSignal) =>
  api.get<{ finding: Finding; history: FindingEvent[] }>(
    `/findings/${encodeURIComponent(id)}`,
    undefined,
    signal,
  );
export type FindingAction = 'acknowledge' | 'silence' | 'unsilence' | 'resolve';
/** A hand action (role user); `silenceFor` is a duration such as 2h (silence only). */
export const actOnFinding = (id: string, action: FindingAction, silenceFor?: string) =>
  api.post<{ finding: Finding }>(
    `/findings/${encodeURIComponent(id)}/${action}`,
    action === 'silence' ? { for: silenceFor } : {},
  );

let apiPaths: Promise<ReadonlySet<string>> | undefined;
/**
 * The paths this server's API has, from its OpenAPI document (read once per page load): pages show a
 * section only when its endpoint exists, without probing it (a 404 would be a console error).
 */
export function apiHasPath(path: string): Promise<boolean> {
  apiPaths ??= api
    .get<{ paths?: Record<string, unknown> }>('/openapi.json')
    .then((doc) => new Set(Object.keys(doc.paths ?? {})))
    .catch(() => new Set<string>());
  return apiPaths.then((paths) => paths.has(`/api/v1${path}`));
}
/** A list endpoint whose shape is not known to this page yet (incidents, SLOs): its first array. */
export const fetchListOf = (path: string, signal?: AbortSignal) =>
  api.get<Record<string, unknown>>(path, undefined, signal).then((body) => {
    const list = Object.values(body).find(Array.isArray);
    return (list ?? []) as Record<string, unknown>[];
  });

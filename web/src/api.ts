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

// ---- PostgreSQL statements, tables and indexes (GET /servers/:id/targets/:target/…) ----

export type StatementOrder =
  | 'total_time'
  | 'calls'
  | 'mean_time'
  | 'rows'
  | 'shared_blks_hit'
  | 'shared_blks_read';

export interface TopStatement {
  queryid: string;
  dbid: number;
  userid: number;
  datname: string | null;
  usename: string | null;
  intervals: number;
  total_time_ms: number | null;
  mean_exec_time_ms: number | null;
  calls: number | null;
  rows: number | null;
  shared_blks_hit: number | null;
  shared_blks_read: number | null;
  query: string | null;
  queryRedacted: boolean;
  queryTruncated: boolean | null;
  /** Total time (ms) per step: [step start ms, value]; missing steps are gaps. */
  spark?: [number, number][];
}
export interface TopStatements {
  from: string;
  to: string;
  order: StatementOrder;
  sparkStepSeconds: number | null;
  statements: TopStatement[];
}

const targetPath = (server: number, target: number) => `/servers/${server}/targets/${target}`;

/** Top statements with sparklines, in one request; `text: false` asks for no statement texts. */
export const fetchTopStatements = (
  q: { server: number; target: number; from: number; to: number; order: StatementOrder; text: boolean },
  signal?: AbortSignal,
) =>
  api.get<TopStatements>(
    `${targetPath(q.server, q.target)}/statements`,
    { from: q.from, to: q.to, order: q.order, limit: 50, spark: 60, text: q.text },
    signal,
  );

export interface StatementStep {
  ts: number;
  intervals: number;
  covered_s: number;
  calls: number | null;
  exec_time_ms: number | null;
  plan_time_ms: number | null;
  rows: number | null;
  shared_blks_hit: number | null;
  shared_blks_read: number | null;
  shared_blks_dirtied: number | null;
  shared_blks_written: number | null;
  temp_blks_read: number | null;
  temp_blks_written: number | null;
}
export interface StatementHistory {
  queryid: string;
  stepSeconds: number;
  runsAs: { dbid: number; userid: number; datname: string | null; usename: string | null }[];
  steps: StatementStep[];
}
export interface StatementKeyQuery {
  server: number;
  target: number;
  queryid: string;
  dbid?: number;
  userid?: number;
}

export const fetchStatementHistory = (
  q: StatementKeyQuery & { from: number; to: number },
  signal?: AbortSignal,
) =>
  api.get<StatementHistory>(
    `${targetPath(q.server, q.target)}/statements/${encodeURIComponent(q.queryid)}`,
    { from: q.from, to: q.to, dbid: q.dbid, userid: q.userid, steps: 240 },
    signal,
  );

/** The statement's text (role user and above; the API refuses a viewer). */
export const fetchStatementText = (q: StatementKeyQuery, signal?: AbortSignal) =>
  api.get<{ texts: { dbid: number; userid: number; query: string; truncated: boolean | null }[] }>(
    `${targetPath(q.server, q.target)}/statements/${encodeURIComponent(q.queryid)}/text`,
    { dbid: q.dbid, userid: q.userid },
    signal,
  );

export interface TableRow {
  datname: string;
  schemaname: string;
  relname: string;
  n_live_tup: number | null;
  n_dead_tup: number | null;
  dead_pct: number | null;
  seq_scan: number | null;
  idx_scan: number | null;
  last_vacuum: string | null;
  last_autovacuum: string | null;
  last_analyze: string | null;
  last_autoanalyze: string | null;
  table_bytes: number | null;
  toast_bytes: number | null;
  indexes_bytes: number | null;
  total_bytes: number | null;
  bloat_bytes_estimate: number | null;
}
export interface IndexRow {
  datname: string;
  schemaname: string;
  relname: string;
  indexrelname: string;
  idx_scan: number | null;
  size_bytes: number | null;
  is_unique: boolean | null;
  is_primary: boolean | null;
  is_valid: boolean | null;
  unused: boolean | null;
  duplicate_of: string | null;
  definition: string | null;
}
interface Snapshot {
  ts: string | null;
  ageSeconds: number | null;
}

/** The newest tables snapshot (largest first, up to 500). */
export const fetchTables = (q: { server: number; target: number }, signal?: AbortSignal) =>
  api.get<Snapshot & { tables: TableRow[] }>(
    `${targetPath(q.server, q.target)}/tables`,
    { order: 'size', limit: 500 },
    signal,
  );

/** The newest indexes snapshot (largest first, up to 1000). */
export const fetchIndexes = (q: { server: number; target: number }, signal?: AbortSignal) =>
  api.get<Snapshot & { indexes: IndexRow[] }>(
    `${targetPath(q.server, q.target)}/indexes`,
    { limit: 1000 },
    signal,
  );

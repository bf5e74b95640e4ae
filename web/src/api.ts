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
/** GET /series?shape=grid: one time grid for the answer, per series a value or null (no data) per step. */
interface GridSeriesResponse extends Omit<SeriesResponse, 'series'> {
  times: number[];
  series: Array<Omit<Series, 'points'> & { values: (number | null)[] }>;
}

/**
 * The grid answer as points (what the charts' helpers take): the same points as the default answer, a
 * step without data left out. The grid is about half the bytes of the pairs to fetch and parse.
 */
export function pointsFromGrid(g: GridSeriesResponse): SeriesResponse {
  const { times, series, ...head } = g;
  return {
    ...head,
    series: series.map(({ values, ...s }) => {
      const points: [number, number][] = [];
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v !== null && v !== undefined) points.push([times[i]!, v]);
      }
      return { ...s, points };
    }),
  };
}

export const fetchSeries = (q: SeriesQuery, signal?: AbortSignal) =>
  api
    .get<GridSeriesResponse>(
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
        shape: 'grid',
      },
      signal,
    )
    .then(pointsFromGrid);

// ---- Overview (GET /fleet, GET /findings) ----

export const fleetStatuses = ['ok', 'degraded', 'silent', 'down'] as const;
export type FleetStatus = (typeof fleetStatuses)[number];
/**
 * A sparkline: a value per step of the answer's grid (value i is the step starting at from + i × step),
 * null for a step without data or without a computable value; empty when the line has no value at all.
 */
export type FleetLine = Array<number | null>;

export interface FleetTarget {
  targetId: number;
  name: string;
  status: 'up' | 'degraded' | 'down' | 'unknown';
  serverVersion: string | null;
  /** Backends, average per step. */
  connections: FleetLine;
  /** Commits + rollbacks per second, all databases. */
  tps: FleetLine;
}

export interface FleetServer {
  serverId: number;
  name: string;
  status: FleetStatus;
  lastSeenAt: string | null;
  ageSeconds?: number | null;
  /** Findings open or acknowledged, by severity. */
  findings: { critical: number; warning: number; info: number };
  targets: FleetTarget[];
  /** Busy % of all cores. */
  cpu: FleetLine;
  /** Used % of memory. */
  memory: FleetLine;
}

export interface FleetResponse {
  tier: 'raw' | 'minute' | 'hourly' | 'daily';
  stepSeconds: number;
  from: number;
  to: number;
  /** More servers matched than the limit (ordered by name): narrow with `q` or `status`. */
  truncated: boolean;
  /** When the server made the answer (ms); the default view is shared and at most 15 s old. */
  asOf: number;
  servers: FleetServer[];
}

/** The whole fleet in one request (sparklines over from..to); `q` and `status` filter on the server. */
export const fetchFleet = (
  q: { from?: number; to?: number; q?: string; status?: readonly FleetStatus[] },
  signal?: AbortSignal,
) =>
  api.get<FleetResponse>(
    '/fleet',
    { from: q.from, to: q.to, q: q.q || undefined, status: q.status?.length ? q.status : undefined },
    signal,
  );

export type Severity = 'critical' | 'warning' | 'info';

/** The fields of a finding the overview's "what is wrong now" strip shows. */
export interface FindingSummary {
  id: string;
  check: string;
  serverId: number;
  serverName?: string | null;
  targetId?: number | null;
  targetName?: string | null;
  kind: 'alert' | 'recommendation' | string;
  severity: Severity;
  title: string;
  state: string;
  lastSeen?: string;
  openedAt?: string;
}

/** Open and acknowledged critical and warning findings (the API answers the most recently changed first). */
export const fetchAttentionFindings = (signal?: AbortSignal) =>
  api.get<{ findings: FindingSummary[]; nextCursor: string | null }>(
    '/findings',
    { state: 'open,acknowledged', severity: 'critical,warning', limit: 200 },
    signal,
  );

// ---- Host ----

export interface ServerAgent {
  agentId: string;
  hostname: string;
  os: string | null;
  version: string | null;
  lastSeenAt: string | null;
  revokedAt: string | null;
}
export interface ServerTarget {
  targetId: number;
  kind: string;
  name: string;
  status: 'up' | 'degraded' | 'down' | 'unknown';
  lastCollectedAt: string | null;
  serverVersion: string | null;
  inRecovery: boolean | null;
  error: string | null;
}
export interface ServerDetail {
  serverId: number;
  name: string;
  status: 'ok' | 'degraded' | 'silent' | 'never-seen';
  lastSeenAt: string | null;
  agents: ServerAgent[];
  targets: ServerTarget[];
  degraded: { source: string; name: string; error: string | null }[];
}
export const fetchServer = (id: number, signal?: AbortSignal) =>
  api.get<ServerDetail>(`/servers/${id}`, undefined, signal);

type Row = Record<string, string | number | boolean | null>;
interface Snapshot {
  ts: string;
  ageSeconds: number;
}
/** GET /servers/:id/node: the newest collection of each host family (null: nothing recent). */
export interface NodeNow {
  serverId: number;
  name: string;
  memory: (Snapshot & Row) | null;
  disks: (Snapshot & { devices: Row[] }) | null;
  filesystems: (Snapshot & { mounts: Row[] }) | null;
  network: (Snapshot & { interfaces: Row[] }) | null;
  /** Older servers do not send it. */
  processes?: (Snapshot & { watches: Row[] }) | null;
}
export const fetchNode = (id: number, signal?: AbortSignal) =>
  api.get<NodeNow>(`/servers/${id}/node`, undefined, signal);

export interface Container extends Row {
  runtime: string;
  id: string;
  ts: string;
  present: boolean;
}
export const fetchContainers = (id: number, signal?: AbortSignal) =>
  api.get<{ containers: Container[] }>(`/servers/${id}/containers`, undefined, signal);

/** Open findings of a server: how many (capped at `limit`, `more` when there are others). */
export async function countOpenFindings(
  server: number,
  signal?: AbortSignal,
): Promise<{ count: number; more: boolean }> {
  const r = await api.get<{ findings: unknown[]; nextCursor: string | null }>(
    '/findings',
    { state: 'open', server, limit: 500 },
    signal,
  );
  return { count: r.findings.length, more: r.nextCursor !== null };
}

// ---- PostgreSQL: activity, replication, settings (GET /servers/:id/targets/:target/…) ----

export interface PgInstanceNow {
  ts: string;
  ageSeconds: number;
  up: boolean | null;
  error: string | null;
  serverVersion: string | null;
  inRecovery: boolean | null;
}

/** Statement texts: `query` is null for a viewer, with `queryRedacted` true when a text exists. */
export interface QueryText {
  query: string | null;
  queryRedacted: boolean;
}

export interface PgLockWait extends QueryText {
  pid: number;
  blocking_pids: number[];
  datname: string | null;
  usename: string | null;
  application_name: string | null;
  wait_s: number | null;
}

export interface PgBlocker {
  pid: number;
  blocks: number;
  waiting: boolean;
  session:
    | (QueryText & {
        datname: string;
        usename: string;
        application_name: string;
        state: string;
        xact_age_s: number | null;
      })
    | null;
}

export interface PgActivity {
  instance: PgInstanceNow | null;
  summary: {
    processes: number;
    byState: Record<string, number>;
    waiting: number;
    blocked: number;
    /** Processes of other roles the agent's role may not see: in `processes`, in no other figure. */
    hidden: number;
    idleInTransaction: number;
    longestTransactionS: number | null;
    longestQueryS: number | null;
  } | null;
  sessions:
    | {
        datname: string;
        usename: string;
        application_name: string;
        backend_type: string;
        state: string;
        count: number;
        waiting: number | null;
        blocked: number | null;
        max_xact_age_s: number | null;
        max_query_age_s: number | null;
      }[]
    | null;
  waitEvents: { wait_event_type: string; wait_event: string; count: number }[] | null;
  lockWaits: PgLockWait[] | null;
  blockers: PgBlocker[] | null;
  notCollected: Record<string, string>;
}

export interface PgReplication {
  instance: PgInstanceNow | null;
  standbys:
    | {
        application_name: string;
        client_addr: string;
        pid: number;
        state: string | null;
        sync_state: string | null;
        replay_lag_bytes: number | null;
        replay_lag_s: number | null;
        backend_start: string | null;
      }[]
    | null;
  slots:
    | {
        slot_name: string;
        slot_type: string | null;
        datname: string | null;
        active: boolean | null;
        retained_bytes: number | null;
        wal_status: string | null;
        safe_wal_size_bytes: number | null;
      }[]
    | null;
  standby: {
    receiver_status: string | null;
    sender: string | null;
    receive_replay_lag_bytes: number | null;
    replay_lag_s: number | null;
  } | null;
  /** Logical replication subscriptions of this instance (subscriber side). */
  subscriptions:
    | {
        subname: string;
        datname: string;
        enabled: boolean | null;
        worker_pid: string | null;
        sync_workers: number | null;
        received_lsn: string | null;
        last_msg_age_s: number | null;
        msg_lag_s: number | null;
        apply_error_count: number | null;
        sync_error_count: number | null;
      }[]
    | null;
  notCollected: Record<string, string>;
}

export interface PgSettings {
  ts: string | null;
  ageSeconds: number | null;
  settings: {
    name: string;
    setting: string | null;
    unit: string | null;
    source: string | null;
    pending_restart: boolean | null;
    is_default: boolean | null;
  }[];
}

const targetPath = (server: number, target: number, view: string) =>
  `/servers/${server}/targets/${target}/${view}`;
export const fetchPgActivity = (server: number, target: number, signal?: AbortSignal) =>
  api.get<PgActivity>(targetPath(server, target, 'activity'), undefined, signal);
export const fetchPgReplication = (server: number, target: number, signal?: AbortSignal) =>
  api.get<PgReplication>(targetPath(server, target, 'replication'), undefined, signal);
/** Role user and up (values may hold secrets): do not ask for a viewer. */
export const fetchPgSettings = (server: number, target: number, signal?: AbortSignal) =>
  api.get<PgSettings>(targetPath(server, target, 'settings'), undefined, signal);

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

const targetBase = (server: number, target: number) => `/servers/${server}/targets/${target}`;

/** Top statements with sparklines, in one request; `text: false` asks for no statement texts. */
export const fetchTopStatements = (
  q: { server: number; target: number; from: number; to: number; order: StatementOrder; text: boolean },
  signal?: AbortSignal,
) =>
  api.get<TopStatements>(
    `${targetBase(q.server, q.target)}/statements`,
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
    `${targetBase(q.server, q.target)}/statements/${encodeURIComponent(q.queryid)}`,
    { from: q.from, to: q.to, dbid: q.dbid, userid: q.userid, steps: 240 },
    signal,
  );

/** The statement's text (role user and above; the API refuses a viewer). */
export const fetchStatementText = (q: StatementKeyQuery, signal?: AbortSignal) =>
  api.get<{ texts: { dbid: number; userid: number; query: string; truncated: boolean | null }[] }>(
    `${targetBase(q.server, q.target)}/statements/${encodeURIComponent(q.queryid)}/text`,
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
interface ObjectsSnapshot {
  ts: string | null;
  ageSeconds: number | null;
}

/** The newest tables snapshot (largest first, up to 500). */
export const fetchTables = (q: { server: number; target: number }, signal?: AbortSignal) =>
  api.get<ObjectsSnapshot & { tables: TableRow[] }>(
    `${targetBase(q.server, q.target)}/tables`,
    { order: 'size', limit: 500 },
    signal,
  );

/** The newest indexes snapshot (largest first, up to 1000). */
export const fetchIndexes = (q: { server: number; target: number }, signal?: AbortSignal) =>
  api.get<ObjectsSnapshot & { indexes: IndexRow[] }>(
    `${targetBase(q.server, q.target)}/indexes`,
    { limit: 1000 },
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
  kind: 'alert' | 'recommendation' | 'anomaly';
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
/** An incident (GET /incidents): findings grouped, with the chain that explains them when one does. */
export interface Incident {
  id: string;
  serverId: number;
  serverName: string | null;
  state: 'open' | 'resolved';
  openedAt: string;
  resolvedAt: string | null;
  title: string;
  severity: string;
  confidence: number | null;
  cause: {
    name: string;
    chain: Array<{ findingId: string; label: string; role: string; title: string }>;
    explanation: string;
    action: string;
  } | null;
  correlated: { findings?: string[]; pairs?: Array<{ series: string; withSeries: string; r: number }> };
  members: number;
}
export const fetchIncidents = (server: number | undefined, signal?: AbortSignal) =>
  api.get<{ incidents: Incident[]; nextCursor: string | null }>('/incidents', { server, limit: 20 }, signal);

/** An SLO with its budget and burn rates as of the last slos job run (GET /slos, docs/slo.md). */
export interface SloRow {
  id: number;
  name: string;
  serverId: number;
  serverName: string | null;
  targetId: number | null;
  targetName: string | null;
  indicator: string;
  objective: number;
  windowDays: number;
  source: 'default' | 'api';
  sli_pct: number | null;
  budget_remaining_pct: number | null;
  budgetRemainingMinutes: number | null;
  budgetExhausted: boolean;
  burn: Record<'5m' | '30m' | '1h' | '6h', { rate: number | null; bad: number; counted: number }> | null;
  evaluatedAt: string | null;
}
export const fetchSlos = (signal?: AbortSignal) =>
  api.get<{ slos: SloRow[] }>('/slos', { limit: '500' }, signal).then((r) => r.slos);

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
  /** Why it is off unless an override switches it on; null: on by default. */
  offByDefault?: string | null;
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

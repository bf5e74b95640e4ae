/**
 * PostgreSQL event classification: recognises the messages a DBA acts on and puts their values in
 * structured context fields, `context.event` naming the kind. Works on finished records of all three
 * formats (stderr after continuation lines are folded in, csvlog, jsonlog), which share field names:
 * `detail`, `hint`, `statement`, `context`, `user`, `database`, `host`, `pid`.
 *
 * Guarantees: never throws, never changes message or level, and leaves unknown messages untouched. The
 * dispatch is on the message's first characters so that the common case (a statement duration line)
 * costs one comparison and one regex.
 */
import type { JsonValue, LogContext } from '../../protocol/logs.js';

const durationLine = /^duration: ([\d.]+) ms(?: {2}(statement|execute|parse|bind)(?: ([^:]*))?: ([\s\S]*))?$/;

function num(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

function set(ctx: LogContext, key: string, value: JsonValue | undefined): void {
  if (value !== undefined) ctx[key] = value;
}

function secondsToMs(s: string | undefined): number | undefined {
  const n = num(s);
  return n === undefined ? undefined : Math.round(n * 1000 * 1000) / 1000;
}

function classifyDuration(message: string, ctx: LogContext): boolean {
  const m = durationLine.exec(message);
  if (!m) return false;
  ctx.duration_ms = Number(m[1]);
  if (m[2]) {
    ctx.event = 'slow_statement';
    ctx.phase = m[2];
    if (m[3] && m[3] !== '<unnamed>') ctx.prepared_name = m[3];
    ctx.statement = m[4]!;
  } else {
    ctx.event = 'statement_duration';
  }
  return true;
}

function classifyCheckpoint(message: string, ctx: LogContext): boolean {
  const starting = /^(checkpoint|restartpoint) starting:\s*(.*)$/.exec(message);
  if (starting) {
    ctx.event = `${starting[1]}_starting`;
    ctx.reasons = starting[2]!.split(/\s+/).filter((w) => w !== '');
    return true;
  }
  const complete = /^(checkpoint|restartpoint) complete: /.exec(message);
  if (!complete) return false;
  ctx.event = `${complete[1]}_complete`;
  const m = (re: RegExp) => re.exec(message) ?? undefined;
  const buffers = m(/wrote (\d+) buffers \(([\d.]+)%\)/);
  set(ctx, 'buffers_written', num(buffers?.[1]));
  set(ctx, 'buffers_pct', num(buffers?.[2]));
  set(ctx, 'slru_buffers_written', num(m(/wrote (\d+) SLRU buffers/)?.[1]));
  const wal = m(/(\d+) WAL file\(s\) added, (\d+) removed, (\d+) recycled/);
  set(ctx, 'wal_files_added', num(wal?.[1]));
  set(ctx, 'wal_files_removed', num(wal?.[2]));
  set(ctx, 'wal_files_recycled', num(wal?.[3]));
  const times = m(/write=([\d.]+) s, sync=([\d.]+) s, total=([\d.]+) s/);
  set(ctx, 'write_s', num(times?.[1]));
  set(ctx, 'sync_s', num(times?.[2]));
  set(ctx, 'total_s', num(times?.[3]));
  set(ctx, 'duration_ms', secondsToMs(times?.[3]));
  const sync = m(/sync files=(\d+), longest=([\d.]+) s, average=([\d.]+) s/);
  set(ctx, 'sync_files', num(sync?.[1]));
  set(ctx, 'sync_longest_s', num(sync?.[2]));
  set(ctx, 'sync_average_s', num(sync?.[3]));
  const dist = m(/distance=(\d+) kB, estimate=(\d+) kB/);
  set(ctx, 'distance_kb', num(dist?.[1]));
  set(ctx, 'estimate_kb', num(dist?.[2]));
  const lsn = m(/lsn=([0-9A-F]+\/[0-9A-F]+), redo lsn=([0-9A-F]+\/[0-9A-F]+)/);
  set(ctx, 'lsn', lsn?.[1]);
  set(ctx, 'redo_lsn', lsn?.[2]);
  return true;
}

function classifyAutovacuum(message: string, ctx: LogContext): boolean {
  const head = /^automatic (aggressive )?(vacuum|analyze)(?: to prevent wraparound)? of table "([^"]*)"/.exec(
    message,
  );
  if (!head) return false;
  ctx.event = head[2] === 'vacuum' ? 'autovacuum' : 'autoanalyze';
  if (head[1]) ctx.aggressive = true;
  if (message.includes('to prevent wraparound')) ctx.wraparound = true;
  const name = head[3]!;
  ctx.table = name;
  const parts = name.split('.');
  if (parts.length === 3) {
    ctx.table_database = parts[0]!;
    ctx.schema = parts[1]!;
    ctx.relation = parts[2]!;
  }
  const m = (re: RegExp) => re.exec(message) ?? undefined;
  set(ctx, 'index_scans', num(m(/index scans: (\d+)/)?.[1]));
  const pages = m(/pages: (\d+) removed, (\d+) remain(?:, (\d+) scanned)?/);
  set(ctx, 'pages_removed', num(pages?.[1]));
  set(ctx, 'pages_remain', num(pages?.[2]));
  set(ctx, 'pages_scanned', num(pages?.[3]));
  const tuples = m(/tuples: (\d+) removed, (\d+) remain, (\d+) are dead but not yet removable/);
  set(ctx, 'tuples_removed', num(tuples?.[1]));
  set(ctx, 'tuples_remain', num(tuples?.[2]));
  set(ctx, 'tuples_dead_not_removable', num(tuples?.[3]));
  const buf = m(/buffer usage: (\d+) hits, (\d+) (?:misses|reads), (\d+) dirtied/);
  set(ctx, 'buffer_hits', num(buf?.[1]));
  set(ctx, 'buffer_reads', num(buf?.[2]));
  set(ctx, 'buffer_dirtied', num(buf?.[3]));
  const rates = m(/avg read rate: ([\d.]+) MB\/s, avg write rate: ([\d.]+) MB\/s/);
  set(ctx, 'read_rate_mb_s', num(rates?.[1]));
  set(ctx, 'write_rate_mb_s', num(rates?.[2]));
  const walUse = m(/WAL usage: (\d+) records, (\d+) full page images, (\d+) bytes/);
  set(ctx, 'wal_records', num(walUse?.[1]));
  set(ctx, 'wal_fpi', num(walUse?.[2]));
  set(ctx, 'wal_bytes', num(walUse?.[3]));
  const cpu = m(/CPU: user: ([\d.]+) s, system: ([\d.]+) s, elapsed: ([\d.]+) s/);
  set(ctx, 'cpu_user_s', num(cpu?.[1]));
  set(ctx, 'cpu_system_s', num(cpu?.[2]));
  set(ctx, 'elapsed_s', num(cpu?.[3]));
  set(ctx, 'duration_ms', secondsToMs(cpu?.[3]));
  return true;
}

/**
 * "4117, 4118" → [4117, 4118]: the parts between commas as numbers, those that are finite, as split, map and
 * filter gave them; a loop of its own, since the arrays of `map` came in more than one kind and each new
 * kind threw the optimised caller away (twice per run on an event-rich log).
 */
function pidList(text: string): number[] {
  const out: number[] = [];
  const parts = text.split(/,\s*/);
  for (let i = 0; i < parts.length; i++) {
    const n = Number(parts[i]);
    if (Number.isFinite(n)) out.push(n);
  }
  return out;
}

function parseLockDetail(detail: string | undefined, ctx: LogContext): void {
  if (!detail) return;
  const holders = /Process(?:es)? holding the lock: ([\d, ]+)\./.exec(detail);
  if (holders) ctx.blocking_pids = pidList(holders[1]!);
  const queue = /Wait queue: ([\d, ]+)\./.exec(detail);
  if (queue) ctx.wait_queue = pidList(queue[1]!);
}

function classifyLockWait(message: string, ctx: LogContext): boolean {
  const m =
    /^process (\d+) (still waiting for|acquired|avoided deadlock for|detected deadlock while waiting for) (\S+) on (.+?) after ([\d.]+) ms/.exec(
      message,
    );
  if (!m) return false;
  const what = m[2]!;
  ctx.event =
    what === 'still waiting for'
      ? 'lock_wait'
      : what === 'acquired'
        ? 'lock_acquired'
        : what === 'avoided deadlock for'
          ? 'deadlock_avoided'
          : 'deadlock_wait';
  ctx.waiting_pid = Number(m[1]);
  ctx.lock_mode = m[3]!;
  ctx.lock_object = m[4]!;
  ctx.wait_ms = Number(m[5]);
  const tx = /^transaction (\d+)$/.exec(m[4]!);
  if (tx) ctx.lock_transaction = Number(tx[1]);
  const rel = /relation (\d+) of database (\d+)/.exec(m[4]!);
  if (rel) {
    ctx.lock_relation_oid = Number(rel[1]);
    ctx.lock_database_oid = Number(rel[2]);
  }
  parseLockDetail(typeof ctx.detail === 'string' ? ctx.detail : undefined, ctx);
  return true;
}

function classifyDeadlock(ctx: LogContext): void {
  ctx.event = 'deadlock';
  const detail = typeof ctx.detail === 'string' ? ctx.detail : '';
  const processes = new Map<number, { [k: string]: JsonValue }>();
  const get = (pid: number) => {
    let p = processes.get(pid);
    if (!p) {
      p = { pid };
      processes.set(pid, p);
    }
    return p;
  };
  for (const w of detail.matchAll(/Process (\d+) waits for (\S+) on (.+?); blocked by process (\d+)\./g)) {
    const p = get(Number(w[1]));
    p.waits_for = `${w[2]} on ${w[3]}`;
    p.lock_mode = w[2]!;
    p.blocked_by = Number(w[4]);
  }
  // "Process 123: UPDATE …" — the query may span lines up to the next "Process N:" line.
  const queries = [...detail.matchAll(/^Process (\d+): /gm)];
  for (let i = 0; i < queries.length; i++) {
    const q = queries[i]!;
    const start = (q.index ?? 0) + q[0].length;
    const end = i + 1 < queries.length ? (queries[i + 1]!.index ?? detail.length) : detail.length;
    get(Number(q[1])).query = detail.slice(start, end).replace(/\n$/, '');
  }
  ctx.processes = [...processes.values()];
}

const authFailed = /^(\w+) authentication failed for user "((?:[^"]|"")*)"/;

function classifyConnection(message: string, ctx: LogContext): boolean {
  if (message.startsWith('connection received: ')) {
    ctx.event = 'connection_received';
    const m = /host=(\S+)(?: port=(\d+))?/.exec(message);
    if (m) {
      ctx.host = m[1]!;
      if (m[2]) ctx.port = Number(m[2]);
    }
    return true;
  }
  if (
    message.startsWith('connection authorized: ') ||
    message.startsWith('replication connection authorized: ')
  ) {
    ctx.event = 'connection_authorized';
    if (message.startsWith('replication')) ctx.replication = true;
    const user = /user=(\S+)/.exec(message);
    if (user) ctx.user = user[1]!;
    const db = /database=(\S+)/.exec(message);
    if (db) ctx.database = db[1]!;
    const app = /application_name=(.*?)(?: SSL| GSS|$)/.exec(message);
    if (app) ctx.application = app[1]!;
    if (/ SSL enabled/.test(message)) ctx.ssl = true;
    return true;
  }
  if (message.startsWith('connection authenticated: ')) {
    ctx.event = 'connection_authenticated';
    const id = /identity="((?:[^"]|"")*)"/.exec(message);
    if (id) ctx.identity = id[1]!;
    const method = /method=(\S+)/.exec(message);
    if (method) ctx.auth_method = method[1]!;
    return true;
  }
  return false;
}

/**
 * Whether `authFailed` can match: its `^(\w+)` ends at the first character that is not a word character,
 * and the literal must start right there. Checked by hand so that most messages cost no regex at all.
 */
function mayBeAuthFailed(message: string): boolean {
  let i = 0;
  for (; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95)) break;
  }
  // "a" of "authentication" looked at first: a builtin call less for almost every message.
  return (
    i > 0 && message.charCodeAt(i + 1) === 97 && message.startsWith(' authentication failed for user "', i)
  );
}

function classifyAuth(message: string, ctx: LogContext): boolean {
  if (mayBeAuthFailed(message)) {
    const a = authFailed.exec(message);
    if (a) {
      ctx.event = 'auth_failed';
      ctx.auth_method = a[1]!.toLowerCase();
      ctx.user = a[2]!.replace(/""/g, '"');
      return true;
    }
  }
  // The other two patterns start with "no pg_hba" / "pg_hba" and with "role ".
  const c = message.charCodeAt(0);
  if (c === 110 || c === 112) return classifyHba(message, ctx);
  if (c === 114) return classifyRole(message, ctx);
  return false;
}

function classifyHba(message: string, ctx: LogContext): boolean {
  const hba =
    /^(?:no pg_hba\.conf entry|pg_hba\.conf rejects connection) for (?:replication connection from )?host "([^"]*)", user "([^"]*)"(?:, database "([^"]*)")?/.exec(
      message,
    );
  if (hba) {
    ctx.event = 'auth_rejected';
    ctx.host = hba[1]!;
    ctx.user = hba[2]!;
    if (hba[3]) ctx.database = hba[3];
    return true;
  }
  return false;
}

function classifyRole(message: string, ctx: LogContext): boolean {
  const role = /^role "([^"]*)" does not exist/.exec(message);
  if (role) {
    ctx.event = 'auth_failed';
    ctx.reason = 'role does not exist';
    ctx.user = role[1]!;
    return true;
  }
  return false;
}

const cancelReasons: Array<[RegExp, string]> = [
  [/^canceling statement due to statement timeout/, 'statement_timeout'],
  [/^canceling statement due to lock timeout/, 'lock_timeout'],
  [/^canceling statement due to user request/, 'statement_canceled'],
  [/^canceling statement due to conflict with recovery/, 'recovery_conflict'],
  [/^canceling autovacuum task/, 'autovacuum_canceled'],
  [/^canceling statement due to transaction_timeout/, 'transaction_timeout'],
];

const terminateReasons: Array<[RegExp, string]> = [
  [/^terminating connection due to idle-in-transaction timeout/, 'idle_in_transaction_timeout'],
  [/^terminating connection due to idle-session timeout/, 'idle_session_timeout'],
  [/^terminating connection due to transaction timeout/, 'transaction_timeout'],
  [/^terminating connection due to conflict with recovery/, 'recovery_conflict'],
  [/^terminating connection due to administrator command/, 'connection_terminated'],
  [/^terminating connection because of crash of another server process/, 'crash'],
  [/^terminating any other active server processes/, 'crash'],
  [/^terminating walsender process due to replication timeout/, 'replication_error'],
  [/^terminating walreceiver/, 'replication_error'],
];

const serverEvents: Array<[RegExp, string]> = [
  [/^database system is ready to accept (?:read-only )?connections/, 'server_ready'],
  [/^database system is shut down/, 'server_stopped'],
  [/^database system was shut down(?: in recovery)? at /, 'server_starting'],
  [/^database system was interrupted/, 'crash_recovery'],
  [/^database system was not properly shut down; automatic recovery in progress/, 'crash_recovery'],
  [/^redo starts at /, 'recovery_redo_started'],
  [/^redo done at /, 'recovery_redo_done'],
  [/^all server processes terminated; reinitializing/, 'crash'],
  [/^received (smart|fast|immediate) shutdown request/, 'shutdown_requested'],
  [/^shutting down$/, 'shutdown_requested'],
  [/^the database system is (?:starting up|shutting down|in recovery mode)/, 'server_unavailable'],
  [/^could not receive data from WAL stream/, 'replication_error'],
  [/^could not connect to the primary server/, 'replication_error'],
  [/^replication terminated by primary server/, 'replication_error'],
  [/^requested WAL segment \S+ has already been removed/, 'replication_error'],
  [/^replication slot "[^"]*" does not exist/, 'replication_error'],
  [/^could not start WAL streaming/, 'replication_error'],
  [/^started streaming WAL from primary at /, 'replication_started'],
  [/^archive command failed/, 'archive_failed'],
  [/^checkpoints are occurring too frequently/, 'checkpoints_too_frequent'],
  [/^could not (?:write to|extend) file .*No space left on device/, 'disk_full'],
];

/**
 * serverEvents by the first letter of their pattern (each is anchored and starts with a literal letter),
 * in their order: a message is tried only against the patterns that can match it, not against all.
 */
const serverEventsByFirst = new Map<number, Array<[RegExp, string]>>();
for (const entry of serverEvents) {
  const src = entry[0].source;
  const first = src.charCodeAt(1);
  if (src.charCodeAt(0) !== 94 || !(first >= 97 && first <= 122)) {
    throw new Error(`server event pattern ${src} must start with ^ and a lower-case letter`);
  }
  let list = serverEventsByFirst.get(first);
  if (!list) {
    list = [];
    serverEventsByFirst.set(first, list);
  }
  list.push(entry);
}

/** The first pattern of `list` that matches: its index, or -1. Indexed, not for-of over tuples: this is hot. */
function firstMatch(list: Array<[RegExp, string]>, message: string): number {
  for (let i = 0; i < list.length; i++) if (list[i]![0].test(message)) return i;
  return -1;
}

const tempFile = /^temporary file: path "([^"]*)", size (\d+)/;

function classifyTempFile(message: string, ctx: LogContext): void {
  const m = tempFile.exec(message);
  ctx.event = 'temp_file';
  if (m) {
    ctx.path = m[1]!;
    ctx.size_bytes = Number(m[2]);
  }
}

const sessionTime = /session time: (\d+):(\d+):([\d.]+)/;
const disconnectionFields: Array<[RegExp, string]> = [
  [/user=(\S+)/, 'user'],
  [/database=(\S+)/, 'database'],
  [/host=(\S+)/, 'host'],
];

function classifyDisconnection(message: string, ctx: LogContext): void {
  ctx.event = 'disconnection';
  const t = sessionTime.exec(message);
  if (t) ctx.session_ms = Math.round((Number(t[1]) * 3600 + Number(t[2]) * 60 + Number(t[3])) * 1000);
  for (let i = 0; i < disconnectionFields.length; i++) {
    const [re, key] = disconnectionFields[i]!;
    const m = re.exec(message);
    if (m) ctx[key] = m[1]!;
  }
}

/** The events told apart by their first letter and a literal start; true when the message was one. */
function classifyByStart(message: string, c: number, ctx: LogContext): boolean {
  if (c === 99) {
    if (classifyCheckpoint(message, ctx) || classifyConnection(message, ctx)) return true;
    if (message.startsWith('canceling ')) {
      const i = firstMatch(cancelReasons, message);
      if (i >= 0) {
        ctx.event = cancelReasons[i]![1];
        return true;
      }
    }
  }
  if (c === 97 && classifyAutovacuum(message, ctx)) return true;
  if (c === 114 && classifyCheckpoint(message, ctx)) return true;
  if (c === 112 && classifyLockWait(message, ctx)) return true;
  if (message === 'deadlock detected') {
    classifyDeadlock(ctx);
    return true;
  }
  if (c === 116 && message.startsWith('temporary file: ')) {
    classifyTempFile(message, ctx);
    return true;
  }
  if (c === 100 && message.startsWith('disconnection: ')) {
    classifyDisconnection(message, ctx);
    return true;
  }
  return false;
}

const tooManyConnections = /^too many connections for (?:role|database)/;
const failedRequest = /Failed on request of size (\d+)/;
const processKilled =
  /^(?:server process|\S+(?: \S+)* process) \(PID (\d+)\) was terminated by signal (\d+)(?:: (.*))?/;
const startingPostgres = /^starting PostgreSQL (\S+)/;

/** Auth failures, connection limits, memory, crashes, server life: what most ordinary errors are tried against last. */
function classifyOther(message: string, c: number, ctx: LogContext): void {
  if (classifyAuth(message, ctx)) return;
  // Each literal start behind a check of its first character (`c`): a builtin call on a line's text is
  // dear, and an ordinary error went through all of these.
  if (
    (c === 115 && message.startsWith('sorry, too many clients already')) ||
    (c === 114 && message.startsWith('remaining connection slots are reserved')) ||
    (c === 116 && tooManyConnections.test(message))
  ) {
    ctx.event = 'too_many_connections';
    return;
  }
  if (c === 111 && message.startsWith('out of memory')) {
    ctx.event = 'out_of_memory';
    const d = typeof ctx.detail === 'string' ? failedRequest.exec(ctx.detail) : null;
    if (d) ctx.request_bytes = Number(d[1]);
    return;
  }
  // The pattern needs " process (PID " after its first words: looked for before any regex runs.
  const killed = message.includes(' process (PID ') ? processKilled.exec(message) : null;
  if (killed) {
    ctx.event = 'crash';
    ctx.crashed_pid = Number(killed[1]);
    ctx.signal = Number(killed[2]);
    if (killed[3]) ctx.signal_name = killed[3];
    if (killed[2] === '9') ctx.possible_oom_kill = true;
    return;
  }
  const start = c === 115 ? startingPostgres.exec(message) : null;
  if (start) {
    ctx.event = 'server_starting';
    ctx.version = start[1]!;
    return;
  }
  if (c === 116 && message.startsWith('terminating ')) {
    const i = firstMatch(terminateReasons, message);
    if (i >= 0) {
      ctx.event = terminateReasons[i]![1];
      return;
    }
  }
  const candidates = serverEventsByFirst.get(c);
  if (candidates === undefined) return;
  for (let i = 0; i < candidates.length; i++) {
    const [re, event] = candidates[i]!;
    const m = re.exec(message);
    if (m) {
      ctx.event = event;
      if (event === 'shutdown_requested' && m[1]) ctx.mode = m[1];
      return;
    }
  }
}

/**
 * Adds `event` and its fields to `ctx` when the message is one PostgreSQL event we know. Kept small, with
 * the rarer kinds in functions of their own: one large function cost more to compile (in the optimising
 * compiler's threads) than a 50 MB log of errors cost to classify.
 */
export function classifyPostgresEvent(message: string, ctx: LogContext): void {
  try {
    const c = message.charCodeAt(0);
    // Most frequent first: statement durations (log_min_duration_statement).
    if (c === 100 && message.startsWith('duration: ')) {
      classifyDuration(message, ctx);
      return;
    }
    if (c === 115 && message.startsWith('statement: ')) {
      ctx.event = 'statement';
      ctx.statement = message.slice(11);
      return;
    }
    if (!classifyByStart(message, c, ctx)) classifyOther(message, c, ctx);
  } catch {
    // Classification is a bonus: an odd message keeps its level and text without fields.
  }
}

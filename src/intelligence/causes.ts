/**
 * The causal graph of incidents, as data: which findings cause which (edges cause → effect, each naming
 * the check and anomaly ids on each side, the evidence it needs to hold, its base confidence, its words
 * and its action), and the chains those edges form (root → symptom). `explain` matches an incident's
 * findings against the chains and names the cause; `pearson` measures co-movement for what no chain
 * explains — which is reported as correlated, never as a cause.
 *
 * Guarantees: everything here is pure (no clock, no store); a chain is only named when each of its links
 * holds on the findings' own evidence (same database, table, statement…) and in time (the cause opened
 * before or with its effect, within the window); the confidence says how much of the chain is there and
 * how well the times agree, and a chain below `minConfidence` is not named at all.
 */
import type { JsonValue } from '../protocol/logs.js';
import type { Evidence, Severity } from './model.js';

/** A finding as an incident sees it (one episode: `openedAt` is when that episode opened). */
export interface IncidentMember {
  id: string;
  check: string;
  kind: string;
  object: string;
  targetId: number | null;
  severity: Severity;
  state: string;
  title: string;
  evidence: Evidence;
  /** ms since the epoch. */
  openedAt: number;
  resolvedAt: number | null;
}

/** A kind of finding: the checks (and anomaly metric ids) that say it, and what to pick from their evidence. */
export interface CauseNode {
  id: string;
  label: string;
  /** Check ids; `anomaly.*` matches every anomaly. */
  checks: readonly string[];
  /** Evidence keys shown in the incident's cause (all of it when absent). */
  evidenceKeys?: readonly string[];
  /** An extra condition on the finding (e.g. a slot that is inactive), as a pure predicate. */
  when?: (m: IncidentMember) => boolean;
  /** Words for the condition, for the docs. */
  whenText?: string;
}

export type Relation =
  | 'same_database'
  | 'same_statement'
  | 'same_target'
  | 'standby_replay'
  | 'connection_refusals'
  | 'any';

export interface CauseEdge {
  id: string;
  cause: string;
  effect: string;
  /** The evidence the link needs: both findings about the same database, statement… */
  relation: Relation;
  /** `cause_first`: the cause opens before or with the effect; `either`: they co-occur (↔). */
  order: 'cause_first' | 'either';
  baseConfidence: number;
  /** Template: {cause}, {effect} (titles) and the edge's own variables (see `vars`). */
  explanation: string;
  action: string;
  /** Variables for the templates, from both findings' evidence. */
  vars?: (cause: IncidentMember, effect: IncidentMember) => Record<string, string>;
}

export interface CauseChain {
  id: string;
  name: string;
  /** Node ids, root → symptom; consecutive nodes are joined by an edge of `edges`. */
  steps: readonly string[];
  /** Title template: {root}, {symptom} and the root edge's variables. */
  title: string;
}

export interface CauseGraph {
  nodes: readonly CauseNode[];
  edges: readonly CauseEdge[];
  chains: readonly CauseChain[];
}

/** How early an effect may open before its cause and still count as "with" it (checks run at different cadences). */
export const simultaneousMs = 60_000;
/** A chain explaining less than this is not named. */
export const minConfidence = 0.3;
/** The factor for an effect that opened before its cause (but within the window). */
export const reversedFactor = 0.5;

// ---- evidence readers (pure, tolerant of any JSON) ----

function field(e: Evidence | JsonValue | undefined, key: string): JsonValue | undefined {
  if (e === null || typeof e !== 'object' || Array.isArray(e)) return undefined;
  return Object.hasOwn(e, key) ? (e as Record<string, JsonValue>)[key] : undefined;
}

function text(v: JsonValue | undefined): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

/** The database a finding is about, '' when it does not say. */
export function databaseOf(m: IncidentMember): string {
  const direct = text(field(m.evidence, 'datname'));
  if (direct) return direct;
  if (m.object.startsWith('db:')) return m.object.slice(3);
  // pg.blocking: the database of the sessions it blocks.
  const blocked = field(m.evidence, 'blocked');
  if (Array.isArray(blocked) && blocked.length > 0) return text(field(blocked[0], 'datname'));
  // `db/schema.table`, `db/query:id`, and pg_activity groups `db/user/app`.
  const slash = m.object.indexOf('/');
  return slash > 0 ? m.object.slice(0, slash) : '';
}

/** The statements (queryids) a finding names. */
export function statementsOf(m: IncidentMember): string[] {
  const out = new Set<string>();
  const q = text(field(m.evidence, 'queryid'));
  if (q) out.add(q);
  const list = field(m.evidence, 'statements');
  if (Array.isArray(list))
    for (const s of list.slice(0, 50)) if (text(field(s, 'queryid'))) out.add(text(field(s, 'queryid')));
  const fromObject = /(?:^|\/)query:(-?\d{1,20})$/.exec(m.object) ?? /^(-?\d{1,20})$/.exec(m.object);
  if (fromObject) out.add(fromObject[1]!);
  return [...out];
}

/** `schema.table` of a table finding ('' when none). */
export function tableOf(m: IncidentMember): string {
  const schema = text(field(m.evidence, 'schemaname'));
  const rel = text(field(m.evidence, 'relname'));
  if (schema && rel) return `${schema}.${rel}`;
  const o = m.object.includes('/') ? m.object.slice(m.object.lastIndexOf('/') + 1) : m.object;
  return /^[^/:\s]+\.[^/:\s]+$/.test(o) ? o : '';
}

function statementText(m: IncidentMember): string {
  return text(field(m.evidence, 'query')).toLowerCase();
}

/** Messages of a log finding that say the server refused connections for lack of slots. */
const refusal = /too many clients|remaining connection slots|53300|too many connections/i;

function mentionsRefusals(m: IncidentMember): boolean {
  // Bounded: the evidence is already bounded by its check; this only reads its text.
  return refusal.test(JSON.stringify(m.evidence).slice(0, 20_000)) || refusal.test(m.title);
}

/** Does `rel` hold between a cause and an effect (by their evidence)? */
export function relationHolds(rel: Relation, cause: IncidentMember, effect: IncidentMember): boolean {
  switch (rel) {
    case 'any':
      return true;
    case 'same_target':
      return cause.targetId === null || effect.targetId === null || cause.targetId === effect.targetId;
    case 'same_database': {
      if (!relationHolds('same_target', cause, effect)) return false;
      const a = databaseOf(cause);
      const b = databaseOf(effect);
      // Unknown on one side (an instance-wide anomaly) is not a contradiction.
      return a === '' || b === '' || a === b;
    }
    case 'same_statement': {
      if (!relationHolds('same_database', cause, effect)) return false;
      const mine = statementsOf(cause);
      const theirs = statementsOf(effect);
      if (mine.some((q) => theirs.includes(q))) return true;
      // A slower statement whose text reads the scanned table.
      const table = tableOf(effect);
      const rel = table.slice(table.indexOf('.') + 1).toLowerCase();
      return rel !== '' && new RegExp(`\\b${rel.replace(/[^a-z0-9_]/g, '')}\\b`).test(statementText(cause));
    }
    case 'standby_replay':
      // The standby's own view of its replay: its disks are the standby's.
      return effect.object === 'replay' || effect.check.startsWith('anomaly.');
    case 'connection_refusals':
      return mentionsRefusals(effect);
  }
}

// ---- the graph ----

const statementKeys = [
  'queryid',
  'datname',
  'calls',
  'mean_exec_time_ms',
  'past_mean_exec_time_ms',
  'ratio',
  'total_exec_time_ms',
  'query',
];

export const causeNodes: readonly CauseNode[] = [
  {
    id: 'statement_slower',
    label: 'a statement got slower',
    checks: [
      'pg.statement_regression',
      'pg.slow_statement',
      'anomaly.pg.statement_mean_ms',
      'anomaly.pg.statement_total_ms_per_s',
    ],
    evidenceKeys: statementKeys,
  },
  {
    id: 'statement_total',
    label: 'statements take more time in all',
    checks: ['anomaly.pg.statement_total_ms_per_s', 'pg.statement_regression', 'pg.slow_statement'],
    evidenceKeys: statementKeys,
  },
  {
    id: 'seq_scans',
    label: 'sequential scans of a large table',
    checks: ['pg.missing_index', 'anomaly.pg.seq_scans_per_s'],
    evidenceKeys: [
      'datname',
      'schemaname',
      'relname',
      'n_live_tup',
      'table_bytes',
      'seq_scans',
      'where_columns',
      'statements',
    ],
  },
  {
    id: 'cache_drop',
    label: 'the cache hit ratio dropped',
    checks: ['pg.cache_hit', 'anomaly.pg.cache_hit_pct'],
    evidenceKeys: ['datname', 'hit_pct', 'blks_read', 'blks_hit', 'shared_buffers_bytes'],
  },
  {
    id: 'holding_session',
    label: 'a session holds a transaction open',
    checks: ['pg.idle_in_transaction', 'pg.long_query', 'pg.xmin_horizon', 'anomaly.pg.longest_xact_s'],
    when: (m) => m.check !== 'pg.xmin_horizon' || text(field(m.evidence, 'holder')) === 'session',
    whenText: 'pg.xmin_horizon only when the holder is a session',
  },
  {
    id: 'blocked_sessions',
    label: 'sessions wait for locks',
    checks: ['pg.blocking', 'anomaly.pg.blocked_sessions'],
    evidenceKeys: ['blocking_pid', 'blocker', 'blocked_count', 'longest_wait_s', 'blocked'],
  },
  { id: 'wal_spike', label: 'WAL generation spiked', checks: ['anomaly.pg.wal_bytes_per_s'] },
  { id: 'write_burst', label: 'a burst of writes', checks: ['anomaly.pg.wal_bytes_per_s', 'anomaly.pg.tps'] },
  {
    id: 'standby_io',
    label: 'the disks are slow or saturated',
    checks: [
      'host.disk_latency',
      'host.disk_busy',
      'host.iowait',
      'anomaly.host.disk_await_ms',
      'anomaly.host.disk_util_pct',
      'anomaly.host.iowait_pct',
    ],
  },
  {
    id: 'replication_lag',
    label: 'replication lags',
    checks: ['pg.replication_lag', 'anomaly.pg.replication_lag_s'],
  },
  {
    id: 'inactive_slot',
    label: 'an inactive replication slot retains WAL',
    checks: ['pg.replication_slot'],
    when: (m) => field(m.evidence, 'active') === false,
    whenText: 'the slot is inactive (evidence active = false)',
    evidenceKeys: ['slot_name', 'slot_type', 'active', 'retained_bytes', 'wal_status'],
  },
  {
    id: 'table_growth',
    label: 'a table grows with dead rows',
    checks: ['pg.dead_tuples', 'pg.vacuum_overdue', 'anomaly.pg.table_dead_ratio'],
  },
  {
    id: 'disk_filling',
    label: 'a filesystem fills up',
    checks: ['host.disk_space', 'host.disk_fill'],
    evidenceKeys: ['mountpoint', 'used_pct', 'avail_bytes', 'hours_left', 'growth_bytes_per_hour'],
  },
  {
    id: 'cpu_saturation',
    label: 'the CPUs are saturated',
    checks: ['host.cpu', 'host.load', 'anomaly.host.cpu_busy_pct', 'anomaly.host.load_per_core'],
  },
  {
    id: 'connection_limit',
    label: 'connections reach max_connections',
    checks: ['pg.connections', 'anomaly.pg.connections'],
    evidenceKeys: ['clients', 'max_connections', 'usable', 'used_pct', 'largest_groups'],
  },
  {
    id: 'connection_errors',
    label: 'the log shows refused connections',
    checks: ['logs.pg_fatal_burst', 'logs.error_spike', 'logs.error_patterns'],
  },
  {
    id: 'checkpoint_storm',
    label: 'checkpoints come too often',
    checks: ['pg.checkpoints', 'anomaly.pg.checkpoints_per_min', 'pg.backend_fsync'],
  },
  { id: 'metric_anomaly', label: 'a metric moved away from its baseline', checks: ['anomaly.*'] },
  {
    id: 'log_errors',
    label: 'errors spiked in the logs',
    checks: ['logs.error_spike', 'logs.pg_fatal_burst', 'logs.error_patterns'],
  },
];

/** The session a blocking chain names: the blocker from pg.blocking, else the holder's own evidence. */
function namedSession(holder: IncidentMember, blocked: IncidentMember): Record<string, string> {
  const blocker = field(blocked.evidence, 'blocker');
  const pid =
    text(field(blocked.evidence, 'blocking_pid')) ||
    text(field(holder.evidence, 'pid')) ||
    text(field(holder.evidence, 'ident'));
  const pick = (k: string) => text(field(blocker, k)) || text(field(holder.evidence, k));
  const state = pick('state');
  const query = pick('query');
  const who = [pick('usename') || '?', '@', pick('datname') || databaseOf(holder) || '?'].join('');
  const app = pick('application_name');
  return {
    pid: pid || '?',
    who,
    application: app || 'no application_name',
    state: state || 'in a transaction',
    query: query || '(its statement is not known)',
    blocked: text(field(blocked.evidence, 'blocked_count')) || 'other',
  };
}

export const causeEdges: readonly CauseEdge[] = [
  {
    id: 'statement_to_seq_scans',
    cause: 'statement_slower',
    effect: 'seq_scans',
    relation: 'same_statement',
    order: 'cause_first',
    baseConfidence: 0.9,
    explanation:
      'Statement {queryid} got slower and it is the statement that reads {table} sequentially: without an index for its filter it reads the whole table each call.',
    action:
      'EXPLAIN (ANALYZE, BUFFERS) the statement, then create the index the missing-index finding proposes (CREATE INDEX CONCURRENTLY …).',
    vars: (c, e) => ({ queryid: statementsOf(c)[0] ?? '?', table: tableOf(e) || e.object }),
  },
  {
    id: 'seq_scans_to_cache_drop',
    cause: 'seq_scans',
    effect: 'cache_drop',
    relation: 'same_database',
    order: 'cause_first',
    baseConfidence: 0.85,
    explanation:
      'Scanning {table} whole pushes other pages out of shared buffers, so the cache hit ratio of {database} drops.',
    action:
      'Index the scanned table (see the missing-index finding); the hit ratio recovers once the scans stop.',
    vars: (c, e) => ({ table: tableOf(c) || c.object, database: databaseOf(e) || databaseOf(c) || '?' }),
  },
  {
    id: 'session_blocks',
    cause: 'holding_session',
    effect: 'blocked_sessions',
    relation: 'same_database',
    order: 'cause_first',
    baseConfidence: 0.9,
    explanation:
      'Session {pid} ({who}, {application}) is {state} and holds the locks {blocked} session(s) wait for; its last statement: {query}',
    action:
      "SELECT pid, state, now() - xact_start AS xact_age, query FROM pg_stat_activity WHERE pid = {pid};\n-- if it is abandoned: SELECT pg_terminate_backend({pid});\n-- and end such sessions automatically: ALTER SYSTEM SET idle_in_transaction_session_timeout = '5min'; SELECT pg_reload_conf();",
    vars: namedSession,
  },
  {
    id: 'wal_to_lag',
    cause: 'wal_spike',
    effect: 'replication_lag',
    relation: 'same_target',
    order: 'cause_first',
    baseConfidence: 0.8,
    explanation:
      'WAL generation spiked and the standby could not receive or replay it as fast, so it fell behind.',
    action:
      'Find the writer: SELECT queryid, wal_bytes, query FROM pg_stat_statements ORDER BY wal_bytes DESC LIMIT 5;',
  },
  {
    id: 'standby_io_to_lag',
    cause: 'standby_io',
    effect: 'replication_lag',
    relation: 'standby_replay',
    order: 'cause_first',
    baseConfidence: 0.75,
    explanation:
      'The standby’s disks are slow or saturated ({cause}), and replay, which writes every page it replays, fell behind.',
    action:
      'iostat -x 5 3 on the standby; move WAL or data to faster storage, or find what else reads and writes there (pidstat -d 5 3).',
  },
  {
    id: 'slot_fills_disk',
    cause: 'inactive_slot',
    effect: 'disk_filling',
    relation: 'any',
    order: 'cause_first',
    baseConfidence: 0.85,
    explanation: 'Replication slot {slot} is inactive and keeps {retained} bytes of WAL, which fill {mount}.',
    action:
      "SELECT slot_name, active, pg_size_pretty(pg_current_wal_lsn() - restart_lsn) FROM pg_replication_slots;\n-- if its consumer is gone for good: SELECT pg_drop_replication_slot('{slot}');",
    vars: (c, e) => ({
      slot: text(field(c.evidence, 'slot_name')) || c.object.replace(/^slot:/, ''),
      retained: text(field(c.evidence, 'retained_bytes')) || 'much',
      mount: text(field(e.evidence, 'mountpoint')) || e.object,
    }),
  },
  {
    id: 'table_fills_disk',
    cause: 'table_growth',
    effect: 'disk_filling',
    relation: 'any',
    order: 'cause_first',
    baseConfidence: 0.55,
    explanation: 'Table {table} grows with dead rows VACUUM has not reclaimed while {mount} fills.',
    action:
      'VACUUM (VERBOSE) the table; if it must shrink on disk: pg_repack, or VACUUM FULL in a maintenance window.',
    vars: (c, e) => ({
      table: tableOf(c) || c.object,
      mount: text(field(e.evidence, 'mountpoint')) || e.object,
    }),
  },
  {
    id: 'statements_load_cpu',
    cause: 'statement_total',
    effect: 'cpu_saturation',
    relation: 'any',
    order: 'cause_first',
    baseConfidence: 0.7,
    explanation:
      'Statement {queryid} takes more time in all than before, and the CPUs saturated right after.',
    action:
      'SELECT queryid, calls, total_exec_time, mean_exec_time, query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 10;',
    vars: (c) => ({ queryid: statementsOf(c)[0] ?? '?' }),
  },
  {
    id: 'limit_refuses',
    cause: 'connection_limit',
    effect: 'connection_errors',
    relation: 'connection_refusals',
    order: 'cause_first',
    baseConfidence: 0.9,
    explanation:
      'Client connections reached the usable limit ({clients} of {usable}) and PostgreSQL refused new ones ("too many clients already").',
    action:
      'Close idle sessions or put a pooler (PgBouncer) in front; raise max_connections only with the memory for it (restart needed).',
    vars: (c) => ({
      clients: text(field(c.evidence, 'clients')) || '?',
      usable: text(field(c.evidence, 'usable')) || '?',
    }),
  },
  {
    id: 'burst_checkpoints',
    cause: 'write_burst',
    effect: 'checkpoint_storm',
    relation: 'same_target',
    order: 'cause_first',
    baseConfidence: 0.75,
    explanation:
      'A burst of writes filled max_wal_size faster than checkpoint_timeout, so checkpoints were requested one after another.',
    action:
      "ALTER SYSTEM SET max_wal_size = '<twice the current>'; SELECT pg_reload_conf(); -- and spread the bulk write if it is a batch job",
  },
  {
    id: 'anomaly_with_errors',
    cause: 'metric_anomaly',
    effect: 'log_errors',
    relation: 'any',
    order: 'either',
    baseConfidence: 0.5,
    explanation: '{cause} at the same time as {effect}.',
    action: 'Read the log errors of that minute next to the metric; they share a cause more often than not.',
  },
];

export const causeChains: readonly CauseChain[] = [
  {
    id: 'missing_index',
    name: 'Missing index',
    steps: ['statement_slower', 'seq_scans', 'cache_drop'],
    title: 'Missing index: {root} → {symptom}',
  },
  {
    id: 'blocking_session',
    name: 'Blocking session',
    steps: ['holding_session', 'blocked_sessions'],
    title: 'Session {pid} ({state}) blocks {blocked} session(s)',
  },
  {
    id: 'replication_wal',
    name: 'Replication lag from a WAL spike',
    steps: ['wal_spike', 'replication_lag'],
    title: 'Replication lag after a WAL spike',
  },
  {
    id: 'replication_standby_io',
    name: 'Replication lag from standby I/O',
    steps: ['standby_io', 'replication_lag'],
    title: 'Replication lag: the standby’s disks are slow',
  },
  {
    id: 'disk_slot',
    name: 'Disk filled by an inactive slot',
    steps: ['inactive_slot', 'disk_filling'],
    title: 'Slot {slot} retains WAL and fills {mount}',
  },
  {
    id: 'disk_table',
    name: 'Disk filled by a growing table',
    steps: ['table_growth', 'disk_filling'],
    title: '{table} grows while {mount} fills',
  },
  {
    id: 'cpu_statements',
    name: 'CPU saturated by statements',
    steps: ['statement_total', 'cpu_saturation'],
    title: 'CPU saturated: statement {queryid} takes more time',
  },
  {
    id: 'connection_limit',
    name: 'Connections refused at max_connections',
    steps: ['connection_limit', 'connection_errors'],
    title: 'Connections refused: max_connections reached',
  },
  {
    id: 'checkpoint_burst',
    name: 'Checkpoint storm from a write burst',
    steps: ['write_burst', 'checkpoint_storm'],
    title: 'Checkpoint storm after a write burst',
  },
  {
    id: 'errors_with_anomaly',
    name: 'Log errors with a metric anomaly',
    steps: ['metric_anomaly', 'log_errors'],
    title: 'Log errors at the same time as {root}',
  },
];

export const causeGraph: CauseGraph = { nodes: causeNodes, edges: causeEdges, chains: causeChains };

// ---- matching ----

export function nodeMatches(node: CauseNode, m: IncidentMember): boolean {
  const listed = node.checks.some((c) =>
    c.endsWith('.*') ? m.check.startsWith(c.slice(0, -1)) : c === m.check,
  );
  return listed && (node.when ? node.when(m) : true);
}

/** How far back an anomaly's run may start before its finding opened and still be taken as its start. */
const maxRunLeadMs = 60 * 60_000;

/**
 * When a member's condition began. An anomaly opens only after `minutes` unusual minutes, so its finding
 * opens minutes after the change that caused it, while a rule check on the same change opens at its next
 * evaluation: comparing opening times would make the slower detector look like the later event. Its
 * evidence says when the unusual run began (`window.from`), and that is when it started. Other findings
 * started when they opened.
 */
export function startedAt(m: IncidentMember): number {
  if (!m.check.startsWith('anomaly.')) return m.openedAt;
  const from = Date.parse(text(field(field(m.evidence, 'window'), 'from')));
  return Number.isFinite(from) && from <= m.openedAt && m.openedAt - from <= maxRunLeadMs ? from : m.openedAt;
}

/** How long before its effect a cause that is still open may have started (a standing cause). */
export const standingMaxMs = 24 * 60 * 60_000;

/** Whether a cause that started long before its effect was still open when the effect started. */
export function standsAt(cause: IncidentMember, effectStart: number): boolean {
  const open = cause.state !== 'resolved' || (cause.resolvedAt !== null && cause.resolvedAt >= effectStart);
  return open && effectStart - startedAt(cause) <= standingMaxMs;
}

/**
 * The temporal factor of a link: 1 in order, `reversedFactor` when the effect started first, null to
 * refuse. Start times (`startedAt`), not opening times, are compared. A cause that started more than the
 * window before its effect still holds when it was open all along (a standing cause: an inactive slot
 * found hours before the disk-fill forecast it causes can speak, a table that has grown for hours).
 */
export function temporalFactor(
  order: CauseEdge['order'],
  cause: IncidentMember,
  effect: IncidentMember,
  windowMs: number,
): number | null {
  const dt = startedAt(effect) - startedAt(cause);
  if (dt > windowMs && order === 'cause_first' && standsAt(cause, startedAt(effect))) return 1;
  if (Math.abs(dt) > windowMs) return null;
  if (order === 'either' || dt >= -simultaneousMs) return 1;
  return reversedFactor;
}

export interface CauseStep {
  findingId: string;
  check: string;
  object: string;
  node: string;
  label: string;
  role: 'cause' | 'effect' | 'symptom';
  title: string;
  openedAt: string;
}

export interface CauseLink {
  edge: string;
  from: string;
  to: string;
  /** Seconds from the cause's start to the effect's (negative: the effect started first; see `startedAt`). */
  lagS: number;
  temporal: 'in order' | 'simultaneous' | 'reversed';
  explanation: string;
}

export interface IncidentCause {
  chainId: string;
  name: string;
  /** Root → symptom. */
  chain: CauseStep[];
  links: CauseLink[];
  /** Per chain step: the part of its finding's evidence that shows it. */
  evidence: Array<{ findingId: string; check: string; evidence: Evidence }>;
  /** 0..1: base × share of the chain present (a symptom still to come counts half) × temporal agreement. */
  confidence: number;
  explanation: string;
  action: string;
}

export interface Explanation {
  title: string;
  cause: IncidentCause | null;
  /** Role of each member by finding id. */
  roles: Record<string, 'cause' | 'effect' | 'symptom' | 'correlated'>;
  /** Members no chain explains. */
  unexplained: string[];
}

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{([a-z_]+)\}/g, (all, k: string) => (Object.hasOwn(vars, k) ? vars[k]! : all));
}

function pickEvidence(node: CauseNode, e: Evidence): Evidence {
  if (!node.evidenceKeys) return e;
  const out: Evidence = {};
  for (const k of node.evidenceKeys) if (Object.hasOwn(e, k)) out[k] = e[k]!;
  return out;
}

interface Candidate {
  chain: CauseChain;
  members: IncidentMember[];
  /** Index in chain.steps of members[0]. */
  start: number;
  edges: CauseEdge[];
  factors: number[];
  confidence: number;
}

const maxPerStep = 8;

/** The best placement of `chain` over the members (contiguous steps, ≥ 2), or null. */
function matchChain(
  graph: CauseGraph,
  chain: CauseChain,
  members: readonly IncidentMember[],
  windowMs: number,
): Candidate | null {
  const nodes = chain.steps.map((id) => graph.nodes.find((n) => n.id === id)!);
  const edges: CauseEdge[] = [];
  for (let i = 0; i + 1 < nodes.length; i++) {
    const edge = graph.edges.find((e) => e.cause === nodes[i]!.id && e.effect === nodes[i + 1]!.id);
    if (!edge) return null;
    edges.push(edge);
  }
  // Bounded: a handful of candidates per step, oldest first.
  const byStep = nodes.map((n) => members.filter((m) => nodeMatches(n, m)).slice(0, maxPerStep));
  let best: Candidate | null = null;
  const extend = (start: number, picked: IncidentMember[], factors: number[]) => {
    const at = start + picked.length - 1;
    if (picked.length >= 2) {
      const base = Math.min(...edges.slice(start, at).map((e) => e.baseConfidence));
      // The share of the chain the match covers, where a symptom still to come counts half: a match
      // from the root names the cause (a missing index on a table that fits in shared buffers never
      // drops the hit ratio), one without the root does not.
      const trailing = start === 0 ? nodes.length - picked.length : 0;
      const share = (picked.length + trailing / 2) / nodes.length;
      const time = factors.reduce((a, b) => a * b, 1);
      const confidence = Math.round(base * share * time * 1000) / 1000;
      if (
        !best ||
        confidence > best.confidence ||
        (confidence === best.confidence && picked.length > best.members.length)
      ) {
        best = {
          chain,
          members: [...picked],
          start,
          edges: edges.slice(start, at),
          factors: [...factors],
          confidence,
        };
      }
    }
    if (at + 1 >= nodes.length) return;
    const edge = edges[at]!;
    const prev = picked[picked.length - 1]!;
    for (const next of byStep[at + 1]!) {
      if (picked.includes(next)) continue;
      if (!relationHolds(edge.relation, prev, next)) continue;
      const f = temporalFactor(edge.order, prev, next, windowMs);
      if (f === null) continue;
      picked.push(next);
      factors.push(f);
      extend(start, picked, factors);
      picked.pop();
      factors.pop();
    }
  };
  for (let s = 0; s + 1 < nodes.length; s++) for (const m of byStep[s]!) extend(s, [m], []);
  return best;
}

/** All chains that hold over the members, best first (confidence at least `minConfidence`). */
export function matchChains(
  members: readonly IncidentMember[],
  graph: CauseGraph,
  windowMs: number,
): Candidate[] {
  const sorted = [...members].sort((a, b) => a.openedAt - b.openedAt || a.id.localeCompare(b.id));
  const out: Candidate[] = [];
  for (const chain of graph.chains) {
    const c = matchChain(graph, chain, sorted, windowMs);
    if (c && c.confidence >= minConfidence) out.push(c);
  }
  return out.sort((a, b) => b.confidence - a.confidence || b.members.length - a.members.length);
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Names the cause of an incident: the best chain over its members (root → symptom), the evidence of each
 * step, a confidence, a title. Members on no chain are `correlated` (reported with their co-moving
 * series by the caller, never as a cause). A pure function of the members and the window: the findings'
 * own opening times are the clock.
 */
export function explain(
  members: readonly IncidentMember[],
  graph: CauseGraph,
  windowMs: number,
): Explanation {
  const roles: Explanation['roles'] = {};
  for (const m of members) roles[m.id] = 'correlated';
  const [best] = matchChains(members, graph, windowMs);
  if (!best) {
    const worst = [...members].sort(
      (a, b) => rank(b.severity) - rank(a.severity) || a.openedAt - b.openedAt,
    )[0];
    return {
      title: worst ? `${members.length} findings at once: ${worst.title}` : 'Findings at once',
      cause: null,
      roles,
      unexplained: members.map((m) => m.id),
    };
  }
  const nodes = best.chain.steps.map((id) => graph.nodes.find((n) => n.id === id)!);
  const vars: Record<string, string> = {};
  const links: CauseLink[] = best.edges.map((edge, i) => {
    const c = best.members[i]!;
    const e = best.members[i + 1]!;
    const v = { cause: c.title, effect: e.title, ...(edge.vars ? edge.vars(c, e) : {}) };
    for (const [k, x] of Object.entries(v)) if (!Object.hasOwn(vars, k)) vars[k] = x;
    const lagMs = startedAt(e) - startedAt(c);
    return {
      edge: edge.id,
      from: c.id,
      to: e.id,
      lagS: Math.round(lagMs / 1000),
      temporal:
        best.factors[i]! < 1 ? 'reversed' : Math.abs(lagMs) <= simultaneousMs ? 'simultaneous' : 'in order',
      explanation: fill(edge.explanation, v),
    };
  });
  const last = best.members.length - 1;
  const chain: CauseStep[] = best.members.map((m, i) => {
    const node = nodes[best.start + i]!;
    const role = i === 0 ? 'cause' : i === last ? 'symptom' : 'effect';
    roles[m.id] = role;
    return {
      findingId: m.id,
      check: m.check,
      object: m.object,
      node: node.id,
      label: node.label,
      role,
      title: m.title,
      openedAt: iso(m.openedAt),
    };
  });
  vars.root = nodes[best.start]!.label;
  vars.symptom = nodes[best.start + last]!.label;
  // Other members that are the same kind as a step and hold the same link (a second blocked group)
  // take that step's role rather than standing apart as correlated.
  for (const m of members) {
    if (roles[m.id] !== 'correlated') continue;
    best.members.forEach((stepMember, i) => {
      const node = nodes[best.start + i]!;
      if (roles[m.id] !== 'correlated' || !nodeMatches(node, m)) return;
      const up = i > 0 ? best.edges[i - 1]! : null;
      const down = i < last ? best.edges[i]! : null;
      const holds =
        (up &&
          relationHolds(up.relation, best.members[i - 1]!, m) &&
          temporalFactor(up.order, best.members[i - 1]!, m, windowMs) !== null) ||
        (down &&
          relationHolds(down.relation, m, best.members[i + 1]!) &&
          temporalFactor(down.order, m, best.members[i + 1]!, windowMs) !== null);
      if (holds) roles[m.id] = stepMember === best.members[0] ? 'cause' : i === last ? 'symptom' : 'effect';
    });
  }
  const rootEdge = best.edges[0]!;
  const cause: IncidentCause = {
    chainId: best.chain.id,
    name: best.chain.name,
    chain,
    links,
    evidence: best.members.map((m, i) => ({
      findingId: m.id,
      check: m.check,
      evidence: pickEvidence(nodes[best.start + i]!, m.evidence),
    })),
    confidence: best.confidence,
    explanation: links.map((l) => l.explanation).join(' '),
    action: fill(rootEdge.action, vars),
  };
  return {
    title: fill(best.chain.title, vars).slice(0, 300),
    cause,
    roles,
    unexplained: members.filter((m) => roles[m.id] === 'correlated').map((m) => m.id),
  };
}

function rank(s: Severity): number {
  return s === 'critical' ? 2 : s === 'warning' ? 1 : 0;
}

// ---- co-movement ----

/**
 * Pearson's correlation of two series over the timestamps they share; null with fewer than `minPoints`
 * shared points or when either is constant there (no co-movement can be measured).
 */
export function pearson(
  a: ReadonlyArray<readonly [number, number]>,
  b: ReadonlyArray<readonly [number, number]>,
  minPoints = 5,
): { r: number; points: number } | null {
  const other = new Map<number, number>();
  for (const [t, v] of b) if (Number.isFinite(v)) other.set(t, v);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const [t, v] of a) {
    const w = other.get(t);
    if (w !== undefined && Number.isFinite(v)) {
      xs.push(v);
      ys.push(w);
    }
  }
  const n = xs.length;
  if (n < minPoints) return null;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return null;
  const r = sxy / Math.sqrt(sxx * syy);
  return { r: Math.max(-1, Math.min(1, Math.round(r * 1000) / 1000)), points: n };
}

/** One member's metric series at minute resolution. */
export interface MemberSeries {
  findingId: string;
  /** `family.metric{labels}`. */
  series: string;
  points: ReadonlyArray<readonly [number, number]>;
}

export interface CorrelatedPair {
  findingId: string;
  series: string;
  withFindingId: string;
  withSeries: string;
  r: number;
  points: number;
}

export interface Correlated {
  /** Members no chain explains. */
  findings: string[];
  /** For each of them, the strongest co-moving series of another member (|r| ≥ `minAbsR`). */
  pairs: CorrelatedPair[];
}

export const minAbsR = 0.5;

/** The strongest co-moving partner of each unexplained member's series, strongest first (bounded). */
export function correlate(
  unexplained: readonly string[],
  series: readonly MemberSeries[],
  maxPairs = 10,
): Correlated {
  const pairs: CorrelatedPair[] = [];
  for (const id of unexplained) {
    let best: CorrelatedPair | null = null;
    for (const s of series.filter((x) => x.findingId === id)) {
      for (const o of series) {
        if (o.findingId === id) continue;
        const p = pearson(s.points, o.points);
        if (!p || Math.abs(p.r) < minAbsR) continue;
        if (!best || Math.abs(p.r) > Math.abs(best.r)) {
          best = {
            findingId: id,
            series: s.series,
            withFindingId: o.findingId,
            withSeries: o.series,
            r: p.r,
            points: p.points,
          };
        }
      }
    }
    if (best) pairs.push(best);
  }
  pairs.sort((a, b) => Math.abs(b.r) - Math.abs(a.r));
  return { findings: [...unexplained], pairs: pairs.slice(0, maxPairs) };
}

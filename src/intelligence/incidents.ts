/**
 * Incidents: findings of one server that open close together become one incident, explained by the
 * causal graph (./causes.ts) when a known chain holds.
 *
 * Rules (all pure here; the incidents job in src/server/jobs/incidents.ts reads and writes the store):
 * - A finding joins an open incident of its server when it opened within `windowMs` of the incident's
 *   newest member (either side: job checks report a little after the fact), or when a member still open
 *   causes it through an edge of the graph (a standing cause, ./causes.ts `temporalFactor`).
 * - Other new findings are clustered by time (each within `windowMs` of the previous one). A cluster is an
 *   incident when it holds at least 2 findings and either a chain of the graph holds over them, or alerts
 *   and anomalies (recommendations do not count here) from at least 2 domains. A single finding never is.
 * - A cluster that is no incident on its own becomes one with the standing findings (still open, in no
 *   incident, opened earlier) that cause its findings through an edge of the graph, when a chain then
 *   holds: slow chains (a slot, then hours later the disk it fills) are put together.
 * - An incident resolves when all its members have resolved; its severity is the worst of its members.
 *
 * Scope: one server. The store cannot tie a standby to its primary reliably (pg_replication names a
 * standby by application_name and the address the primary sees; pg_standby names the primary by the
 * host:port the standby was configured with; neither carries the system identifier), so findings of a
 * primary and of its standbys form separate incidents.
 */
import {
  type CauseGraph,
  type IncidentMember,
  matchChains,
  nodeMatches,
  relationHolds,
  temporalFactor,
} from './causes.js';
import type { Severity } from './model.js';

export const defaultIncidentWindowMs = 10 * 60_000;

export const domains = [
  'postgres',
  'host',
  'process',
  'logs',
  'security',
  'watchdog',
  'anomaly',
  'slo',
] as const;
export type Domain = (typeof domains)[number];

/** The check group a finding comes from, by its check id's prefix (`pg.` is postgres). */
export function domainOf(check: string): Domain | 'other' {
  const prefix = check.slice(0, check.indexOf('.'));
  if (prefix === 'pg') return 'postgres';
  return (domains as readonly string[]).includes(prefix) ? (prefix as Domain) : 'other';
}

/** Would these findings make an incident (≥ 2 findings, and a chain or ≥ 2 domains of alerts/anomalies)? */
export function qualifies(members: readonly IncidentMember[], graph: CauseGraph, windowMs: number): boolean {
  if (members.length < 2) return false;
  const ds = new Set(members.filter((m) => m.kind !== 'recommendation').map((m) => domainOf(m.check)));
  if (ds.size >= 2) return true;
  return matchChains(members, graph, windowMs).length > 0;
}

export interface OpenIncident {
  id: string;
  members: readonly IncidentMember[];
}

export interface GroupingPlan {
  /** New members of open incidents. */
  joins: Array<{ incidentId: string; members: IncidentMember[] }>;
  /** New incidents, each its members oldest first. */
  creates: IncidentMember[][];
}

/**
 * Places new findings (`candidates`: episodes not yet in any incident) into open incidents or new ones.
 * Candidates that fit nowhere stay out, to be tried again when more findings arrive.
 */
export function groupFindings(
  open: readonly OpenIncident[],
  candidates: readonly IncidentMember[],
  graph: CauseGraph,
  windowMs: number,
  /**
   * Findings still open, in no incident, that opened before the candidates' lookback: a new finding they
   * cause through a chain of the graph makes an incident with them (a slot found hours before the disk
   * it fills), whatever the time between them. Nothing else joins them.
   */
  standing: readonly IncidentMember[] = [],
): GroupingPlan {
  const sorted = [...candidates].sort((a, b) => a.openedAt - b.openedAt || a.id.localeCompare(b.id));
  const newest = new Map(open.map((i) => [i.id, Math.max(...i.members.map((m) => m.openedAt))]));
  const joins = new Map<string, IncidentMember[]>();
  const rest: IncidentMember[] = [];
  for (const c of sorted) {
    let target: string | null = null;
    let targetNewest = Number.NEGATIVE_INFINITY;
    for (const [id, t] of newest) {
      if (Math.abs(c.openedAt - t) <= windowMs && t > targetNewest) {
        target = id;
        targetNewest = t;
      }
    }
    if (target === null) {
      // Later than the window, but the effect of a standing cause in an open incident: it joins that one.
      const byCause = open.find((i) => i.members.some((m) => causesAny(m, [c], graph, windowMs)));
      if (byCause) {
        target = byCause.id;
        targetNewest = newest.get(byCause.id) ?? c.openedAt;
      }
    }
    if (target === null) {
      rest.push(c);
      continue;
    }
    joins.set(target, [...(joins.get(target) ?? []), c]);
    newest.set(target, Math.max(targetNewest, c.openedAt));
  }
  const creates: IncidentMember[][] = [];
  let cluster: IncidentMember[] = [];
  const taken = new Set<string>();
  const close = () => {
    if (cluster.length === 0) return;
    if (qualifies(cluster, graph, windowMs)) creates.push(cluster);
    else {
      // Standing causes of this cluster's findings, if a chain then holds over them.
      const partners = standing.filter(
        (s) =>
          !taken.has(s.id) && !cluster.some((c) => c.id === s.id) && causesAny(s, cluster, graph, windowMs),
      );
      const withPartners = [...partners, ...cluster];
      if (partners.length > 0 && matchChains(withPartners, graph, windowMs).length > 0) {
        for (const p of partners) taken.add(p.id);
        creates.push(withPartners.sort((a, b) => a.openedAt - b.openedAt || a.id.localeCompare(b.id)));
      }
    }
    cluster = [];
  };
  for (const c of rest) {
    const last = cluster[cluster.length - 1];
    if (last && c.openedAt - last.openedAt > windowMs) close();
    cluster.push(c);
  }
  close();
  return { joins: [...joins].map(([incidentId, members]) => ({ incidentId, members })), creates };
}

/** Whether `cause` is the cause side of an edge of the graph towards one of `effects`, as it holds now. */
function causesAny(
  cause: IncidentMember,
  effects: readonly IncidentMember[],
  graph: CauseGraph,
  windowMs: number,
): boolean {
  return graph.edges.some((e) => {
    const from = graph.nodes.find((n) => n.id === e.cause);
    const to = graph.nodes.find((n) => n.id === e.effect);
    if (!from || !to || !nodeMatches(from, cause)) return false;
    return effects.some(
      (x) =>
        nodeMatches(to, x) &&
        relationHolds(e.relation, cause, x) &&
        temporalFactor(e.order, cause, x, windowMs) !== null,
    );
  });
}

const severityOrder: readonly Severity[] = ['info', 'warning', 'critical'];

export function incidentSeverity(members: readonly Pick<IncidentMember, 'severity'>[]): Severity {
  let worst = 0;
  for (const m of members) worst = Math.max(worst, severityOrder.indexOf(m.severity));
  return severityOrder[worst] ?? 'info';
}

/** When the incident resolved: the last member's resolution once every member has resolved, else null. */
export function incidentResolvedAt(
  members: readonly Pick<IncidentMember, 'state' | 'resolvedAt'>[],
): number | null {
  if (members.length === 0) return null;
  let at = Number.NEGATIVE_INFINITY;
  for (const m of members) {
    if (m.state !== 'resolved' || m.resolvedAt === null) return null;
    at = Math.max(at, m.resolvedAt);
  }
  return at;
}

/** Which stored series shows a member's metric (minute resolution, through src/storage/series.ts). */
export interface SeriesSpec {
  family: string;
  metric: string;
  /** `name:value` label filters. */
  labels: string[];
  /** How the series of several label combinations add up (sessions sum, ages take the max). */
  combine: 'sum' | 'max';
  /** The series moves the other way from the finding (idle CPU for a busy CPU). */
  invert?: boolean;
}

function tableLabels(object: string): string[] | null {
  const m = /^(?:([^/]+)\/)?([^./]+)\.([^/]+)$/.exec(object);
  if (!m) return null;
  return [...(m[1] ? [`datname:${m[1]}`] : []), `schemaname:${m[2]}`, `relname:${m[3]}`];
}

/**
 * The series of a member's metric, or null when none is stored for it (log findings, catalogue
 * recommendations). The anomaly ids map to the same series as the check on that metric.
 */
export function seriesSpecOf(m: Pick<IncidentMember, 'check' | 'object' | 'evidence'>): SeriesSpec | null {
  const metric = m.check.startsWith('anomaly.') ? m.check.slice('anomaly.'.length) : m.check;
  const o = m.object;
  const db = o.startsWith('db:') ? [`datname:${o.slice(3)}`] : [];
  switch (metric) {
    case 'host.cpu':
    case 'host.cpu_busy_pct':
      return { family: 'host_cpu', metric: 'idle_pct', labels: ['cpu:total'], combine: 'max', invert: true };
    case 'host.iowait':
    case 'host.iowait_pct':
      return { family: 'host_cpu', metric: 'iowait_pct', labels: ['cpu:total'], combine: 'max' };
    case 'host.memory':
    case 'host.memory_used_pct':
      return { family: 'host_memory', metric: 'used_bytes', labels: [], combine: 'max' };
    case 'host.load':
    case 'host.load_per_core':
      return { family: 'host_load', metric: 'load1', labels: [], combine: 'max' };
    case 'host.disk_latency':
    case 'host.disk_await_ms':
      return {
        family: 'host_disk',
        metric: 'write_await_ms',
        labels: o ? [`device:${o}`] : [],
        combine: 'max',
      };
    case 'host.disk_busy':
    case 'host.disk_util_pct':
      return { family: 'host_disk', metric: 'util_pct', labels: o ? [`device:${o}`] : [], combine: 'max' };
    case 'host.network_rx_bytes_per_s':
    case 'host.network_tx_bytes_per_s':
      return {
        family: 'host_network',
        metric: metric.endsWith('rx_bytes_per_s') ? 'rx_bytes_per_s' : 'tx_bytes_per_s',
        labels: o ? [`interface:${o}`] : [],
        combine: 'sum',
      };
    case 'host.disk_space':
    case 'host.disk_fill':
      return o
        ? { family: 'host_filesystem', metric: 'used_bytes', labels: [`mountpoint:${o}`], combine: 'max' }
        : null;
    case 'process.cpu':
      return o ? { family: 'host_process', metric: 'cpu_pct', labels: [`watch:${o}`], combine: 'sum' } : null;
    case 'process.memory':
      return o
        ? { family: 'host_process', metric: 'rss_bytes', labels: [`watch:${o}`], combine: 'sum' }
        : null;
    case 'pg.connections':
      return { family: 'pg_instance', metric: 'backends', labels: [], combine: 'max' };
    case 'pg.cache_hit':
    case 'pg.cache_hit_pct':
      // The ratio of each step (a derived series), not cache_hit_pct since the stats reset, which hardly
      // moves on a long-running server and so co-moves with nothing.
      return db.length > 0
        ? { family: 'pg_database', metric: 'cache_hit_interval_pct', labels: db, combine: 'max' }
        : { family: 'pg_database', metric: 'cache_hit_interval_pct_instance', labels: [], combine: 'max' };
    case 'pg.tps':
      return { family: 'pg_database', metric: 'xact_commit', labels: db, combine: 'sum' };
    case 'pg.rollback_ratio':
    case 'pg.rollbacks_per_s':
      return { family: 'pg_database', metric: 'xact_rollback', labels: db, combine: 'sum' };
    case 'pg.deadlocks':
    case 'pg.deadlocks_per_s':
      return { family: 'pg_database', metric: 'deadlocks', labels: db, combine: 'sum' };
    case 'pg.temp_files':
    case 'pg.temp_bytes_per_s':
      return { family: 'pg_database', metric: 'temp_bytes', labels: db, combine: 'sum' };
    case 'pg.wal_bytes_per_s':
      return { family: 'pg_wal', metric: 'bytes', labels: [], combine: 'sum' };
    case 'pg.checkpoints':
    case 'pg.checkpoints_per_min':
      return { family: 'pg_bgwriter', metric: 'checkpoints_req', labels: [], combine: 'sum' };
    case 'pg.replication_lag':
    case 'pg.replication_lag_s': {
      if (o === 'replay') return { family: 'pg_standby', metric: 'replay_lag_s', labels: [], combine: 'max' };
      const app = /^standby:([^@]+)/.exec(o)?.[1];
      return {
        family: 'pg_replication',
        metric: 'replay_lag_s',
        labels: app ? [`application_name:${app}`] : [],
        combine: 'max',
      };
    }
    case 'pg.replication_slot':
      return o.startsWith('slot:')
        ? {
            family: 'pg_replication_slots',
            metric: 'retained_bytes',
            labels: [`slot_name:${o.slice(5)}`],
            combine: 'max',
          }
        : null;
    case 'pg.blocking':
    case 'pg.blocked_sessions':
      return { family: 'pg_activity', metric: 'blocked', labels: [], combine: 'sum' };
    case 'pg.idle_in_transaction':
    case 'pg.long_query':
    case 'pg.longest_xact_s':
      return { family: 'pg_activity', metric: 'max_xact_age_s', labels: [], combine: 'max' };
    case 'pg.missing_index':
    case 'pg.seq_scans_per_s': {
      const labels = tableLabels(o);
      return labels ? { family: 'pg_tables', metric: 'seq_scan', labels, combine: 'sum' } : null;
    }
    case 'pg.dead_tuples':
    case 'pg.table_dead_ratio': {
      const labels = tableLabels(o);
      return labels ? { family: 'pg_tables', metric: 'dead_pct', labels, combine: 'max' } : null;
    }
    case 'pg.statement_regression':
    case 'pg.slow_statement':
    case 'pg.statement_mean_ms':
    case 'pg.statement_total_ms_per_s': {
      const q = /(?:^|\/)query:(-?\d{1,20})$/.exec(o)?.[1] ?? /^(-?\d{1,20})$/.exec(o)?.[1];
      return q
        ? {
            family: 'pg_statements',
            metric: metric === 'pg.statement_mean_ms' ? 'mean_exec_time_ms' : 'exec_time_ms',
            labels: [`queryid:${q}`],
            combine: 'sum',
          }
        : null;
    }
    default:
      return null;
  }
}

/** Adds up the series of several label combinations into one, by step. */
export function combineSeries(
  parts: ReadonlyArray<ReadonlyArray<readonly [number, number]>>,
  how: 'sum' | 'max',
  invert = false,
): Array<[number, number]> {
  const by = new Map<number, number>();
  for (const p of parts) {
    for (const [t, v] of p) {
      const prev = by.get(t);
      by.set(t, prev === undefined ? v : how === 'sum' ? prev + v : Math.max(prev, v));
    }
  }
  return [...by].sort((a, b) => a[0] - b[0]).map(([t, v]) => [t, invert ? -v : v] as [number, number]);
}

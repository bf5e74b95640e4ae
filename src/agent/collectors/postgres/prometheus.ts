/**
 * PostgreSQL families as Prometheus metrics, for the agent's /metrics. Names follow postgres_exporter where
 * the two overlap (pg_up, pg_stat_database_xact_commit_total, pg_database_size_bytes, pg_stat_activity_count,
 * pg_locks_count, pg_replication_lag_seconds, …) so existing dashboards and alerts carry over.
 *
 * Guarantees: base units (milliseconds become seconds, percentages become 0–1 ratios), counters end in
 * `_total`, booleans are 0/1, timestamps are Unix seconds. Statements appear only as the top N the
 * collector kept for the interval (gauges of per-interval deltas), never one series per statement of the
 * server; statement texts and settings are not exported.
 */
import { type ColumnSpec, postgresFamilies } from '../../../protocol/families/index.js';
import type { ExposedMetric, ExposedSample, FamilyRows, Row } from '../types.js';

/** An exposed sample whose labels are always there (the target's export labels at least). */
export interface PromSample extends ExposedSample {
  labels: Record<string, string>;
}

export interface PromMetric extends ExposedMetric {
  samples: PromSample[];
}

interface FamilyMapping {
  /** Metric name prefix for the family's columns. */
  prefix: string;
  /** Column → full metric name, where postgres_exporter has its own name. */
  rename?: Record<string, string>;
  /** Value columns not exported. */
  skip?: readonly string[];
  /** Text value columns exported as labels on every sample of the row. */
  textLabels?: readonly string[];
  /** Label columns not exported (series identity kept by the others). */
  dropLabels?: readonly string[];
}

const mappings: Record<string, FamilyMapping> = {
  pg_instance: {
    prefix: 'pg',
    rename: {
      up: 'pg_up',
      in_recovery: 'pg_is_in_recovery',
      start_time: 'pg_postmaster_start_time_seconds',
      max_connections: 'pg_settings_max_connections',
      backends: 'pg_backends',
      server_version_num: 'pg_server_version_num',
      collect_ms: 'pg_scrape_duration_seconds',
    },
  },
  pg_collector: {
    prefix: 'pg_collector_family',
    rename: { ok: 'pg_collector_family_up' },
    skip: ['rows'],
  },
  pg_database: {
    prefix: 'pg_stat_database',
    rename: {
      size_bytes: 'pg_database_size_bytes',
      // postgres_exporter's pg_stat_database_conflicts_confl_* (ours end in _total like every counter)
      confl_tablespace: 'pg_stat_database_conflicts_confl_tablespace',
      confl_lock: 'pg_stat_database_conflicts_confl_lock',
      confl_snapshot: 'pg_stat_database_conflicts_confl_snapshot',
      confl_bufferpin: 'pg_stat_database_conflicts_confl_bufferpin',
      confl_deadlock: 'pg_stat_database_conflicts_confl_deadlock',
      confl_active_logicalslot: 'pg_stat_database_conflicts_confl_active_logicalslot',
    },
  },
  pg_activity: {
    prefix: 'pg_stat_activity',
    rename: {
      max_xact_age_s: 'pg_stat_activity_max_tx_duration_seconds',
      max_query_age_s: 'pg_stat_activity_max_query_duration_seconds',
      max_state_age_s: 'pg_stat_activity_max_state_duration_seconds',
    },
  },
  // not "_count": promtool reserves that suffix for histograms and summaries
  pg_wait_events: { prefix: 'pg_wait_events', rename: { count: 'pg_wait_event_backends' } },
  pg_locks: { prefix: 'pg_locks' },
  pg_lock_waits: {
    prefix: 'pg_blocked_backend',
    textLabels: ['datname', 'usename'],
  },
  pg_tables: { prefix: 'pg_stat_user_tables', rename: { total_bytes: 'pg_stat_user_tables_size_bytes' } },
  pg_indexes: { prefix: 'pg_stat_user_indexes' },
  pg_statio: { prefix: 'pg_statio_user_tables' },
  pg_replication: { prefix: 'pg_stat_replication', textLabels: ['state', 'sync_state'] },
  pg_replication_slots: {
    prefix: 'pg_replication_slots',
    textLabels: ['slot_type', 'datname', 'wal_status'],
  },
  pg_standby: {
    prefix: 'pg_replication',
    rename: {
      replay_lag_s: 'pg_replication_lag_seconds',
      last_xact_replay_ts: 'pg_replication_last_replay_timestamp_seconds',
      replay_paused: 'pg_replication_replay_paused',
    },
    textLabels: ['receiver_status'],
  },
  pg_bgwriter: { prefix: 'pg_stat_bgwriter' },
  pg_wal: { prefix: 'pg_stat_wal' },
  // postgres_exporter: pg_stat_archiver_archived_count, _failed_count (counters; ours end in _total like
  // every counter here) and pg_stat_archiver_last_archive_age (seconds; ours says so in its name).
  pg_archiver: {
    prefix: 'pg_stat_archiver',
    rename: {
      last_archived_time: 'pg_stat_archiver_last_archived_timestamp_seconds',
      last_failed_time: 'pg_stat_archiver_last_failed_timestamp_seconds',
    },
    textLabels: ['archive_mode'],
  },
  // postgres_exporter has no subscription metrics: the view's name as prefix, like the other families.
  pg_subscriptions: { prefix: 'pg_stat_subscription' },
  pg_vacuum_progress: {
    prefix: 'pg_stat_progress_vacuum',
    textLabels: ['datname', 'relname', 'phase'],
  },
  pg_io: { prefix: 'pg_stat_io' },
  pg_wraparound: { prefix: 'pg_database' },
  pg_statements: {
    prefix: 'pg_stat_statements_top',
    textLabels: ['datname', 'usename'],
    dropLabels: ['dbid', 'userid'],
    skip: ['interval_s'],
  },
  pg_statements_info: { prefix: 'pg_stat_statements_info' },
};

/** Metric name, value conversion and type for one column. */
function metricFor(
  family: string,
  m: FamilyMapping,
  column: ColumnSpec,
): { name: string; scale: number; type: 'gauge' | 'counter'; kind: 'number' | 'bool' | 'time' } | undefined {
  if (column.label || m.skip?.includes(column.name) || m.textLabels?.includes(column.name)) return undefined;
  if (column.type === 'text' || column.type === 'jsonb') return undefined;
  const type = column.counter ? 'counter' : 'gauge';
  let base = column.name;
  let scale = 1;
  let kind: 'number' | 'bool' | 'time' = 'number';
  if (column.type === 'bool') kind = 'bool';
  else if (column.type === 'timestamptz') {
    kind = 'time';
    base = `${base}_timestamp_seconds`;
  } else if (base.endsWith('_ms')) {
    base = `${base.slice(0, -3)}_seconds`;
    scale = 1 / 1000;
  } else if (base.endsWith('_s')) {
    base = `${base.slice(0, -2)}_seconds`;
  } else if (base.endsWith('_pct')) {
    base = `${base.slice(0, -4)}_ratio`;
    scale = 1 / 100;
  }
  let name = m.rename?.[column.name] ?? `${m.prefix}_${base}`;
  if (type === 'counter' && !name.endsWith('_total')) name = `${name}_total`;
  void family;
  return { name, scale, type, kind };
}

function numericValue(v: Row[string], kind: 'number' | 'bool' | 'time', scale: number): number | undefined {
  if (v === null || v === undefined) return undefined;
  if (kind === 'bool') return v === true ? 1 : 0;
  if (kind === 'time') {
    const ms = Date.parse(String(v));
    return Number.isFinite(ms) ? ms / 1000 : undefined;
  }
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n * scale : undefined;
}

/**
 * Prometheus metrics for the PostgreSQL families among `rows` (other families are ignored). `extraLabels`
 * (e.g. `{ target: 'main' }`) go on every sample, to tell several targets of one agent apart.
 */
export function postgresPrometheusMetrics(
  rows: readonly FamilyRows[],
  extraLabels: Record<string, string> = {},
): PromMetric[] {
  const metrics = new Map<string, PromMetric>();
  const add = (name: string, help: string, type: 'gauge' | 'counter', sample: PromSample) => {
    let metric = metrics.get(name);
    if (!metric) {
      metric = { name, help, type, samples: [] };
      metrics.set(name, metric);
    }
    metric.samples.push(sample);
  };
  for (const fr of rows) {
    const spec = postgresFamilies[fr.family as keyof typeof postgresFamilies];
    const m = mappings[fr.family];
    if (!spec || !m) continue;
    for (const row of fr.rows) {
      const labels: Record<string, string> = { ...extraLabels };
      for (const c of spec.columns) {
        if (c.label && !m.dropLabels?.includes(c.name)) labels[c.name] = String(row[c.name] ?? '');
        if (m.textLabels?.includes(c.name)) labels[c.name] = String(row[c.name] ?? '');
      }
      if (fr.family === 'pg_locks') {
        // postgres_exporter's shape: one count per mode, split by granted
        for (const [col, granted] of [
          ['granted', 'true'],
          ['waiting', 'false'],
        ] as const) {
          const v = numericValue(row[col] ?? null, 'number', 1);
          if (v !== undefined) {
            add(
              'pg_locks_count',
              'Heavyweight locks by database, type and mode, granted or waiting.',
              'gauge',
              {
                labels: { ...labels, granted },
                value: v,
              },
            );
          }
        }
        continue;
      }
      for (const c of spec.columns) {
        const target = metricFor(fr.family, m, c);
        if (!target) continue;
        const v = numericValue(row[c.name] ?? null, target.kind, target.scale);
        if (v === undefined) continue;
        add(target.name, `${c.help} (${fr.family}.${c.name})`, target.type, { labels, value: v });
      }
    }
  }
  // The instance is down: the one thing to say is pg_up 0.
  if (!metrics.has('pg_up') && rows.some((r) => r.family === 'pg_instance')) {
    add('pg_up', 'the collector could connect and query the instance', 'gauge', {
      labels: extraLabels,
      value: 0,
    });
  }
  return [...metrics.values()];
}

/**
 * A deterministic generator of a realistic PostgreSQL host, a value per minute for every metric of the
 * catalogue the replay feeds (src/intelligence/replay/), plus its logs, SSH noise, filesystems and
 * session snapshots. Seeded (test/helpers/prng.ts): the same seed gives the same host on every machine.
 *
 * What makes it realistic, and is never shaped to suit the detector:
 * - load follows the working day (quiet nights, a ramp from 07:00, a lunch dip, evening decline, all UTC),
 *   weekends at about 55 %, a Monday-morning peak, and a day-to-day level that wanders by a few percent;
 * - noise is autocorrelated (AR(1)), multiplicative for rates, additive for percentages; counters that
 *   move in steps move in steps (checkpoints every checkpoint_timeout, dead rows as a sawtooth between
 *   autovacuums, rare deadlocks, brief lock waits);
 * - a nightly batch job every day 02:00 for 40–55 min: CPU, I/O, WAL, temp files and tps up, statement
 *   103 slower under contention, more requested checkpoints, replication lag of a few seconds;
 * - a weekly maintenance window on Sundays 04:00 for ~40 min: VACUUM/REINDEX (disk I/O, WAL, checkpoint,
 *   a cache hit dip, dead rows reset, lag);
 * - log errors in small bursts (a failing request logs a few lines), SSH scanners knocking 1–3 times;
 * - filesystems that grow slowly, with WAL that swells during the batch and is recycled after it.
 */
import type { ReplayHost, SnapshotRow } from '../../src/intelligence/replay/types.js';
import { hourMs, minuteMs } from '../../src/intelligence/replay/types.js';
import type { SloDefinition } from '../../src/intelligence/slo.js';
import { mulberry32, type Prng } from '../helpers/prng.js';

/** Monday 2026-01-05 00:00 UTC: histories start on a Monday so weeks read plainly. */
export const epoch = Date.UTC(2026, 0, 5);
export const dayMinutes = 1440;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function gaussian(r: Prng): number {
  const u = Math.max(r.next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.next());
}

function poisson(r: Prng, mean: number): number {
  if (mean <= 0) return 0;
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= r.next();
  } while (p > l && k < 1000);
  return k - 1;
}

/** An AR(1) noise source with unit variance: x' = φx + √(1−φ²)ε. */
function ar1(r: Prng, phi: number) {
  let x = gaussian(r);
  const k = Math.sqrt(1 - phi * phi);
  return () => {
    x = phi * x + k * gaussian(r);
    return x;
  };
}

/** The working-day load shape at an hour of the day (UTC, fractional), 0.25…1. */
function dayShape(h: number): number {
  if (h < 6) return 0.25;
  if (h < 9) return 0.25 + (0.75 * (h - 6)) / 3;
  if (h < 12) return 1;
  if (h < 13.5) return 0.88;
  if (h < 17) return 1;
  if (h < 22) return 1 - (0.65 * (h - 17)) / 5;
  return 0.35 - (0.1 * (h - 22)) / 2;
}

export interface HostBuilder {
  host: ReplayHost;
  /** A series by metric and object. */
  s(metric: string, object?: string): Float64Array;
  /** Context per minute the scenarios read: load and whether the batch or maintenance runs. */
  load: Float64Array;
  batch: Uint8Array;
  maintenance: Uint8Array;
  /** Extra snapshot rows or instance fields a scenario adds at a minute. */
  overlays: Array<
    (m: number, snap: { instance: SnapshotRow; families: Record<string, SnapshotRow[]> }) => void
  >;
  rng: Prng;
}

export interface BackgroundOptions {
  seed: number;
  serverId: number;
  /** Whole days generated (history + evaluated). */
  days: number;
  /** Days of history before the first evaluated minute. */
  historyDays: number;
}

export const metricSpecs: ReadonlyArray<readonly [string, string]> = [
  ['host.cpu_busy_pct', ''],
  ['host.iowait_pct', ''],
  ['host.memory_used_pct', ''],
  ['host.load_per_core', ''],
  ['host.disk_await_ms', 'sda'],
  ['host.disk_util_pct', 'sda'],
  ['host.network_rx_bytes_per_s', ''],
  ['host.network_tx_bytes_per_s', ''],
  ['pg.tps', ''],
  ['pg.connections', ''],
  ['pg.cache_hit_pct', ''],
  ['pg.rollbacks_per_s', ''],
  ['pg.deadlocks_per_s', ''],
  ['pg.temp_bytes_per_s', ''],
  ['pg.wal_bytes_per_s', ''],
  ['pg.replication_lag_s', 'standby1'],
  ['pg.blocked_sessions', ''],
  ['pg.longest_xact_s', ''],
  ['pg.seq_scans_per_s', 'app/public.orders'],
  ['pg.seq_scans_per_s', 'app/public.events'],
  ['pg.table_dead_ratio', 'app/public.orders'],
  ['pg.table_dead_ratio', 'app/public.events'],
  ['pg.statement_mean_ms', 'query:101'],
  ['pg.statement_mean_ms', 'query:102'],
  ['pg.statement_mean_ms', 'query:103'],
  ['pg.statement_total_ms_per_s', 'query:101'],
  ['pg.statement_total_ms_per_s', 'query:102'],
  ['pg.statement_total_ms_per_s', 'query:103'],
  ['pg.checkpoints_per_min', ''],
];

/** Statement latency SLO on query 103: 99 % of minutes with a mean at or under 60 ms, over 30 days. */
export function latencySlo(serverId: number, targetId: number): SloDefinition {
  return {
    id: serverId * 10 + 1,
    serverId,
    targetId,
    name: 'statement latency (query 103)',
    description: 'checkout statement mean time per minute',
    family: 'pg_statements',
    metric: 'mean_exec_time_ms',
    per: [],
    scale: 1,
    minPer: null,
    labels: ['queryid:103'],
    agg: 'avg',
    missing: 'skip',
    comparison: '<=',
    threshold: 60,
    objective: 99,
    windowDays: 30,
    source: 'api',
    createdBy: null,
    createdAt: new Date(epoch).toISOString(),
  };
}

/** Builds a clean host: background only. Scenarios inject their incident into the returned arrays. */
export function background(o: BackgroundOptions): HostBuilder {
  const r = mulberry32(o.seed);
  const minutes = o.days * dayMinutes;
  const serverId = o.serverId;
  const targetId = serverId * 100 + 1;
  const series = metricSpecs.map(([metric, object]) => ({
    metric,
    object,
    values: new Float64Array(minutes),
  }));
  const byKey = new Map(series.map((x) => [`${x.metric}|${x.object}`, x.values]));
  const s = (metric: string, object = '') => {
    const v = byKey.get(`${metric}|${object}`);
    if (!v) throw new Error(`no series ${metric} ${object}`);
    return v;
  };
  // Host character: levels differ from host to host.
  const size = 0.7 + 0.6 * r.next();
  const load = new Float64Array(minutes);
  const batch = new Uint8Array(minutes);
  const maintenance = new Uint8Array(minutes);
  const batchMinute = new Int16Array(minutes).fill(-1);
  const loadNoise = ar1(r, 0.97);
  let dayLevel = 1;
  for (let d = 0; d < o.days; d++) {
    dayLevel = 0.6 * dayLevel + 0.4 * (1 + 0.05 * gaussian(r));
    const weekday = d % 7; // 0 = Monday
    const weekend = weekday >= 5 ? 0.55 : 1;
    const batchLen = 40 + r.int(16);
    for (let i = 0; i < dayMinutes; i++) {
      const m = d * dayMinutes + i;
      const h = i / 60;
      const monday = weekday === 0 && h >= 8 && h < 11 ? 1.12 : 1;
      load[m] = Math.max(0.1, dayShape(h) * weekend * monday * dayLevel * (1 + 0.03 * loadNoise()));
      if (i >= 120 && i < 120 + batchLen) {
        batch[m] = 1;
        batchMinute[m] = i - 120;
      }
      if (weekday === 6 && i >= 240 && i < 240 + 38 + (d % 3)) maintenance[m] = 1;
    }
  }
  const n = (phi: number) => ar1(r, phi);
  const nCpu = n(0.7);
  const nIo = n(0.6);
  const nMem = n(0.95);
  const nLoad = n(0.8);
  const nAwait = n(0.5);
  const nUtil = n(0.5);
  const nRx = n(0.6);
  const nTx = n(0.6);
  const nTps = n(0.6);
  const nConn = n(0.8);
  const nHit = n(0.6);
  const nWal = n(0.5);
  const nLag = n(0.7);
  const nStm = [n(0.5), n(0.5), n(0.5)];
  const nTemp = n(0.3);
  const dead = [0.5, 1];
  const deadRate = [8 / 360, 15 / 300];
  const v_host_cpu_busy_pct = s('host.cpu_busy_pct');
  const v_host_disk_await_ms_sda = s('host.disk_await_ms', 'sda');
  const v_host_disk_util_pct_sda = s('host.disk_util_pct', 'sda');
  const v_host_iowait_pct = s('host.iowait_pct');
  const v_host_load_per_core = s('host.load_per_core');
  const v_host_memory_used_pct = s('host.memory_used_pct');
  const v_host_network_rx_bytes_per_s = s('host.network_rx_bytes_per_s');
  const v_host_network_tx_bytes_per_s = s('host.network_tx_bytes_per_s');
  const v_pg_blocked_sessions = s('pg.blocked_sessions');
  const v_pg_cache_hit_pct = s('pg.cache_hit_pct');
  const v_pg_checkpoints_per_min = s('pg.checkpoints_per_min');
  const v_pg_connections = s('pg.connections');
  const v_pg_deadlocks_per_s = s('pg.deadlocks_per_s');
  const v_pg_longest_xact_s = s('pg.longest_xact_s');
  const v_pg_replication_lag_s_standby1 = s('pg.replication_lag_s', 'standby1');
  const v_pg_rollbacks_per_s = s('pg.rollbacks_per_s');
  const v_pg_seq_scans_per_s_app_public_events = s('pg.seq_scans_per_s', 'app/public.events');
  const v_pg_seq_scans_per_s_app_public_orders = s('pg.seq_scans_per_s', 'app/public.orders');
  const v_pg_table_dead_ratio_app_public_events = s('pg.table_dead_ratio', 'app/public.events');
  const v_pg_table_dead_ratio_app_public_orders = s('pg.table_dead_ratio', 'app/public.orders');
  const v_pg_temp_bytes_per_s = s('pg.temp_bytes_per_s');
  const v_pg_tps = s('pg.tps');
  const v_pg_wal_bytes_per_s = s('pg.wal_bytes_per_s');
  const stmMean = ['101', '102', '103'].map((q) => s('pg.statement_mean_ms', `query:${q}`));
  const stmTotal = ['101', '102', '103'].map((q) => s('pg.statement_total_ms_per_s', `query:${q}`));
  for (let m = 0; m < minutes; m++) {
    const L = load[m]!;
    const B = batch[m]!;
    const M = maintenance[m]!;
    const cpu = 8 + 45 * L * size + 28 * B + 10 * M + 2.5 * nCpu();
    v_host_cpu_busy_pct[m] = Math.min(99, Math.max(1, cpu));
    v_host_iowait_pct[m] = Math.max(0, 0.8 + 1.5 * L + 5 * B + 7 * M + 0.5 * nIo());
    v_host_memory_used_pct[m] = 60 + 4 * L + 3 * B + 0.6 * nMem();
    v_host_load_per_core[m] = Math.max(0.01, 0.08 + 0.5 * L * size + 0.4 * B + 0.25 * M + 0.05 * nLoad());
    v_host_disk_await_ms_sda[m] = Math.max(0.3, 1.5 + 1 * L + 2.5 * B + 4 * M + 0.35 * nAwait());
    v_host_disk_util_pct_sda[m] = Math.min(100, Math.max(0, 5 + 25 * L + 38 * B + 45 * M + 3 * nUtil()));
    v_host_network_rx_bytes_per_s[m] = Math.max(1e4, (2e6 * L + 4e6 * B) * size * (1 + 0.08 * nRx()));
    v_host_network_tx_bytes_per_s[m] = Math.max(1e4, (4e6 * L + 1e6 * B) * size * (1 + 0.08 * nTx()));
    const tps = Math.max(1, (20 + 400 * L + 150 * B) * size * (1 + 0.05 * nTps()));
    v_pg_tps[m] = tps;
    v_pg_connections[m] = Math.max(3, Math.round((12 + 40 * L + 4 * B) * size + 2 * nConn()));
    v_pg_cache_hit_pct[m] = Math.min(100, 99.55 - 1.2 * B - 0.9 * M + 0.08 * nHit());
    v_pg_rollbacks_per_s[m] = poisson(r, (0.1 + 0.8 * L) * 60) / 60;
    v_pg_deadlocks_per_s[m] = r.chance(1 / 2880) ? 1 / 60 : 0;
    v_pg_temp_bytes_per_s[m] = Math.max(0, (1e5 * L + 1.8e7 * B) * (1 + 0.3 * nTemp()));
    v_pg_wal_bytes_per_s[m] = Math.max(
      1e4,
      (3e5 + 2e6 * L * size + 8e6 * B + 1.2e7 * M) * (1 + 0.1 * nWal()),
    );
    v_pg_replication_lag_s_standby1[m] = Math.max(0, 0.2 + 0.3 * L + 2 * B + 3 * M + 0.2 * Math.abs(nLag()));
    v_pg_blocked_sessions[m] = r.chance(0.02 * L) ? Math.round(r.next() * 10) / 10 : 0;
    // The batch commits in chunks (≤ 2 min transactions), maintenance statements up to ~4 min.
    const bxact = B ? 20 + ((batchMinute[m]! * 60) % 110) : 0;
    const mxact = M ? 30 + r.int(200) : 0;
    v_pg_longest_xact_s[m] = Math.max(0.5 + 3 * L + 2 * Math.abs(gaussian(r)), bxact, mxact);
    // orders is large and indexed: a few scans an hour (an analyst's query); events is small and scanned often.
    v_pg_seq_scans_per_s_app_public_orders[m] = poisson(r, (0.0005 + 0.001 * L) * 60) / 60;
    v_pg_seq_scans_per_s_app_public_events[m] = poisson(r, (0.4 * L + 1.5 * B) * 60) / 60;
    for (let t = 0; t < 2; t++) {
      dead[t]! += deadRate[t]! * (0.4 + L) * (r.next() * 2);
      if (dead[t]! > (t === 0 ? 8 : 15) || (M && r.chance(0.2))) dead[t] = 0.3 + r.next();
    }
    v_pg_table_dead_ratio_app_public_orders[m] = dead[0]!;
    v_pg_table_dead_ratio_app_public_events[m] = dead[1]!;
    const means = [
      Math.max(0.2, (2 + 0.5 * L) * (1 + 0.08 * nStm[0]!())),
      Math.max(1, (15 + 5 * L + 4 * B) * (1 + 0.08 * nStm[1]!())),
      Math.max(1, (20 + 5 * L + 12 * B + 4 * M) * (1 + 0.08 * nStm[2]!())),
    ];
    const calls = [0.5 * tps, 0.05 * tps, 0.1 * tps];
    for (let i = 0; i < 3; i++) {
      stmMean[i]![m] = means[i]!;
      stmTotal[i]![m] = means[i]! * calls[i]!;
    }
    // checkpoint_timeout 5 min; the batch's and maintenance's WAL requests a few more.
    const timed = m % 5 === 0 ? 1 : 0;
    const requested = (B || M) && m % 5 === 2 && r.chance(0.5) ? 1 : 0;
    v_pg_checkpoints_per_min[m] = timed + requested;
  }

  // Logs: small bursts of errors (a failing request logs a few lines), more during busy hours.
  const logSource = (source: string, perHour: number, sample: string) => {
    const errors = new Uint16Array(minutes);
    for (let m = 0; m < minutes; m++) {
      if (r.chance((perHour * load[m]!) / 60)) errors[m] = 1 + poisson(r, 1.2);
    }
    return { source, errors, stretches: [], sample };
  };
  const logs = [
    logSource('postgresql', 2, 'ERROR: canceling statement due to statement timeout'),
    logSource('app', 3, 'ERROR: upstream request failed: timeout after 5000 ms'),
  ];
  // SSH scanners: a few knocks from an address now and then.
  const ssh: ReplayHost['ssh'] = [];
  for (let m = 0; m < minutes; m++) {
    if (r.chance(1 / 25)) {
      const ip = `198.51.100.${1 + r.int(250)}`;
      ssh.push({
        minute: m,
        ip,
        user: r.pick(['root', 'admin', 'ubuntu', 'postgres', 'test']),
        count: 1 + r.int(3),
      });
    }
  }
  // Filesystems: data grows slowly; pg_wal swells during the batch and is recycled over the next hour.
  const data = new Float64Array(minutes);
  const root = new Float64Array(minutes);
  let wal = 0;
  for (let m = 0; m < minutes; m++) {
    wal = batch[m] ? wal + 40 * MiB : Math.max(0, wal - 30 * MiB);
    data[m] = 300 * GiB * size + (m / 60) * 40 * MiB + wal + 200 * MiB * Math.abs(gaussian(r)) * 0.1;
    root[m] = 18 * GiB + ((m % dayMinutes) / dayMinutes) * 300 * MiB; // logs, rotated daily
  }
  const filesystems = [
    {
      mountpoint: '/var/lib/postgresql',
      device: '/dev/sda1',
      fstype: 'ext4',
      sizeBytes: 1000 * GiB,
      used: data,
    },
    { mountpoint: '/', device: '/dev/vda1', fstype: 'ext4', sizeBytes: 50 * GiB, used: root },
  ];
  const overlays: HostBuilder['overlays'] = [];
  const host: ReplayHost = {
    serverId,
    targetId,
    hostname: `db${serverId}.example.net`,
    agentId: `agent-${serverId}`,
    start: epoch,
    minutes,
    evalFrom: o.historyDays * dayMinutes,
    series,
    logs,
    ssh,
    silent: [],
    filesystems,
    snapshot(m) {
      const conns = Math.round(s('pg.connections')[m]!);
      const active = Math.max(1, Math.round(conns * 0.2));
      const families: Record<string, SnapshotRow[]> = {
        pg_activity: [
          {
            datname: 'app',
            usename: 'app',
            application_name: 'web',
            backend_type: 'client backend',
            state: 'active',
            count: active,
            waiting: 0,
            blocked: 0,
            max_xact_age_s: Math.min(2, s('pg.longest_xact_s')[m]!),
            max_query_age_s: 1,
            max_state_age_s: 1,
          },
          {
            datname: 'app',
            usename: 'app',
            application_name: 'web',
            backend_type: 'client backend',
            state: 'idle',
            count: Math.max(0, conns - active),
            waiting: 0,
            blocked: 0,
            max_xact_age_s: null,
            max_query_age_s: null,
            max_state_age_s: 30,
          },
        ],
        pg_replication_slots: [
          {
            slot_name: 'standby1',
            slot_type: 'physical',
            datname: null,
            active: true,
            retained_bytes: 16 * MiB + Math.round(s('pg.wal_bytes_per_s')[m]! * 10),
            wal_status: 'reserved',
          },
        ],
      };
      if (batch[m]) {
        families.pg_activity!.push({
          datname: 'app',
          usename: 'etl',
          application_name: 'nightly-etl',
          backend_type: 'client backend',
          state: 'active',
          count: 1,
          waiting: 0,
          blocked: 0,
          max_xact_age_s: s('pg.longest_xact_s')[m]!,
          max_query_age_s: 40,
          max_state_age_s: 40,
        });
      }
      const snap = { instance: { max_connections: 100, backends: conns + 6 }, families };
      for (const f of overlays) f(m, snap);
      return snap;
    },
    settings: {
      max_connections: '100',
      superuser_reserved_connections: '3',
      idle_in_transaction_session_timeout: '0',
      max_slot_wal_keep_size: '-1',
    },
    cores: 8,
    slos: [],
    tables: [
      {
        datname: 'app',
        schemaname: 'public',
        relname: 'orders',
        nLiveTup: 4_000_000 * size,
        tableBytes: 900 * MiB * size,
      },
      { datname: 'app', schemaname: 'public', relname: 'events', nLiveTup: 6000, tableBytes: 2 * MiB },
    ],
    statements: [
      {
        queryid: '101',
        datname: 'app',
        query: 'SELECT id, status, total FROM public.orders WHERE customer_id = $1 AND status = $2',
      },
      {
        queryid: '102',
        datname: 'app',
        query: 'SELECT date_trunc($1, created_at), sum(total) FROM public.orders GROUP BY 1',
      },
      { queryid: '103', datname: 'app', query: 'UPDATE public.orders SET status = $1 WHERE id = $2' },
    ],
  };
  host.slos.push({
    definition: latencySlo(serverId, targetId),
    metric: 'pg.statement_mean_ms',
    object: 'query:103',
  });
  return { host, s, load, batch, maintenance, overlays, rng: r };
}

/** Minute index of day `d` at hh:mm. */
export const at = (d: number, hh: number, mm = 0) => d * dayMinutes + hh * 60 + mm;
export { hourMs, minuteMs };

/**
 * Whether a time is in the nightly batch (02:00–03:00) or the Sunday maintenance hour (04:00–05:00),
 * or the 15 minutes after either: where a false alert would come from the scheduled jobs.
 */
export function inQuietWindow(_serverId: number, t: number): boolean {
  const d = new Date(t);
  const minute = d.getUTCHours() * 60 + d.getUTCMinutes();
  const batch = minute >= 120 && minute < 195;
  const maintenance = d.getUTCDay() === 0 && minute >= 240 && minute < 315;
  return batch || maintenance;
}

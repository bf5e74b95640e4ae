/**
 * The scored scenarios: each one a clean host (./background.ts) with one incident injected, and its
 * ground truth — what should fire, which cause should be named, from when. The incidents are the causal
 * chains of the incident graph (src/intelligence/causes.ts), an SSH brute force, an agent going silent,
 * an SLO burning fast and a slow drift.
 *
 * Each injection changes what the fault would change on a real server, all of it (a missing index also
 * raises CPU and I/O; a connection leak also fills the idle group of pg_activity; a slot that nobody
 * reads also grows the data volume), with ramps of a few minutes where a real fault ramps.
 */
import type { ReplayHost } from '../../src/intelligence/replay/types.js';
import { at, background, dayMinutes, type HostBuilder } from './background.js';

const GiB = 1024 ** 3;

export type { Expectation } from '../../src/intelligence/replay/score.js';

import type { Expectation } from '../../src/intelligence/replay/score.js';

export interface Scenario {
  id: string;
  title: string;
  /** What should fire and, for chains, the chain id the incident should name. */
  expect: Expectation;
  /** Minute index of the fault's start. */
  onset: number;
  /** Detection counts within [onset, onset + windowMinutes]. */
  windowMinutes: number;
  /** Whether its time to detection counts in the median (a slow drift has no moment of onset). */
  timed: boolean;
  /** Builds the host (history and evaluated days) — lazily: a host holds ~20 MB of minute series. */
  build(): ReplayHost;
}

export interface ScenarioOptions {
  /** Days replayed minute by minute before the fault (after 56 days of history). Default 2. */
  leadDays?: number;
}

export const historyDays = 56;

/**
 * A series' value for minute m is what the minute tier keeps: the mean of the agent's samples in that
 * minute (it collects every 10 s, at :00, :10 … :50 of the minute here). A fault that changes a quantity
 * continuously from its onset (a ramp, a lag that grows) is given as a function of time in minutes and
 * averaged over those samples; a snapshot row is the minute's last sample (`lastSample`), pushed at its end.
 */
const samplesPerMinute = 6;
const minuteMean = (m: number, f: (tau: number) => number) => {
  let sum = 0;
  for (let j = 0; j < samplesPerMinute; j++) sum += f(m + j / samplesPerMinute);
  return sum / samplesPerMinute;
};
const lastSample = (m: number) => m + (samplesPerMinute - 1) / samplesPerMinute;
/** 0 before `from`, rising linearly to 1 over `minutes`, at time tau (minutes). */
const rampAt = (tau: number, from: number, minutes: number) =>
  tau < from ? 0 : minutes <= 0 ? 1 : Math.min(1, (tau - from) / minutes);
/** The same ramp as minute m's mean. */
const ramp = (m: number, from: number, minutes: number) => minuteMean(m, (tau) => rampAt(tau, from, minutes));

type Spec = {
  id: string;
  title: string;
  seed: number;
  expect: Expectation;
  /** hh, mm of the onset on its day. */
  time: [number, number];
  windowMinutes: number;
  timed?: boolean;
  /** Days evaluated after the onset's day starts (default 1). */
  daysAfter?: number;
  /** Lead days override (the drift starts with the evaluated period). */
  lead?: number;
  inject(b: HostBuilder, onset: number): void;
};

/** Applies `f` to the minutes [from, to) of a series. */
function shape(v: Float64Array, from: number, to: number, f: (x: number, m: number) => number) {
  for (let m = Math.max(0, from); m < Math.min(to, v.length); m++) v[m] = f(v[m]!, m);
}

const specs: Spec[] = [
  {
    id: 'missing_index',
    title: 'A deploy drops the index statement 101 used: it scans orders, the cache hit ratio falls',
    seed: 1101,
    expect: { incident: 'missing_index' },
    time: [10, 17],
    windowMinutes: 60,
    inject(b, t) {
      const end = t + 90;
      shape(b.s('pg.statement_mean_ms', 'query:101'), t, end, (x) => x * 15);
      shape(b.s('pg.statement_total_ms_per_s', 'query:101'), t, end, (x) => x * 15);
      shape(b.s('pg.seq_scans_per_s', 'app/public.orders'), t, end, (x, m) => x + 0.5 * b.s('pg.tps')[m]!);
      shape(b.s('pg.cache_hit_pct'), t, end, (x, m) => x - 3.5 * ramp(m, t, 3));
      shape(b.s('host.cpu_busy_pct'), t, end, (x) => Math.min(99, x + 20));
      shape(b.s('host.iowait_pct'), t, end, (x) => x + 3);
      shape(b.s('host.disk_util_pct', 'sda'), t, end, (x) => Math.min(100, x + 25));
    },
  },
  {
    id: 'blocking_session',
    title: 'A worker leaves a transaction idle after updating orders: sessions queue behind its locks',
    seed: 1102,
    expect: { incident: 'blocking_session' },
    time: [14, 43],
    windowMinutes: 30,
    inject(b, t) {
      const end = t + 25;
      b.overlays.push((m, snap) => {
        if (m < t || m >= end) return;
        const age = (m - t) * 60 + 30;
        snap.families.pg_activity!.push({
          datname: 'app',
          usename: 'billing',
          application_name: 'billing-worker',
          backend_type: 'client backend',
          state: 'idle in transaction',
          count: 1,
          waiting: 0,
          blocked: 0,
          max_xact_age_s: age,
          max_query_age_s: age - 5,
          max_state_age_s: age - 5,
        });
        // What the collector's pg_xmin_holders sends each collection: the oldest transactions, with pid,
        // state and last statement — the worker's is the oldest (it holds a transaction id).
        snap.families.pg_xmin_holders = [
          {
            holder: 'session',
            ident: '4242',
            xmin_age: 40 + (m - t) * 400,
            age_s: age,
            datname: 'app',
            usename: 'billing',
            state: 'idle in transaction',
            application_name: 'billing-worker',
            client_addr: '10.0.4.17',
            query: 'UPDATE orders SET status = $1 WHERE id = $2',
          },
        ];
        if (m < t + 1) return;
        const n = Math.min(12, 2 + (m - t));
        snap.families.pg_lock_waits = Array.from({ length: n }, (_, i) => ({
          pid: 5000 + i,
          blocking_pids: '4242',
          datname: 'app',
          usename: 'app',
          application_name: 'web',
          wait_s: Math.max(1, (m - t - 1) * 60 + 20 - i * 30),
          query: 'UPDATE orders SET status = $1 WHERE id = $2',
        }));
      });
      shape(b.s('pg.blocked_sessions'), t + 1, end, (_x, m) => Math.min(12, 2 + (m - t)));
      shape(b.s('pg.longest_xact_s'), t, end, (x, m) => Math.max(x, (m - t) * 60 + 30));
      shape(b.s('pg.connections'), t, end, (x, m) => x + Math.min(12, m - t));
    },
  },
  {
    id: 'replication_wal',
    title: 'A bulk UPDATE writes six times the usual WAL: the standby falls behind',
    seed: 1103,
    expect: { incident: 'replication_wal' },
    time: [11, 8],
    windowMinutes: 45,
    inject(b, t) {
      const end = t + 35;
      shape(b.s('pg.wal_bytes_per_s'), t, end, (x) => x * 6);
      shape(b.s('pg.tps'), t, end, (x) => x * 1.15);
      shape(b.s('host.disk_util_pct', 'sda'), t, end, (x) => Math.min(100, x + 15));
      shape(b.s('pg.checkpoints_per_min'), t, end, (x, m) => (m % 3 === 0 ? Math.max(x, 1) : x));
      // 2 s more lag a minute while the UPDATE runs, then caught up at 6 s a minute.
      const lag = (tau: number) => (tau < end ? 2 * (tau - t) : Math.max(0, 2 * (end - t) - 6 * (tau - end)));
      shape(b.s('pg.replication_lag_s', 'standby1'), t, end + 15, (x, m) => x + minuteMean(m, lag));
    },
  },
  {
    id: 'replication_standby_io',
    title: 'The standby’s disk degrades (await × 15): replay falls behind',
    seed: 1104,
    expect: { incident: 'replication_standby_io' },
    time: [16, 21],
    windowMinutes: 45,
    inject(b, t) {
      const end = t + 40;
      shape(b.s('host.disk_await_ms', 'sda'), t, end, (x, m) => x + 33 * ramp(m, t, 2));
      shape(b.s('host.disk_util_pct', 'sda'), t, end, (x) => Math.max(x, 96));
      shape(b.s('host.iowait_pct'), t, end, (x) => x + 14);
      shape(
        b.s('pg.replication_lag_s', 'standby1'),
        t,
        end,
        (x, m) => x + minuteMean(m, (tau) => 3 * (tau - t)),
      );
    },
  },
  {
    id: 'disk_slot',
    title: 'A CDC consumer disconnects; its logical slot keeps WAL and the data volume fills',
    seed: 1105,
    expect: { incident: 'disk_slot' },
    time: [9, 34],
    windowMinutes: 12 * 60,
    inject(b, t) {
      const wal = b.s('pg.wal_bytes_per_s');
      const fs = b.host.filesystems[0]!;
      // A tighter volume on this host: 60 GiB free when the consumer goes.
      fs.sizeBytes = fs.used[t]! + 60 * GiB;
      let retained = 200 * 1024 ** 2;
      const retainedAt = new Float64Array(b.host.minutes);
      for (let m = t; m < b.host.minutes; m++) {
        retained += wal[m]! * 60;
        retainedAt[m] = retained;
        fs.used[m]! += retained;
      }
      b.overlays.push((m, snap) => {
        snap.families.pg_replication_slots!.push({
          slot_name: 'analytics_cdc',
          slot_type: 'logical',
          datname: 'app',
          active: m < t,
          retained_bytes: m < t ? 8 * 1024 ** 2 : retainedAt[m]!,
          confirmed_flush_lag_bytes: m < t ? 1024 : retainedAt[m]!,
          wal_status: 'extended',
        });
      });
    },
  },
  {
    id: 'disk_table',
    title: 'Autovacuum is switched off on events by mistake: dead rows pile up and the data volume fills',
    seed: 1106,
    expect: { incident: 'disk_table' },
    time: [13, 2],
    windowMinutes: 12 * 60,
    inject(b, t) {
      const dead = b.s('pg.table_dead_ratio', 'app/public.events');
      const fs = b.host.filesystems[0]!;
      fs.sizeBytes = fs.used[t]! + 50 * GiB;
      for (let m = t; m < b.host.minutes; m++) {
        const h = minuteMean(m, (tau) => (tau - t) / 60);
        dead[m] = Math.min(85, dead[t - 1]! + 12 * h);
        fs.used[m]! += 2.5 * GiB * h;
      }
    },
  },
  {
    id: 'cpu_statements',
    title: 'A new dashboard polls report statement 102 ten times as often: the CPUs saturate',
    seed: 1107,
    expect: { incident: 'cpu_statements' },
    time: [15, 11],
    windowMinutes: 30,
    inject(b, t) {
      const end = t + 60;
      shape(b.s('pg.statement_total_ms_per_s', 'query:102'), t, end, (x) => x * 12);
      shape(b.s('pg.statement_mean_ms', 'query:102'), t, end, (x) => x * 1.3);
      shape(b.s('host.cpu_busy_pct'), t, end, (x, m) => Math.min(99, Math.max(x, 90 + 3 * Math.sin(m))));
      shape(b.s('host.load_per_core'), t, end, (x) => x + 1.2);
    },
  },
  {
    id: 'connection_limit',
    title: 'An application leaks connections up to max_connections: new ones are refused',
    seed: 1108,
    expect: { incident: 'connection_limit' },
    time: [10, 52],
    windowMinutes: 30,
    inject(b, t) {
      const end = t + 40;
      const conns = b.s('pg.connections');
      const before = conns.slice();
      shape(conns, t, end, (x, m) => Math.min(97, x + (97 - x) * ramp(m, t, 8)));
      b.overlays.push((m, snap) => {
        if (m < t || m >= end) return;
        // The snapshot is the minute's last sample, pushed at its end.
        const x = before[m]!;
        const last = Math.min(97, x + (97 - x) * rampAt(lastSample(m), t, 8));
        snap.instance.backends = last + 6;
        const idle = snap.families.pg_activity!.find((r) => r.state === 'idle');
        const active = snap.families.pg_activity!.find((r) => r.state === 'active');
        if (idle && active) idle.count = Math.max(0, Math.round(last) - Number(active.count));
      });
      const pgLog = b.host.logs.find((l) => l.source === 'postgresql')!;
      const app = b.host.logs.find((l) => l.source === 'app')!;
      for (let m = t + 7; m < end; m++) {
        pgLog.errors[m]! += 25;
        app.errors[m]! += 25;
      }
      pgLog.stretches = [
        {
          from: t + 7,
          to: end,
          sample: 'FATAL:  sorry, too many clients already',
          fingerprint: 'fatal-too-many-clients',
        },
      ];
      app.stretches = [
        {
          from: t + 7,
          to: end,
          sample: 'ERROR: could not connect to database: FATAL: remaining connection slots are reserved',
          fingerprint: 'app-connect-refused',
        },
      ];
    },
  },
  {
    id: 'checkpoint_burst',
    title: 'A bulk COPY writes ten times the WAL: checkpoints are requested every minute',
    seed: 1109,
    expect: { incident: 'checkpoint_burst' },
    time: [20, 26],
    windowMinutes: 30,
    inject(b, t) {
      const end = t + 25;
      shape(b.s('pg.wal_bytes_per_s'), t, end, (x) => x * 10);
      shape(b.s('pg.tps'), t, end, (x) => x * 1.1);
      shape(b.s('pg.checkpoints_per_min'), t + 2, end, () => 1);
      shape(b.s('host.disk_util_pct', 'sda'), t, end, (x) => Math.min(100, x + 35));
      shape(b.s('host.iowait_pct'), t, end, (x) => x + 4);
    },
  },
  {
    id: 'errors_with_anomaly',
    title: 'A deploy breaks order creation: the app logs errors and rollbacks jump',
    seed: 1110,
    expect: { incident: 'errors_with_anomaly' },
    time: [12, 38],
    windowMinutes: 30,
    inject(b, t) {
      const end = t + 30;
      shape(b.s('pg.rollbacks_per_s'), t, end, (x) => x * 8 + 3);
      const app = b.host.logs.find((l) => l.source === 'app')!;
      for (let m = t; m < end; m++) app.errors[m]! += 30;
      app.stretches = [
        {
          from: t,
          to: end,
          sample: 'ERROR: duplicate key value violates unique constraint "orders_pkey"',
          fingerprint: 'dup-key-orders',
        },
      ];
    },
  },
  {
    id: 'ssh_bruteforce',
    title: 'One address guesses SSH passwords, 40 a minute over 20 user names',
    seed: 1111,
    expect: { check: 'security.ssh_bruteforce', object: '203.0.113.77' },
    time: [3, 12],
    windowMinutes: 20,
    inject(b, t) {
      const users = ['root', 'admin', 'oracle', 'postgres', 'git', 'ubuntu', 'test', 'user', 'pi', 'deploy'];
      for (let m = t; m < t + 15; m++) {
        b.host.ssh.push({ minute: m, ip: '203.0.113.77', user: users[m % users.length]!, count: 40 });
      }
    },
  },
  {
    id: 'agent_silent',
    title: 'The agent stops sending for 45 minutes',
    seed: 1112,
    expect: { check: 'watchdog.agent_silent' },
    time: [17, 5],
    windowMinutes: 30,
    inject(b, t) {
      b.host.silent = [[t, t + 45]];
    },
  },
  {
    id: 'slo_fast_burn',
    title: 'Checkout statement 103 runs at 140 ms for an hour: its latency SLO burns fast',
    seed: 1113,
    expect: { check: 'slo.burn_rate', object: 'statement latency (query 103)' },
    time: [11, 44],
    windowMinutes: 30,
    inject(b, t) {
      const end = t + 60;
      shape(b.s('pg.statement_mean_ms', 'query:103'), t, end, (x) => x + 115);
      shape(
        b.s('pg.statement_total_ms_per_s', 'query:103'),
        t,
        end,
        (x, m) => x + 115 * 0.1 * b.s('pg.tps')[m]!,
      );
    },
  },
  {
    id: 'slow_drift',
    title: 'Memory use creeps up 1.2 points a day (a leak): no single day looks wrong',
    seed: 1114,
    expect: { check: 'anomaly.host.memory_used_pct' },
    time: [0, 0],
    lead: 0,
    daysAfter: 7,
    windowMinutes: 7 * dayMinutes,
    timed: false,
    inject(b, t) {
      shape(b.s('host.memory_used_pct'), t, b.host.minutes, (x, m) => x + (1.2 * (m - t)) / dayMinutes);
    },
  },
];

/** Builds every scenario (one host each, server ids 101…). */
export function scenarios(opts: ScenarioOptions = {}): Scenario[] {
  return specs.map((spec, i) => buildScenario(spec, 101 + i, opts));
}

export const scenarioIds = specs.map((s) => s.id);

function buildScenario(spec: Spec, serverId: number, opts: ScenarioOptions): Scenario {
  const lead = spec.lead ?? opts.leadDays ?? 2;
  const onsetDay = historyDays + lead;
  const days = onsetDay + (spec.daysAfter ?? 1);
  const onset = at(onsetDay, spec.time[0], spec.time[1]);
  const build = () => {
    const b = background({ seed: spec.seed, serverId, days, historyDays });
    spec.inject(b, onset);
    return b.host;
  };
  return {
    id: spec.id,
    title: spec.title,
    expect: spec.expect,
    onset,
    windowMinutes: spec.windowMinutes,
    timed: spec.timed ?? true,
    build,
  };
}

/** Clean hosts: `hostDays` evaluated days in all, after 56 days of history each. */
export function cleanHosts(hostDays: number, daysPerHost = 10): Array<{ days: number; build(): ReplayHost }> {
  const out: Array<{ days: number; build(): ReplayHost }> = [];
  let left = hostDays;
  for (let i = 0; left > 0; i++) {
    const d = Math.min(daysPerHost, left);
    const seed = 9000 + i;
    const serverId = 1 + i;
    out.push({
      days: d,
      build: () => background({ seed, serverId, days: historyDays + d, historyDays }).host,
    });
    left -= d;
  }
  return out;
}

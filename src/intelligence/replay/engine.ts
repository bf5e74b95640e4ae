/**
 * The replay engine: one host's data under a simulated clock, one evaluation interval (60 s) at a time,
 * through the same pure functions production runs — so a score measured here is the score of the
 * product, not of a model of it.
 *
 * Per simulated minute, in the order the server runs them:
 * 1. ingest: the minute's batch (pg_instance, the session/lock/slot snapshot families, host_filesystem)
 *    cut by the real `scopesOf` and judged by every ingest check of the catalogue;
 * 2. the findings job: the anomaly checks' `evaluateAnomalies` over the last 15 complete minutes (the job
 *    is taken to run `settleMs` after the minute boundary, so the minute just ended is read) against
 *    baselines; `evaluateErrorSpikes` (logs.error_spike) over the last 5 minutes against the mean and
 *    spread of the previous 7 days of hourly counts; security.ssh_bruteforce over the last 5 minutes; watchdog.agent_silent;
 *    host.disk_fill every 5 minutes over a least-squares fit of 6 hours; slo.burn_rate over `evaluateSlo`;
 *    pg.missing_index over the last hour's sequential scans and the statements naming the table;
 * 3. the lifecycle's `reconcile` over everything observed (one store per replay, in memory);
 * 4. the incidents job: `groupFindings` over the episodes opened in the last hour (with the older ones
 *    still open as standing causes) and `explain`.
 * Baselines are refreshed at every hour boundary from the hourly means of the replayed history and each
 * hour's within-hour spread (`hourSpread` of its minutes), with `BaselineState` — the incremental form of
 * `computeBaseline` the baselines job uses once the hour is rolled (it computes the spreads from the
 * minute tier).
 *
 * What is not the production path, and why: the replay feeds catalogue metric values per minute, not
 * family rows (the metric computes are unit-tested on their own); an hourly point is the mean of its
 * minutes (the hourly tier's average of gauges, and of per-second counter rates); the disk-fill fit that
 * production does in SQL (regr_slope, regr_r2 over minute means) is done here in TypeScript; the
 * correlated fallback (Pearson over stored series) is not run — it never names a cause.
 *
 * Pure: no clock, no store, no file; the same host gives the same result.
 */

import type { ValidBatch, ValidTable } from '../../protocol/batch.js';
import { familyByName } from '../../protocol/families/index.js';
import type { RecentErrors } from '../../storage/queries/log-analysis.sql.js';
import type { SloRow } from '../../storage/queries/slos.sql.js';
import type { ScannedTable, TableStatement } from '../../storage/queries/statement-findings.sql.js';
import { type BookEntry, profileEntry, profileSlots } from '../baseline-book.js';
import { BaselineState, type BaselineStats, minMinutesForSpread } from '../baselines.js';
import { causeGraph, explain, type IncidentMember, standingMaxMs } from '../causes.js';
import { type AnomalyLoad, settleMs as anomalySettleMs, evaluateAnomalies } from '../checks/anomalies.js';
import { hostDiskFill } from '../checks/host-disk-fill.js';
import { checks } from '../checks/index.js';
import { evaluateErrorSpikes } from '../checks/log-spike.js';
import { pgMissingIndex } from '../checks/postgres-statements.js';
import { sshBruteforce } from '../checks/security.js';
import { sloBurnRate } from '../checks/slo.js';
import type { Check, IngestCheck, JobObservation, Scope, Thresholds } from '../checks/types.js';
import { observation } from '../checks/types.js';
import { agentSilent } from '../checks/watchdog.js';
import {
  defaultIncidentWindowMs,
  groupFindings,
  incidentResolvedAt,
  type OpenIncident,
} from '../incidents.js';
import { defaultPolicy, type LifecyclePolicy, reconcile, type StoredFinding } from '../lifecycle.js';
import { type MetricDef, metricById } from '../metrics.js';
import type { Observation } from '../model.js';
import { SampleMemory, scopesOf } from '../scope-rows.js';
import {
  classifyMinutes,
  evaluateSlo,
  type FlaggedMinute,
  type HourCounts,
  minuteHistoryMs,
} from '../slo.js';
import {
  hourMs,
  minuteMs,
  type ReplayEvent,
  type ReplayHost,
  type ReplayIncident,
  type ReplayResult,
} from './types.js';

/** The anomaly job reads this many complete minutes (checks/anomalies.ts `windowMinutes`). */
const anomalyWindowMinutes = 15;
/**
 * …the newest only once it ended `settleMs` ago (checks/anomalies.ts): the replay runs the job once per
 * interval, that long after the minute boundary, so it reads the minute that has just ended; its findings
 * are placed at the boundary's interval.
 */
const spikeWindowMs = 5 * 60_000;
const spikeBaselineMs = 7 * 24 * hourMs;
const fillWindowMs = 6 * hourMs;
const incidentLookbackMs = 60 * 60_000;
/** The agent pushes every 10 s: within a minute it sent, its last batch is a few seconds old. */
const pushIntervalMs = 10_000;

export interface ReplayOptions {
  /** Threshold overrides per check id (defaults from the catalogue otherwise). */
  thresholds?: Record<string, Record<string, number>>;
  policy?: Partial<LifecyclePolicy>;
  incidentWindowMs?: number;
  /** Stop before this minute index (default: the host's last minute). */
  until?: number;
}

/** A check's thresholds at their defaults, with overrides. */
function thresholdsOf(check: Check, overrides: Record<string, number> | undefined): Thresholds {
  const t: Record<string, number> = Object.create(null);
  for (const [k, s] of Object.entries(check.thresholds)) t[k] = s.default;
  if (overrides) for (const [k, v] of Object.entries(overrides)) if (Object.hasOwn(t, k)) t[k] = v;
  return t;
}

interface StoredState extends StoredFinding {
  kind: string;
  object: string;
  title: string;
  observation: Observation;
  /** When the current episode opened. */
  openedAt: number;
}

/** Least squares of y over x (seconds): slope and R² (1 for a flat series), as regr_slope/regr_r2 give. */
export function fitLine(xs: readonly number[], ys: readonly number[]): { slope: number; r2: number } | null {
  const n = xs.length;
  if (n < 2) return null;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i]!;
    my += ys[i]!;
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (sxx === 0) return null;
  return { slope: sxy / sxx, r2: syy === 0 ? 1 : (sxy * sxy) / (sxx * syy) };
}

function tableOf(family: string, rows: ReadonlyArray<Record<string, unknown>>, ts: number, host: boolean) {
  const columns = ['ts', ...(host ? [] : ['target'])];
  for (const c of familyByName(family)?.columns ?? []) columns.push(c.name);
  for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  const table: ValidTable = {
    table: family,
    columns,
    types: [],
    rows: rows.map((r) => columns.map((c) => (c === 'ts' ? ts : c === 'target' ? 'main' : (r[c] ?? null)))),
    tsIndex: 0,
    targetIndex: host ? -1 : 1,
  };
  return table;
}

const sloRowOf = (host: ReplayHost, def: ReplayHost['slos'][number]['definition']): SloRow => ({
  ...def,
  serverId: host.serverId,
  targetId: host.targetId,
  updatedAt: def.createdAt,
  countedUntil: null,
  status: null,
  evaluatedAt: null,
  serverName: host.hostname,
  targetName: 'main',
});

/** Replays one host; see the module header for what runs when. */
export function replayHost(host: ReplayHost, opts: ReplayOptions = {}): ReplayResult {
  const { serverId, targetId } = host;
  const byId = new Map(checks.map((c) => [c.id, c]));
  const tFor = (id: string): Thresholds => {
    const c = byId.get(id);
    return c ? thresholdsOf(c, opts.thresholds?.[id]) : Object.create(null);
  };
  const thresholdCache = new Map<string, Thresholds>();
  const thresholds = (id: string) => {
    let t = thresholdCache.get(id);
    if (!t) {
      t = tFor(id);
      thresholdCache.set(id, t);
    }
    return t;
  };
  const ingestChecks = checks.filter((c): c is IngestCheck => c.mode === 'ingest');
  const clearAfter = new Map(checks.map((c) => [c.id, c.clearAfter ?? 2]));
  const policy: LifecyclePolicy = {
    ...defaultPolicy,
    clearAfter: (id) => clearAfter.get(id) ?? 2,
    ...opts.policy,
  };
  const windowMs = opts.incidentWindowMs ?? defaultIncidentWindowMs;
  const minuteStart = (m: number) => host.start + m * minuteMs;
  const silentAt = new Uint8Array(host.minutes);
  for (const [a, b] of host.silent)
    for (let m = Math.max(0, a); m < Math.min(b, host.minutes); m++) silentAt[m] = 1;

  // ---- baselines: hourly means of every series with their within-hour spread, recomputed hourly ----
  const hours = Math.ceil(host.minutes / 60);
  const hourly = host.series.map((s) => {
    const pts: Array<[number, number, number]> = [];
    for (let h = 0; h < hours; h++) {
      let sum = 0;
      let n = 0;
      const end = Math.min(host.minutes, h * 60 + 60);
      for (let m = h * 60; m < end; m++) {
        const v = s.values[m]!;
        if (silentAt[m] || !Number.isFinite(v)) continue;
        sum += v;
        n++;
      }
      if (n === 0) continue;
      // What the baselines job stores per hour (hourSpread over the minute tier): the hour's minute
      // spread — hourSpread's arithmetic, in the same order, without a list per hour.
      let sd = Number.NaN;
      if (n >= minMinutesForSpread) {
        const mean = sum / n;
        let ss = 0;
        for (let m = h * 60; m < end; m++) {
          const v = s.values[m]!;
          if (!silentAt[m] && Number.isFinite(v)) ss += (v - mean) ** 2;
        }
        sd = Math.sqrt(ss / (n - 1));
      }
      pts.push([host.start + h * hourMs, sum / n, sd]);
    }
    return pts;
  });
  const metricDefs = host.series.map((s) => metricById(s.metric));
  const entries: Array<BookEntry | null> = host.series.map(() => null);
  // The anomaly checks of the host's metrics, each once (the findings job runs each check once a minute).
  const anomalyJobs: Array<{ def: MetricDef; check: Check }> = [];
  for (const def of metricDefs) {
    const check = def ? byId.get(`anomaly.${def.id}`) : undefined;
    if (def && check && !anomalyJobs.some((j) => j.def.id === def.id)) anomalyJobs.push({ def, check });
  }
  // The baselines job's incremental refresh: each hour redoes only what the hour just rolled changes.
  const states = host.series.map(() => new BaselineState());
  const refreshBaselines = (through: number) => {
    host.series.forEach((s, i) => {
      // Points at or after `through` are left out by the refresh itself (as by computeBaseline).
      const b: BaselineStats = states[i]!.update(hourly[i]!, through);
      if (!b.stats30d && !b.hourOfWeek.some((x) => x)) {
        entries[i] = null;
        return;
      }
      entries[i] = profileEntry({
        serverId,
        targetId: metricDefs[i]?.scope === 'host' ? null : targetId,
        metric: s.metric,
        object: s.object,
        through,
        window: b.stats30d,
        week: profileSlots(b.hourOfWeek),
        day: profileSlots(b.hourOfDay),
      });
    });
  };

  // ---- SSH attempts by minute (the job reads the last 5 minutes) ----
  const sshByMinute = new Map<number, ReplayHost['ssh']>();
  for (const a of host.ssh) {
    const l = sshByMinute.get(a.minute);
    if (l) l.push(a);
    else sshByMinute.set(a.minute, [a]);
  }

  // ---- log errors: hourly sums for the spike baseline ----
  const logHourly = host.logs.map((l) => {
    const sums = new Float64Array(hours);
    for (let m = 0; m < host.minutes; m++) if (!silentAt[m]) sums[Math.floor(m / 60)]! += l.errors[m]!;
    return sums;
  });
  const sampleAt = (l: ReplayHost['logs'][number], m: number) =>
    l.stretches.find((s) => m >= s.from && m < s.to) ?? { sample: l.sample, fingerprint: 'background' };

  // ---- SLOs: minutes flagged as they arrive, counted by hour ----
  const slos = host.slos.map((slo) => {
    const series = host.series.find((s) => s.metric === slo.metric && s.object === slo.object);
    const flags: Array<FlaggedMinute | null> = new Array(host.minutes).fill(null);
    const byHour = new Map<number, HourCounts>();
    // A minute of the agent's silence has no rows: a gap, not counted.
    const rows = [];
    for (let m = 0; m < host.minutes; m++) {
      const v = series?.values[m];
      if (silentAt[m] || v === undefined) continue;
      rows.push({ t: minuteStart(m), samples: 1, value: Number.isFinite(v) ? v : null, per: null });
    }
    for (const f of classifyMinutes(rows, slo.definition, [])) flags[(f.t - host.start) / minuteMs] = f;
    return {
      slo,
      flags,
      byHour,
      row: sloRowOf(host, slo.definition),
      countedThrough: 0,
      hoursList: [] as HourCounts[],
      hoursFor: Number.NaN,
    };
  });

  // ---- state ----
  const memory = new SampleMemory();
  memory.hostOf(serverId).cores = host.cores;
  memory.storeSettings(`${serverId}|${targetId}`, new Map(Object.entries(host.settings)));
  const targetIds = new Map([['main', targetId]]);
  const store = new Map<string, StoredState>();
  let findingSeq = 0;
  const events: ReplayEvent[] = [];
  const incidents: Array<ReplayIncident & { memberIds: Set<string>; live: IncidentMember[] }> = [];
  /** `${findingId}@${openedAt}` of episodes already in an incident. */
  const inIncident = new Set<string>();
  let lastSeenAt: number | null = null;
  let diskFillRanAt = Number.NEGATIVE_INFINITY;
  let missingIndexRanAt = Number.NEGATIVE_INFINITY;

  const evalKey = (check: string, t: number | null) => `${check}|${t ?? ''}`;
  const hourOf = (t: number) => Math.floor(t / hourMs) * hourMs;
  refreshBaselines(hourOf(minuteStart(host.evalFrom)));

  const until = Math.min(host.minutes, opts.until ?? host.minutes);
  for (let m = host.evalFrom; m < until; m++) {
    const now = minuteStart(m + 1);
    if (now % hourMs === 0) refreshBaselines(now);
    const observations: Observation[] = [];
    const evaluated = new Set<string>();

    // 1. ingest: the batch of minute m (none while the agent is silent)
    if (!silentAt[m]) {
      const ts = now - 1000;
      lastSeenAt = now - pushIntervalMs / 2;
      const snap = host.snapshot(m);
      const tables: ValidTable[] = [
        tableOf(
          'pg_instance',
          [{ up: true, server_version_num: 160000, in_recovery: false, ...snap.instance }],
          ts,
          false,
        ),
      ];
      for (const [family, rows] of Object.entries(snap.families)) {
        if (rows.length > 0) tables.push(tableOf(family, rows, ts, false));
      }
      tables.push(
        tableOf(
          'host_filesystem',
          host.filesystems.map((f) => ({
            mountpoint: f.mountpoint,
            device: f.device,
            fstype: f.fstype,
            size_bytes: f.sizeBytes,
            used_bytes: f.used[m],
            avail_bytes: f.sizeBytes - f.used[m]!,
          })),
          ts,
          true,
        ),
      );
      const batch: ValidBatch = {
        agentId: host.agentId,
        seq: m,
        sealedAt: ts,
        tables,
        gaps: [],
        rowCount: 0,
        rejected: { future: 0, tooOld: 0 },
      };
      for (const s of scopesOf(serverId, batch, targetIds, memory)) {
        for (const check of ingestChecks) {
          if ((check.scope === 'host') !== (s.targetId === null)) continue;
          if (!check.inputs.some((f) => s.tables.has(f))) continue;
          evaluated.add(evalKey(check.id, s.targetId));
          for (const d of check.evaluate(s, thresholds(check.id)))
            observations.push(observation(check, s, d));
        }
        s.commit();
      }
    }

    // 2. the findings job
    const jobResults: Array<{ check: Check; result: { observations: JobObservation[]; scopes: Scope[] } }> =
      [];
    const tf = (id: string) => () => thresholds(id);
    {
      const jobAt = now + anomalySettleMs;
      const to = Math.floor((jobAt - anomalySettleMs) / minuteMs) * minuteMs;
      const from = to - anomalyWindowMinutes * minuteMs;
      const load: AnomalyLoad = { series: [] };
      host.series.forEach((s, i) => {
        const e = entries[i];
        if (!e) return;
        const points: Array<[number, number]> = [];
        for (let t = from; t < to; t += minuteMs) {
          const k = (t - host.start) / minuteMs;
          if (k < 0 || k >= host.minutes || silentAt[k]) continue;
          const v = s.values[k]!;
          if (Number.isFinite(v)) points.push([t, v]);
        }
        if (points.length === 0) return;
        load.series.push({
          serverId,
          points: { metric: s.metric, targetId: e.targetId, object: s.object, points },
          baseline: e,
        });
      });
      for (const { def, check } of anomalyJobs)
        jobResults.push({ check, result: evaluateAnomalies(def, load, tf(check.id), now) });
    }
    // Active servers: shipped something in the last hour.
    const active = lastSeenAt !== null && now - lastSeenAt <= 60 * 60_000 ? [serverId] : [];
    {
      const baselineTo = hourOf(now);
      const baselineFrom = baselineTo - spikeBaselineMs;
      const firstHour = Math.max(host.start, baselineFrom);
      const recent: RecentErrors[] = [];
      const baselines = [
        { serverId, source: null as string | null, errors: 0, errorsSq: 0, firstHour: new Date(firstHour) },
      ];
      host.logs.forEach((l, i) => {
        let count = 0;
        let first = -1;
        let last = -1;
        for (let t = now - spikeWindowMs; t < now; t += minuteMs) {
          const k = (t - host.start) / minuteMs;
          if (k < 0 || silentAt[k]) continue;
          const c = l.errors[k]!;
          if (c > 0) {
            count += c;
            if (first < 0) first = t;
            last = t + minuteMs - 1000;
          }
        }
        let errors = 0;
        let errorsSq = 0;
        for (let h = (firstHour - host.start) / hourMs; h < (baselineTo - host.start) / hourMs; h++) {
          const e = logHourly[i]![h] ?? 0;
          errors += e;
          errorsSq += e * e;
        }
        baselines.push({ serverId, source: l.source, errors, errorsSq, firstHour: new Date(firstHour) });
        if (count === 0) return;
        const s = sampleAt(l, (last - host.start) / minuteMs);
        recent.push({
          serverId,
          source: l.source,
          count,
          first: new Date(first),
          last: new Date(last),
          top: [{ fingerprint: s.fingerprint, count, level: 'error', sample: s.sample }],
        });
      });
      jobResults.push({
        check: byId.get('logs.error_spike')!,
        result: evaluateErrorSpikes(
          {
            servers: active,
            windowFrom: now - spikeWindowMs,
            windowTo: now,
            baselineFrom,
            baselineTo,
            recent,
            baselines: baselines as Parameters<typeof evaluateErrorSpikes>[0]['baselines'],
          },
          tf('logs.error_spike'),
        ),
      });
    }
    {
      const byIp = new Map<string, { count: number; users: Set<string>; first: number; last: number }>();
      for (let k = Math.max(0, m + 1 - spikeWindowMs / minuteMs); k <= m; k++) {
        for (const a of sshByMinute.get(k) ?? []) {
          const t = minuteStart(a.minute);
          if (t < now - spikeWindowMs || t >= now || silentAt[a.minute]) continue;
          const g = byIp.get(a.ip) ?? { count: 0, users: new Set<string>(), first: t, last: t };
          g.count += a.count;
          g.users.add(a.user);
          g.first = Math.min(g.first, t);
          g.last = Math.max(g.last, t + 30_000);
          byIp.set(a.ip, g);
        }
      }
      const groups = [...byIp].map(([ip, g]) => ({
        serverId,
        type: 'ssh_bruteforce' as const,
        ip,
        username: '',
        count: g.count,
        users: [...g.users].slice(0, 10),
        databases: [],
        jails: [],
        first: new Date(g.first),
        last: new Date(g.last),
        samples: [
          `sshd[1234]: Failed password for invalid user ${[...g.users][0]} from ${ip} port 52311 ssh2`,
        ],
      }));
      jobResults.push({
        check: sshBruteforce,
        result: sshBruteforce.evaluate({ servers: active, groups }, tf(sshBruteforce.id), now),
      });
    }
    jobResults.push({
      check: agentSilent,
      result: agentSilent.evaluate(
        [
          {
            serverId,
            agentId: host.agentId,
            hostname: host.hostname,
            revoked: false,
            lastSeenAt: lastSeenAt === null ? null : new Date(lastSeenAt),
            pushIntervalMs,
            clockSkewMs: 0,
            pendingBatches: 0,
            failing: [],
            configStatus: null,
          },
        ],
        tf(agentSilent.id),
        now,
      ),
    });
    if (now - diskFillRanAt >= (hostDiskFill.intervalMs ?? 0)) {
      diskFillRanAt = now;
      const rows = host.filesystems.flatMap((f) => {
        const xs: number[] = [];
        const ys: number[] = [];
        for (let t = now - fillWindowMs; t < now; t += minuteMs) {
          const k = (t - host.start) / minuteMs;
          if (k < 0 || silentAt[k]) continue;
          xs.push(t / 1000);
          ys.push(f.used[k]!);
        }
        if (xs.length === 0) return [];
        const fit = fitLine(xs, ys);
        const last = ys[ys.length - 1]!;
        return [
          {
            serverId,
            mountpoint: f.mountpoint,
            device: f.device,
            fstype: f.fstype,
            points: xs.length,
            spanSeconds: xs[xs.length - 1]! - xs[0]!,
            slopeBytesPerSecond: fit?.slope ?? null,
            r2: fit?.r2 ?? null,
            usedBytes: last,
            availBytes: f.sizeBytes - last,
            sizeBytes: f.sizeBytes,
            lastTs: xs[xs.length - 1]! * 1000 + 30_000,
          },
        ];
      });
      jobResults.push({ check: hostDiskFill, result: hostDiskFill.evaluate(rows, tf(hostDiskFill.id), now) });
    }
    if (
      host.tables &&
      host.tables.length > 0 &&
      now - missingIndexRanAt >= (pgMissingIndex.intervalMs ?? 0)
    ) {
      missingIndexRanAt = now;
      // What the check's load reads over the last hour: seq scans per table, statements naming it.
      const seriesOf = (metric: string, object: string) =>
        host.series.find((x) => x.metric === metric && x.object === object)?.values;
      const sumHour = (v: Float64Array | undefined, f: (x: number, k: number) => number) => {
        let total = 0;
        for (let t = now - hourMs; t < now; t += minuteMs) {
          const k = (t - host.start) / minuteMs;
          if (!v || k < 0 || silentAt[k]) continue;
          const x = v[k]!;
          if (Number.isFinite(x)) total += f(x, k);
        }
        return total;
      };
      const tables: ScannedTable[] = [];
      const statements: TableStatement[] = [];
      for (const tb of host.tables) {
        const scans = Math.round(
          sumHour(
            seriesOf('pg.seq_scans_per_s', `${tb.datname}/${tb.schemaname}.${tb.relname}`),
            (x) => x * 60,
          ),
        );
        if (scans < (pgMissingIndex.thresholds.min_seq_scans?.min ?? 5)) continue;
        const index = tables.length;
        tables.push({
          serverId,
          targetId,
          datname: tb.datname,
          schemaname: tb.schemaname,
          relname: tb.relname,
          nLiveTup: tb.nLiveTup,
          tableBytes: tb.tableBytes,
          seconds: 3600,
          seqScans: scans,
          seqTupRead: scans * tb.nLiveTup,
          idxScans: null,
        });
        for (const st of host.statements ?? []) {
          if (st.datname !== tb.datname || !st.query.includes(tb.relname)) continue;
          const mean = seriesOf('pg.statement_mean_ms', `query:${st.queryid}`);
          const total = seriesOf('pg.statement_total_ms_per_s', `query:${st.queryid}`);
          const execMs = sumHour(total, (x) => x * 60);
          const calls = Math.round(sumHour(total, (x, k) => (x * 60) / Math.max(1e-9, mean?.[k] ?? 1)));
          if (calls < (pgMissingIndex.thresholds.min_calls?.min ?? 5)) continue;
          statements.push({
            serverId,
            targetId,
            queryid: st.queryid,
            dbid: '16384',
            datname: st.datname,
            calls,
            execTimeMs: execMs,
            meanMs: calls > 0 ? execMs / calls : 0,
            rows: calls,
            query: st.query,
            table: index,
          });
        }
      }
      jobResults.push({
        check: pgMissingIndex,
        result: pgMissingIndex.evaluate(
          { targets: [{ serverId, targetId }], tables, statements },
          tf(pgMissingIndex.id),
          now,
        ),
      });
    }
    if (slos.length > 0) {
      const input = slos.map((s) => {
        // Hours before the minute-judged part come from the hourly counts; the last 6 h+ by minute.
        const minutesFrom = hourOf(now - minuteHistoryMs);
        const windowFrom = hourOf(now - s.slo.definition.windowDays * 24 * hourMs);
        const flagged: FlaggedMinute[] = [];
        const firstM = Math.max(0, (windowFrom - host.start) / minuteMs);
        const minutesFromM = Math.max(0, (minutesFrom - host.start) / minuteMs);
        // Hour counts are accumulated once per hour.
        while (s.countedThrough < minutesFromM) {
          const f = s.flags[s.countedThrough];
          if (f) {
            const h = hourOf(f.t);
            const c = s.byHour.get(h) ?? { hour: h, good: 0, bad: 0, excluded: 0 };
            c[f.flag]++;
            s.byHour.set(h, c);
          }
          s.countedThrough++;
        }
        // The hours' list changes once an hour (its counts are final once the hour is before minutesFrom).
        if (s.hoursFor !== minutesFrom) {
          s.hoursList = [];
          for (const [h, c] of s.byHour) if (h >= windowFrom && h < minutesFrom) s.hoursList.push(c);
          s.hoursFor = minutesFrom;
        }
        const hoursList = s.hoursList;
        for (let k = Math.max(firstM, minutesFromM); k <= m; k++) {
          const f = s.flags[k];
          if (f) flagged.push(f);
        }
        const status = evaluateSlo(
          { definition: s.slo.definition, hours: hoursList, minutes: flagged, minutesFrom },
          now,
        );
        return { row: s.row, status };
      });
      jobResults.push({ check: sloBurnRate, result: sloBurnRate.evaluate(input, tf(sloBurnRate.id), now) });
    }
    for (const { check, result } of jobResults) {
      for (const s of result.scopes)
        if (s.serverId === serverId) evaluated.add(evalKey(check.id, s.targetId));
      for (const o of result.observations) {
        if (o.serverId !== serverId) continue;
        evaluated.add(evalKey(check.id, o.targetId));
        observations.push(observation(check, o, o));
      }
    }

    // 3. the lifecycle
    const changes = reconcile(
      [...store.values()],
      { observations, evaluated: (f) => evaluated.has(evalKey(f.check, f.targetId)) },
      now,
      policy,
    );
    const event = (type: ReplayEvent['type'], s: StoredState, notify: boolean) =>
      events.push({
        t: now,
        type,
        check: s.check,
        kind: s.kind,
        object: s.object,
        severity: s.severity,
        title: s.title,
        notify,
      });
    for (const ch of changes) {
      switch (ch.type) {
        case 'open': {
          const o = ch.observation;
          const s: StoredState = {
            id: String(++findingSeq),
            key: ch.key,
            check: o.check,
            serverId,
            targetId: o.targetId,
            state: 'open',
            severity: o.severity,
            clearCount: 0,
            flaps: 0,
            notified: ch.notify,
            lastSeen: now,
            resolvedAt: null,
            silencedUntil: null,
            kind: o.kind,
            object: o.object,
            title: o.title,
            observation: o,
            openedAt: now,
          };
          store.set(ch.key, s);
          event('fired', s, ch.notify);
          break;
        }
        case 'reopen': {
          const s = store.get(ch.stored.key)!;
          Object.assign(s, {
            state: 'open',
            severity: ch.observation.severity,
            clearCount: 0,
            flaps: ch.flaps,
            notified: ch.notify,
            lastSeen: now,
            resolvedAt: null,
            title: ch.observation.title,
            observation: ch.observation,
            openedAt: now,
          });
          event('fired', s, ch.notify);
          break;
        }
        case 'update': {
          const s = store.get(ch.stored.key)!;
          Object.assign(s, {
            severity: ch.observation.severity,
            clearCount: 0,
            lastSeen: now,
            title: ch.observation.title,
            observation: ch.observation,
          });
          if (ch.escalated) event('escalated', s, ch.notify);
          break;
        }
        case 'clear':
          store.get(ch.stored.key)!.clearCount = ch.clearCount;
          break;
        case 'resolve': {
          const s = store.get(ch.stored.key)!;
          Object.assign(s, { state: 'resolved', resolvedAt: now, clearCount: 0 });
          event('resolved', s, ch.notify);
          break;
        }
        case 'unsilence':
          store.get(ch.stored.key)!.state = 'open';
          break;
      }
    }

    // 4. the incidents job
    const memberOf = (s: StoredState, openedAt: number): IncidentMember => {
      const sameEpisode = s.openedAt === openedAt;
      return {
        id: s.id,
        check: s.check,
        kind: s.kind,
        object: s.object,
        targetId: s.targetId,
        severity: s.severity,
        // An episode that ended by reopening counts as resolved in its incident.
        state: sameEpisode ? s.state : 'resolved',
        title: s.title,
        evidence: s.observation.evidence,
        openedAt,
        resolvedAt: sameEpisode ? s.resolvedAt : (s.resolvedAt ?? s.openedAt),
      };
    };
    const byFindingId = new Map([...store.values()].map((s) => [s.id, s]));
    const openIncidents = incidents.filter((i) => i.resolvedAt === null);
    const open: OpenIncident[] = openIncidents.map((i) => ({
      id: i.id,
      members: i.live.map((x) => memberOf(byFindingId.get(x.id)!, x.openedAt)),
    }));
    const candidates = [...store.values()]
      .filter((s) => s.openedAt >= now - incidentLookbackMs && !inIncident.has(`${s.id}@${s.openedAt}`))
      .map((s) => memberOf(s, s.openedAt));
    const standing = [...store.values()]
      .filter(
        (s) =>
          s.state !== 'resolved' &&
          s.openedAt >= now - standingMaxMs &&
          s.openedAt < now - incidentLookbackMs &&
          !inIncident.has(`${s.id}@${s.openedAt}`),
      )
      .map((s) => memberOf(s, s.openedAt));
    const plan = groupFindings(open, candidates, causeGraph, windowMs, standing);
    const record = (inc: (typeof incidents)[number], members: IncidentMember[]) => {
      const e = explain(members, causeGraph, windowMs);
      inc.title = e.title;
      inc.chain = e.cause?.chainId ?? null;
      inc.confidence = e.cause?.confidence ?? null;
      if (inc.chain && !inc.chainTimes.some((c) => c.chain === inc.chain)) {
        inc.chainTimes.push({ chain: inc.chain, t: now });
      }
      inc.live = members;
      inc.members = members.map((x) => ({
        check: x.check,
        object: x.object,
        openedAt: x.openedAt,
        role: e.roles[x.id] ?? 'correlated',
      }));
      for (const x of members) inIncident.add(`${x.id}@${x.openedAt}`);
    };
    for (const j of plan.joins) {
      const inc = openIncidents.find((i) => i.id === j.incidentId)!;
      const rejoining = new Set(j.members.map((x) => x.id));
      const current = open.find((i) => i.id === j.incidentId)!.members;
      record(inc, [...current.filter((x) => !rejoining.has(x.id)), ...j.members]);
    }
    for (const members of plan.creates) {
      const inc = {
        id: `${serverId}-${incidents.length + 1}`,
        openedAt: now,
        resolvedAt: null,
        title: '',
        chainAtOpen: null,
        chain: null,
        confidence: null,
        chainTimes: [],
        members: [],
        memberIds: new Set<string>(),
        live: [],
      } as (typeof incidents)[number];
      record(inc, members);
      inc.chainAtOpen = inc.chain;
      incidents.push(inc);
    }
    for (const inc of incidents) {
      if (inc.resolvedAt !== null) continue;
      const members = inc.live.map((x) => memberOf(byFindingId.get(x.id)!, x.openedAt));
      const at = incidentResolvedAt(members);
      if (at !== null) inc.resolvedAt = now;
    }
  }

  return {
    serverId,
    events,
    incidents: incidents.map(({ memberIds: _a, live: _b, ...rest }) => rest),
    evaluatedMinutes: Math.max(0, until - host.evalFrom),
  };
}

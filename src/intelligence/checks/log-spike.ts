/**
 * Error spikes in the logs (job check `logs.error_spike`): a source that writes far more error-or-worse
 * entries in the last 5 minutes than it usually does. "Usually" is the hourly counts the log-analysis job
 * keeps (pgvigil.log_counts_hourly, src/server/jobs/log-analysis.ts): the mean hourly count of errors of
 * that source over the previous 7 days (the hours since the server's first counted hour, if fewer), / 12
 * for 5 minutes. A floor on that baseline keeps a quiet source's first few errors from being a spike.
 * And the source's own spread: errors come in bursts (one failing request logs a few lines), so a source
 * whose hourly counts vary much has 5-minute windows far above its mean in ordinary hours. From the
 * variance of its hourly counts (errors arriving independently, a 5-minute window has 1/12 of an hour's
 * variance) its usual high is mean + `spread_z` standard deviations per 5 minutes; a spike must exceed
 * that as well as `warning` × the floored mean.
 * Input through src/storage/queries/log-analysis.sql.ts; `evaluateErrorSpikes` is pure.
 */

import {
  type ErrorBaselineRow,
  errorBaselines,
  type RecentErrors,
  recentErrorsBySource,
} from '../../storage/queries/log-analysis.sql.js';
import { activeServers } from '../../storage/queries/security.sql.js';
import type { JobCheck, JobObservation, Scope, Thresholds } from './types.js';
import { cut, isoTime } from './util.js';

const windowMs = 5 * 60_000;
const hourMs = 3_600_000;
const baselineMs = 7 * 24 * hourMs;
const activeServerMs = 60 * 60_000;
const maxPerServer = 20;

export interface ErrorSpikeInput {
  /** Servers looked at (active in the last hour): their findings without a spike now are cleared. */
  servers: number[];
  /** The 5-minute window [from, to), ms. */
  windowFrom: number;
  windowTo: number;
  /** The baseline's hours [from, to), ms (whole hours before the window's hour). */
  baselineFrom: number;
  baselineTo: number;
  /** Error-or-worse entries in the window per server and source, with their top fingerprints. */
  recent: RecentErrors[];
  /** From the hourly counts: per server a coverage row (source null), per server and source the errors. */
  baselines: ErrorBaselineRow[];
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** The shell-safe query string value (encodeURIComponent leaves ! ' ( ) * as they are). */
const q = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The command that lists the window's lines of one source through the API. */
export function spikeCommand(serverId: number, source: string, from: number, to: number): string {
  const path = `/api/v1/logs?server=${serverId}&source=${q(source)}&minLevel=error&from=${q(new Date(from).toISOString())}&to=${q(new Date(to).toISOString())}&limit=200`;
  return `curl -s -H "Authorization: Bearer $PGVIGIL_TOKEN" "$PGVIGIL_URL"'${path}'`;
}

/**
 * The spread of a source's errors from its hourly counts: the standard deviation of the hourly counts
 * (hours without a row count as 0) and what it makes for a 5-minute window (÷ √12).
 */
export function errorSpread(
  errors: number,
  errorsSq: number,
  hours: number,
): { perHour: number; per5min: number } {
  if (!(hours > 0)) return { perHour: 0, per5min: 0 };
  const mean = errors / hours;
  const variance = Math.max(0, errorsSq / hours - mean * mean);
  const perHour = Math.sqrt(variance);
  return { perHour, per5min: perHour / Math.sqrt(12) };
}

/** Pure: spikes in the input, graded against the thresholds of each server. */
export function evaluateErrorSpikes(
  input: ErrorSpikeInput,
  thresholdsFor: (serverId: number, targetId: number | null) => Thresholds,
): { observations: JobObservation[]; scopes: Scope[] } {
  const coverage = new Map<number, number>();
  const errors = new Map<string, number>();
  const squares = new Map<string, number>();
  for (const b of input.baselines) {
    if (b.source === null) coverage.set(b.serverId, new Date(b.firstHour).getTime());
    else {
      errors.set(`${b.serverId}\u0000${b.source}`, Number(b.errors) || 0);
      squares.set(`${b.serverId}\u0000${b.source}`, Number(b.errorsSq) || 0);
    }
  }
  const observations: JobObservation[] = [];
  const perServer = new Map<number, number>();
  for (const r of input.recent) {
    const t = thresholdsFor(r.serverId, null);
    const count = Number(r.count) || 0;
    const first = coverage.get(r.serverId);
    // No hourly counts for this server yet, or too few hours of them: no baseline, no verdict.
    if (first === undefined) continue;
    const hours = Math.max(0, (input.baselineTo - Math.max(first, input.baselineFrom)) / hourMs);
    if (hours < (t.baseline_hours ?? 24) || hours <= 0) continue;
    const baselineErrors = errors.get(`${r.serverId}\u0000${r.source}`) ?? 0;
    const spread = errorSpread(baselineErrors, squares.get(`${r.serverId}\u0000${r.source}`) ?? 0, hours);
    const meanHourly = baselineErrors / hours;
    const baseline = meanHourly / 12;
    const floored = Math.max(baseline, t.baseline_floor ?? 4);
    const ratio = count / floored;
    const usualHigh = baseline + (t.spread_z ?? 4) * spread.per5min;
    const severity =
      count <= usualHigh
        ? null
        : ratio > (t.critical ?? 10)
          ? 'critical'
          : ratio > (t.warning ?? 3)
            ? ('warning' as const)
            : null;
    if (!severity) continue;
    const n = perServer.get(r.serverId) ?? 0;
    if (n >= maxPerServer) continue;
    perServer.set(r.serverId, n + 1);
    const source = cut(String(r.source), 100);
    const top = (Array.isArray(r.top) ? r.top : []).slice(0, 5).map((f) => ({
      fingerprint: String(f?.fingerprint ?? '').slice(0, 16),
      count: Number(f?.count) || 0,
      level: String(f?.level ?? '').slice(0, 10),
      sample: cut(String(f?.sample ?? ''), 300),
    }));
    observations.push({
      serverId: r.serverId,
      targetId: null,
      object: source,
      severity,
      title: `Error spike in ${source}: ${count} errors in 5 min (${round2(ratio)}× the usual)`,
      explanation: `${source} wrote ${count} entries at level error or worse in the last 5 minutes; over the previous ${Math.round(hours)} hours it wrote ${round2(baseline)} per 5 minutes on average${baseline < floored ? ` (compared with at least ${floored})` : ''}, and up to ${round2(usualHigh)} in an ordinary burst. Something changed just now: a deploy, a failing dependency, a full resource. The most frequent: "${top[0]?.sample ?? '?'}".`,
      evidence: {
        source,
        count,
        window_s: windowMs / 1000,
        window_from: new Date(input.windowFrom).toISOString(),
        window_to: new Date(input.windowTo).toISOString(),
        first: isoTime(r.first),
        last: isoTime(r.last),
        baseline_per_5min: round2(baseline),
        baseline_floored: round2(floored),
        baseline_mean_hourly: round2(meanHourly),
        baseline_sd_5min: round2(spread.per5min),
        usual_high_5min: round2(usualHigh),
        baseline_hours: Math.round(hours),
        ratio: round2(ratio),
        top_fingerprints: top,
      },
      action: spikeCommand(r.serverId, String(r.source), input.windowFrom, input.windowTo),
      value: round2(ratio),
    });
  }
  return {
    observations,
    scopes: input.servers.map((serverId) => ({ serverId, targetId: null })),
  };
}

export const errorSpikeCheck: JobCheck<ErrorSpikeInput> = {
  id: 'logs.error_spike',
  group: 'logs',
  mode: 'job',
  kind: 'alert',
  title: 'A spike of errors in a log source',
  doc: {
    evidence:
      'the source, errors in the last 5 minutes, the baseline per 5 minutes (mean hourly errors over the previous 7 days / 12) and the floor used, the standard deviation per 5 minutes (from the variance of the hourly counts / 12) and the usual high it makes (mean + spread_z × that), the ratio, the top fingerprints with a sample each, the window',
    action:
      "the API query that lists the window's error lines of that source (`curl … /api/v1/logs?server=…&source=…&minLevel=error&from=…&to=…`)",
  },
  thresholds: {
    warning: {
      default: 3,
      unit: 'ratio',
      help: '5-minute errors of a source over its baseline (floored) above which it warns',
      min: 1,
      max: 1000,
    },
    critical: {
      default: 10,
      unit: 'ratio',
      help: '5-minute errors of a source over its baseline (floored) above which it is critical',
      min: 1,
      max: 10_000,
    },
    spread_z: {
      default: 4,
      unit: 'σ',
      help: "standard deviations of the source's 5-minute counts (from its hourly counts) above its mean a window must exceed: ordinary bursts are not spikes",
      min: 0,
      max: 100,
    },
    baseline_floor: {
      default: 4,
      unit: 'count',
      help: 'the smallest baseline (errors per 5 minutes) a spike is measured against, so a quiet source needs more than warning × floor errors',
      min: 0.1,
      max: 100_000,
    },
    baseline_hours: {
      default: 24,
      unit: 'h',
      help: 'hours of hourly counts a server needs before its sources are judged (no baseline, no spike)',
      min: 1,
      max: 168,
    },
  },
  clearAfter: 2,
  async load(db, now) {
    const windowTo = now.getTime();
    const windowFrom = windowTo - windowMs;
    // Whole hours before the hour the window starts in: a window across an hour boundary must not count
    // its own errors in its baseline.
    const baselineTo = Math.floor(windowFrom / hourMs) * hourMs;
    const baselineFrom = baselineTo - baselineMs;
    const servers = await activeServers(db, new Date(windowTo - activeServerMs));
    const recent = await recentErrorsBySource(db, new Date(windowFrom), now);
    const ids = [...new Set(recent.map((r) => r.serverId))];
    const baselines = await errorBaselines(db, new Date(baselineFrom), new Date(baselineTo), ids);
    return { servers, windowFrom, windowTo, baselineFrom, baselineTo, recent, baselines };
  },
  evaluate: (input, thresholdsFor) => evaluateErrorSpikes(input, thresholdsFor),
};

export const logSpikeChecks = [errorSpikeCheck];

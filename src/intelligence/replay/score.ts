/**
 * Scoring a replay against ground truth: per scenario, detected or not, the cause named (right, wrong,
 * none), time to detection in evaluation intervals; over clean hosts, false alerts per host per week.
 * Pure: replay results and expectations in, numbers out.
 *
 * Definitions (docs/intelligence.md, "Replay and scoring"):
 * - A chain scenario (`{ incident }`) is detected when a finding of one of the chain's steps (the checks
 *   its nodes list) fires in its window; its cause
 *   is right when an incident opened in the window is explained by the expected chain (at its opening or
 *   later, as members join), wrong when incidents opened there name only other chains, none otherwise.
 *   Time to detection: from the onset to the first moment the right chain is named.
 * - A finding scenario (`{ check, object? }`) is detected — with the right cause, which is the finding
 *   itself (the address, the agent, the SLO, the metric) — when that check fires on that object in the
 *   window; time to detection: from the onset to that firing.
 * - A false alert is a finding of kind alert or anomaly firing (opening or reopening) on a clean host, or
 *   an incident opening there. Recommendations do not count: they are advice about configuration and
 *   design, not claims that something is wrong now. Counted per host and week of evaluated time.
 */
import { causeGraph } from '../causes.js';
import type { ReplayIncident, ReplayResult } from './types.js';
import { evaluationIntervalMs } from './types.js';

export type Expectation =
  | { incident: string }
  | {
      check: string;
      /** The finding's object, when it names one. */
      object?: string;
    };

export interface GroundTruth {
  id: string;
  title: string;
  expect: Expectation;
  /** ms: when the fault starts. */
  onset: number;
  windowMs: number;
  /** Whether its time to detection counts in the median. */
  timed: boolean;
}

export interface ScenarioScore {
  id: string;
  title: string;
  expected: string;
  detected: boolean;
  cause: 'right' | 'wrong' | 'none';
  /** What was named (chain ids, or the check fired), for the table. */
  named: string;
  /** Evaluation intervals from onset to the right detection; null when not detected rightly. */
  ttdIntervals: number | null;
  timed: boolean;
}

const isAlarm = (kind: string) => kind !== 'recommendation';

function chainAt(i: ReplayIncident): Array<{ chain: string; t: number }> {
  return i.chainTimes;
}

export function scoreScenario(truth: GroundTruth, r: ReplayResult): ScenarioScore {
  const from = truth.onset;
  const to = truth.onset + truth.windowMs;
  const inWindow = (t: number) => t >= from && t <= to;
  const fired = r.events.filter((e) => e.type === 'fired' && isAlarm(e.kind) && inWindow(e.t));
  const ttd = (t: number) => Math.max(0, Math.ceil((t - from) / evaluationIntervalMs));
  const base = { id: truth.id, title: truth.title, timed: truth.timed };
  if ('incident' in truth.expect) {
    const want = truth.expect.incident;
    // Detected: a finding of one of the chain's own steps fired (another alert firing by chance is not).
    const chain = causeGraph.chains.find((c) => c.id === want);
    const stepChecks = (chain?.steps ?? []).flatMap(
      (id) => causeGraph.nodes.find((n) => n.id === id)?.checks ?? [],
    );
    const ofChain = (check: string) =>
      stepChecks.some((c) => (c.endsWith('.*') ? check.startsWith(c.slice(0, -1)) : c === check));
    const signals = fired.filter((e) => ofChain(e.check));
    const incidents = r.incidents.filter((i) => inWindow(i.openedAt));
    const namings = incidents.flatMap(chainAt).filter((c) => inWindow(c.t));
    const right = namings.filter((c) => c.chain === want).sort((a, b) => a.t - b.t)[0];
    const others = [...new Set(namings.map((c) => c.chain).filter((c) => c !== want))];
    return {
      ...base,
      expected: `incident: ${want}`,
      detected: signals.length > 0,
      cause: right ? 'right' : others.length > 0 ? 'wrong' : 'none',
      named: right
        ? want
        : others.length > 0
          ? others.join(', ')
          : incidents.length > 0
            ? 'incident without a chain'
            : signals.length > 0
              ? `findings only (${[...new Set(signals.map((e) => e.check))].slice(0, 3).join(', ')})`
              : '—',
      ttdIntervals: right ? ttd(right.t) : null,
    };
  }
  const { check, object } = truth.expect;
  const hit = fired.find((e) => e.check === check && (object === undefined || e.object === object));
  return {
    ...base,
    expected: `${check}${object ? ` on ${object}` : ''}`,
    detected: hit !== undefined,
    cause: hit ? 'right' : 'none',
    named: hit ? `${hit.check}${hit.object ? ` (${hit.object})` : ''}` : '—',
    ttdIntervals: hit ? ttd(hit.t) : null,
  };
}

export interface CleanScore {
  hosts: number;
  hostDays: number;
  /** Alert/anomaly findings fired, by check. */
  byCheck: Record<string, number>;
  findings: number;
  incidents: number;
  /** (findings + incidents) per host per week. */
  falseAlertsPerHostWeek: number;
  /** Findings fired during the nightly batch or the maintenance window (as the caller marks them). */
  inBatchOrMaintenance: number;
}

export function scoreClean(
  results: readonly ReplayResult[],
  inQuietWindow: (serverId: number, t: number) => boolean = () => false,
): CleanScore {
  const byCheck: Record<string, number> = Object.create(null);
  let findings = 0;
  let incidents = 0;
  let minutes = 0;
  let quiet = 0;
  for (const r of results) {
    minutes += r.evaluatedMinutes;
    incidents += r.incidents.length;
    for (const e of r.events) {
      if (e.type !== 'fired' || !isAlarm(e.kind)) continue;
      findings++;
      byCheck[e.check] = (byCheck[e.check] ?? 0) + 1;
      if (inQuietWindow(r.serverId, e.t)) quiet++;
    }
  }
  const hostDays = minutes / 1440;
  return {
    hosts: results.length,
    hostDays,
    byCheck,
    findings,
    incidents,
    falseAlertsPerHostWeek: hostDays > 0 ? ((findings + incidents) / hostDays) * 7 : 0,
    inBatchOrMaintenance: quiet,
  };
}

export interface Summary {
  scenarios: number;
  detected: number;
  rightCause: number;
  /** Share of scenarios detected with the right cause. */
  recall: number;
  /** Median time to detection (intervals) of the timed scenarios detected rightly; null when none. */
  medianTtd: number | null;
}

export function summarise(scores: readonly ScenarioScore[]): Summary {
  const right = scores.filter((s) => s.cause === 'right');
  const ttds = right
    .filter((s) => s.timed && s.ttdIntervals !== null)
    .map((s) => s.ttdIntervals!)
    .sort((a, b) => a - b);
  const mid = ttds.length >> 1;
  return {
    scenarios: scores.length,
    detected: scores.filter((s) => s.detected).length,
    rightCause: right.length,
    recall: scores.length > 0 ? right.length / scores.length : 0,
    medianTtd: ttds.length === 0 ? null : ttds.length % 2 ? ttds[mid]! : (ttds[mid - 1]! + ttds[mid]!) / 2,
  };
}

/** The score table as fixed-width text. */
export function scoreTable(scores: readonly ScenarioScore[]): string {
  const rows = [
    ['scenario', 'detected', 'cause', 'named', 'TTD (intervals)'],
    ...scores.map((s) => [
      s.id,
      s.detected ? 'yes' : 'no',
      s.cause,
      s.named.slice(0, 60),
      s.ttdIntervals === null ? '—' : `${s.ttdIntervals}${s.timed ? '' : ' (untimed)'}`,
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) =>
      r
        .map((x, c) => x.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Scores the intelligence on synthetic scenarios through the replay engine (src/intelligence/replay/):
 * per scenario (test/scenarios/incidents.ts) detected or not, the cause named, time to detection in
 * evaluation intervals (60 s); on clean hosts, false alerts per host per week; and the replay speed in
 * host-days per second (evaluated days, minute by minute; building the data is timed apart).
 *
 * Goals (issue 13): recall ≥ 0.9 with the right cause, ≤ 1 false alert per host per week, median time to
 * detection ≤ 2 intervals, ≥ 100 host-days replayed a minute.
 *
 * Run: npm run build && node dist/bench/replay-score.js [--lead 2] [--clean-days 30] [--json]
 *      [--anomaly-minutes N] [--anomaly-warn-z Z]   (sensitivity of the anomaly defaults, this run only)
 */

import { metrics } from '../src/intelligence/metrics.js';
import { replayHost } from '../src/intelligence/replay/engine.js';
import {
  type GroundTruth,
  type ReplayResult,
  scoreClean,
  scoreScenario,
  scoreTable,
  summarise,
} from '../src/intelligence/replay/index.js';
import { inQuietWindow } from '../test/scenarios/background.js';
import { cleanHosts, scenarios } from '../test/scenarios/incidents.js';
import { arg } from './args.js';

const leadDays = Number(arg('lead', '2'));
const cleanDays = Number(arg('clean-days', '30'));
const json = process.argv.includes('--json');
// Sensitivity: the anomaly checks' thresholds for this run only (production defaults otherwise).
const anomalyOverrides: Record<string, number> = {};
if (process.argv.includes('--anomaly-minutes'))
  anomalyOverrides.minutes = Number(arg('anomaly-minutes', '5'));
if (process.argv.includes('--anomaly-warn-z')) anomalyOverrides.warn_z = Number(arg('anomaly-warn-z', '2'));
const thresholds = Object.fromEntries(metrics.map((m) => [`anomaly.${m.id}`, anomalyOverrides]));

let buildMs = 0;
let replayMs = 0;
/** CPU time of the replays (user + system, ms): the figure a shared machine's load does not change. */
let replayCpuMs = 0;
let replayedDays = 0;
const timed = <T>(build: () => T): T => {
  const t0 = performance.now();
  const x = build();
  buildMs += performance.now() - t0;
  return x;
};
const run = (host: Parameters<typeof replayHost>[0]): ReplayResult => {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = replayHost(host, { thresholds });
  const c = process.cpuUsage(c0);
  replayCpuMs += (c.user + c.system) / 1000;
  replayMs += performance.now() - t0;
  replayedDays += r.evaluatedMinutes / 1440;
  return r;
};

const scores = [];
for (const s of scenarios({ leadDays })) {
  const host = timed(() => s.build());
  const r = run(host);
  const truth: GroundTruth = {
    id: s.id,
    title: s.title,
    expect: s.expect,
    onset: host.start + s.onset * 60_000,
    windowMs: s.windowMinutes * 60_000,
    timed: s.timed,
  };
  scores.push(scoreScenario(truth, r));
}
const cleanResults: ReplayResult[] = [];
for (const c of cleanHosts(cleanDays)) cleanResults.push(run(timed(() => c.build())));
const clean = scoreClean(cleanResults, inQuietWindow);
const summary = summarise(scores);
const speed = replayedDays / (replayMs / 1000);

if (json) {
  console.log(
    JSON.stringify({
      scores,
      summary,
      clean,
      speed: { hostDaysPerSecond: speed, replayedDays, replayMs, replayCpuMs, buildMs },
    }),
  );
} else {
  console.log(scoreTable(scores));
  console.log();
  console.log(
    `recall with the right cause: ${summary.rightCause}/${summary.scenarios} = ${summary.recall.toFixed(2)} (goal ≥ 0.9); detected ${summary.detected}/${summary.scenarios}`,
  );
  console.log(
    `median time to detection: ${summary.medianTtd ?? '—'} evaluation intervals of 60 s (goal ≤ 2)`,
  );
  console.log(
    `clean: ${clean.hostDays.toFixed(0)} host-days on ${clean.hosts} hosts: ${clean.findings} alert/anomaly findings + ${clean.incidents} incidents = ${clean.falseAlertsPerHostWeek.toFixed(1)} false alerts per host per week (goal ≤ 1); ${clean.inBatchOrMaintenance} of the findings in the nightly batch or maintenance window (+15 min)`,
  );
  console.log(
    `  by check: ${Object.entries(clean.byCheck)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  console.log(
    `replay speed: ${speed.toFixed(2)} host-days/s = ${(speed * 60).toFixed(0)} host-days a minute (${replayedDays.toFixed(0)} evaluated host-days in ${(replayMs / 1000).toFixed(1)} s; building the data: ${(buildMs / 1000).toFixed(1)} s); per CPU-minute of this process: ${((replayedDays / replayCpuMs) * 60_000).toFixed(0)} host-days (${(replayCpuMs / 1000).toFixed(1)} s of CPU)`,
  );
}

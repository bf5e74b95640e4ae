/**
 * The intelligence scored on the synthetic scenarios (test/scenarios/) through the replay engine: recall
 * with the right cause and false alerts on clean data must not regress, and the scheduled jobs of clean
 * data (the nightly batch, the weekly maintenance window) are judged on their own. Pure and in memory (no
 * store); the windows replayed are cut short to keep the file fast — bench/replay-score.ts replays them
 * whole and prints the table (bench/RESULTS.md).
 *
 * Recall must reach the goal (≥ 0.9 with the right cause). False alerts must not regress past
 * what the engine scores today (`measured`); the goals it misses (≤ 1 false alert per host per week,
 * nothing in the batch or maintenance window) are todo tests, so their gap shows in every run.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replayHost } from '../src/intelligence/replay/engine.js';
import {
  type GroundTruth,
  type ReplayResult,
  type ScenarioScore,
  scoreClean,
  scoreScenario,
  summarise,
} from '../src/intelligence/replay/index.js';
import { dayMinutes, inQuietWindow } from './scenarios/background.js';
import { cleanHosts, scenarios } from './scenarios/incidents.js';

/** The goals; for false alerts also what the engine scores today (bench/RESULTS.md). */
const goals = { recall: 0.9, falseAlertsPerHostWeek: 1 };
const measured = { falseAlertsPerHostWeek: 250 };

let scored: ScenarioScore[] | null = null;
function scenarioScores(): ScenarioScore[] {
  if (scored) return scored;
  scored = [];
  for (const s of scenarios({ leadDays: 0 })) {
    const host = s.build();
    // From two hours before the fault (the drift from its start) to the end of its window, capped at 3 days.
    host.evalFrom = Math.max(host.evalFrom, s.onset - 120);
    const until = Math.min(host.minutes, s.onset + Math.min(s.windowMinutes, 3 * dayMinutes) + 1);
    const r = replayHost(host, { until });
    const truth: GroundTruth = {
      id: s.id,
      title: s.title,
      expect: s.expect,
      onset: host.start + s.onset * 60_000,
      windowMs: s.windowMinutes * 60_000,
      timed: s.timed,
    };
    scored.push(scoreScenario(truth, r));
  }
  return scored;
}

let clean: ReplayResult[] | null = null;
function cleanWeek(): ReplayResult[] {
  // One host, one week: seven nightly batches and one Sunday maintenance window.
  clean ??= cleanHosts(7, 7).map((c) => replayHost(c.build()));
  return clean;
}

test('every scenario has a distinct id and states what should fire', () => {
  const ids = scenarios().map((s) => s.id);
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(ids.length >= 14, `${ids.length} scenarios`);
});

test('recall with the right cause reaches the goal (≥ 0.9)', () => {
  const s = summarise(scenarioScores());
  const wrong = scenarioScores()
    .filter((x) => x.cause !== 'right')
    .map((x) => `${x.id}: ${x.cause} (${x.named})`);
  assert.ok(s.recall >= goals.recall, `recall ${s.recall.toFixed(2)}; missed: ${wrong.join('; ')}`);
});

test('the chains the graph names are named right where the data carries them', () => {
  // These do not depend on slow trends: they must hold whatever else changes.
  const byId = new Map(scenarioScores().map((s) => [s.id, s]));
  for (const id of [
    'blocking_session',
    'replication_wal',
    'connection_limit',
    'ssh_bruteforce',
    'agent_silent',
  ]) {
    assert.equal(byId.get(id)?.cause, 'right', `${id}: ${byId.get(id)?.named}`);
  }
});

test('false alerts on clean data do not regress', () => {
  const c = scoreClean(cleanWeek(), inQuietWindow);
  assert.ok(
    c.falseAlertsPerHostWeek <= measured.falseAlertsPerHostWeek,
    `${c.falseAlertsPerHostWeek.toFixed(1)} per host per week: ${JSON.stringify(c.byCheck)}`,
  );
});

test('replaying the same host twice gives the same findings (no clock, no randomness inside)', () => {
  const [c] = cleanHosts(1, 1);
  const a = replayHost(c!.build());
  const b = replayHost(c!.build());
  assert.deepEqual(a.events, b.events);
  assert.deepEqual(a.incidents, b.incidents);
});

test('goal: ≤ 1 false alert per host per week on clean data', {
  todo: 'the engine misses this goal today: bench/RESULTS.md has the scores and why',
}, () => {
  const c = scoreClean(cleanWeek(), inQuietWindow);
  assert.ok(c.falseAlertsPerHostWeek <= goals.falseAlertsPerHostWeek, `${c.falseAlertsPerHostWeek}`);
});

test('goal: the nightly batch and the weekly maintenance window in clean data raise nothing', {
  todo: 'minute points judged against hourly slots: a batch that ends mid-hour reads as unusual',
}, () => {
  const c = scoreClean(cleanWeek(), inQuietWindow);
  assert.equal(c.inBatchOrMaintenance, 0);
});

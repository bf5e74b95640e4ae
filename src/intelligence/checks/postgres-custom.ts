/**
 * Custom SQL metrics over their thresholds (job check): a gauge column of a custom metric definition may
 * carry `warn_above` / `crit_above` (src/protocol/custom-metrics.ts); every pg_custom row of that gauge
 * carries them too, so the check needs nothing but the store. It looks at the newest sample of each such
 * series in the last 15 minutes.
 *
 * A job check rather than an ingest check: custom metrics run on intervals of their own, so most batches
 * hold some of a target's custom series and not others, and a batch without a series must not count as a
 * clear evaluation of that series' finding. Reading the newest sample of every series gives each series
 * its own verdict; a series with no sample in the window (its definition removed, its query failing) is
 * not observed and clears.
 */
import type { CustomGaugeRow } from '../../storage/queries/custom-metrics.sql.js';
import { latestCustomGauges } from '../../storage/queries/custom-metrics.sql.js';
import type { JobCheck, JobObservation } from './types.js';
import { cut, isoTime } from './util.js';

/** How far back the newest sample of a series is looked for. */
export const customWindowMs = 15 * 60_000;

export interface CustomThresholdInput {
  series: CustomGaugeRow[];
  targets: Array<{ serverId: number; targetId: number }>;
}

/** The finding's object: `custom.<metric>.<column>` and the series' labels, as the store keeps them. */
export function customObject(r: Pick<CustomGaugeRow, 'metric' | 'name' | 'labels'>): string {
  return `custom.${cut(r.metric, 63)}.${cut(r.name, 63)}${r.labels ? `{${cut(r.labels, 400)}}` : ''}`;
}

/** Pure: the series of `input` above a threshold, one observation each (at most 1000). */
export function evaluateCustomThresholds(input: CustomThresholdInput): JobObservation[] {
  const out: JobObservation[] = [];
  for (const r of input.series) {
    const v = r.gauge;
    if (v === null || !Number.isFinite(v)) continue;
    const crit = r.critAbove !== null && v > r.critAbove;
    const warn = r.warnAbove !== null && v > r.warnAbove;
    if (!crit && !warn) continue;
    const limitName = crit ? 'crit_above' : 'warn_above';
    const limit = (crit ? r.critAbove : r.warnAbove)!;
    const series = customObject(r);
    const target = cut(r.target, 100);
    out.push({
      serverId: r.serverId,
      targetId: r.targetId,
      object: series,
      severity: crit ? 'critical' : 'warning',
      title: `Custom metric ${series} is ${v} on ${target}, above its ${limitName} ${limit}`,
      explanation: `The custom SQL metric ${cut(r.metric, 63)} (column ${cut(r.name, 63)}${r.labels ? `, labels ${cut(r.labels, 400)}` : ''}) read ${v} on ${target} at ${isoTime(r.ts)}, above the ${limitName} of ${limit} its definition sets${!crit && r.critAbove !== null ? ` (critical above ${r.critAbove})` : ''}. The value means what the metric's query measures: its definition, on the agent, says what that is.`,
      evidence: {
        metric: cut(r.metric, 63),
        column: cut(r.name, 63),
        labels: cut(r.labels, 1100),
        value: v,
        warn_above: r.warnAbove,
        crit_above: r.critAbove,
        ts: isoTime(r.ts),
      },
      action: `-- custom metric ${cut(r.metric, 63)}: its query is in the agent's --custom-metrics-file (or customMetrics of its pushed config); see every row it returns now, as the agent runs it:
pgvigil collect --once --json --only postgres --postgres <target URL> --custom-metrics-file <file>`,
      value: v,
    });
    if (out.length >= 1000) break;
  }
  return out;
}

export const pgCustomThreshold: JobCheck<CustomThresholdInput> = {
  id: 'pg.custom_threshold',
  group: 'postgres',
  mode: 'job',
  kind: 'alert',
  title: 'A custom SQL metric above the threshold its definition sets',
  doc: {
    evidence:
      'the custom metric, its column and labels, the newest value and when it was read, warn_above and crit_above from the definition',
    action:
      "the metric's query run as the agent runs it (`pgvigil collect --once --json --only postgres --custom-metrics-file FILE`); what to do is what the query measures",
  },
  thresholds: {},
  load: (db, now) => latestCustomGauges(db, new Date(now.getTime() - customWindowMs)),
  evaluate(input) {
    return {
      observations: evaluateCustomThresholds(input),
      scopes: input.targets.map((t) => ({ serverId: t.serverId, targetId: t.targetId })),
    };
  },
};

export const postgresCustomChecks = [pgCustomThreshold] as const;

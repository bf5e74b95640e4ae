/**
 * SLO burn-rate alerts (a job check): each SLO's status — budget and burn rates, computed by the slos job
 * (../slo-store.ts, ../slo.ts) at most a few minutes ago — against the multi-window rule: critical when the
 * 1 h and the 5 min burn rates both exceed `fast_burn`, warning when the 6 h and the 30 min rates both
 * exceed `slow_burn`. The finding resolves on the first evaluation where neither pair holds — in practice
 * when the short window recovers. An SLO whose status is stale (the slos job is not running) is not
 * evaluated, so its finding stands until the stale sweep.
 */
import { evaluatedSlos, type SloRow } from '../../storage/queries/slos.sql.js';
import { type BurnWindow, burnAlert, describeIndicator, type SloStatus } from '../slo.js';
import { definitionOf, readStatus } from '../slo-store.js';
import type { JobCheck, JobObservation, Scope } from './types.js';

/** A status older than this is not judged. */
export const sloStatusMaxAgeMs = 5 * 60_000;

export interface EvaluatedSlo {
  row: SloRow;
  status: SloStatus;
}

/** What to look at first, per family of the indicator. */
function firstStep(family: string): string {
  switch (family) {
    case 'pg_instance':
      return 'check that the instance answers: `pg_isready -h <host> -p <port>`, then the PostgreSQL log for the restart or crash';
    case 'pg_statements':
      return 'the statements that take the time now: `SELECT queryid, calls, round(mean_exec_time::numeric, 1) AS mean_ms, left(query, 80) FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 10;`';
    case 'pg_database':
      return 'the tables read from disk: `SELECT relname, heap_blks_read, heap_blks_hit FROM pg_statio_user_tables ORDER BY heap_blks_read DESC LIMIT 10;` and shared_buffers against the working set';
    default:
      return 'open the indicator’s chart and compare the bad minutes with the other families of that time';
  }
}

/** The series query that charts the indicator, and the dashboard page. */
export function indicatorLinks(r: SloRow, now: number): { api: string; dashboard: string } {
  const q = new URLSearchParams({
    family: r.family,
    metrics: [r.metric, ...r.per].filter((m, i, a) => a.indexOf(m) === i).join(','),
    server: String(r.serverId),
    ...(r.targetId !== null ? { target: String(r.targetId) } : {}),
    tier: 'minute',
    from: new Date(now - 6 * 3_600_000).toISOString(),
  });
  for (const l of r.labels) q.append('label', l);
  if (r.per.length === 0 && r.agg !== 'avg') q.set('agg', r.agg);
  return {
    api: `GET /api/v1/series?${q.toString()}`,
    dashboard:
      r.targetId !== null ? `/servers/${r.serverId}/postgres/${r.targetId}` : `/servers/${r.serverId}`,
  };
}

const pct = (v: number | null) => (v === null ? null : Math.round(v * 10_000) / 100);

export const sloBurnRate: JobCheck<EvaluatedSlo[]> = {
  id: 'slo.burn_rate',
  group: 'slo',
  mode: 'job',
  kind: 'alert',
  title: 'An SLO spends its error budget too fast (multi-window burn rate)',
  doc: {
    evidence:
      'burn rates over 5 min, 30 min, 1 h and 6 h, error budget remaining (fraction and minutes), the indicator, bad minutes per window',
    action:
      'the series query that charts the indicator and the first diagnostic step for its family (docs/slo.md)',
  },
  thresholds: {
    fast_burn: {
      default: 14.4,
      unit: '×',
      help: 'critical when the 1 h and the 5 min burn rates both exceed this (14.4 spends 2 % of a 30-day budget in an hour)',
      min: 1,
      max: 1000,
    },
    slow_burn: {
      default: 6,
      unit: '×',
      help: 'warning when the 6 h and the 30 min burn rates both exceed this (6 spends 5 % of a 30-day budget in 6 hours)',
      min: 1,
      max: 1000,
    },
  },
  clearAfter: 1,
  async load(db, now) {
    const rows = await evaluatedSlos(db, new Date(now.getTime() - sloStatusMaxAgeMs));
    return rows.flatMap((row) => {
      const status = readStatus(row.status);
      return status ? [{ row, status }] : [];
    });
  },
  evaluate(input, thresholdsFor, now) {
    const observations: JobObservation[] = [];
    const scopes = new Map<string, Scope>();
    for (const { row, status } of input) {
      const scope = { serverId: row.serverId, targetId: row.targetId };
      scopes.set(`${scope.serverId}|${scope.targetId ?? ''}`, scope);
      const t = thresholdsFor(row.serverId, row.targetId);
      const alert = burnAlert(status, { fast: t.fast_burn ?? 14.4, slow: t.slow_burn ?? 6 });
      if (!alert) continue;
      const def = definitionOf(row);
      const [long, short] = alert.windows;
      const rate = (w: BurnWindow) => status.burn[w].rate;
      const links = indicatorLinks(row, now);
      const remaining = status.budget.remainingFraction;
      observations.push({
        ...scope,
        object: row.name,
        severity: alert.severity,
        title: `SLO ${row.name} burns its error budget ${rate(short)}× too fast`,
        explanation:
          `The SLO "${row.name}" (${def.objective} % of minutes good over ${def.windowDays} days; ${describeIndicator(def)}) has burned its error budget at ${rate(long)}× over ${long} and ${rate(short)}× over ${short}, both above ${alert.factor}×. At that pace the budget of the window is gone in ${hoursToSpend(rate(short), def.windowDays)}. ${remaining === null ? '' : `${pct(remaining)} % of the budget is left.`}`.trim(),
        evidence: {
          slo_id: row.id,
          indicator: describeIndicator(def),
          objective_pct: def.objective,
          window_days: def.windowDays,
          burn_5m: rate('5m'),
          burn_30m: rate('30m'),
          burn_1h: rate('1h'),
          burn_6h: rate('6h'),
          factor: alert.factor,
          windows: [long, short],
          bad_minutes_5m: status.burn['5m'].bad,
          bad_minutes_1h: status.burn['1h'].bad,
          bad_minutes_6h: status.burn['6h'].bad,
          bad_minutes_window: status.bad,
          counted_minutes_window: status.counted,
          budget_remaining_pct: pct(remaining),
          budget_remaining_minutes: status.budget.remainingMinutes,
          sli_pct: status.sli,
          dashboard: links.dashboard,
        },
        action: `${links.api} — then ${firstStep(row.family)}`,
        value: rate(short),
      });
    }
    return { observations, scopes: [...scopes.values()] };
  },
};

function hoursToSpend(rate: number | null, windowDays: number): string {
  if (rate === null || rate <= 0) return 'no foreseeable time';
  const h = (windowDays * 24) / rate;
  return h < 1 ? `${Math.round(h * 60)} minutes` : `${Math.round(h * 10) / 10} hours`;
}

export const sloChecks = [sloBurnRate] as const;

/**
 * Computing one server's baselines: which objects the bounded metrics follow (the largest tables and
 * busiest statements of the last week, from the hourly tier), the history of every metric from the hourly
 * tier (./metric-points.ts), and the statistics of each series (./baselines.ts), ready to store. The
 * baselines job (src/server/jobs/baselines.ts) decides when and stores the result.
 */
import type pg from 'pg';
import {
  type BaselineWrite,
  busiestStatements,
  hostCores,
  largestTables,
} from '../storage/queries/baselines.sql.js';
import { computeBaseline, dayMs, packSlot, windowDays } from './baselines.js';
import { objectIn } from './checks/psql.js';
import { readMetricPoints } from './metric-points.js';
import { boundedTop, statementObject } from './metrics.js';

/** The bounded objects of a server: per target, as metrics name them, and the label values to filter on. */
export async function boundedObjects(
  client: pg.PoolClient,
  serverId: number,
  since: Date,
  until: Date,
): Promise<{
  tables: Map<number, Set<string>>;
  statements: Map<number, Set<string>>;
  tableNames: string[];
  queryids: string[];
}> {
  const tables = new Map<number, Set<string>>();
  const statements = new Map<number, Set<string>>();
  const names = new Set<string>();
  const ids = new Set<string>();
  for (const t of await largestTables(client, serverId, since, until, boundedTop.tables)) {
    const s = tables.get(t.targetId) ?? new Set<string>();
    s.add(objectIn(t.datname, t.schemaname, t.relname));
    tables.set(t.targetId, s);
    names.add(t.relname);
  }
  for (const q of await busiestStatements(client, serverId, since, until, boundedTop.statements)) {
    const s = statements.get(q.targetId) ?? new Set<string>();
    s.add(statementObject(q.queryid));
    statements.set(q.targetId, s);
    ids.add(q.queryid);
  }
  return { tables, statements, tableNames: [...names], queryids: [...ids] };
}

/** Every baseline of one server through `through` (an hour boundary the hourly tier has rolled). */
export async function computeServerBaselines(
  client: pg.PoolClient,
  serverId: number,
  through: Date,
  now: Date,
): Promise<BaselineWrite[]> {
  const t = through.getTime();
  const bounded = await boundedObjects(client, serverId, new Date(t - windowDays.short * dayMs), through);
  const cores = await hostCores(
    client,
    serverId,
    new Date(t - 2 * dayMs),
    new Date(now.getTime() - 15 * 60_000),
  );
  const series = await readMetricPoints(client, {
    serverId,
    tier: 'hourly',
    from: new Date(t - Math.max(windowDays.weekProfile, windowDays.long) * dayMs),
    to: through,
    now,
    ...bounded,
    cores,
  });
  const out: BaselineWrite[] = [];
  for (const s of series) {
    const b = computeBaseline(s.points, t);
    if (!b.stats30d && !b.hourOfWeek.some((x) => x)) continue;
    out.push({
      targetId: s.targetId,
      metric: s.metric,
      object: s.object,
      stats7d: b.stats7d,
      stats30d: b.stats30d,
      hourOfWeek: b.hourOfWeek.map(packSlot),
      hourOfDay: b.hourOfDay.map(packSlot),
    });
  }
  return out;
}

/**
 * Reads of the custom SQL metrics family (pg_custom) for check pg.custom_threshold: the newest sample of
 * every gauge series within a window, and the targets that sent any custom sample in it.
 */
import type { Queryable } from './queryable.js';

/** The newest sample of one custom gauge series that carries a threshold. */
export interface CustomGaugeRow {
  serverId: number;
  targetId: number;
  target: string;
  metric: string;
  name: string;
  labels: string;
  ts: Date;
  gauge: number | null;
  warnAbove: number | null;
  critAbove: number | null;
}

/**
 * The newest row of each gauge series since `since`, kept when that row has a threshold (≤ `limit`), and
 * the (server, target) pairs with any custom sample since then (≤ 10,000): what the check looked at.
 * The newest row decides, so a definition whose thresholds were removed stops counting at its next run.
 */
export async function latestCustomGauges(
  db: Queryable,
  since: Date,
  limit = 2000,
): Promise<{ series: CustomGaugeRow[]; targets: Array<{ serverId: number; targetId: number }> }> {
  const { rows: targets } = await db.query<{ serverId: number; targetId: number }>(
    `SELECT DISTINCT server_id::int AS "serverId", target_id::int AS "targetId"
       FROM pgvigil.pg_custom WHERE ts >= $1 LIMIT 10000`,
    [since],
  );
  if (targets.length === 0) return { series: [], targets: [] };
  const { rows: series } = await db.query<CustomGaugeRow>(
    `SELECT c.server_id::int AS "serverId", c.target_id::int AS "targetId", left(t.name, 200) AS target,
            c.metric, c.name, c.labels, c.ts, c.gauge, c.warn_above AS "warnAbove", c.crit_above AS "critAbove"
       FROM (SELECT DISTINCT ON (server_id, target_id, metric, name, labels)
                    server_id, target_id, metric, name, labels, ts, gauge, warn_above, crit_above
               FROM pgvigil.pg_custom
              WHERE ts >= $1 AND gauge IS NOT NULL
              ORDER BY server_id, target_id, metric, name, labels, ts DESC) c
       JOIN pgvigil.targets t ON t.server_id = c.server_id AND t.target_id = c.target_id
      WHERE c.warn_above IS NOT NULL OR c.crit_above IS NOT NULL
      ORDER BY c.server_id, c.target_id, c.metric, c.name, c.labels
      LIMIT $2`,
    [since, limit],
  );
  return { series, targets };
}

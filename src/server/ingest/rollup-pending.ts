/**
 * The ingest side of rollups: every group transaction records the (server, hour) buckets its rows touched
 * in `pgvigil.rollup_pending`, so the rollup job rolls each touched hour, and rolls it again when late rows
 * arrive after it was rolled.
 *
 * Why the shared advisory lock: the insert is ON CONFLICT DO NOTHING (no row lock, no write when the hour
 * is pending already, which it nearly always is). A group that found the row already there could commit
 * its rows after the job deleted that row and read the raw rows, and its rows would never be rolled. The
 * job therefore deletes pending rows while holding this lock exclusively (see ../jobs/rollups.ts): it waits
 * for every group that recorded its hours before, and a group that records after finds the row deleted
 * and inserts it again.
 *
 * The same transaction moves back the minute marks of servers whose rows are older than the marks may be
 * (late rows: a spool replayed after an outage, a clock behind), so the running hour's minute rows are
 * rolled again from there (see ../jobs/rollups.ts, `rollMinutes`). Rows younger than `lateAfterMs` cannot
 * be below a mark (marks stay `minuteGraceMs` behind the clock), so a healthy batch costs nothing more.
 */
import { insertPendingHoursSql } from '../../storage/queries/ingest.sql.js';
import { rewindMinuteMarksSql } from '../../storage/queries/rollups.sql.js';
import type { CopyChunk } from './copy.js';

/** Two-key advisory lock (the job runner's key space, "pv") held shared by writers, exclusive by the job. */
export const rollupPendingLock = { space: 0x7076, key: 0x726f6c6c } as const;

/** How far behind the clock the running hour's minutes are rolled (rows of the last minute still in flight). */
export const minuteGraceMs = 90_000;
/** Rows at least this old may lie below a minute mark (half the grace: room for clocks and slow groups). */
const lateAfterMs = minuteGraceMs / 2;

/**
 * The statements that record the hours the items' rows fall in and move minute marks back below late rows,
 * in this order; the group transaction runs them after its COPYs, in the same message.
 */
export function touchedHoursStatements(
  items: ReadonlyArray<{ serverId: number; chunks: readonly CopyChunk[] }>,
  now = Date.now(),
): string[] {
  const pairs: Array<[number, number]> = [];
  const late: Array<[number, number]> = [];
  const seen = new Set<string>();
  for (const item of items) {
    for (const c of item.chunks) {
      if (c.once) continue;
      if (c.minTs < now - lateAfterMs) late.push([item.serverId, Math.floor(c.minTs / 60_000) * 60_000]);
      for (const h of c.hours) {
        const k = `${item.serverId}/${h}`;
        if (seen.has(k)) continue;
        seen.add(k);
        pairs.push([item.serverId, h]);
      }
    }
  }
  if (pairs.length === 0) return [];
  // One order for every writer: two groups inserting the same new keys in opposite orders would deadlock.
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  // The rewind after the shared lock (taken by the insert): see the header.
  return [insertPendingHoursSql(pairs, rollupPendingLock), ...rewindMinuteMarksSql(late)];
}

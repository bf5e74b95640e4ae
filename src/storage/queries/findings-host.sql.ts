/**
 * Host findings that need history: the space trend of every filesystem over a recent window, for the fill
 * forecast (src/intelligence/checks/host-disk-fill.ts).
 */
import type { Queryable } from './queryable.js';

/** One filesystem's used-bytes trend over the window: a least-squares line, with its last sample. */
export interface FilesystemTrendRow {
  serverId: number;
  mountpoint: string;
  device: string | null;
  fstype: string | null;
  /** Minutes with samples in the window (each minute is one point of the fit). */
  points: number;
  /** Seconds between the first and the last minute in the window. */
  spanSeconds: number;
  /** Growth of used bytes per second (least squares); null when it cannot be fitted. */
  slopeBytesPerSecond: number | null;
  /** How well the line fits (0…1); 1 for a flat series. */
  r2: number | null;
  usedBytes: number | null;
  availBytes: number | null;
  sizeBytes: number | null;
  /** The last sample's time, ms since 1970. */
  lastTs: number;
}

/**
 * The used-bytes trend of every filesystem with samples in (`now` − `windowMs`, `now`], at most `limit`
 * series, fitted in the store (regr_slope, regr_r2: one row per series comes back, not hours of samples).
 *
 * The points are one per minute, each hour read from the cheapest place that is exact: an hour the rollup
 * job has rolled from the minute tier (host_filesystem_minute, a sixth of the raw rows, laid out by
 * series), an hour still pending in `rollup_pending` (the current and the last hour, and any hour that got
 * late rows) from the raw rows averaged per minute — joined on the raw key (server_id, ts), not by
 * scanning every host's raw rows. The job rolls an hour and deletes its pending row in one transaction,
 * and this is one statement: every hour is counted once, from one place. The last sample, which the hours
 * left count from, is looked up per series, newest first on the raw key; a series without one in the last
 * hour has gone quiet and is left out. x is seconds relative to `now`, which keeps the sums small.
 */
export async function filesystemTrends(
  db: Queryable,
  now: Date,
  windowMs: number,
  limit: number,
): Promise<FilesystemTrendRow[]> {
  const { rows } = await db.query<FilesystemTrendRow>(
    `WITH bounds AS (
       SELECT $1::timestamptz AS hi, $1::timestamptz - make_interval(secs => $2::float8 / 1000) AS lo
     ), pending AS (
       SELECT p.server_id, p.bucket FROM pgvigil.rollup_pending p, bounds b
        WHERE p.tier = 'hourly' AND p.bucket > b.lo - interval '1 hour' AND p.bucket <= b.hi
     ), points AS (
       SELECT r.server_id, r.mountpoint, date_bin('1 minute', r.ts, '1970-01-01T00:00:00Z') AS ts,
              avg(r.used_bytes)::float8 AS used
         FROM pending p JOIN pgvigil.host_filesystem r
           ON r.server_id = p.server_id AND r.ts >= p.bucket AND r.ts < p.bucket + interval '1 hour', bounds b
        WHERE r.ts > b.lo AND r.ts <= b.hi AND r.used_bytes IS NOT NULL AND r.size_bytes > 0
        GROUP BY 1, 2, 3
       UNION ALL
       SELECT m.server_id, m.mountpoint, m.ts, m.used_bytes_avg
         FROM pgvigil.host_filesystem_minute m, bounds b
        WHERE m.ts > b.lo AND m.ts <= b.hi AND m.used_bytes_avg IS NOT NULL AND m.size_bytes_max > 0
          AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.server_id = m.server_id
                             AND p.bucket = date_bin('1 hour', m.ts, '1970-01-01T00:00:00Z'))
     ), fit AS (
       SELECT server_id, mountpoint, count(*)::int AS points,
              extract(epoch FROM max(ts) - min(ts))::float8 AS span,
              regr_slope(used, extract(epoch FROM ts - $1::timestamptz)::float8) AS slope,
              regr_r2(used, extract(epoch FROM ts - $1::timestamptz)::float8) AS r2
         FROM points GROUP BY server_id, mountpoint
     )
     SELECT f.server_id::int AS "serverId", f.mountpoint, l.device, l.fstype, f.points,
            f.span AS "spanSeconds", f.slope AS "slopeBytesPerSecond", f.r2,
            l.used_bytes::float8 AS "usedBytes", l.avail_bytes::float8 AS "availBytes",
            l.size_bytes::float8 AS "sizeBytes", (extract(epoch FROM l.ts) * 1000)::float8 AS "lastTs"
       FROM fit f, bounds b,
            LATERAL (SELECT r.device, r.fstype, r.used_bytes, r.avail_bytes, r.size_bytes, r.ts
                       FROM pgvigil.host_filesystem r
                      WHERE r.server_id = f.server_id AND r.mountpoint = f.mountpoint
                        AND r.ts > b.hi - interval '1 hour' AND r.ts <= b.hi AND r.used_bytes IS NOT NULL
                      ORDER BY r.ts DESC LIMIT 1) l
      LIMIT $3`,
    [now, windowMs, limit],
  );
  return rows;
}

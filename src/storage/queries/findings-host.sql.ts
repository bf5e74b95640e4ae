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
  points: number;
  /** Seconds between the first and the last sample in the window. */
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
 * series. Fitted in the store (regr_slope, regr_r2: one row per series comes back, not hours of samples);
 * x is seconds relative to `now`, which keeps the sums small. Reads the raw rows: the minute tier only
 * holds hours already rolled, and a fill forecast needs the last minutes most of all.
 */
export async function filesystemTrends(
  db: Queryable,
  now: Date,
  windowMs: number,
  limit: number,
): Promise<FilesystemTrendRow[]> {
  const { rows } = await db.query<FilesystemTrendRow>(
    `SELECT server_id::int AS "serverId", mountpoint,
            (array_agg(device ORDER BY ts DESC))[1] AS device,
            (array_agg(fstype ORDER BY ts DESC))[1] AS fstype,
            count(*)::int AS points,
            extract(epoch FROM max(ts) - min(ts))::float8 AS "spanSeconds",
            regr_slope(used_bytes::float8, extract(epoch FROM ts - $1::timestamptz)::float8) AS "slopeBytesPerSecond",
            regr_r2(used_bytes::float8, extract(epoch FROM ts - $1::timestamptz)::float8) AS r2,
            (array_agg(used_bytes ORDER BY ts DESC))[1]::float8 AS "usedBytes",
            (array_agg(avail_bytes ORDER BY ts DESC))[1]::float8 AS "availBytes",
            (array_agg(size_bytes ORDER BY ts DESC))[1]::float8 AS "sizeBytes",
            (extract(epoch FROM max(ts)) * 1000)::float8 AS "lastTs"
       FROM pgvigil.host_filesystem
      WHERE ts > $1::timestamptz - make_interval(secs => $2::float8 / 1000) AND ts <= $1::timestamptz
        AND used_bytes IS NOT NULL AND size_bytes > 0
      GROUP BY server_id, mountpoint
      LIMIT $3`,
    [now, windowMs, limit],
  );
  return rows;
}

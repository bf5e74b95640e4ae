/**
 * When will a filesystem be full: a least-squares line through its used bytes over the page's range (as the
 * server's host.disk_fill check does over 6 h), believed only when there are enough points (6), they span
 * enough time (30 min) and lie close to the line. Rising too slowly to matter (under 0.01 % of the size a day) or
 * falling is "not filling"; a crooked line says so instead of a number.
 */

export type Fill =
  | { kind: 'too-few'; points: number }
  | { kind: 'too-short'; spanMs: number }
  | { kind: 'not-filling'; bytesPerDay: number }
  | { kind: 'unsteady'; r2: number }
  | { kind: 'filling'; bytesPerDay: number; fullInMs: number; r2: number };

/** Points below this give no forecast. */
export const minFillPoints = 6;
/** Nor do points spanning less than this: a minute's growth says nothing about the next day. */
export const minFillSpanMs = 30 * 60_000;
const minR2 = 0.8;

/**
 * `points`: [ms, used bytes], time order not required; `avail`: bytes still available now (to
 * unprivileged users, which is where writes stop), `size`: the filesystem's size.
 */
export function fillForecast(
  points: readonly (readonly [number, number])[],
  avail: number,
  size: number,
): Fill {
  const pts = points.filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v));
  const n = pts.length;
  if (n < minFillPoints) return { kind: 'too-few', points: n };
  const times = pts.map(([t]) => t);
  const spanMs = Math.max(...times) - Math.min(...times);
  if (spanMs < minFillSpanMs) return { kind: 'too-short', spanMs };
  let mt = 0;
  let mv = 0;
  for (const [t, v] of pts) {
    mt += t / n;
    mv += v / n;
  }
  let stt = 0;
  let stv = 0;
  let svv = 0;
  for (const [t, v] of pts) {
    stt += (t - mt) ** 2;
    stv += (t - mt) * (v - mv);
    svv += (v - mv) ** 2;
  }
  if (stt === 0) return { kind: 'too-few', points: n };
  const slope = stv / stt; // bytes per ms
  const bytesPerDay = slope * 86_400_000;
  if (bytesPerDay <= Math.max(1, size * 1e-4)) return { kind: 'not-filling', bytesPerDay };
  const r2 = svv === 0 ? 1 : (stv * stv) / (stt * svv);
  if (r2 < minR2) return { kind: 'unsteady', r2 };
  return { kind: 'filling', bytesPerDay, fullInMs: Math.max(0, avail) / slope, r2 };
}

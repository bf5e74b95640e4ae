/**
 * A small SVG line for lists (the fleet, top statements): cheap enough for hundreds on one page, gaps
 * drawn as breaks. Values are drawn between the series' own min and max (or `max` when given).
 */
export interface SparklineProps {
  /** [ms, value|null]; null or a step more than 1.5× apart breaks the line. */
  points: readonly (readonly [number, number | null])[];
  from: number;
  to: number;
  max?: number;
  label: string;
  width?: number;
  height?: number;
}

export function sparkPath(p: SparklineProps, w: number, h: number): string {
  const vals = p.points.filter((x): x is readonly [number, number] => x[1] !== null && Number.isFinite(x[1]));
  if (vals.length === 0) return '';
  const lo = Math.min(0, ...vals.map((x) => x[1]));
  const hi = Math.max(p.max ?? 0, ...vals.map((x) => x[1]), lo + 1e-9);
  const span = Math.max(1, p.to - p.from);
  const times = p.points.map((x) => x[0]).sort((a, b) => a - b);
  let step = Number.POSITIVE_INFINITY;
  for (let i = 1; i < times.length; i++) step = Math.min(step, times[i]! - times[i - 1]!);
  let d = '';
  let prevT: number | undefined;
  for (const [t, v] of p.points) {
    if (v === null || !Number.isFinite(v)) {
      prevT = undefined;
      continue;
    }
    const x = ((t - p.from) / span) * w;
    const y = h - 1 - ((v - lo) / (hi - lo)) * (h - 2);
    const joined = prevT !== undefined && t - prevT <= 1.5 * step;
    d += `${joined ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`;
    if (!joined) d += `h0.5`; // a lone point stays visible
    prevT = t;
  }
  return d;
}

export function Sparkline(p: SparklineProps) {
  const w = p.width ?? 96;
  const h = p.height ?? 24;
  const d = sparkPath(p, w, h);
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={p.label}>
      {d ? <path d={d} /> : <line x1="0" y1={h / 2} x2={w} y2={h / 2} class="spark-none" />}
    </svg>
  );
}

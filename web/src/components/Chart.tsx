/**
 * The one time-series chart (uPlot, as Grafana's time-series panel): units on the value axis, gaps drawn
 * as gaps (a missing step is a null, never a 0 or a joined line), drag across it to zoom the page's time
 * range, colours from the theme (redrawn when the system theme changes).
 *
 * `data-drawn` on the figure counts the values drawn (tests and the empty state use it); `data-from` and
 * `data-to` are the range drawn (ms), so a test sees a range change reach the chart.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatValue, type Unit } from '../format';
import { useTheme } from '../theme';
import { zoomTo } from '../time';

export interface ChartSeries {
  label: string;
  /** [ms since the epoch, value]; null is a known gap. */
  points: readonly (readonly [number, number | null])[];
  /** A CSS colour variable (e.g. `--bad`) instead of the next palette colour. */
  color?: string;
}

export interface ChartProps {
  title: string;
  unit: Unit;
  series: readonly ChartSeries[];
  /** The range shown (ms): the x axis spans it whatever the data covers. */
  from: number;
  to: number;
  /** Spacing of the data (s): two points further apart than 1.5 steps have a gap drawn between them. */
  stepSeconds: number;
  height?: number;
  /** Lower bound of the value axis, e.g. 0 for counts (default: 0 unless a value is negative). */
  min?: number;
  /** Upper bound, e.g. 100 for percentages. */
  max?: number;
  /** Drag-zoom sets the page's range (default true). */
  zoom?: boolean;
  /** Bars instead of lines (counts per bucket, e.g. log entries per level). */
  bars?: boolean;
  /** Series stacked on each other, the first at the bottom (the legend shows each one's own value). */
  stacked?: boolean;
}

/**
 * Running sums of the columns, first at the bottom; a step where every series is missing stays a gap, a
 * series missing at a step where others have values adds nothing there.
 */
export function stackColumns(ys: readonly (number | null)[][]): (number | null)[][] {
  const out: (number | null)[][] = ys.map((col) => new Array<number | null>(col.length).fill(null));
  const n = ys[0]?.length ?? 0;
  for (let x = 0; x < n; x++) {
    if (ys.every((col) => col[x] === null)) continue;
    let sum = 0;
    for (let i = 0; i < ys.length; i++) {
      sum += ys[i]![x] ?? 0;
      out[i]![x] = sum;
    }
  }
  return out;
}

/** Aligns the series on one x axis (seconds); steps missing between two points become nulls. */
export function alignSeries(
  series: readonly ChartSeries[],
  stepSeconds: number,
): { xs: number[]; ys: (number | null)[][]; drawn: number } {
  const times = new Set<number>();
  for (const s of series) for (const [t] of s.points) times.add(t);
  const sorted = [...times].sort((a, b) => a - b);
  const stepMs = Math.max(1, stepSeconds) * 1000;
  const xsMs: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i]!;
    const prev = xsMs.at(-1);
    if (prev !== undefined && t - prev > 1.5 * stepMs) xsMs.push(prev + stepMs); // a gap
    xsMs.push(t);
  }
  const index = new Map(xsMs.map((t, i) => [t, i]));
  let drawn = 0;
  const ys = series.map((s) => {
    const col: (number | null)[] = new Array(xsMs.length).fill(null);
    for (const [t, v] of s.points) {
      const i = index.get(t);
      if (i !== undefined && v !== null && Number.isFinite(v)) {
        col[i] = v;
        drawn++;
      }
    }
    return col;
  });
  return { xs: xsMs.map((t) => t / 1000), ys, drawn };
}

const palette = ['--c1', '--c2', '--c3', '--c4', '--c5', '--c6', '--c7', '--c8'];

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function Chart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const theme = useTheme();
  const { xs, ys, drawn } = alignSeries(props.series, props.stepSeconds);

  useEffect(() => {
    const el = box.current;
    if (!el || drawn === 0) return;
    const fg = cssVar('--muted');
    const grid = cssVar('--grid');
    const zoom = props.zoom !== false;
    const hasNegative = ys.some((col) => col.some((v) => v !== null && v < 0));
    const min = props.min ?? (hasNegative ? undefined : 0);
    const stacked = props.stacked === true;
    const drawnYs = stacked ? stackColumns(ys) : ys;
    // Stacked: the tallest (topmost) sums are drawn first, so each lower one shows in front of it.
    const order = props.series.map((_s, i) => i);
    if (stacked) order.reverse();
    const bars = props.bars ? uPlot.paths.bars?.({ size: [0.8, 48] }) : undefined;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: props.height ?? 180,
      scales: {
        x: { time: true, range: () => [props.from / 1000, props.to / 1000] },
        y: {
          range: (_u, lo, hi) => {
            const a = min ?? lo;
            let b = props.max ?? hi;
            if (b <= a) b = a + 1;
            return [a, b];
          },
        },
      },
      series: [
        {},
        ...order.map((i) => {
          const s = props.series[i]!;
          const colour = cssVar(s.color ?? palette[i % palette.length]!);
          return {
            label: s.label,
            stroke: colour,
            width: bars ? 1 : 1.5,
            spanGaps: false,
            ...(bars ? { paths: bars, fill: colour, points: { show: false } } : {}),
            value: (_u: uPlot, v: number | null, _si: number, x: number | null) =>
              formatValue(props.unit, stacked && x !== null ? ys[i]![x] : v),
          };
        }),
      ],
      axes: [
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        {
          stroke: fg,
          size: 88,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid },
          values: (_u, vals) => vals.map((v) => formatValue(props.unit, v)),
        },
      ],
      cursor: { drag: { x: zoom, y: false, setScale: false } },
      legend: { live: true },
      hooks: zoom
        ? {
            setSelect: [
              (u) => {
                if (u.select.width < 5) return;
                const a = u.posToVal(u.select.left, 'x');
                const b = u.posToVal(u.select.left + u.select.width, 'x');
                u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
                zoomTo(a * 1000, b * 1000);
              },
            ],
          }
        : {},
    };
    const plot = new uPlot(opts, [xs, ...order.map((i) => drawnYs[i]!)] as uPlot.AlignedData, el);
    const resize = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== plot.width) plot.setSize({ width: w, height: plot.height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  });

  return (
    <figure
      class="chart"
      data-chart={props.title}
      data-drawn={drawn}
      data-from={Math.round(props.from)}
      data-to={Math.round(props.to)}
    >
      <figcaption>{props.title}</figcaption>
      {drawn === 0 ? (
        <div class="chart-empty" style={{ height: `${props.height ?? 180}px` }}>
          No data in this range
        </div>
      ) : (
        <div ref={box} class="chart-plot" role="img" aria-label={`${props.title} chart`} data-theme={theme} />
      )}
    </figure>
  );
}

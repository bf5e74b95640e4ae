/** Human units for axes, tables and tooltips. A missing value is shown as "—", never as 0. */

export type Unit = 'bytes' | 'bytesPerSec' | 'percent' | 'ms' | 'seconds' | 'perSec' | 'count' | 'ratio';

const dash = '—';

function trim(n: number, digits = 3): string {
  if (n === 0) return '0';
  const abs = Math.abs(n);
  if (abs >= 100) return n.toFixed(0);
  return Number(n.toPrecision(digits)).toString();
}

function scaled(n: number, base: number, suffixes: readonly string[]): string {
  let i = 0;
  let v = n;
  while (Math.abs(v) >= base && i < suffixes.length - 1) {
    v /= base;
    i++;
  }
  return `${trim(v)} ${suffixes[i]}`;
}

export function formatBytes(n: number): string {
  return scaled(n, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']);
}

export function formatCount(n: number): string {
  if (Math.abs(n) < 1000) return trim(n);
  return scaled(n, 1000, ['', 'k', 'M', 'G', 'T']).replace(' ', '');
}

export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1) return `${trim(ms * 1000)} µs`;
  if (abs < 1000) return `${trim(ms)} ms`;
  if (abs < 60e3) return `${trim(ms / 1000)} s`;
  if (abs < 3600e3) return `${trim(ms / 60e3, 2)} min`;
  if (abs < 86400e3) return `${trim(ms / 3600e3, 2)} h`;
  return `${trim(ms / 86400e3, 2)} d`;
}

export function formatValue(unit: Unit, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return dash;
  switch (unit) {
    case 'bytes':
      return formatBytes(v);
    case 'bytesPerSec':
      return `${formatBytes(v)}/s`;
    case 'percent':
      return `${trim(v)} %`;
    case 'ratio':
      return `${trim(v * 100)} %`;
    case 'ms':
      return formatDuration(v);
    case 'seconds':
      return formatDuration(v * 1000);
    case 'perSec':
      return `${formatCount(v)}/s`;
    default:
      return formatCount(v);
  }
}

/** "3 min ago" style age of an ISO time or ms; "—" without one. */
export function formatAge(at: string | number | null | undefined, now = Date.now()): string {
  if (at === null || at === undefined) return dash;
  const t = typeof at === 'number' ? at : Date.parse(at);
  if (!Number.isFinite(t)) return dash;
  const d = now - t;
  if (d < 0) return 'just now';
  if (d < 60e3) return `${Math.round(d / 1000)} s ago`;
  return `${formatDuration(d)} ago`;
}

export function formatTime(at: string | number | null | undefined): string {
  if (at === null || at === undefined) return dash;
  const t = typeof at === 'number' ? at : Date.parse(at);
  if (!Number.isFinite(t)) return dash;
  return new Date(t).toLocaleString(undefined, { hour12: false });
}

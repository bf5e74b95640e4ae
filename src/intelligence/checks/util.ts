/** Small pure helpers the check files share: numbers from rows, grading against thresholds, quoting. */
import type { Severity } from '../model.js';
import type { Row, Thresholds } from './types.js';

/** A finite number from a row value (int8 values may arrive as decimal strings), else null. */
export function num(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : v == null ? '' : String(v);
}

/** A timestamp column (ms number or ISO text) as ms since 1970, else null. */
export function ms(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v !== '') {
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : null;
  }
  return null;
}

export function field(row: Row, name: string): unknown {
  return Object.hasOwn(row, name) ? row[name] : undefined;
}

/**
 * The severity a value earns against `warning` / `critical` thresholds (`info` too when given), or null
 * when it is below all of them. `below` grades values under the thresholds instead (cache hit ratio).
 */
export function grade(
  value: number | null,
  t: Thresholds,
  names: { info?: string; warning?: string; critical?: string } = {
    warning: 'warning',
    critical: 'critical',
  },
  below = false,
): Severity | null {
  if (value === null) return null;
  const crosses = (name: string | undefined) => {
    if (name === undefined || !Object.hasOwn(t, name)) return false;
    return below ? value < t[name]! : value > t[name]!;
  };
  if (crosses(names.critical)) return 'critical';
  if (crosses(names.warning)) return 'warning';
  if (crosses(names.info)) return 'info';
  return null;
}

/** A SQL identifier, quoted when it needs to be (as quote_ident does). */
export function ident(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

/** `schema.table`, each part quoted when needed. */
export function qualified(schema: string, name: string): string {
  return `${ident(schema)}.${ident(name)}`;
}

/** A SQL string literal. */
export function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** A shell word, single-quoted when it needs to be. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@=+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** 1536 → "1.5 KiB"; for explanations, never for evidence (evidence keeps the raw number). */
export function humanBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** 5400 → "1 h 30 min". */
export function humanSeconds(s: number): string {
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) {
    // Rounded to whole minutes first: 9 h 59 min 59 s is "10 h", never "9 h 60 min".
    const minutes = Math.round(s / 60);
    const h = Math.floor(minutes / 60);
    const m = minutes % 60;
    return m === 0 ? `${h} h` : `${h} h ${m} min`;
  }
  return `${(s / 86_400).toFixed(1)} days`;
}

/** Rounds for evidence and messages: 2 decimals. */
export function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

/** A time from the store (Date, ISO text or ms) as ISO 8601 for evidence; null (or not a time) → null. */
export function isoTime(d: Date | string | number | null): string | null {
  if (d === null) return null;
  const t = new Date(d).getTime();
  return Number.isFinite(t) ? new Date(t).toISOString() : null;
}

/** Untrusted text (any value, as text) at most `max` characters long, ending in … when cut. */
export function cut(v: unknown, max = 500): string {
  const s = str(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Memory and swap from /proc/meminfo.
 *
 * Stored row (host_memory): total, available (MemAvailable; null on kernels before 3.14 that lack it),
 * used = total − free − buffers − cached, with cached = Cached + SReclaimable as free(1) counts it.
 *
 * Exposition: every meminfo field, as node_exporter does. node_exporter keeps the kernel's CamelCase
 * (node_memory_MemTotal_bytes), which `promtool check metrics` rejects as not snake_case, so by default
 * the names are lower-cased (node_memory_memtotal_bytes, see `meminfoMetricName`); `nodeExporterNames`
 * keeps node_exporter's exact names for dashboards written against it.
 */

import { fieldsOf, linesOf, ParseError, parseCount, readKernelFile } from '../proc.js';
import type { Collector, ExposedMetric, Row } from '../types.js';

const file = '/proc/meminfo';

export interface MeminfoField {
  /** The kernel's name, e.g. "MemTotal", "Active(anon)". */
  name: string;
  /** In bytes when the kernel gives a unit (kB), else the bare count (HugePages_Total). */
  value: number;
  bytes: boolean;
}

/** Parses /proc/meminfo into its fields, in file order. */
export function parseMeminfo(text: string): MeminfoField[] {
  const out: MeminfoField[] = [];
  for (const line of linesOf(text)) {
    const f = fieldsOf(line.text);
    const key = f[0]!;
    if (!key.endsWith(':') || f.length < 2 || f.length > 3)
      throw new ParseError(file, 'expected "Name: value [kB]"', line);
    const name = key.slice(0, -1);
    const n = parseCount(f[1], file, name, line);
    if (f.length === 3) {
      if (f[2] !== 'kB') throw new ParseError(file, `unknown unit ${JSON.stringify(f[2])}`, line);
      out.push({ name, value: n * 1024, bytes: true });
    } else {
      out.push({ name, value: n, bytes: false });
    }
  }
  if (!out.some((x) => x.name === 'MemTotal')) throw new ParseError(file, 'no MemTotal field');
  return out;
}

/** The host_memory row. Fields a kernel does not report are null, never 0. */
export function memoryRow(fields: MeminfoField[]): Row {
  const get = (name: string): number | null => fields.find((x) => x.name === name)?.value ?? null;
  const total = get('MemTotal');
  const free = get('MemFree');
  const buffers = get('Buffers');
  const pageCache = get('Cached');
  const cached = pageCache === null ? null : pageCache + (get('SReclaimable') ?? 0);
  let used: number | null = null;
  if (total !== null && free !== null && buffers !== null && cached !== null) {
    used = total - free - buffers - cached;
    // Inside some containers the cache figures exceed the limit-based total; free(1) then falls back.
    if (used < 0) used = total - free;
  }
  const swapTotal = get('SwapTotal');
  const swapFree = get('SwapFree');
  return {
    total_bytes: total,
    available_bytes: get('MemAvailable'),
    used_bytes: used,
    free_bytes: free,
    buffers_bytes: buffers,
    cached_bytes: cached,
    swap_total_bytes: swapTotal,
    swap_used_bytes: swapTotal === null || swapFree === null ? null : swapTotal - swapFree,
  };
}

/**
 * The exposition name of a meminfo field: node_exporter's (`Active(anon)` → `node_memory_Active_anon_bytes`,
 * `HugePages_Total` → `node_memory_HugePages_Total`) or the promtool-clean form: node_exporter's name in
 * lower case (`node_memory_active_anon_bytes`, `node_memory_memtotal_bytes`), with `_pages` for the
 * unitless fields (`node_memory_hugepages_total_pages`: a gauge must not end in `_total`). CamelCase is
 * not split into words because that would make tokens promtool reads as abbreviated units (DirectMap2M →
 * "m", SecPageTables → "sec").
 */
export function meminfoMetricName(field: MeminfoField, nodeExporterNames: boolean): string {
  const key = field.name.replace(/\((.*)\)/, '_$1');
  if (nodeExporterNames) return `node_memory_${key}${field.bytes ? '_bytes' : ''}`;
  return `node_memory_${key.toLowerCase()}${field.bytes ? '_bytes' : '_pages'}`;
}

/** Metric names by field, kind and naming: the same sixty fields come back on every collection. */
const nameCache = new Map<string, string>();

export function memoryExposition(fields: MeminfoField[], nodeExporterNames: boolean): ExposedMetric[] {
  const seen = new Set<string>();
  const out: ExposedMetric[] = [];
  for (const field of fields) {
    const cacheKey = `${nodeExporterNames ? 'n' : 's'}${field.bytes ? 'b' : 'c'}${field.name}`;
    let name = nameCache.get(cacheKey);
    if (name === undefined) {
      name = meminfoMetricName(field, nodeExporterNames);
      nameCache.set(cacheKey, name);
    }
    // Names must be unique within an exposition; the kernel never repeats a field, but be safe.
    if (seen.has(name)) continue;
    seen.add(name);
    out.push({
      name,
      help: `Memory information field ${field.name}${field.bytes ? ' in bytes' : ''} (/proc/meminfo).`,
      type: 'gauge',
      samples: [{ value: field.value }],
    });
  }
  return out;
}

export interface MemoryCollectorOptions {
  /** Expose node_exporter's exact CamelCase names (not promtool-clean). */
  nodeExporterNames?: boolean;
}

export function createMemoryCollector(options: MemoryCollectorOptions = {}): Collector {
  const nodeExporterNames = options.nodeExporterNames ?? false;
  return {
    name: 'memory',
    defaultEnabled: true,
    intervalMs: 10_000,
    async collect(ctx) {
      const text = readKernelFile(ctx.procRoot, 'meminfo');
      const ts = ctx.now();
      const fields = parseMeminfo(text);
      ctx.expose?.(memoryExposition(fields, nodeExporterNames));
      return [{ family: 'host_memory', ts, rows: [memoryRow(fields)] }];
    },
  };
}

/**
 * JSON metrics with a mapping: an endpoint that serves JSON (`{"requests":{"total":12,"failed":1}}`) is read
 * through a list of entries, each a simple dotted path into the document (`requests.total`; a number
 * segment indexes an array: `pools.0.active`), the metric name it becomes, gauge or counter, an optional
 * unit (stored as the label `unit`, so `ms` and `s` never mix in one series) and optional fixed labels.
 * Pure and bounded: the mapping is checked once (`parseJsonMapping`: entry count, path depth, name and
 * label bounds) and a lookup walks own properties only, at most `maxJsonPathDepth` steps.
 *
 * A value is a finite number, a boolean (1/0) or a string holding a decimal number; a path that is absent
 * or null gives no sample and is counted as `missing`, anything else as `not_numeric`.
 */
import {
  canonicalLabels,
  countDrop,
  type DropCounts,
  type ParseResult,
  type ScrapedSample,
  ScrapeParseError,
} from './samples.js';

export interface JsonMetricMapping {
  path: string;
  name: string;
  type: 'gauge' | 'counter';
  unit?: string;
  labels?: Record<string, string>;
}

export const maxJsonMappings = 500;
export const maxJsonPathDepth = 10;
const segmentRe = /^[A-Za-z0-9_$@-]{1,100}$/;
const metricNameRe = /^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$/;
const labelNameRe = /^[a-zA-Z_][a-zA-Z0-9_]{0,99}$/;
const unitRe = /^[A-Za-z0-9_%/.-]{1,32}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks a mapping given as data (config file, API body); the error names the first bad entry and field. */
export function parseJsonMapping(input: unknown): JsonMetricMapping[] {
  if (!Array.isArray(input))
    throw new ScrapeParseError('json mapping: expected a list of {path, name, type}');
  if (input.length === 0) throw new ScrapeParseError('json mapping: give at least one entry');
  if (input.length > maxJsonMappings)
    throw new ScrapeParseError(`json mapping: ${input.length} entries, at most ${maxJsonMappings}`);
  const names = new Set<string>();
  return input.map((e, i) => {
    const at = `json mapping[${i}]`;
    if (!isObject(e)) throw new ScrapeParseError(`${at}: expected an object {path, name, type}`);
    for (const k of Object.keys(e)) {
      if (!['path', 'name', 'type', 'unit', 'labels'].includes(k))
        throw new ScrapeParseError(`${at}: unknown field "${k.slice(0, 40)}"`);
    }
    const { path, name, type, unit, labels } = e;
    if (
      typeof path !== 'string' ||
      path.split('.').length > maxJsonPathDepth ||
      !path.split('.').every((s) => segmentRe.test(s))
    )
      throw new ScrapeParseError(
        `${at}.path: expected dotted keys (letters, digits, _ - $ @), at most ${maxJsonPathDepth} deep, e.g. requests.total`,
      );
    if (typeof name !== 'string' || !metricNameRe.test(name))
      throw new ScrapeParseError(
        `${at}.name: expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*, at most 200)`,
      );
    if (type !== 'gauge' && type !== 'counter')
      throw new ScrapeParseError(`${at}.type: expected gauge or counter`);
    if (unit !== undefined && (typeof unit !== 'string' || !unitRe.test(unit)))
      throw new ScrapeParseError(`${at}.unit: expected a short unit such as ms, s, bytes, %`);
    const out: JsonMetricMapping = { path, name, type };
    if (unit !== undefined) out.unit = unit as string;
    if (labels !== undefined) {
      if (!isObject(labels) || Object.keys(labels).length > 10)
        throw new ScrapeParseError(`${at}.labels: expected an object of at most 10 name: "value" pairs`);
      const l: Record<string, string> = {};
      for (const [k, v] of Object.entries(labels)) {
        if (!labelNameRe.test(k) || k === 'unit' || typeof v !== 'string' || v.length > 200)
          throw new ScrapeParseError(
            `${at}.labels.${k.slice(0, 40)}: expected a label name (not "unit") and a string value of at most 200 characters`,
          );
        l[k] = v;
      }
      out.labels = l;
    }
    const key = `${name}{${canonicalLabels(pairsOf(out))}}`;
    if (names.has(key)) throw new ScrapeParseError(`${at}: ${key} is mapped twice`);
    names.add(key);
    return out;
  });
}

function pairsOf(m: JsonMetricMapping): Array<[string, string]> {
  const pairs: Array<[string, string]> = Object.entries(m.labels ?? {});
  if (m.unit !== undefined) pairs.push(['unit', m.unit]);
  return pairs;
}

/** The value at a dotted path, walking own properties only; undefined when absent. */
export function valueAtPath(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const seg of path.split('.', maxJsonPathDepth)) {
    if (Array.isArray(cur)) {
      if (!/^\d{1,9}$/.test(seg)) return undefined;
      cur = cur[Number(seg)];
    } else if (isObject(cur)) {
      if (!Object.hasOwn(cur, seg)) return undefined;
      cur = cur[seg];
    } else return undefined;
  }
  return cur;
}

function numberOf(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v.trim())) {
    const n = Number(v.trim());
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** Reads a JSON body through a checked mapping (see the module header). */
export function parseJsonMetrics(
  text: string,
  mapping: readonly JsonMetricMapping[],
  maxBytes: number,
): ParseResult {
  if (text.length > maxBytes) {
    throw new ScrapeParseError(`the body is ${text.length} characters, over the ${maxBytes} limit`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ScrapeParseError(`the body is not JSON (${(err as Error).message.slice(0, 120)})`);
  }
  const samples: ScrapedSample[] = [];
  const dropped: DropCounts = {};
  for (const m of mapping) {
    const raw = valueAtPath(doc, m.path);
    if (raw === undefined || raw === null) {
      countDrop(dropped, 'missing');
      continue;
    }
    const value = numberOf(raw);
    if (value === undefined) {
      countDrop(dropped, 'not_numeric');
      continue;
    }
    samples.push({ name: m.name, labels: canonicalLabels(pairsOf(m)), value, kind: m.type });
  }
  return { samples, dropped };
}

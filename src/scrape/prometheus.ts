/**
 * The Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text, read into samples. Pure, bounded:
 * the text's length and line count are checked before and while walking, each name and label against its
 * limit (src/scrape/samples.ts), and nothing is kept per line but the sample.
 *
 * What each sample becomes:
 * - counter families (`x_total`, or `x` in 0.0.4) → counter; `_created` samples are dropped (a start time,
 *   not a value) and counted;
 * - histogram → `_bucket` (with `le`), `_sum`, `_count`, all counters; summary → `_sum`, `_count` counters
 *   and the quantile series (with `quantile`) gauges; gaugehistogram (`_gbucket`, `_gsum`, `_gcount`) gauges;
 * - gauge, info, stateset, unknown and untyped (no `# TYPE`) → gauge.
 * Values NaN and ±Inf are dropped and counted (JSON, the batch format, has no such numbers; a NaN quantile
 * means "no observations", which is a null, not a number). Exposed timestamps are ignored: every sample of
 * a scrape is stored at the scrape time, as Prometheus does for samples without one. Exemplars
 * (` # {…} v`) are skipped. `# EOF` ends the text. A line that is not a sample, comment or blank fails the
 * whole scrape with its line number, as Prometheus does; a series served twice keeps its first value.
 */
import {
  canonicalLabels,
  countDrop,
  defaultParseLimits,
  type ParseLimits,
  type ParseResult,
  type SampleKind,
  type ScrapedSample,
  ScrapeParseError,
  seriesKey,
} from './samples.js';

type FamilyType =
  | 'counter'
  | 'gauge'
  | 'histogram'
  | 'gaugehistogram'
  | 'summary'
  | 'info'
  | 'stateset'
  | 'unknown'
  | 'untyped';

const familyTypes = new Set<string>([
  'counter',
  'gauge',
  'histogram',
  'gaugehistogram',
  'summary',
  'info',
  'stateset',
  'unknown',
  'untyped',
]);

const nameRe = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const labelNameRe = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const suffixes = ['_bucket', '_sum', '_count', '_total', '_created', '_gbucket', '_gsum', '_gcount', '_info'];

/** A sample value: a float, NaN, or ±Inf (as Go's ParseFloat reads them). Undefined when not a number. */
export function parseValue(text: string): number | undefined {
  switch (text) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
    case '+inf':
    case 'inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
    case '-inf':
      return Number.NEGATIVE_INFINITY;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

/** The kind a sample of family `type` with suffix `suffix` ('' for the bare name) is stored as. */
function kindOf(type: FamilyType, suffix: string): SampleKind | 'drop' {
  if (suffix === '_created') return 'drop';
  switch (type) {
    case 'counter':
      return 'counter';
    case 'histogram':
      return suffix === '_bucket' || suffix === '_sum' || suffix === '_count' ? 'counter' : 'gauge';
    case 'summary':
      return suffix === '_sum' || suffix === '_count' ? 'counter' : 'gauge';
    default:
      return 'gauge';
  }
}

/** The family type of a sample name, by its own `# TYPE` or its family's (name minus a known suffix). */
function familyOf(name: string, types: Map<string, FamilyType>): { type: FamilyType; suffix: string } {
  const own = types.get(name);
  // A 0.0.4 counter is typed under its full name (`x_total` with `# TYPE x_total counter`).
  if (own !== undefined && !(own === 'histogram' || own === 'summary' || own === 'gaugehistogram'))
    return { type: own, suffix: '' };
  for (const s of suffixes) {
    if (name.endsWith(s)) {
      const t = types.get(name.slice(0, -s.length));
      if (t !== undefined) return { type: t, suffix: s };
    }
  }
  return { type: own ?? 'untyped', suffix: '' };
}

/**
 * Reads `{a="x",b="y"}` starting at `i` (on the `{`): the pairs and the index after `}`. Throws on
 * malformed text; `bad` is set when a bound is exceeded (the sample is then dropped, not the scrape).
 */
function readLabels(
  line: string,
  start: number,
  lineNo: number,
  limits: ParseLimits,
): { pairs: Array<[string, string]>; end: number; bad: boolean } {
  const pairs: Array<[string, string]> = [];
  let bad = false;
  let i = start + 1;
  const fail = (what: string): never => {
    throw new ScrapeParseError(`line ${lineNo}: ${what} at column ${i + 1}`);
  };
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] === '}') return { pairs, end: i + 1, bad };
    const m = labelNameRe.exec(line.slice(i, i + limits.maxLabelNameLength + 2));
    if (!m) fail('expected a label name');
    let lname = m![0];
    if (lname.length > limits.maxLabelNameLength) {
      bad = true;
      lname = labelNameRe.exec(line.slice(i))![0];
    }
    i += lname.length;
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] !== '=') fail(`expected = after label ${lname}`);
    i++;
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] !== '"') fail(`expected " to open the value of label ${lname}`);
    i++;
    let value = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) fail(`unterminated value of label ${lname}`);
      if (c === '"') break;
      if (c === '\\') {
        const n = line[i + 1];
        if (n === undefined) fail(`unterminated value of label ${lname}`);
        value += n === 'n' ? '\n' : n === '\\' ? '\\' : n === '"' ? '"' : `\\${n}`;
        i += 2;
      } else {
        value += c;
        i++;
      }
      if (value.length > limits.maxLabelValueLength) {
        bad = true;
        // Skip to the closing quote without keeping more of the value.
        while (line[i] !== undefined && line[i] !== '"') i += line[i] === '\\' ? 2 : 1;
        if (line[i] === undefined) fail(`unterminated value of label ${lname}`);
        break;
      }
    }
    i++;
    if (pairs.some((p) => p[0] === lname)) fail(`label ${lname} given twice`);
    if (pairs.length >= limits.maxLabels) bad = true;
    else pairs.push([lname, value]);
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') fail('expected , or }');
  }
}

/** Parses Prometheus text 0.0.4 or OpenMetrics text into samples (see the module header). */
export function parsePrometheusText(text: string, limits: ParseLimits = defaultParseLimits): ParseResult {
  if (text.length > limits.maxBytes) {
    throw new ScrapeParseError(`the text is ${text.length} characters, over the ${limits.maxBytes} limit`);
  }
  const types = new Map<string, FamilyType>();
  const samples: ScrapedSample[] = [];
  const seen = new Set<string>();
  const dropped = {};
  let lineNo = 0;
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    let line = text.slice(pos, nl);
    pos = nl + 1;
    lineNo++;
    if (lineNo > limits.maxLines) {
      throw new ScrapeParseError(`more than ${limits.maxLines} lines`);
    }
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s*(HELP|TYPE|UNIT|EOF)\b\s*(\S*)\s*(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      if (m[1] === 'EOF') break;
      if (m[1] === 'TYPE') {
        const t = m[3]!.trim().toLowerCase();
        if (!familyTypes.has(t)) throw new ScrapeParseError(`line ${lineNo}: unknown metric type "${t}"`);
        if (m[2]!.length <= limits.maxNameLength && types.size < limits.maxLines)
          types.set(m[2]!, t as FamilyType);
      }
      continue;
    }
    let i = 0;
    while (line[i] === ' ' || line[i] === '\t') i++;
    const nm = nameRe.exec(line.slice(i, i + limits.maxNameLength + 2));
    if (!nm) throw new ScrapeParseError(`line ${lineNo}: expected a metric name`);
    let name = nm[0];
    let tooLong = false;
    if (name.length > limits.maxNameLength) {
      tooLong = true;
      const rest = nameRe.exec(line.slice(i));
      name = rest![0];
    }
    i += name.length;
    let pairs: Array<[string, string]> = [];
    let bad = false;
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] === '{') {
      const r = readLabels(line, i, lineNo, limits);
      pairs = r.pairs;
      bad = r.bad;
      i = r.end;
    }
    const rest = line.slice(i).trim();
    // value [timestamp] [# exemplar]
    const hash = rest.indexOf(' #');
    const fields = (hash >= 0 ? rest.slice(0, hash) : rest).split(/[ \t]+/).filter((f) => f !== '');
    if (fields.length === 0 || fields.length > 2) {
      throw new ScrapeParseError(
        `line ${lineNo}: expected a value (and optionally a timestamp) after ${name}`,
      );
    }
    const value = parseValue(fields[0]!);
    if (value === undefined)
      throw new ScrapeParseError(`line ${lineNo}: "${fields[0]!.slice(0, 40)}" is not a number`);
    if (fields[1] !== undefined && parseValue(fields[1]) === undefined)
      throw new ScrapeParseError(`line ${lineNo}: timestamp "${fields[1].slice(0, 40)}" is not a number`);
    if (tooLong) {
      countDrop(dropped, 'name_too_long');
      continue;
    }
    if (bad) {
      countDrop(dropped, 'label_bounds');
      continue;
    }
    const { type, suffix } = familyOf(name, types);
    const kind = kindOf(type, suffix);
    if (kind === 'drop') {
      countDrop(dropped, 'created');
      continue;
    }
    if (!Number.isFinite(value)) {
      countDrop(dropped, 'non_finite');
      continue;
    }
    const sample: ScrapedSample = { name, labels: canonicalLabels(pairs), value, kind };
    const key = seriesKey(sample);
    if (seen.has(key)) {
      countDrop(dropped, 'duplicate');
      continue;
    }
    seen.add(key);
    samples.push(sample);
  }
  return { samples, dropped };
}

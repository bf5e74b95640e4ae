/**
 * Custom SQL metrics (the pgwatch model): user-defined queries the agent runs on a PostgreSQL target, each
 * with one SQL text per minimum `server_version_num` (the highest one not above the server's wins), an
 * interval, and its result columns typed `label`, `gauge` or `counter`. Their values are stored in the
 * narrow family `pg_custom` (one row per result row and value column; src/protocol/families/postgres.ts).
 *
 * Shared by the agent (its `--custom-metrics-file`) and the server (a pushed agent config is checked with
 * the same rules before it is stored). Definitions are input: `parseCustomMetrics` takes only known keys of
 * the right type within the bounds below, and its errors name the metric and the field.
 */

/** Bounds: what one agent may be asked to run. */
export const customMetricBounds = {
  metrics: 50,
  nameLength: 63,
  versions: 8,
  sqlLength: 16_384,
  columns: 32,
  labelColumns: 16,
  helpLength: 300,
  unitLength: 32,
  intervalS: { min: 10, max: 86_400, default: 60 },
  timeoutS: { min: 1, max: 60, default: 5 },
  maxRows: { min: 1, max: 10_000, default: 1_000 },
  /** Longer label values are cut to this many characters (and the cut counted in the run's status). */
  labelValueLength: 128,
} as const;

export type CustomColumnType = 'label' | 'gauge' | 'counter';

export interface CustomColumn {
  /** The result column's name, as the query returns it. */
  name: string;
  type: CustomColumnType;
  help?: string;
  unit?: string;
  /** Gauges only: a value above this opens a warning (check pg.custom_threshold). */
  warn_above?: number;
  /** Gauges only: a value above this is critical. */
  crit_above?: number;
}

export interface CustomMetricDef {
  /** Stored as the `metric` label of pg_custom; a lower-case identifier. */
  name: string;
  help?: string;
  /** Minimum server_version_num → SQL (keys as decimal strings: they come from TOML/JSON keys). */
  sql: Record<string, string>;
  /** Seconds between runs. (The wire keys are the file's keys, so a parsed definition parses again.) */
  interval: number;
  /** statement_timeout of the query, seconds. */
  timeout: number;
  /** Result rows kept per run; the rest are dropped and counted. */
  max_rows: number;
  columns: CustomColumn[];
}

const identifier = /^[a-z][a-z0-9_]*$/;
const columnName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const versionKey = /^[1-9]\d{4,5}$/;
const columnTypes: readonly CustomColumnType[] = ['label', 'gauge', 'counter'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class DefinitionError extends Error {}

function fail(message: string): never {
  throw new DefinitionError(message);
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) fail(`${where}: unknown key "${k.slice(0, 40)}" (known: ${keys.join(', ')})`);
  }
}

function own(o: Record<string, unknown>, k: string): unknown {
  return Object.hasOwn(o, k) ? o[k] : undefined;
}

function optionalText(o: Record<string, unknown>, k: string, max: number, where: string): string | undefined {
  const v = own(o, k);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(`${where}: ${k} must be a string`);
  if (v.length > max) fail(`${where}: ${k} is longer than ${max} characters`);
  return v;
}

function boundedInt(
  o: Record<string, unknown>,
  k: string,
  b: { min: number; max: number; default: number },
  where: string,
): number {
  const v = own(o, k);
  if (v === undefined) return b.default;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < b.min || v > b.max) {
    fail(
      `${where}: ${k} must be a whole number from ${b.min} to ${b.max}, got ${JSON.stringify(v)?.slice(0, 40)}`,
    );
  }
  return v;
}

function parseColumn(v: unknown, where: string): CustomColumn {
  if (!isObject(v)) fail(`${where}: expected a table with name and type`);
  onlyKeys(v, ['name', 'type', 'help', 'unit', 'warn_above', 'crit_above'], where);
  const name = own(v, 'name');
  if (typeof name !== 'string' || !columnName.test(name) || name.length > customMetricBounds.nameLength) {
    fail(
      `${where}: name must be a column name (letters, digits, _; at most ${customMetricBounds.nameLength}), got ${JSON.stringify(name)?.slice(0, 80)}`,
    );
  }
  const at = `${where} (${name})`;
  const type = own(v, 'type');
  if (typeof type !== 'string' || !(columnTypes as readonly string[]).includes(type)) {
    fail(`${at}: type must be one of ${columnTypes.join(', ')}, got ${JSON.stringify(type)?.slice(0, 40)}`);
  }
  const help = optionalText(v, 'help', customMetricBounds.helpLength, at);
  const unit = optionalText(v, 'unit', customMetricBounds.unitLength, at);
  const limits: { warn_above?: number; crit_above?: number } = {};
  for (const k of ['warn_above', 'crit_above'] as const) {
    const x = own(v, k);
    if (x === undefined) continue;
    if (type !== 'gauge') fail(`${at}: ${k} applies to gauge columns only (a counter's total only grows)`);
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(`${at}: ${k} must be a number`);
    limits[k] = x;
  }
  if (
    limits.warn_above !== undefined &&
    limits.crit_above !== undefined &&
    limits.crit_above < limits.warn_above
  ) {
    fail(`${at}: crit_above (${limits.crit_above}) is below warn_above (${limits.warn_above})`);
  }
  return {
    name,
    type: type as CustomColumnType,
    ...(help !== undefined ? { help } : {}),
    ...(unit !== undefined ? { unit } : {}),
    ...limits,
  };
}

function parseOne(v: unknown, index: number): CustomMetricDef {
  const b = customMetricBounds;
  if (!isObject(v)) fail(`custom metric #${index + 1}: expected a table`);
  const name = own(v, 'name');
  if (typeof name !== 'string' || !identifier.test(name) || name.length > b.nameLength) {
    fail(
      `custom metric #${index + 1}: name must be a lower-case identifier (a-z, 0-9, _; at most ${b.nameLength}), got ${JSON.stringify(name)?.slice(0, 80)}`,
    );
  }
  const where = `custom metric "${name}"`;
  onlyKeys(v, ['name', 'help', 'sql', 'interval', 'timeout', 'max_rows', 'columns'], where);
  const help = optionalText(v, 'help', b.helpLength, where);
  const sqlIn = own(v, 'sql');
  if (!isObject(sqlIn)) {
    fail(
      `${where}: sql must be a table of minimum server_version_num → SQL, e.g. sql = { 150000 = "SELECT …" }`,
    );
  }
  const keys = Object.keys(sqlIn);
  if (keys.length === 0) fail(`${where}: sql has no query`);
  if (keys.length > b.versions) fail(`${where}: sql has ${keys.length} versions; at most ${b.versions}`);
  const sql: Record<string, string> = {};
  for (const k of keys) {
    if (!versionKey.test(k) || Number(k) < 90_000) {
      fail(`${where}: sql.${k.slice(0, 20)}: the key must be a server_version_num such as 150000 or 180000`);
    }
    const text = sqlIn[k];
    if (typeof text !== 'string' || text.trim() === '') fail(`${where}: sql.${k}: expected the SQL text`);
    if (text.length > b.sqlLength) fail(`${where}: sql.${k}: longer than ${b.sqlLength} characters`);
    if (text.includes('\0')) fail(`${where}: sql.${k}: contains a NUL character`);
    sql[String(Number(k))] = text;
  }
  const interval = boundedInt(v, 'interval', b.intervalS, where);
  const timeout = boundedInt(v, 'timeout', b.timeoutS, where);
  const max_rows = boundedInt(v, 'max_rows', b.maxRows, where);
  const colsIn = own(v, 'columns');
  if (!Array.isArray(colsIn) || colsIn.length === 0) {
    fail(`${where}: columns must be a non-empty list of { name, type = "label" | "gauge" | "counter" }`);
  }
  if (colsIn.length > b.columns) fail(`${where}: ${colsIn.length} columns; at most ${b.columns}`);
  const columns = colsIn.map((c, i) => parseColumn(c, `${where}: columns[${i}]`));
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c.name)) fail(`${where}: column ${c.name} is declared twice`);
    seen.add(c.name);
  }
  if (!columns.some((c) => c.type !== 'label'))
    fail(`${where}: no gauge or counter column: nothing to store`);
  const labels = columns.filter((c) => c.type === 'label').length;
  if (labels > b.labelColumns) fail(`${where}: ${labels} label columns; at most ${b.labelColumns}`);
  return { name, ...(help !== undefined ? { help } : {}), sql, interval, timeout, max_rows, columns };
}

/**
 * Checks a list of definitions (from a file or a pushed config). The first problem is the error, naming
 * the metric (by name, or by position when it has none) and the field.
 */
export function parseCustomMetrics(
  value: unknown,
): { ok: true; metrics: CustomMetricDef[] } | { ok: false; error: string } {
  try {
    if (!Array.isArray(value)) fail('custom metrics: expected a list of metric definitions');
    if (value.length > customMetricBounds.metrics) {
      fail(`custom metrics: ${value.length} definitions; at most ${customMetricBounds.metrics}`);
    }
    const metrics = value.map((v, i) => parseOne(v, i));
    const names = new Set<string>();
    for (const m of metrics) {
      if (names.has(m.name)) fail(`custom metric "${m.name}" is defined twice`);
      names.add(m.name);
    }
    return { ok: true, metrics };
  } catch (err) {
    if (err instanceof DefinitionError) return { ok: false, error: err.message };
    throw err;
  }
}

/** The SQL for a server version: the text with the highest minimum version not above it. */
export function pickCustomSql(def: CustomMetricDef, serverVersionNum: number): string | undefined {
  let best: number | undefined;
  for (const k of Object.keys(def.sql)) {
    const min = Number(k);
    if (min <= serverVersionNum && (best === undefined || min > best)) best = min;
  }
  return best === undefined ? undefined : def.sql[String(best)];
}

/** A label value as it appears between quotes: backslash, quote and newline escaped (Prometheus style). */
function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The canonical text of a label set: `k="v",k2="v2"`, sorted by name, values escaped; '' for none. */
export function canonicalLabels(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabelValue(labels[k] ?? '')}"`)
    .join(',');
}

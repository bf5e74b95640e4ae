/**
 * The batch wire format, version 1 (`application/vnd.pgvigil.batch.v1+json`, gzip-compressed).
 *
 * One batch is what an agent sealed in one push interval, identified by (agentId, seq): seq is assigned at
 * sealing and never changes, so a retried batch is recognised by the server and written once.
 *
 *   {
 *     "v": 1, "agentId": "<uuid>", "seq": 42, "sealedAt": 1795000000000,
 *     "families": { "host_cpu": { "columns": ["ts", "cpu", "user_pct", …], "rows": [[1795…, "total", 3.5, …]] } },
 *     "logs": { "columns": ["ts", "source", "level", …], "rows": [[…]] },
 *     "gaps": [{ "fromSeq": 10, "toSeq": 12, "count": 3, "reason": "spool-full" }],
 *     "status": { "collectors": { "pressure": { "ok": false, "error": "…" } } }
 *   }
 *
 * Rows are arrays under a per-table column list (small and fast to decode). `ts` is ms since the epoch
 * (or an ISO 8601 string with its zone, `Z` or `±hh:mm`; nothing read in some local time); target families carry a `target` column naming the PostgreSQL target.
 * Missing columns are stored as NULL. Unknown families, columns or versions are refused — never dropped
 * silently. `validateBatch` checks everything and names the first bad field by its path.
 */

import { type ColumnSpec, type ColumnType, familyByName } from './families/index.js';
import { logEntryColumns } from './logs.js';

export const batchMediaType = 'application/vnd.pgvigil.batch.v1+json';
export const supportedBatchMediaTypes = [batchMediaType] as const;

export type GapReason = 'spool-full' | 'corrupt' | 'memory-full' | 'dead-letter';
export const gapReasons: readonly GapReason[] = ['spool-full', 'corrupt', 'memory-full', 'dead-letter'];

export interface WireGap {
  fromSeq: number;
  toSeq: number;
  count: number;
  reason: GapReason;
}

export interface WireTable {
  columns: string[];
  rows: unknown[][];
}

export interface BatchV1 {
  v: 1;
  agentId: string;
  seq: number;
  sealedAt: number;
  families: Record<string, WireTable>;
  logs?: WireTable;
  gaps?: WireGap[];
  status?: Record<string, unknown>;
}

export interface BatchLimits {
  /** Rows across all tables of one batch. */
  maxRows: number;
  /** Length of one text value. */
  maxTextLength: number;
  /** Accept rows up to this far in the future (clock skew). */
  maxFutureMs: number;
  /** Reject rows older than this (raw retention: there is no partition for them). */
  maxAgeMs: number;
}

export const defaultBatchLimits: BatchLimits = {
  maxRows: 100_000,
  maxTextLength: 16_384,
  maxFutureMs: 10 * 60_000,
  maxAgeMs: 7 * 86_400_000,
};

/** A table of a validated batch: rows kept, ts normalised to ms, rejected rows counted by reason. */
export interface ValidTable {
  table: string;
  /** Wire columns, `ts` included, in wire order. */
  columns: string[];
  types: ColumnType[];
  rows: unknown[][];
  tsIndex: number;
  targetIndex: number;
}

export interface ValidBatch {
  agentId: string;
  seq: number;
  sealedAt: number;
  tables: ValidTable[];
  gaps: WireGap[];
  status?: Record<string, unknown>;
  rowCount: number;
  rejected: { future: number; tooOld: number };
}

export type Validation =
  | { ok: true; batch: ValidBatch }
  | { ok: false; kind: 'version' | 'invalid' | 'too-large'; path: string; message: string };

const int8Max = 9223372036854775807n;
const int8Min = -9223372036854775808n;
const uuidRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

class BatchError extends Error {
  constructor(
    readonly kind: 'version' | 'invalid' | 'too-large',
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

function fail(path: string, message: string): never {
  throw new BatchError('invalid', path, message);
}

/** Fails at row `r` of the table at `path`, or at its value `i`: the path is made only here. */
function failRow(path: string, r: number, i: number | undefined, message: string): never {
  fail(i === undefined ? `${path}.rows[${r}]` : `${path}.rows[${r}][${i}]`, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `string "${v.length > 20 ? `${v.slice(0, 20)}…` : v}"`;
  return typeof v;
}

/**
 * Timestamps accepted anywhere (batches, the read API): 1970-01-01 up to the end of year 9999, which
 * JavaScript dates, ISO 8601 with four-digit years and PostgreSQL all represent.
 */
export const maxTimestampMs = 253_402_300_799_999;

/** ISO 8601 date-time with seconds optional, fraction optional and a zone required. */
const isoRe =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|([+-])(\d{2}):(\d{2}))$/i;

/**
 * Parses an ISO 8601 date-time with its zone (`2026-02-12T10:00:00Z`, `…+01:00`) to ms, or undefined.
 * Everything else is refused — `12/02/2026 10:00`, RFC 1123 — because `Date.parse` reads those in the
 * local time of whatever machine parses them, or guesses.
 */
export function parseIsoTime(s: string): number | undefined {
  const m = isoRe.exec(s);
  if (!m) return undefined;
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59)
    return undefined;
  const offsetMin = m[7] === undefined ? 0 : (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]));
  if (m[7] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) return undefined;
  const ms = Date.parse(s);
  if (!Number.isFinite(ms) || ms < 0 || ms > maxTimestampMs) return undefined;
  // 2026-02-30 is no date, though Date.parse rolls it over to March 2.
  if (new Date(ms + offsetMin * 60_000).getUTCDate() !== day) return undefined;
  return ms;
}

/**
 * A time written as text by a person or a URL: milliseconds since the epoch (digits only) or ISO 8601
 * with its zone; undefined for anything else.
 */
export function parseTimeText(s: string): number | undefined {
  const ms = /^\d{1,15}$/.test(s) ? Number(s) : parseIsoTime(s);
  return ms !== undefined && ms <= maxTimestampMs ? ms : undefined;
}

/** Parses a `ts` value (ms number, or ISO 8601 with a zone) to ms, or undefined when it is neither. */
export function parseTs(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 && v <= maxTimestampMs ? v : undefined;
  if (typeof v === 'string' && v.length <= 40) return parseIsoTime(v);
  return undefined;
}

/** float4's largest finite value and its smallest normal one. */
const float4Max = 3.4028234663852886e38;
const float4MinNormal = 1.1754943508222875e-38;

/**
 * What is wrong with a value for its column type, or undefined when nothing is. The caller names the path:
 * building it for every value (a thousand strings a batch) only to throw it away was a measurable part of
 * validation and of the garbage it leaves.
 */
function valueProblem(v: unknown, type: ColumnType, limits: BatchLimits): string | undefined {
  if (v === null) return undefined;
  switch (type) {
    case 'text':
      if (typeof v !== 'string') return `expected a string, got ${describe(v)}`;
      if (v.length > limits.maxTextLength) return `text longer than ${limits.maxTextLength} characters`;
      if (v.includes('\u0000')) return 'text contains a NUL character';
      return undefined;
    case 'int4':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) return `expected an integer, got ${describe(v)}`;
      if (v > 2147483647 || v < -2147483648) return 'integer out of int4 range';
      return undefined;
    case 'int8':
      // 64-bit values beyond 2^53 (query ids) travel as decimal strings to keep every digit.
      if (typeof v === 'string') {
        if (!/^-?\d{1,19}$/.test(v) || BigInt(v) > int8Max || BigInt(v) < int8Min) {
          return `expected a 64-bit integer, got ${describe(v)}`;
        }
        return undefined;
      }
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) return `expected an integer, got ${describe(v)}`;
      return undefined;
    case 'float4':
    case 'float8':
      // JSON cannot carry NaN or Infinity; a string "NaN" is a wrong type like any other.
      if (typeof v !== 'number' || !Number.isFinite(v)) return `expected a finite number, got ${describe(v)}`;
      if (type === 'float4' && Math.abs(v) > float4Max) return `number ${v} out of float4 range`;
      return undefined;
    case 'bool':
      if (typeof v !== 'boolean') return `expected true or false, got ${describe(v)}`;
      return undefined;
    case 'timestamptz':
      if (parseTs(v) === undefined) {
        return `expected a timestamp (ms since 1970 up to year 9999, or ISO 8601 with a zone such as 2026-01-31T12:00:00Z), got ${describe(v)}`;
      }
      return undefined;
    case 'jsonb':
      if (!isObject(v) && !Array.isArray(v)) return `expected an object, got ${describe(v)}`;
      return undefined;
  }
  return undefined;
}

function validateTable(
  path: string,
  table: string,
  specCols: readonly ColumnSpec[],
  hasTarget: boolean,
  wire: unknown,
  limits: BatchLimits,
  now: number,
  acc: { rows: number; future: number; tooOld: number },
): ValidTable {
  if (!isObject(wire)) fail(path, `expected an object with columns and rows, got ${describe(wire)}`);
  const { columns, rows } = wire;
  if (!Array.isArray(columns)) fail(`${path}.columns`, 'expected an array of column names');
  if (!Array.isArray(rows)) fail(`${path}.rows`, 'expected an array of rows');
  const byName = new Map(specCols.map((c) => [c.name, c]));
  const types: ColumnType[] = [];
  const seen = new Set<string>();
  columns.forEach((c, i) => {
    if (typeof c !== 'string') fail(`${path}.columns[${i}]`, `expected a column name, got ${describe(c)}`);
    if (seen.has(c)) fail(`${path}.columns[${i}]`, `column "${c}" appears twice`);
    seen.add(c);
    if (c === 'ts' && !byName.has('ts')) types.push('timestamptz');
    else if (c === 'target' && hasTarget) types.push('text');
    else {
      const spec = byName.get(c);
      if (!spec) fail(`${path}.columns[${i}]`, `unknown column "${c}" for ${table}`);
      types.push(spec.type);
    }
  });
  const tsIndex = columns.indexOf('ts');
  if (tsIndex < 0) fail(`${path}.columns`, 'the column "ts" is required');
  const targetIndex = hasTarget ? columns.indexOf('target') : -1;
  if (hasTarget && targetIndex < 0)
    fail(`${path}.columns`, 'the column "target" is required for target families');
  const required = specCols.filter((c) => c.label).map((c) => c.name);
  for (const name of required) {
    if (!seen.has(name)) fail(`${path}.columns`, `the label column "${name}" is required`);
  }
  const labelIdx = required.map((n) => columns.indexOf(n));
  if (targetIndex >= 0) labelIdx.push(targetIndex);

  acc.rows += rows.length;
  if (acc.rows > limits.maxRows) {
    throw new BatchError('too-large', path, `more than ${limits.maxRows} rows in one batch`);
  }
  const kept: unknown[][] = [];
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    // The row's path is text only when something fails (see valueProblem).
    if (!Array.isArray(row)) failRow(path, r, undefined, `expected an array, got ${describe(row)}`);
    if (row.length !== columns.length)
      failRow(path, r, undefined, `has ${row.length} values for ${columns.length} columns`);
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      const problem = valueProblem(v, types[i]!, limits);
      if (problem !== undefined) failRow(path, r, i, problem);
      // PostgreSQL's real input refuses what would round to zero; at float4 precision it is zero.
      if (types[i] === 'float4' && typeof v === 'number' && v !== 0 && Math.abs(v) < float4MinNormal)
        row[i] = 0;
    }
    for (const i of labelIdx)
      if (row[i] === null) failRow(path, r, i, `label "${columns[i]}" must not be null`);
    const ts = parseTs(row[tsIndex]);
    if (ts === undefined) failRow(path, r, tsIndex, 'ts must not be null');
    if (ts > now + limits.maxFutureMs) {
      acc.future++;
      continue;
    }
    if (ts < now - limits.maxAgeMs) {
      acc.tooOld++;
      continue;
    }
    row[tsIndex] = ts;
    kept.push(row);
  }
  return { table, columns: columns as string[], types, rows: kept, tsIndex, targetIndex };
}

/**
 * Checks a decoded batch completely. Rows with timestamps out of the accepted window are removed and
 * counted (the rest of the batch is still good); anything malformed fails the whole batch with the path
 * of the first bad field, because a batch that cannot be read as sent can never succeed.
 */
export function validateBatch(
  body: unknown,
  limits: BatchLimits = defaultBatchLimits,
  now = Date.now(),
): Validation {
  try {
    if (!isObject(body)) fail('', `expected a JSON object, got ${describe(body)}`);
    if (body.v !== 1) {
      throw new BatchError(
        'version',
        'v',
        `unsupported batch version ${JSON.stringify(body.v)}; supported: 1`,
      );
    }
    const { agentId, seq, sealedAt } = body;
    if (typeof agentId !== 'string' || !uuidRe.test(agentId))
      fail('agentId', 'expected the agent id (a UUID)');
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1)
      fail('seq', 'expected a positive integer');
    if (typeof sealedAt !== 'number' || parseTs(sealedAt) === undefined)
      fail('sealedAt', 'expected a time in ms since 1970');
    if (!isObject(body.families)) fail('families', `expected an object, got ${describe(body.families)}`);
    const acc = { rows: 0, future: 0, tooOld: 0 };
    const tables: ValidTable[] = [];
    for (const [name, wire] of Object.entries(body.families)) {
      const spec = familyByName(name);
      if (!spec) fail(`families.${name}`, `unknown family "${name.slice(0, 64)}"`);
      tables.push(
        validateTable(
          `families.${name}`,
          name,
          spec.columns,
          spec.scope === 'target',
          wire,
          limits,
          now,
          acc,
        ),
      );
    }
    if (body.logs !== undefined) {
      tables.push(validateTable('logs', 'log_entries', logEntryColumns, false, body.logs, limits, now, acc));
    }
    const gaps: WireGap[] = [];
    if (body.gaps !== undefined) {
      if (!Array.isArray(body.gaps)) fail('gaps', 'expected an array');
      body.gaps.forEach((g, i) => {
        const p = `gaps[${i}]`;
        if (!isObject(g)) fail(p, 'expected an object');
        for (const k of ['fromSeq', 'toSeq', 'count'] as const) {
          const v = g[k];
          if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
            fail(`${p}.${k}`, 'expected an integer ≥ 0');
        }
        if (!gapReasons.includes(g.reason as GapReason))
          fail(`${p}.reason`, `expected one of ${gapReasons.join(', ')}`);
        gaps.push(g as unknown as WireGap);
      });
      if (gaps.length > 1000) fail('gaps', 'more than 1000 gap records');
    }
    if (body.status !== undefined && !isObject(body.status)) fail('status', 'expected an object');
    return {
      ok: true,
      batch: {
        agentId: agentId.toLowerCase(),
        seq,
        sealedAt,
        tables,
        gaps,
        status: body.status as Record<string, unknown> | undefined,
        rowCount: tables.reduce((n, t) => n + t.rows.length, 0),
        rejected: { future: acc.future, tooOld: acc.tooOld },
      },
    };
  } catch (err) {
    if (err instanceof BatchError) return { ok: false, kind: err.kind, path: err.path, message: err.message };
    throw err;
  }
}

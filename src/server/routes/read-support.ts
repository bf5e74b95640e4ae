/**
 * What the read API's route plugins (servers, nodes, postgres, logs, gaps) share; not a plugin itself.
 *
 * - Every read runs in `inReadSnapshot` (storage/tx.ts): one snapshot per answer, a statement timeout.
 * - Times in and out: requests give ISO 8601 or milliseconds since the epoch; responses give ISO 8601
 *   strings (UTC). Dates from `pg` are turned into strings here, never serialised implicitly.
 * - Table and column names come from the metric family registry, never from a request.
 */
import type pg from 'pg';
import { PgvigilError } from '../../errors.js';
import { parseTimeText } from '../../protocol/batch.js';
import type { ColumnSpec, ColumnType, FamilySpec } from '../../protocol/families/index.js';
import { serverName } from '../../storage/queries/servers.sql.js';
import { findTarget } from '../../storage/queries/targets.sql.js';

export interface ReadRouteOptions {
  pool: pg.Pool;
  /** Statement timeout of read queries, ms. Default 10 s. */
  readTimeoutMs?: number;
}

export const defaultReadTimeoutMs = 10_000;

/**
 * A time given as ISO 8601 with its zone or as milliseconds since the epoch (1970 up to year 9999);
 * `undefined` stays undefined. Other forms (`12/02/2026 10:00`, RFC 1123, `-1`) are refused: `Date.parse`
 * would read them in the server's local time, or guess.
 */
export function parseTime(name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const ms = parseTimeText(value);
  if (ms === undefined) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `${name}: expected an ISO 8601 time with its zone (2026-01-31T12:00:00Z) or milliseconds since the epoch, got "${value.slice(0, 40)}"`,
    );
  }
  return new Date(ms);
}

/** `from` and `to` with defaults (to = now, from = to − defaultMs), checked for order and length. */
export function timeRange(
  q: { from?: string; to?: string },
  defaultMs: number,
  maxMs: number,
  now = new Date(),
): { from: Date; to: Date } {
  const to = parseTime('to', q.to) ?? now;
  const from = parseTime('from', q.from) ?? new Date(to.getTime() - defaultMs);
  if (from.getTime() >= to.getTime()) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `from (${from.toISOString()}) must be before to (${to.toISOString()})`,
    );
  }
  if (to.getTime() - from.getTime() > maxMs) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `the range from ${from.toISOString()} to ${to.toISOString()} is longer than ${Math.round(maxMs / 86_400_000)} days`,
    );
  }
  return { from, to };
}

export function iso(v: Date | string | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v.toISOString() : new Date(v).toISOString();
}

/** Seconds from `ts` to now, one decimal (negative when an agent's clock is ahead). */
export function ageSeconds(ts: Date, now = Date.now()): number {
  return Math.round((now - ts.getTime()) / 100) / 10;
}

/** A row from `pg` with its Date values as ISO strings (what the response schemas say). */
export function jsonRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = v instanceof Date ? v.toISOString() : v;
  return out;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An opaque pagination cursor: base64url of JSON. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor(name: string, cursor: string): unknown {
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new PgvigilError('BAD_ARGUMENT', `${name}: not a cursor this server returned`);
  }
}

/** The server row, or 404. */
export async function requireServer(
  c: pg.PoolClient,
  serverId: number,
): Promise<{ serverId: number; name: string }> {
  const name = await serverName(c, serverId);
  if (name === undefined) throw new PgvigilError('NOT_FOUND', `server ${serverId} does not exist`);
  return { serverId, name };
}

export interface TargetRef {
  targetId: number;
  name: string;
  kind: string;
}

/** A target of a server by id (all digits) or by name, or 404. */
export async function requireTarget(c: pg.PoolClient, serverId: number, target: string): Promise<TargetRef> {
  const byId = /^\d{1,15}$/.test(target);
  const r = await findTarget(c, serverId, target, byId);
  if (!r) throw new PgvigilError('NOT_FOUND', `server ${serverId} has no target "${target.slice(0, 100)}"`);
  return { targetId: Number(r.target_id), name: r.name, kind: r.kind };
}

// JSON schema pieces ------------------------------------------------------------------------------------

export const serverIdParam = {
  type: 'integer',
  minimum: 1,
  maximum: 9_007_199_254_740_991,
  description: 'server id',
} as const;

export const targetParam = {
  type: 'string',
  minLength: 1,
  maxLength: 253,
  description: 'target id (digits) or target name',
} as const;

export const timeParam = (what: string) =>
  ({
    type: 'string',
    minLength: 1,
    maxLength: 40,
    description: `${what}: ISO 8601 (e.g. 2026-01-31T12:00:00Z) or milliseconds since the epoch`,
  }) as const;

export const windowParam = {
  type: 'integer',
  minimum: 10,
  maximum: 86_400,
  default: 600,
  description: 'seconds back from now that count as current; older families are null',
} as const;

/** Params of routes under /servers/:id. */
export const serverIdParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: serverIdParam },
} as const;

/** A query string with only `window` (how far back "now" may look). */
export const windowQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { window: windowParam },
} as const;

export const nullableString = { type: ['string', 'null'] } as const;
export const nullableInteger = { type: ['integer', 'null'] } as const;
export const nullableNumber = { type: ['number', 'null'] } as const;
export const nullableBoolean = { type: ['boolean', 'null'] } as const;
export const freeObject = { type: 'object', additionalProperties: true } as const;
export const nullableFreeObject = { type: ['object', 'null'], additionalProperties: true } as const;

const jsonTypes: Record<ColumnType, string> = {
  text: 'string',
  int4: 'integer',
  int8: 'integer',
  float4: 'number',
  float8: 'number',
  bool: 'boolean',
  timestamptz: 'string',
  jsonb: 'object',
};

/** JSON schema property for one family column (labels are never null). */
export function columnSchema(c: ColumnSpec): Record<string, unknown> {
  const t = jsonTypes[c.type];
  return {
    type: c.label ? t : [t, 'null'],
    description: c.help,
    ...(c.type === 'jsonb' ? { additionalProperties: true } : {}),
  };
}

/** Properties for the columns of a family, minus `omit` (e.g. query ids sent as strings). */
export function familyProperties(
  spec: FamilySpec,
  omit: readonly string[] = [],
): Record<string, Record<string, unknown>> {
  const props: Record<string, Record<string, unknown>> = {};
  for (const c of spec.columns) if (!omit.includes(c.name)) props[c.name] = columnSchema(c);
  return props;
}

export const snapshotMeta = {
  ts: { type: 'string', description: 'when the agent collected it (ISO 8601)' },
  ageSeconds: { type: 'number', description: 'seconds between ts and the response' },
} as const;

/** Querystring properties of a list paged by a keyset and bounded in time: from, to, limit, cursor. */
export function timePageProperties(when: string) {
  return {
    from: { type: 'string', maxLength: 40, description: `${when} at or after (ISO 8601 or ms)` },
    to: { type: 'string', maxLength: 40, description: `${when} before` },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
    cursor: { type: 'string', maxLength: 200 },
  } as const;
}

/** A `[ms, id]` page key as encodeCursor wrote it, or a 400 naming the cursor. */
export function decodeTimeIdCursor(name: string, cursor: string): { ms: number; id: string } {
  const c = decodeCursor(name, cursor);
  if (!Array.isArray(c) || !Number.isFinite(c[0]) || typeof c[1] !== 'string' || !/^\d{1,19}$/.test(c[1])) {
    throw new PgvigilError('BAD_ARGUMENT', `${name}: not a cursor this server returned`);
  }
  return { ms: c[0] as number, id: c[1] };
}

/**
 * Running one family's query and turning its rows into the family's columns. A family that fails
 * (permission, timeout, missing view) is recorded degraded with its reason, logged when its failure starts
 * or changes (not at every collection) and when it recovers; only a failure of the connection itself is
 * thrown, for the caller to end what that connection was doing.
 */
import type { Logger } from '../../../log.js';
import { type ColumnSpec, postgresFamilies } from '../../../protocol/families/index.js';
import type { Row } from '../types.js';
import { type FamilyQuery, pickQuery } from './queries/types.js';
import { isConnectionFailure, type Session } from './session.js';

/** Converts a value from `pg` to the family column's type (int8 and numeric arrive as strings). */
function convert(value: unknown, column: ColumnSpec): string | number | boolean | null {
  if (value === null || value === undefined) return column.label ? '' : null;
  switch (column.type) {
    case 'int4':
    case 'int8':
    case 'float4':
    case 'float8': {
      if (column.label && column.type === 'int8') return String(value);
      const n = typeof value === 'number' ? value : Number(value);
      // An int8 beyond 2^53 (a bigint sequence's max_value) travels as its decimal string, every digit kept.
      if (column.type === 'int8' && !Number.isSafeInteger(n) && typeof value === 'string') return value;
      return Number.isFinite(n) ? n : null;
    }
    case 'bool':
      return typeof value === 'boolean' ? value : value === 't' || value === 'true';
    case 'timestamptz':
      return value instanceof Date ? value.toISOString() : String(value);
    default:
      return typeof value === 'string' ? value : String(value);
  }
}

/** A database row → a family row: every column of the family, in order, null when the query lacks it. */
export function toFamilyRow(family: string, source: Record<string, unknown>): Row {
  const spec = postgresFamilies[family as keyof typeof postgresFamilies];
  const row: Row = {};
  for (const column of spec.columns) row[column.name] = convert(source[column.name], column);
  return row;
}

/** How one family fared in one database (datname '' for instance-wide families): a pg_collector row. */
export interface FamilyStatus {
  family: string;
  datname: string;
  ok: boolean;
  error: string | null;
  durationMs: number;
  rows: number;
}

export function familyStatus(
  family: string,
  datname: string,
  error: string | null,
  started: number,
  rows: number,
): FamilyStatus {
  return { family, datname, ok: error === null, error, durationMs: performance.now() - started, rows };
}

/** What one collection gathers: rows by family, and how every family fared. */
export interface Collection {
  statuses: FamilyStatus[];
  out: Map<string, Row[]>;
  log: Logger;
}

export interface RowCaps {
  /** Row cap per database for tables and statio. */
  maxTablesPerDatabase: number;
  /** Row cap per database for indexes. */
  maxIndexesPerDatabase: number;
}

/** Runs family queries, remembering which are failing so a failure is logged when it starts. */
export class FamilyRunner {
  /** Families (family@datname) currently failing, with their reason. */
  readonly #failing = new Map<string, string>();

  constructor(
    private readonly describe: (err: unknown) => string,
    private readonly caps: RowCaps,
  ) {}

  async run(
    session: Session,
    q: FamilyQuery,
    version: number,
    datname: string,
    { statuses, out, log }: Collection,
  ): Promise<void> {
    const sql = pickQuery(q.versions, version);
    if (!sql) return; // not on this version (pg_stat_io before 16): not applicable, not degraded
    const started = performance.now();
    const statusKey = `${q.family}@${datname}`;
    try {
      const cap =
        q.family === 'pg_indexes' ? this.caps.maxIndexesPerDatabase : this.caps.maxTablesPerDatabase;
      // Named: prepared once per connection, so repeat collections skip planning these view-heavy
      // queries (most of their server time; ~3x less with the plan cached).
      const res = await session.client.query({
        name: `pgvigil_${q.family}_${version}`,
        text: sql,
        values: q.takesRowCap ? [cap] : [],
      });
      const rows = res.rows.map((r: Record<string, unknown>) => toFamilyRow(q.family, r));
      const list = out.get(q.family);
      if (list) list.push(...rows);
      else out.set(q.family, rows);
      statuses.push(familyStatus(q.family, datname, null, started, rows.length));
      if (this.#failing.delete(statusKey))
        log.info({ family: q.family, datname }, 'PostgreSQL family collected again');
    } catch (err) {
      if (isConnectionFailure(err)) throw err;
      let reason = this.describe(err);
      const fallback = q.whenRefused && (err as { code?: unknown }).code === '42501' ? q.whenRefused : null;
      const fallbackSql = fallback ? pickQuery(fallback.versions, version) : undefined;
      let rowCount = 0;
      if (fallback && fallbackSql) {
        reason = `${reason}; ${fallback.missing}`;
        try {
          const res = await session.client.query({
            name: `pgvigil_${q.family}_refused_${version}`,
            text: fallbackSql,
          });
          const rows = res.rows.map((r: Record<string, unknown>) => toFamilyRow(q.family, r));
          const list = out.get(q.family);
          if (list) list.push(...rows);
          else out.set(q.family, rows);
          rowCount = rows.length;
        } catch (err2) {
          if (isConnectionFailure(err2)) throw err2;
          reason = `${this.describe(err)}; without it: ${this.describe(err2)}`;
        }
      }
      statuses.push(familyStatus(q.family, datname, reason, started, rowCount));
      if (this.#failing.get(statusKey) !== reason) {
        log.warn({ family: q.family, datname, reason }, 'PostgreSQL family degraded; retrying next interval');
      }
      this.#failing.set(statusKey, reason);
    }
  }
}

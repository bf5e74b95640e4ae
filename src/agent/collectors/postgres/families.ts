/**
 * Running one family's query and turning its rows into the family's columns. A family that fails
 * (permission, timeout, missing view) is recorded degraded with its reason, logged when its failure starts
 * or changes (not at every collection) and when it recovers; only a failure of the connection itself is
 * thrown, for the caller to end what that connection was doing.
 *
 * A family refused for good (a missing grant, view, column or function) is asked again after a pause
 * (refusals.ts); meanwhile it is reported degraded with the same reason, and a family with a reduced query
 * for the refusal (`whenRefused`) sends that query's rows.
 */
import type pg from 'pg';
import type { Logger } from '../../../log.js';
import { type ColumnSpec, postgresFamilies } from '../../../protocol/families/index.js';
import type { Row } from '../types.js';
import { type FamilyQuery, pickQuery } from './queries/types.js';
import { nextAttempt, type RefusalPause, Refusals } from './refusals.js';
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

/** Appends `rows` to `family`'s rows of a collection. */
function addRows(out: Map<string, Row[]>, family: string, rows: Row[]): void {
  const list = out.get(family);
  if (list) list.push(...rows);
  else out.set(family, rows);
}

/** What one collection gathers: rows by family, and how every family fared. */
export interface Collection {
  statuses: FamilyStatus[];
  out: Map<string, Row[]>;
  log: Logger;
  /** Whether the sizes read at the database interval are read this time (queries with `takesSizeFlag`). */
  readSizes?: boolean;
}

export interface RowCaps {
  /** Row cap per database for tables and statio. */
  maxTablesPerDatabase: number;
  /** Row cap per database for indexes. */
  maxIndexesPerDatabase: number;
}

/** Server-side clock in ms, read between the statements of a batch to time each family (prepared too). */
const clockName = 'pgvigil_b_clock';
const clockSql = 'SELECT extract(epoch FROM clock_timestamp())::float8 * 1000 AS t';

/**
 * Runs family queries, remembering which are failing so a failure is logged when it starts.
 *
 * `runAll` reads several families in one round trip: one simple-protocol message holding
 * `EXECUTE` of each family's statement (kept with SQL `PREPARE` on the session, so a kept connection
 * plans each once, as the driver's named statements did), each between two reads of the server's clock,
 * which time the family (`duration_ms`: server time of its statement). The statements of one message
 * run in one implicit transaction; a failure in it ends the message, so a batch that fails is run again
 * family by family (`run`, the reference path: its errors, privilege fallbacks and logging), and a
 * family that is failing stays out of the batches until it is read again on its own.
 */
export class FamilyRunner {
  /** Families (family@datname) currently failing, with their reason. */
  readonly #failing = new Map<string, string>();
  /** Statements this runner has PREPAREd on each session (names of SQL-level prepared statements). */
  readonly #prepared = new WeakMap<Session, Set<string>>();
  /** Families (family@datname) refused for good, paused. */
  readonly #refusals: Refusals;
  /** Of those, the ones whose reduced query (`whenRefused`) worked. */
  readonly #reducedWorks = new Set<string>();

  constructor(
    private readonly describe: (err: unknown) => string,
    private readonly caps: RowCaps,
    pause?: RefusalPause,
  ) {
    this.#refusals = new Refusals(pause);
  }

  /** Runs `queries` in order, as `run` would one after another, in one round trip where it can. */
  async runAll(
    session: Session,
    queries: readonly FamilyQuery[],
    version: number,
    datname: string,
    c: Collection,
    signal?: AbortSignal,
  ): Promise<void> {
    const batch: { q: FamilyQuery; sql: string; name: string; arg: string }[] = [];
    for (const q of queries) {
      const sql = pickQuery(q.versions, version);
      if (!sql || this.#failing.has(`${q.family}@${datname}`)) continue;
      const cap = this.#cap(q);
      if (q.takesRowCap && !Number.isSafeInteger(cap)) continue;
      const arg = q.takesRowCap ? `(${cap})` : q.takesSizeFlag ? `(${c.readSizes === true})` : '';
      batch.push({ q, sql, name: `pgvigil_b_${q.family}_${version}`, arg });
    }
    const done = batch.length > 1 ? await this.#runBatch(session, batch, datname, c) : undefined;
    for (const q of queries) {
      const result = done?.get(q);
      if (!result) {
        if (signal?.aborted) return;
        await this.run(session, q, version, datname, c);
        continue;
      }
      addRows(c.out, q.family, result.rows);
      c.statuses.push({
        family: q.family,
        datname,
        ok: true,
        error: null,
        durationMs: result.durationMs,
        rows: result.rows.length,
      });
    }
  }

  /**
   * One round trip for the families of `batch`; their rows and server times, or undefined when a
   * statement failed (the caller then runs every family on its own). Only a connection failure throws.
   */
  async #runBatch(
    session: Session,
    batch: readonly { q: FamilyQuery; sql: string; name: string; arg: string }[],
    datname: string,
    c: Collection,
  ): Promise<Map<FamilyQuery, { rows: Row[]; durationMs: number }> | undefined> {
    let prepared = this.#prepared.get(session);
    if (!prepared) {
      prepared = new Set();
      this.#prepared.set(session, prepared);
    }
    const parts: string[] = [];
    for (const b of [{ name: clockName, sql: clockSql }, ...batch]) {
      if (!prepared.has(b.name)) {
        parts.push(`PREPARE ${b.name} AS ${b.sql}`);
        // Counted as prepared from now on: a message queued behind this one on the same connection (the
        // visit of the main connection's own database runs beside the instance-wide families) runs after
        // it, so it may EXECUTE what this one PREPAREs; if this one fails, the set is read back below.
        prepared.add(b.name);
      }
    }
    const first = parts.length;
    parts.push(`EXECUTE ${clockName}`);
    for (const b of batch) parts.push(`EXECUTE ${b.name}${b.arg}`, `EXECUTE ${clockName}`);
    let results: pg.QueryResult<Record<string, unknown>>[];
    try {
      const res = await session.query<Record<string, unknown>>(parts.join(';\n'));
      results = res as unknown as pg.QueryResult<Record<string, unknown>>[];
    } catch (err) {
      if (isConnectionFailure(err)) throw err;
      // Which statements the failed message left prepared (PREPARE is not undone with the transaction).
      prepared.clear();
      try {
        const { rows } = await session.query<{ name: string }>(
          "SELECT name FROM pg_prepared_statements WHERE name LIKE 'pgvigil\\_b\\_%'",
        );
        for (const r of rows) prepared.add(r.name);
      } catch (err2) {
        if (isConnectionFailure(err2)) throw err2;
        this.#prepared.delete(session);
      }
      c.log.debug({ datname, reason: this.describe(err) }, 'PostgreSQL families read one by one');
      return undefined;
    }
    const done = new Map<FamilyQuery, { rows: Row[]; durationMs: number }>();
    const clock = (i: number) => Number(results[i]?.rows[0]?.t);
    for (const [k, b] of batch.entries()) {
      const at = first + 2 * k;
      const rows = (results[at + 1]?.rows ?? []).map((r) => toFamilyRow(b.q.family, r));
      done.set(b.q, { rows, durationMs: Math.max(0, clock(at + 2) - clock(at)) });
    }
    return done;
  }

  #cap(q: FamilyQuery): number {
    return q.family === 'pg_indexes' ? this.caps.maxIndexesPerDatabase : this.caps.maxTablesPerDatabase;
  }

  async run(
    session: Session,
    q: FamilyQuery,
    version: number,
    datname: string,
    { statuses, out, log, readSizes }: Collection,
  ): Promise<void> {
    const sql = pickQuery(q.versions, version);
    if (!sql) return; // not on this version (pg_stat_io before 16): not applicable, not degraded
    const started = performance.now();
    const statusKey = `${q.family}@${datname}`;
    const paused = this.#refusals.paused(statusKey);
    if (paused !== undefined) {
      // Not asked again yet: its reduced query only, when it has one that worked.
      let rowCount = 0;
      if (this.#reducedWorks.has(statusKey)) {
        try {
          const rows = (await this.#reduced(session, q, version)) ?? [];
          addRows(out, q.family, rows);
          rowCount = rows.length;
        } catch (err) {
          if (isConnectionFailure(err)) throw err;
          this.#reducedWorks.delete(statusKey);
        }
      }
      statuses.push(familyStatus(q.family, datname, paused, started, rowCount));
      return;
    }
    try {
      const cap = this.#cap(q);
      // Named: prepared once per connection, so repeat collections skip planning these view-heavy
      // queries (most of their server time; ~3x less with the plan cached).
      const res = await session.query({
        name: `pgvigil_${q.family}_${version}`,
        text: sql,
        values: q.takesRowCap ? [cap] : q.takesSizeFlag ? [readSizes === true] : [],
      });
      const rows = res.rows.map((r: Record<string, unknown>) => toFamilyRow(q.family, r));
      addRows(out, q.family, rows);
      statuses.push(familyStatus(q.family, datname, null, started, rows.length));
      this.#refusals.succeeded(statusKey);
      this.#reducedWorks.delete(statusKey);
      if (this.#failing.delete(statusKey))
        log.info({ family: q.family, datname }, 'PostgreSQL family collected again');
    } catch (err) {
      if (isConnectionFailure(err)) throw err;
      let reason = this.describe(err);
      const fallback = q.whenRefused && (err as { code?: unknown }).code === '42501' ? q.whenRefused : null;
      let rowCount = 0;
      this.#reducedWorks.delete(statusKey);
      if (fallback && pickQuery(fallback.versions, version)) {
        reason = `${reason}; ${fallback.missing}`;
        try {
          const rows = (await this.#reduced(session, q, version))!;
          addRows(out, q.family, rows);
          rowCount = rows.length;
          this.#reducedWorks.add(statusKey);
        } catch (err2) {
          if (isConnectionFailure(err2)) throw err2;
          reason = `${this.describe(err)}; without it: ${this.describe(err2)}`;
        }
      }
      const pauseMs = this.#refusals.failed(statusKey, err, reason);
      statuses.push(familyStatus(q.family, datname, reason, started, rowCount));
      if (this.#failing.get(statusKey) !== reason) {
        log.warn(
          { family: q.family, datname, reason },
          `PostgreSQL family degraded; ${nextAttempt(pauseMs)}`,
        );
      }
      this.#failing.set(statusKey, reason);
    }
  }

  /** The rows of `q`'s reduced query for a refusal (`whenRefused`); undefined when it has none for this version. */
  async #reduced(session: Session, q: FamilyQuery, version: number): Promise<Row[] | undefined> {
    const sql = q.whenRefused ? pickQuery(q.whenRefused.versions, version) : undefined;
    if (!sql) return undefined;
    const res = await session.query({ name: `pgvigil_${q.family}_refused_${version}`, text: sql });
    return res.rows.map((r: Record<string, unknown>) => toFamilyRow(q.family, r));
  }
}

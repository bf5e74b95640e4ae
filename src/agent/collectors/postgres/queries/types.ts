/**
 * Queries as data (the pgwatch model): each family has one SQL text per minimum `server_version_num`, and
 * the closest lower version wins. A family whose lowest version is above the server's has no query there
 * and is reported as not applicable, never as a failure.
 *
 * Every query returns the family's label columns and values under the family's column names (any column
 * it does not return is sent as null). Queries read statistics views and size functions only: nothing
 * takes a lock stronger than AccessShareLock, but reading sequences (the RowExclusiveLock of nextval()).
 */

/** 'instance': once per instance over the main connection; 'database': once in every visited database. */
export type QueryScope = 'instance' | 'database';

export interface FamilyQuery {
  /** The family the rows belong to (src/protocol/families/postgres.ts). */
  family: string;
  scope: QueryScope;
  /** Minimum server_version_num → SQL. */
  versions: Readonly<Record<number, string>>;
  /** The query takes `$1`: the per-database row cap (largest or busiest objects first). */
  takesRowCap?: true;
  /**
   * The query takes `$1`: whether this collection reads the sizes whose functions walk files on disk
   * (`pg_database_size`); when false it returns them as null. The collector reads them only when the
   * databases are visited (`databaseIntervalMs`).
   */
  takesSizeFlag?: true;
  /**
   * Run instead when the server refuses the query for lack of privilege (SQLSTATE 42501): rows without
   * the columns the role may not read. The family is still reported degraded, with the refusal and
   * `missing` (what those rows lack) as its reason.
   */
  whenRefused?: { versions: Readonly<Record<number, string>>; missing: string };
}

/** The SQL for a server version: the entry with the highest minimum version not above it. */
export function pickQuery(
  versions: Readonly<Record<number, string>>,
  serverVersionNum: number,
): string | undefined {
  let best: number | undefined;
  for (const key of Object.keys(versions)) {
    const min = Number(key);
    if (min <= serverVersionNum && (best === undefined || min > best)) best = min;
  }
  return best === undefined ? undefined : versions[best];
}

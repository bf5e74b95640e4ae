/**
 * Metric families: what agent and server agree a row of each family holds. The agent fills rows in this
 * column order, the wire format carries them as arrays under this column list, and the server writes them
 * with COPY into the table of the same name (plus `server_id` and `ts`, which every row has).
 *
 * The migrations create the tables by hand (they are forward-only history); a test checks that every
 * family here matches its table column for column.
 */

/** Column types, named as PostgreSQL names them. */
export type ColumnType = 'text' | 'int4' | 'int8' | 'float4' | 'float8' | 'bool' | 'timestamptz' | 'jsonb';

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  /** Part of the series identity (and of the primary key), not a value. */
  label?: true;
  /** Cumulative counter (rolled up as reset-aware deltas, never summed). Others are gauges or rates. */
  counter?: true;
  help: string;
}

export interface FamilySpec {
  name: string;
  /** What a row describes, for documentation. */
  help: string;
  /** Host families belong to a monitored server; target families to a PostgreSQL target on it. */
  scope: 'host' | 'target';
  columns: readonly ColumnSpec[];
  /**
   * One row per series, stored once: the table is keyed by its labels (not ts) and a row that is already
   * there is kept when it is sent again (statement texts, resent after an agent restart).
   */
  once?: true;
}

/** Column builders, so each family file reads as a list of names and meanings. */
export const label = (name: string, help: string): ColumnSpec => ({ name, type: 'text', label: true, help });
export const pct = (name: string, help: string): ColumnSpec => ({ name, type: 'float4', help });
export const rate = (name: string, help: string): ColumnSpec => ({ name, type: 'float8', help });
export const bytes = (name: string, help: string): ColumnSpec => ({ name, type: 'int8', help });
export const counter = (name: string, help: string): ColumnSpec => ({
  name,
  type: 'int8',
  counter: true,
  help,
});

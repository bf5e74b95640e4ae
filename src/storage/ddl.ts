/**
 * What code that writes SQL from the family registry needs to name things: the PostgreSQL type of each
 * column type (the raw tables of migrations, the rollup tables, the tests that check both) and identifier
 * quoting. Names quoted here come from the registry or the catalog, never from input.
 */
import type { ColumnType } from '../protocol/families/index.js';

export const pgTypeNames: Record<ColumnType, string> = {
  text: 'text',
  int4: 'integer',
  int8: 'bigint',
  float4: 'real',
  float8: 'double precision',
  bool: 'boolean',
  timestamptz: 'timestamp with time zone',
  jsonb: 'jsonb',
};

/** A quoted identifier: `"name"`, double quotes inside doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The one way an identifier enters SQL text: table and column names come from the metric family registry
 * (src/protocol/families), never from a request, and are quoted here.
 */
import type { FamilySpec } from '../../protocol/families/index.js';
import { quoteIdent } from '../ddl.js';

/** Quotes an identifier taken from the family registry (never from input). */
export const ident = quoteIdent;

/** A family's table, schema-qualified and quoted. */
export function familyTable(spec: FamilySpec): string {
  return `pgvigil.${ident(spec.name)}`;
}

/** The column list of a family for a SELECT, quoted, minus `omit`. */
export function familyColumns(spec: FamilySpec, omit: readonly string[] = []): string {
  return spec.columns
    .filter((c) => !omit.includes(c.name))
    .map((c) => ident(c.name))
    .join(', ');
}

/** A column of the family, quoted; throws for a name the family does not have (a programming error). */
export function familyColumn(spec: FamilySpec, name: string): string {
  if (!spec.columns.some((c) => c.name === name)) {
    throw new Error(`family ${spec.name} has no column ${name}`);
  }
  return ident(name);
}

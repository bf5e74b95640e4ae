/**
 * The check catalogue: every check, listed explicitly, one file per family beside this one.
 * docs/findings.md documents each (a test checks that every id here is there).
 */
import { postgresIndexChecks } from './postgres-indexes.js';
import { postgresInstanceChecks } from './postgres-instance.js';
import { postgresSequenceChecks } from './postgres-sequences.js';
import { postgresSettingsChecks } from './postgres-settings.js';
import { postgresStatementChecks } from './postgres-statements.js';
import { postgresTableChecks } from './postgres-tables.js';
import type { Check } from './types.js';

export const checks: readonly Check[] = [
  ...postgresInstanceChecks,
  ...postgresTableChecks,
  ...postgresIndexChecks,
  ...postgresSequenceChecks,
  ...postgresSettingsChecks,
  ...postgresStatementChecks,
];

const byId = new Map(checks.map((c) => [c.id, c]));

export function checkById(id: string): Check | undefined {
  return byId.get(id);
}

/**
 * The check catalogue: every check, listed explicitly, one file per family beside this one.
 * docs/findings.md documents each (a test checks that every id here is there).
 */
import { hostChecks } from './host.js';
import { hostJobChecks } from './host-disk-fill.js';
import { postgresInstanceChecks } from './postgres-instance.js';
import { processChecks } from './process.js';
import type { Check } from './types.js';

export const checks: readonly Check[] = [
  ...postgresInstanceChecks,
  ...hostChecks,
  ...hostJobChecks,
  ...processChecks,
];

const byId = new Map(checks.map((c) => [c.id, c]));

export function checkById(id: string): Check | undefined {
  return byId.get(id);
}

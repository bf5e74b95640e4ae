/**
 * The check catalogue: every check, listed explicitly, one file per family beside this one.
 * docs/findings.md documents each (a test checks that every id here is there).
 */

import { hostChecks } from './host.js';
import { hostJobChecks } from './host-disk-fill.js';
import { logChecks } from './logs.js';
import { postgresActivityChecks } from './postgres-activity.js';
import { postgresCounterChecks } from './postgres-counters.js';
import { postgresHorizonChecks } from './postgres-horizon.js';
import { postgresInstanceChecks } from './postgres-instance.js';
import { postgresReplicationChecks } from './postgres-replication.js';
import { processChecks } from './process.js';
import { securityChecks } from './security.js';
import type { Check } from './types.js';
import { watchdogChecks } from './watchdog.js';

export const checks: readonly Check[] = [
  ...postgresInstanceChecks,
  ...postgresActivityChecks,
  ...postgresHorizonChecks,
  ...postgresReplicationChecks,
  ...postgresCounterChecks,
  ...(securityChecks as readonly Check[]),
  ...(logChecks as readonly Check[]),
  ...(watchdogChecks as readonly Check[]),
  ...hostChecks,
  ...hostJobChecks,
  ...processChecks,
];

const byId = new Map(checks.map((c) => [c.id, c]));

export function checkById(id: string): Check | undefined {
  return byId.get(id);
}

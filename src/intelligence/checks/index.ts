/**
 * The check catalogue: every check, listed explicitly, one file per family beside this one.
 * docs/findings.md documents each (a test checks that every id here is there).
 */
import { anomalyChecks } from './anomalies.js';
import { appScrapeChecks } from './app-scrape.js';
import { hostChecks } from './host.js';
import { hostJobChecks } from './host-disk-fill.js';
import { logSpikeChecks } from './log-spike.js';
import { logChecks } from './logs.js';
import { postgresActivityChecks } from './postgres-activity.js';
import { postgresArchiverChecks } from './postgres-archiver.js';
import { postgresCounterChecks } from './postgres-counters.js';
import { postgresCustomChecks } from './postgres-custom.js';
import { postgresHorizonChecks } from './postgres-horizon.js';
import { postgresIndexChecks } from './postgres-indexes.js';
import { postgresInstanceChecks } from './postgres-instance.js';
import { postgresReplicationChecks } from './postgres-replication.js';
import { postgresSequenceChecks } from './postgres-sequences.js';
import { postgresSettingsChecks } from './postgres-settings.js';
import { postgresStatementChecks } from './postgres-statements.js';
import { postgresSubscriptionChecks } from './postgres-subscriptions.js';
import { postgresTableChecks } from './postgres-tables.js';
import { processChecks } from './process.js';
import { securityChecks } from './security.js';
import { sloChecks } from './slo.js';
import type { Check } from './types.js';
import { watchdogChecks } from './watchdog.js';

export const checks: readonly Check[] = [
  ...postgresInstanceChecks,
  ...postgresActivityChecks,
  ...postgresHorizonChecks,
  ...postgresReplicationChecks,
  ...postgresArchiverChecks,
  ...postgresSubscriptionChecks,
  ...postgresCounterChecks,
  ...postgresTableChecks,
  ...postgresIndexChecks,
  ...postgresSequenceChecks,
  ...postgresSettingsChecks,
  ...postgresStatementChecks,
  ...postgresCustomChecks,
  ...hostChecks,
  ...hostJobChecks,
  ...appScrapeChecks,
  ...processChecks,
  ...logChecks,
  ...logSpikeChecks,
  ...securityChecks,
  ...watchdogChecks,
  ...sloChecks,
  ...anomalyChecks,
];

const byId = new Map(checks.map((c) => [c.id, c]));

export function checkById(id: string): Check | undefined {
  return byId.get(id);
}

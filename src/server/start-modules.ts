/**
 * What a starting server needs only once its store answers: the app (fastify, every route, the findings
 * engine), the first admin and the agents' CA, and the periodic jobs. They are about half a second of module loading, so `startServer` loads
 * them through this one module while the store starts (an embedded store's initdb or start is a child
 * process, and the main thread would otherwise wait idle).
 */
export { agentlessTickFromEnv, startAgentlessPoller } from './agentless/poller.js';
export { buildServerApp } from './app.js';
export { loadOrCreateAgentCa } from './auth/ca.js';
export { ensureFirstAdmin } from './auth/users.js';
export { agentPresenceJob, presenceOptionsFromEnv } from './jobs/agent-presence.js';
export { baselinesJob, baselinesPerRunFromEnv } from './jobs/baselines.js';
export {
  anomalyChecksJob,
  baselineCacheSeriesFromEnv,
  findingsIntervalFromEnv,
  findingsJob,
  findingsReadersFromEnv,
  statementChecksJob,
} from './jobs/findings.js';
export { incidentsJob } from './jobs/incidents.js';
export { ledgerPruneJob } from './jobs/ledger-prune.js';
export { logAnalysisJob } from './jobs/log-analysis.js';
export { rollupJob } from './jobs/rollups.js';
export { scrapesJob } from './jobs/scrapes.js';
export { slosJob } from './jobs/slos.js';
export { liveOptionsFromEnv } from './live/hub.js';

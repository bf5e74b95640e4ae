/**
 * Child process for the disk-full test: the real agent (collectors, batcher, spool, shipper, log
 * shipping) following one file source with volume limits far above what the test writes, logging JSON
 * to stdout. Usage: node log-shipping-agent-child.js STATE_DIR SERVER_URL ENROLL_TOKEN LOG_FILE
 */
import { runAgent } from '../../src/agent/run.js';
import { createLogger } from '../../src/log.js';
import { sourceFor } from './log-agent.js';

const [stateDir, url, enrollToken, logFile] = process.argv.slice(2);
if (!stateDir || !url || !enrollToken || !logFile) {
  throw new Error('usage: log-shipping-agent-child STATE_DIR SERVER_URL ENROLL_TOKEN LOG_FILE');
}
await runAgent({
  procRoot: '/proc',
  sysRoot: '/sys',
  rootFs: '/',
  intervalMs: 200,
  watches: [],
  nodeExporterMemoryNames: false,
  server: { url, stateDir, enrollToken, pushIntervalMs: 250 },
  logSources: [sourceFor([logFile])],
  log: createLogger('info'),
  onReady: () => process.stdout.write('agent ready\n'),
});

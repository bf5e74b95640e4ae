/**
 * The server process's last line of defence: a promise rejected with nobody listening, or an exception
 * thrown from a callback outside any request, is logged with its stack and the process serves on.
 *
 * Node's default for both is to exit, which for the server means every agent and client loses it (and
 * under `up` the embedded PostgreSQL is left orphaned) because of one fire-and-forget promise. Requests
 * are already isolated (fastify answers 500 for a handler that throws); this covers what runs beside
 * them. The cost of serving on after an uncaught exception is state that may be inconsistent; the log
 * line (level error, `err` with stack) is what makes it visible, and every such event is a bug to fix.
 */
import type { Logger } from '../log.js';

let installed: Logger | undefined;

/** Installs the handlers once per process; later calls change nothing. */
export function installProcessSafetyNet(log: Logger): void {
  if (installed) return;
  installed = log;
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'unhandled promise rejection; serving on');
  });
  process.on('uncaughtException', (err, origin) => {
    log.error({ err, origin }, 'uncaught exception; serving on');
  });
}

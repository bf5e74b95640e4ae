/**
 * The agent's own entry point: bin/pgvigil.js sends `pgvigil agent …` and `pgvigil collect …` here instead
 * of to src/cli.ts, so the agent never loads the server, the store client or fastify (about 15 MB of
 * resident memory taken from the database host for nothing). The commands and their help are the same
 * ones src/cli.ts registers; failures are reported the same way: a PgvigilError is one line on stderr
 * and its exit code, anything else a stack trace asking for a report.
 *
 * `pgvigil agent` also sets V8's tier-up budget (`agentV8Flags`) before it starts: the agent is a daemon
 * that works about a millisecond every 10 s, and with V8's default budget much of that code is compiled
 * by the optimising compiler (TurboFan) within its first minutes, at a cost the code never wins back
 * while it runs that rarely. A 16× budget leaves such lukewarm code in the interpreter and baseline
 * compiler; code that is truly hot (a log flood through the parsers) still reaches it within
 * milliseconds. Measured with bench/agent-overhead.ts (bench/RESULTS.md, "Agent overhead"). Set here and
 * not in the unit's NODE_OPTIONS because node accepts only a few V8 options there; this one is read at
 * every budget reset, so setting it at start-up takes effect (a GC option such as --single-threaded-gc
 * would not be safe to set this late).
 */
import { setFlagsFromString } from 'node:v8';
import { Command } from 'commander';
import { reportCommandFailure } from '../errors.js';
import { version } from '../version.js';
import { registerAgentCommands } from './cli.js';

/** V8 options of the `pgvigil agent` daemon (see above): V8's default --interrupt-budget is 67584. */
export const agentV8Flags = ['--interrupt-budget=1081344'];

export async function main(argv: string[]): Promise<void> {
  if (argv[2] === 'agent') for (const flag of agentV8Flags) setFlagsFromString(flag);
  const program = new Command('pgvigil')
    .description('Monitoring for PostgreSQL and the hosts it runs on.')
    .version(version, '-V, --version')
    .showHelpAfterError();
  registerAgentCommands(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    reportCommandFailure(err);
  }
}

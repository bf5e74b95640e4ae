/**
 * The agent's own entry point: bin/pgvigil.js sends `pgvigil agent …` and `pgvigil collect …` here instead
 * of to src/cli.ts, so the agent never loads the server, the store client or fastify (about 15 MB of
 * resident memory taken from the database host for nothing). The commands and their help are the same
 * ones src/cli.ts registers; failures are reported the same way: a PgvigilError is one line on stderr
 * and its exit code, anything else a stack trace asking for a report.
 *
 * `pgvigil agent` runs with V8 options of its own (`agentV8Flags`, src/agent/v8-flags.ts: a higher tier-up
 * budget, no memory-reducer GCs after start-up); bin/pgvigil.js sets them before it imports this module,
 * because one of them must be set before the agent's modules load.
 */
import { Command } from 'commander';
import { reportCommandFailure } from '../errors.js';
import { version } from '../version.js';
import { registerAgentCommands } from './cli.js';

export async function main(argv: string[]): Promise<void> {
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

/**
 * The entry point of `pgvigil logs …`: bin/pgvigil.js sends it here instead of to src/cli.ts, as it does
 * for the agent, so that parsing a log does not first load the server's and the store's modules (a
 * quarter of a second of CPU, a tenth of `logs parse` on a 50 MB log). The commands and their help are the
 * ones src/cli.ts registers; failures are reported the same way.
 */
import { Command } from 'commander';
import { reportCommandFailure } from '../../errors.js';
import { version } from '../../version.js';
import { registerLogCommands } from './cli.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('pgvigil')
    .description('Monitoring for PostgreSQL and the hosts it runs on.')
    .version(version, '-V, --version')
    .showHelpAfterError();
  registerLogCommands(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    reportCommandFailure(err);
  }
}

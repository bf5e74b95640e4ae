/** Agent subcommands of the CLI: `agent`, `collect`. */
import type { Command } from 'commander';

export function registerAgentCommands(program: Command): void {
  program
    .command('agent')
    .description('run the agent on this host (collectors, spool, shipper)')
    .action(() => {
      process.stderr.write('pgvigil agent: not built yet\n');
      process.exitCode = 1;
    });
}

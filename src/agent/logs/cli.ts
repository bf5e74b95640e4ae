/**
 * Log subcommands of the CLI. `pgvigil logs parse --parser NAME < file` reads log text on stdin and prints
 * one JSON entry per line on stdout, streaming, so it works on files of any size and in pipelines
 * (`tail -F postgresql.log | pgvigil logs parse --parser postgresql | jq …`).
 */
import type { Command } from 'commander';
import { runParse } from './parse-command.js';
import { parserNames } from './parsers/index.js';
import { defaultLogLinePrefix } from './parsers/postgres.js';

export function registerLogCommands(program: Command): void {
  const logs = program.command('logs').description('log tools');
  logs
    .command('parse')
    .description('parse log text from stdin into NDJSON entries on stdout')
    .requiredOption(
      '--parser <name>',
      `one of: ${parserNames().join(', ')}, or auto (chosen from the first lines)`,
    )
    .option(
      '--prefix <log_line_prefix>',
      `PostgreSQL log_line_prefix (postgresql parser; default '${defaultLogLinePrefix}')`,
    )
    .option(
      '--source <name>',
      'source name stamped on entries and used in fingerprints (default: the parser name)',
    )
    .option('--timezone <zone>', 'IANA zone for timestamps written without one (default: local)')
    .addHelpText(
      'after',
      `
Examples:
  $ pgvigil logs parse --parser postgresql < /var/log/postgresql/postgresql-16-main.log
  $ pgvigil logs parse --parser postgresql --prefix '%t [%p]: [%l-1] user=%u,db=%d ' < postgresql.log
  $ pgvigil logs parse --parser syslog --timezone Europe/Paris < /var/log/auth.log
  $ pgvigil logs parse --parser auto < exported-postgres.log
`,
    )
    .action(runParse);
}

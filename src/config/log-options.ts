/**
 * The logging flags every long-running command has (agent, server, up): --log-level and --log-format, with
 * their environment variables, so config files get `log_level` and `log_format` like any other flag.
 */
import { type Command, Option } from 'commander';
import { logFormats, logLevels } from '../log.js';

export interface LogFlags {
  logLevel: string;
  logFormat?: 'text' | 'json';
}

export function logOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--log-level <level>', 'least severe log events written')
        .choices(logLevels)
        .default('info')
        .env('PGVIGIL_LOG_LEVEL'),
    )
    .addOption(
      new Option(
        '--log-format <format>',
        'log events on stderr as text (one line each) or JSON lines (default: text on a terminal, else JSON)',
      )
        .choices(logFormats)
        .env('PGVIGIL_LOG_FORMAT'),
    );
}

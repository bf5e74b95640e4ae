/**
 * `pgvigil config check FILE` and `pgvigil config print`: the keys come from the options of the command
 * the file is for (agent, server or up), found in the same program, so the commands know every flag the
 * program has, including ones added after this file was written.
 */
import { basename } from 'node:path';
import type { Command } from 'commander';
import { PgvigilError } from '../errors.js';
import {
  type ConfigKind,
  configFileError,
  configKinds,
  defaultConfigPaths,
  resolveValues,
  startFromEnvironment,
} from './apply.js';
import { loadConfigFile } from './file.js';
import { formatEffectiveConfig } from './print.js';

function kindOf(given: string | undefined, file: string | undefined): ConfigKind {
  if (given !== undefined) {
    if ((configKinds as readonly string[]).includes(given)) return given as ConfigKind;
    throw new PgvigilError('BAD_ARGUMENT', `--kind ${given}: expected ${configKinds.join(', ')}`);
  }
  const name = file === undefined ? 'agent' : basename(file);
  const guessed = configKinds.find((k) => name.includes(k));
  if (guessed) return guessed;
  throw new PgvigilError(
    'BAD_ARGUMENT',
    `cannot tell from the name ${name} which command the file is for: give --kind ${configKinds.join('|')}`,
  );
}

function commandOf(program: Command, kind: ConfigKind): Command {
  const cmd = program.commands.find((c) => c.name() === kind);
  if (!cmd) throw new PgvigilError('BAD_ARGUMENT', `this program has no ${kind} command`);
  return cmd;
}

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('check and show configuration files (TOML)');
  config
    .command('check')
    .argument('<file>', 'the TOML file')
    .option(
      '--kind <kind>',
      `which command it is for: ${configKinds.join(', ')} (default: from the file name)`,
    )
    .description('check a config file: unknown keys, wrong types and bad values, each with its line')
    .action((file: string, flags: { kind?: string }) => {
      const kind = kindOf(flags.kind, file);
      const loaded = loadConfigFile(file, startFromEnvironment(commandOf(program, kind)).keys);
      if (loaded.issues.length > 0) throw configFileError(loaded);
      process.stdout.write(`${file}: ok (${kind}, ${loaded.entries.size} key(s))\n`);
    });
  config
    .command('print')
    .option('--config <file>', 'the file (default: the one the command reads by default, when it exists)')
    .option('--kind <kind>', `${configKinds.join(', ')} (default: from the file name, else agent)`)
    .description(
      'print the effective configuration (defaults < file < environment) and where each value comes from; secrets masked',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ pgvigil config check /etc/pgvigil/agent.toml
  $ pgvigil config print --kind server
  $ PGVIGIL_PORT=9000 pgvigil config print --config ./server.toml`,
    )
    .action(async (flags: { config?: string; kind?: string }) => {
      const kind = kindOf(flags.kind, flags.config);
      const { existsSync } = await import('node:fs');
      const fallback = defaultConfigPaths[kind];
      const file = flags.config ?? (fallback !== undefined && existsSync(fallback) ? fallback : undefined);
      const state = startFromEnvironment(commandOf(program, kind));
      const loaded = file === undefined ? undefined : loadConfigFile(file, state.keys);
      if (loaded && loaded.issues.length > 0) throw configFileError(loaded);
      const raw = new Map([...(loaded?.entries.values() ?? [])].map((e) => [e.key, e.raw]));
      const title = `effective ${kind} configuration; file: ${file ?? 'none'}`;
      process.stdout.write(formatEffectiveConfig(title, resolveValues(state, loaded), file, raw));
    });
}

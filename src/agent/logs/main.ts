/**
 * The entry point of `pgvigil logs …`: bin/pgvigil.js sends it here instead of to src/cli.ts, as it does
 * for the agent, so that parsing a log does not first load the server's and the store's modules (a
 * quarter of a second of CPU, a tenth of `logs parse` on a 50 MB log). The commands and their help are the
 * ones src/cli.ts registers; failures are reported the same way.
 *
 * `logs parse` with nothing but its own options, each given once (what scripts and pipelines run), is read
 * here and run without loading the command-line library (a fifth of the command's start-up); anything
 * else (help, a version, an unknown or repeated option, a value that starts with a dash) goes to it.
 */
import { reportCommandFailure } from '../../errors.js';
import { type ParseFlags, runParse } from './parse-command.js';

const parseOptions: Record<string, keyof ParseFlags> = {
  '--parser': 'parser',
  '--prefix': 'prefix',
  '--source': 'source',
  '--timezone': 'timezone',
};

/** The flags of `logs parse` when argv (after `logs parse`) is only its options, each once; else undefined. */
export function plainParseFlags(args: string[]): ParseFlags | undefined {
  const flags: Partial<Record<keyof ParseFlags, string>> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const key = Object.hasOwn(parseOptions, name) ? parseOptions[name] : undefined;
    if (key === undefined || flags[key] !== undefined) return undefined;
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = args[++i];
      if (value === undefined || value.startsWith('-')) return undefined;
    }
    flags[key] = value;
  }
  if (flags.parser === undefined) return undefined;
  return flags as ParseFlags;
}

export async function main(argv: string[]): Promise<void> {
  const plain = argv[3] === 'parse' ? plainParseFlags(argv.slice(4)) : undefined;
  try {
    if (plain) {
      await runParse(plain);
      return;
    }
    const [{ Command }, { version }, { registerLogCommands }] = await Promise.all([
      import('commander'),
      import('../../version.js'),
      import('./cli.js'),
    ]);
    const program = new Command('pgvigil')
      .description('Monitoring for PostgreSQL and the hosts it runs on.')
      .version(version, '-V, --version')
      .showHelpAfterError();
    registerLogCommands(program);
    await program.parseAsync(argv);
  } catch (err) {
    reportCommandFailure(err);
  }
}

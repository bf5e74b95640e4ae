/**
 * The one entry point. Subcommands parse their flags here and call into the modules; expected failures
 * (`PgvigilError`) become one line on stderr and their exit code, never a stack trace.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { registerAgentCommands } from './agent/cli.js';
import { registerLogCommands } from './agent/logs/cli.js';
import { isPgvigilError } from './errors.js';
import { createLogger } from './log.js';
import { startServer, waitForStopSignal } from './server/run.js';
import { openStore } from './storage/db.js';
import { loadMigrations, migrate } from './storage/migrate.js';
import { version } from './version.js';

const defaultPort = 8470;

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

function storeOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--data-dir <dir>', 'data directory of the embedded store').env('PGVIGIL_DATA_DIR'))
    .addOption(
      new Option('--database-url <url>', 'external PostgreSQL store (otherwise the embedded one)').env(
        'DATABASE_URL',
      ),
    );
}

function listenOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1').env('PGVIGIL_HOST'))
    .addOption(
      new Option('--port <port>', 'HTTP port').default(defaultPort).argParser(parsePort).env('PGVIGIL_PORT'),
    );
}

interface ServeFlags {
  dataDir?: string;
  databaseUrl?: string;
  host: string;
  port: number;
}

async function serve(flags: ServeFlags, mode: 'up' | 'server'): Promise<void> {
  const log = createLogger();
  const started = performance.now();
  const server = await startServer({
    databaseUrl: flags.databaseUrl,
    dataDir: flags.dataDir,
    host: flags.host,
    port: flags.port,
    log,
  });
  const ms = Math.round(performance.now() - started);
  process.stdout.write(
    `pgvigil ${version} ${mode === 'up' ? 'is up' : 'server listening'}: ${server.url}  (store: ${server.store.kind}, PostgreSQL ${server.store.serverVersion}, ready in ${ms} ms)\n`,
  );
  const signal = await waitForStopSignal(log);
  log.info({ signal }, 'stopping');
  await server.close();
}

export function buildProgram(): Command {
  const program = new Command('pgvigil')
    .description('Monitoring for PostgreSQL and the hosts it runs on.')
    .version(version, '-V, --version')
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
Examples:
  $ pgvigil up                                   server, embedded store and local agent on this box
  $ pgvigil up --data-dir /srv/pgvigil --port 9000
  $ DATABASE_URL=postgres://pgvigil@db/pgvigil pgvigil server --host 0.0.0.0
  $ DATABASE_URL=postgres://pgvigil@db/pgvigil pgvigil migrate
`,
    );

  listenOptions(
    storeOptions(
      program
        .command('up')
        .description('run everything on this box: embedded store (or DATABASE_URL), server and local agent'),
    ),
  ).action((flags: ServeFlags) => serve(flags, 'up'));

  listenOptions(
    storeOptions(program.command('server').description('run the central server (API, ingest, jobs)')),
  ).action((flags: ServeFlags) => serve(flags, 'server'));

  storeOptions(
    program.command('migrate').description('apply pending schema migrations to the store and exit'),
  ).action(async (flags: ServeFlags) => {
    const log = createLogger('warn');
    const store = await openStore({ databaseUrl: flags.databaseUrl, dataDir: flags.dataDir, log });
    try {
      const result = await migrate(store.pool, log, await loadMigrations());
      const names = result.applied.map((m) => m.file).join(', ');
      process.stdout.write(
        result.applied.length === 0
          ? `store is at migration ${result.level}; nothing to apply\n`
          : `applied ${result.applied.length} migration(s): ${names}; store is at migration ${result.level}\n`,
      );
    } finally {
      await store.close();
    }
  });

  registerAgentCommands(program);
  registerLogCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (isPgvigilError(err)) {
      process.stderr.write(`pgvigil: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(
      `pgvigil: unexpected error (please report it): ${(err as Error).stack ?? String(err)}\n`,
    );
    process.exitCode = 1;
  }
}

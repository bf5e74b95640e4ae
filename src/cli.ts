/**
 * The one entry point. Subcommands parse their flags here and call into the modules; expected failures
 * (`PgvigilError`) become one line on stderr and their exit code, never a stack trace.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { registerAgentCommands } from './agent/cli.js';
import { registerLogCommands } from './agent/logs/cli.js';
import { blameConfigFile, configState, defaultConfigPaths, withConfigFile } from './config/apply.js';
import { registerConfigCommands } from './config/cli.js';
import { type LogFlags, logOptions } from './config/log-options.js';
import { parseDuration } from './duration.js';
import { PgvigilError, reportCommandFailure } from './errors.js';
import { createLogger } from './log.js';
import type { ServerTls } from './server/app.js';
import { isUserRole, type UserRole, userRoles } from './server/roles.js';
import { redactDatabaseUrl } from './storage/connection.js';
import type { Store } from './storage/db.js';
import type { MigrateResult } from './storage/migrate.js';
import type { LocalAgent, LocalAgentOptions } from './up.js';
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

/** Streaming standbys of the store for the read API's history (src/storage/read-replicas.ts). */
function readReplicaOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--database-read-url <urls>',
        'streaming standbys of the store, comma-separated: history reads go there when they hold it',
      ).env('DATABASE_READ_URL'),
    )
    .addOption(
      new Option('--read-max-lag <duration>', 'newest data a standby read may lack (default 5s)')
        .argParser(durationArg('--read-max-lag'))
        .default(5000, '5s')
        .env('PGVIGIL_READ_MAX_LAG'),
    );
}

/** At most this many standbys: each gets a pool and a probe a second. */
const maxReadReplicas = 8;

function readUrls(flag: string | undefined): string[] | undefined {
  if (!flag) return undefined;
  const urls = flag
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  if (urls.length > maxReadReplicas) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `--database-read-url: at most ${maxReadReplicas} standbys, got ${urls.length}`,
    );
  }
  for (const u of urls) {
    if (!/^postgres(ql)?:\/\//.test(u)) {
      throw new PgvigilError(
        'BAD_ARGUMENT',
        `--database-read-url: "${redactDatabaseUrl(u).slice(0, 80)}" is not a postgres:// URL`,
      );
    }
  }
  return urls;
}

function listenOptions(cmd: Command): Command {
  return readReplicaOptions(cmd)
    .addOption(
      new Option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)').env('PGVIGIL_TLS_CERT'),
    )
    .addOption(new Option('--tls-key <file>', 'the key of --tls-cert (PEM)').env('PGVIGIL_TLS_KEY'))
    .addOption(
      new Option('--tls-client-ca <file>', 'require client certificates signed by this CA (mutual TLS)').env(
        'PGVIGIL_TLS_CLIENT_CA',
      ),
    )
    .addOption(
      new Option('--tls-min-version <version>', 'lowest TLS version accepted (default 1.3)')
        .choices(['1.2', '1.3'])
        .default('1.3')
        .env('PGVIGIL_TLS_MIN_VERSION'),
    )
    .addOption(
      new Option(
        '--agent-port <port>',
        'also listen here for agents only, with client certificates from the built-in agent CA (needs --tls-cert)',
      )
        .argParser(parsePort)
        .env('PGVIGIL_AGENT_PORT'),
    )
    .addOption(
      new Option(
        '--secrets-key-file <file>',
        'the key that seals stored secrets (agentless target passwords, channel URLs); made on first start',
      ).env('PGVIGIL_SECRET_KEY_FILE'),
    )
    .addOption(
      new Option(
        '--agentless-targets-file <file>',
        'agentless targets (managed PostgreSQL the server polls) declared in a TOML or JSON file, mode 600; applied at start and on SIGHUP',
      ).env('PGVIGIL_AGENTLESS_TARGETS_FILE'),
    )
    .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1').env('PGVIGIL_HOST'))
    .addOption(
      new Option('--port <port>', 'HTTP port').default(defaultPort).argParser(parsePort).env('PGVIGIL_PORT'),
    );
}

interface StoreFlags {
  dataDir?: string;
  databaseUrl?: string;
}

interface ReadReplicaFlags {
  databaseReadUrl?: string;
  readMaxLag: number;
}

interface ServeFlags extends StoreFlags, ReadReplicaFlags, LogFlags {
  host: string;
  port: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  tlsMinVersion?: '1.2' | '1.3';
  agentPort?: number;
  secretsKeyFile?: string;
  agentlessTargetsFile?: string;
}

function serverTls(flags: ServeFlags): ServerTls | undefined {
  if (!flags.tlsCert && !flags.tlsKey && !flags.tlsClientCa) return undefined;
  if (!flags.tlsCert || !flags.tlsKey)
    throw new PgvigilError('BAD_ARGUMENT', '--tls-cert and --tls-key go together');
  for (const [flag, file] of [
    ['--tls-cert', flags.tlsCert],
    ['--tls-key', flags.tlsKey],
    ['--tls-client-ca', flags.tlsClientCa],
  ] as const) {
    if (file !== undefined && !existsSync(file))
      throw new PgvigilError('BAD_ARGUMENT', `${flag} ${file}: no such file`);
  }
  return {
    cert: flags.tlsCert,
    key: flags.tlsKey,
    clientCa: flags.tlsClientCa,
    minVersion: flags.tlsMinVersion === '1.2' ? 'TLSv1.2' : 'TLSv1.3',
  };
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

function userRoleArg(value: string): UserRole {
  if (isUserRole(value)) return value;
  throw new PgvigilError(
    'BAD_ARGUMENT',
    `--role ${value}: expected ${userRoles.slice(0, -1).join(', ')} or ${userRoles.at(-1)}`,
  );
}

/** Commander argument parser for the duration flag `flag` (30m, 12h, 7d …). */
/** An ISO 8601 time that names its zone (a time read in some local zone would be a guess). */
function isoArg(flag: string): (value: string) => Date {
  return (value) => {
    const ms = /(Z|[+-]\d\d:?\d\d)$/i.test(value) ? Date.parse(value) : Number.NaN;
    if (!Number.isFinite(ms)) {
      throw new PgvigilError(
        'BAD_ARGUMENT',
        `${flag} ${value}: expected ISO 8601 with its zone, e.g. 2026-12-03T10:00:00Z`,
      );
    }
    return new Date(ms);
  };
}

function durationArg(flag: string): (value: string) => number {
  return (value) => parseDuration(value, flag);
}

/** Opens the store for a one-shot tool (sharing a running embedded store), migrates, runs `fn`, closes. */
async function withStore(
  flags: StoreFlags,
  fn: (store: Store, migrated: MigrateResult) => Promise<void>,
): Promise<void> {
  const log = createLogger('warn');
  const { openStore } = await import('./storage/db.js');
  const { loadMigrations, migrate } = await import('./storage/migrate.js');
  const store = await openStore({
    databaseUrl: flags.databaseUrl,
    dataDir: flags.dataDir,
    log,
    shareRunning: true,
  });
  try {
    await fn(store, await migrate(store.pool, log, await loadMigrations()));
  } finally {
    await store.close();
  }
}

interface UpFlags extends ServeFlags {
  postgres?: string;
  interval: number;
  pushInterval: number;
  watchProcess: string[];
  logFile: string[];
}

function appendValue(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Runs `serve`; a bad value that came from the config file is reported with the file's line. */
function serveWithConfig(mode: 'up' | 'server') {
  return async (flags: ServeFlags | UpFlags, cmd: Command): Promise<void> => {
    try {
      await serve(flags, mode);
    } catch (err) {
      const state = configState(cmd);
      throw blameConfigFile(err, state?.file, state?.values ?? []);
    }
  };
}

async function serve(flags: ServeFlags | UpFlags, mode: 'up' | 'server'): Promise<void> {
  const log = createLogger(flags.logLevel, { format: flags.logFormat });
  const started = performance.now();
  // The built-in agent's flags are checked before the store starts, so a mistake fails fast (and without
  // them nothing more is loaded before the server answers).
  let upAgent: Pick<LocalAgentOptions, 'watches' | 'logFiles'> | undefined;
  const up = flags as UpFlags; // read in up mode only
  if (mode === 'up' && (up.watchProcess.length > 0 || up.logFile.length > 0)) {
    const { parseWatches, parseLogFiles } = await import('./agent/options.js');
    const { parsers } = await import('./agent/logs/parsers/index.js');
    upAgent = {
      watches: parseWatches(up.watchProcess),
      logFiles: parseLogFiles(up.logFile, Object.keys(parsers)),
    };
  }
  // The server's modules load only for the commands that run it (`logs parse` stays quick to start).
  const { startServer, waitForStopSignal, reloadOnHangup } = await import('./server/run.js');
  // Listen for SIGINT/SIGTERM from the start: a stop asked for during start-up is honoured once up.
  const stopRequested = waitForStopSignal(log);
  const server = await startServer({
    databaseUrl: flags.databaseUrl,
    readReplicas: { urls: readUrls(flags.databaseReadUrl), maxLagMs: flags.readMaxLag },
    dataDir: flags.dataDir,
    host: flags.host,
    port: flags.port,
    tls: serverTls(flags),
    agentPort: flags.agentPort,
    secretKeyFile: flags.secretsKeyFile,
    agentlessTargetsFile: flags.agentlessTargetsFile,
    log,
  });
  reloadOnHangup(server, log);
  const ms = Math.round(performance.now() - started);
  process.stdout.write(
    `pgvigil ${version} ${mode === 'up' ? 'is up' : 'server listening'}: ${server.url}  (store: ${server.store.kind}, PostgreSQL ${server.store.serverVersion}, ready in ${ms} ms)\n`,
  );
  if (server.agentUrl) process.stdout.write(`pgvigil: agent port (mutual TLS) at ${server.agentUrl}\n`);
  const dashboard = `${server.url}/`;
  if (mode === 'up') {
    let agent: LocalAgent;
    try {
      const { startLocalAgent } = await import('./up.js');
      agent = await startLocalAgent(server, {
        dataDir: flags.dataDir,
        postgresUrl: up.postgres,
        intervalMs: up.interval,
        pushIntervalMs: up.pushInterval,
        watches: upAgent?.watches,
        logFiles: upAgent?.logFiles,
        log,
      });
    } catch (err) {
      // The first admin exists from now on: its password must not be lost with a failed start.
      if (server.firstAdmin)
        process.stdout.write(
          `pgvigil: sign in as "${server.firstAdmin.name}" with password ${server.firstAdmin.password} (shown only now)\n`,
        );
      await server.close();
      throw err;
    }
    const { formatUpSummary } = await import('./up.js');
    process.stdout.write(
      formatUpSummary({
        dashboard,
        firstAdmin: server.firstAdmin,
        agent,
        store: { kind: server.store.kind, dataDir: server.store.dataDir },
        pid: process.pid,
      }),
    );
    const signal = await stopRequested;
    log.info({ signal }, 'stopping');
    await agent.stop();
    await server.close();
    return;
  }
  if (server.firstAdmin) {
    // Shown once, on the terminal only (never through the logger): the store keeps just its scrypt hash.
    process.stdout.write(
      `pgvigil: first start — dashboard at ${dashboard} — sign in as "${server.firstAdmin.name}" with password ${server.firstAdmin.password}\n` +
        '         (shown only now; change it after signing in, or add users with `pgvigil user add`)\n',
    );
  } else {
    process.stdout.write(`pgvigil: dashboard at ${dashboard}\n`);
  }
  const signal = await stopRequested;
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

  const up = listenOptions(
    storeOptions(
      program
        .command('up')
        .description('run everything on this box: embedded store (or DATABASE_URL), server and local agent')
        .addOption(
          new Option(
            '--postgres <url>',
            'the PostgreSQL the local agent watches (default: the store itself)',
          ).env('PGVIGIL_POSTGRES_URL'),
        )
        .addOption(
          new Option('--interval <duration>', 'how often the local agent collects')
            .argParser(durationArg('--interval'))
            .default(10_000, '10s'),
        )
        .addOption(
          new Option('--push-interval <duration>', 'how often the local agent ships a batch')
            .argParser(durationArg('--push-interval'))
            .default(10_000, '10s'),
        )
        .option(
          '--watch-process <name|/regex/>',
          'the local agent also watches these processes, as `pgvigil agent --watch-process`; repeatable',
          appendValue,
          [],
        )
        .option(
          '--log-file <parser:path>',
          'the local agent also follows this log file, as `pgvigil agent --log-file`; repeatable',
          appendValue,
          [],
        ),
    ),
  );
  withConfigFile(logOptions(up)).action(serveWithConfig('up'));

  const server = listenOptions(
    storeOptions(program.command('server').description('run the central server (API, ingest, jobs)')),
  );
  withConfigFile(logOptions(server), { defaultPath: defaultConfigPaths.server }).action(
    serveWithConfig('server'),
  );

  storeOptions(
    program.command('migrate').description('apply pending schema migrations to the store and exit'),
  ).action((flags: StoreFlags) =>
    withStore(flags, async (_store, result) => {
      const names = result.applied.map((m) => m.file).join(', ');
      process.stdout.write(
        result.applied.length === 0
          ? `store is at migration ${result.level}; nothing to apply\n`
          : `applied ${result.applied.length} migration(s): ${names}; store is at migration ${result.level}\n`,
      );
    }),
  );

  const token = program.command('token').description('manage tokens');
  storeOptions(
    token
      .command('create')
      .description('create a token; it is shown once and stored only as a hash')
      .option('--enroll', 'an enrollment token, for `pgvigil agent --enroll-token`')
      .option('--api', 'an API token for scripts (Authorization: Bearer), with --role and --user')
      .option('--uses <n>', 'enrollment: how many agents may enroll with it (default: unlimited)', parseCount)
      .option('--role <role>', 'API token: viewer, user or admin (at most the owner’s role)', 'viewer')
      .option('--user <name>', 'API token: its owner (default: the first admin)')
      .option('--name <text>', 'API token: what it is for', 'cli')
      .option(
        '--expires <duration>',
        'lifetime such as 30m, 12h, 7d (default: never)',
        durationArg('--expires'),
      )
      .option('--note <text>', 'enrollment: what the token is for')
      .addHelpText(
        'after',
        `
Examples:
  $ pgvigil token create --enroll --uses 1 --expires 1d
  $ pgvigil token create --api --role viewer --name prometheus --expires 365d`,
      ),
  ).action(
    (
      flags: StoreFlags & {
        enroll?: boolean;
        api?: boolean;
        uses?: number;
        role: string;
        user?: string;
        name: string;
        expires?: number;
        note?: string;
      },
    ) =>
      withStore(flags, async (store) => {
        if (Boolean(flags.enroll) === Boolean(flags.api)) {
          throw new PgvigilError(
            'BAD_ARGUMENT',
            'say which token: --enroll (for agents) or --api (for scripts)',
          );
        }
        if (flags.api) {
          const { createApiToken } = await import('./server/auth/api-tokens.js');
          const { firstActiveAdmin, userIdByName } = await import('./storage/queries/users.sql.js');
          const role = userRoleArg(flags.role);
          const userId = flags.user
            ? await userIdByName(store.pool, flags.user)
            : await firstActiveAdmin(store.pool);
          if (userId === undefined)
            throw new PgvigilError('NOT_FOUND', flags.user ? `no user ${flags.user}` : 'no active admin');
          const t = await createApiToken(store.pool, {
            userId,
            name: flags.name,
            role,
            expiresInMs: flags.expires,
          });
          process.stdout.write(`${t.token}\n`);
          process.stderr.write(`API token ${t.tokenId} (${role}) created; it is shown only now\n`);
          return;
        }
        const { createEnrollToken } = await import('./server/auth/agents.js');
        const t = await createEnrollToken(store.pool, {
          uses: flags.uses,
          expiresInMs: flags.expires,
          note: flags.note,
        });
        process.stdout.write(`${t.token}\n`);
        const uses = flags.uses ? `, ${flags.uses} use(s)` : ', unlimited uses';
        const expires = flags.expires ? `, expires in ${Math.round(flags.expires / 60000)} min` : '';
        process.stderr.write(
          `enrollment token ${t.tokenId} created${uses}${expires}; it is shown only now\n`,
        );
      }),
  );

  const user = program.command('user').description('manage the users who sign in to the API and dashboard');
  storeOptions(
    user
      .command('add')
      .argument('<name>', 'user name (letters, digits, . _ @ -)')
      .option('--role <role>', 'viewer, user or admin', 'viewer')
      .option('--password-stdin', 'read the password from standard input (default: generate and print one)')
      .description('add a user; a generated password is printed once'),
  ).action((name: string, flags: StoreFlags & { role: string; passwordStdin?: boolean }) =>
    withStore(flags, async (store) => {
      const { addUser } = await import('./server/auth/users.js');
      const password = flags.passwordStdin ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : undefined;
      const u = await addUser(store.pool, { name, role: userRoleArg(flags.role), password });
      process.stderr.write(`user ${name} (${flags.role}) added with id ${u.userId}\n`);
      if (!password) process.stdout.write(`${u.password}\n`);
    }),
  );
  storeOptions(user.command('list').description('list users')).action((flags: StoreFlags) =>
    withStore(flags, async (store) => {
      const { listUsers } = await import('./storage/queries/users.sql.js');
      for (const r of await listUsers(store.pool, null))
        process.stdout.write(`${r.userId}\t${r.name}\t${r.role}${r.disabled ? '\tdisabled' : ''}\n`);
    }),
  );
  storeOptions(
    user
      .command('passwd')
      .argument('<name>', 'the user')
      .option(
        '--password-stdin',
        'read the new password from standard input (default: generate and print one)',
      )
      .description('set a new password; the user’s sessions end'),
  ).action((name: string, flags: StoreFlags & { passwordStdin?: boolean }) =>
    withStore(flags, async (store) => {
      const { generatePassword } = await import('./server/auth/passwords.js');
      const { setPassword } = await import('./server/auth/users.js');
      const password = flags.passwordStdin
        ? readFileSync(0, 'utf8').replace(/\r?\n$/, '')
        : generatePassword();
      const { userIdByName } = await import('./storage/queries/users.sql.js');
      const userId = await userIdByName(store.pool, name);
      if (userId === undefined) throw new PgvigilError('NOT_FOUND', `no user ${name}`);
      const ended = await setPassword(store.pool, userId, password, 'password set from the CLI');
      process.stderr.write(`password of ${name} set; ${ended} session(s) ended\n`);
      if (!flags.passwordStdin) process.stdout.write(`${password}\n`);
    }),
  );

  storeOptions(
    program
      .command('agent-credential')
      .description("manage agents' credentials")
      .command('revoke')
      .argument('<agent-id>', 'the agent whose credential to revoke')
      .description('revoke an agent credential; the agent is refused from then on and must enroll again'),
  ).action((agentId: string, flags: StoreFlags) =>
    withStore(flags, async (store) => {
      if (!/^[0-9a-f-]{36}$/i.test(agentId))
        throw new PgvigilError('BAD_ARGUMENT', `"${agentId}" is not an agent id`);
      const { revokeAgentCredential } = await import('./server/auth/agents.js');
      if (!(await revokeAgentCredential(store.pool, agentId))) {
        throw new PgvigilError('NOT_FOUND', `no agent ${agentId} with an active credential`);
      }
      process.stdout.write(`revoked the credential of agent ${agentId}\n`);
    }),
  );

  storeOptions(
    program
      .command('agent-config')
      .description('configuration the server pushes to agents')
      .command('set')
      .argument('<agent-id>', 'the agent')
      .argument('<file>', 'JSON file with the config (- for standard input)')
      .description('validate and store an agent config; the agent applies it at its next pull (or SIGHUP)'),
  ).action((agentId: string, file: string, flags: StoreFlags) =>
    withStore(flags, async (store) => {
      const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new PgvigilError('CONFIG_INVALID', `${file} is not valid JSON: ${(err as Error).message}`);
      }
      const { storeAgentConfig } = await import('./server/agent-config.js');
      await storeAgentConfig(store.pool, agentId, value, file);
      process.stdout.write(`config stored for agent ${agentId}\n`);
    }),
  );

  program
    .command('bench')
    .description('benchmarks')
    .command('ingest')
    .description('simulated agents push realistic batches to a real server; measured end to end and verified')
    .option('--agents <n>', 'simulated agents', parseCount, 100)
    .option('--duration <s>', 'seconds to run', parseCount, 30)
    .option(
      '--rate <r>',
      'offered pushes per second across all agents (default: each agent pushes when acked)',
      parseCount,
    )
    .option('--values <n>', 'values per batch', parseCount, 1000)
    .option('--server <url>', 'an existing server (needs --database-url to create the agents)')
    .option('--servers <n>', 'pgvigil server children to start, agents spread round-robin', parseCount, 1)
    .option(
      '--ceiling-servers <n>',
      "servers whose rows the COPY ceiling spreads the same rows over (default: as many as --agents, as the run's rows are)",
      parseCount,
    )
    .option(
      '--alerting',
      "agents report the findings engine's worst case (values that march with every batch: ~25 findings per host whose severities keep changing) instead of a healthy fleet",
    )
    .addOption(
      new Option('--database-url <url>', 'the store (default: a temporary embedded one)').env('DATABASE_URL'),
    )
    .option('--json', 'print the result as one JSON object')
    .action(
      async (flags: {
        agents: number;
        duration: number;
        rate?: number;
        values: number;
        server?: string;
        servers: number;
        ceilingServers?: number;
        alerting?: boolean;
        databaseUrl?: string;
        json?: boolean;
      }) => {
        if (flags.server && !flags.databaseUrl) {
          throw new PgvigilError(
            'BAD_ARGUMENT',
            '--server needs --database-url (the bench creates its agents in the store)',
          );
        }
        const { benchIngest, formatBenchIngest } = await import('./tools/bench-ingest.js');
        const r = await benchIngest({
          agents: flags.agents,
          durationS: flags.duration,
          rate: flags.rate,
          values: flags.values,
          server: flags.server,
          servers: flags.servers,
          ceilingServers: flags.ceilingServers,
          data: flags.alerting ? 'alerting' : 'healthy',
          databaseUrl: flags.databaseUrl,
          json: Boolean(flags.json),
        });
        process.stdout.write(flags.json ? `${JSON.stringify(r)}\n` : `${formatBenchIngest(r)}\n`);
      },
    );

  program
    .command('replay')
    .description(
      'run a stream of batches (NDJSON, docs/replay.md) through ingest and the intelligence on a fresh store under a simulated clock; print every finding, incident and SLO change',
    )
    .argument('<file>', 'the stream: one batch a line, with its time')
    .addOption(
      new Option('--database-url <url>', 'a fresh, empty database (default: a temporary embedded store)').env(
        'DATABASE_URL',
      ),
    )
    .option('--json', 'print each change as one JSON object a line')
    .addHelpText(
      'after',
      `
Examples:
  $ pgvigil record --server db1 --from 2026-12-03T10:00:00Z --to 2026-12-03T12:00:00Z --out incident.ndjson
  $ pgvigil replay incident.ndjson --json      the findings, incidents and SLO changes, at the file's times`,
    )
    .action(async (file: string, flags: { databaseUrl?: string; json?: boolean }) => {
      const { replay } = await import('./tools/replay.js');
      const r = await replay({ file, databaseUrl: flags.databaseUrl, json: Boolean(flags.json) });
      process.stderr.write(
        `replayed ${r.replayed} batches of ${r.lines} lines (${r.skipped} skipped), ${r.events} changes${r.from ? `, ${r.from} to ${r.to}` : ''}\n`,
      );
    });

  storeOptions(
    program
      .command('record')
      .description("write a server's stored rows in a time range as a replay stream (NDJSON, docs/replay.md)")
      .requiredOption('--server <name>', 'the server (host) name')
      .requiredOption('--from <iso>', 'start of the range, ISO 8601 with its zone', isoArg('--from'))
      .requiredOption('--to <iso>', 'end of the range (excluded), ISO 8601 with its zone', isoArg('--to'))
      .option('--out <file>', 'write to this file (default: standard output)'),
  ).action(async (flags: StoreFlags & { server: string; from: Date; to: Date; out?: string }) => {
    const { record } = await import('./tools/record.js');
    const r = await record({
      databaseUrl: flags.databaseUrl,
      dataDir: flags.dataDir,
      server: flags.server,
      from: flags.from,
      to: flags.to,
      out: flags.out,
    });
    process.stderr.write(
      `recorded ${r.batches} batches, ${r.rows} rows of ${r.families.join(', ') || 'no family'}\n`,
    );
  });

  registerAgentCommands(program);
  registerLogCommands(program);
  registerConfigCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    reportCommandFailure(err);
  }
}

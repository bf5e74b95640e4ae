/**
 * Agent subcommands of the CLI: `agent` (collectors + Prometheus exporter) and `collect` (one collection,
 * printed). Flags are parsed and checked here; the work is in run.ts, imported only when one of these
 * commands runs, so other commands do not load the collectors and the agent does not load the server.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  asFlags,
  blameConfigFile,
  configState,
  defaultConfigPaths,
  reloadConfigFile,
  withConfigFile,
} from '../config/apply.js';
import { type LogFlags, logOptions } from '../config/log-options.js';
import { parseDuration as parseAnyDuration } from '../duration.js';
import { createLogger, type Logger } from '../log.js';
import { describeRange, type NumericSetting, postgresSettingBounds } from '../protocol/postgres-options.js';
import {
  type PostgresOptionFlags,
  parseDatabasePatterns,
  parsePostgresOption,
  postgresSettingsFromFlags,
} from './postgres-flags.js';
import type { ServerLink } from './run.js';

interface RootFlags extends PostgresOptionFlags {
  procRoot: string;
  sysRoot: string;
  rootfs: string;
  watchProcess: string[];
  postgres: string[];
  postgresFile?: string;
  customMetricsFile?: string;
  scrapeTargetsFile?: string;
}

interface AgentFlags extends RootFlags, LogFlags {
  listen?: string;
  interval: string;
  nodeExporterMemoryNames?: boolean;
  server?: string;
  enrollToken?: string;
  enrollTokenFile?: string;
  stateDir: string;
  pushInterval: string;
  fsync: 'seal' | 'interval' | 'never';
  ca?: string;
  cert?: string;
  key?: string;
  logs: boolean;
  logFile: string[];
  maxMemory: number;
  printSystemdUnit?: boolean;
}

interface CollectFlags extends RootFlags {
  once?: boolean;
  json?: boolean;
  only?: string;
  interval: string;
}

/** --max-memory: whole MiB, 32 to 65536. */
function parseMiB(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 32 || n > 65536)
    throw new InvalidArgumentError('expected whole MiB from 32 to 65536, e.g. 48');
  return n;
}

function appendValue(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * A parser that checks an agent interval where commander reads it (flag, environment, config file, so a
 * bad value in a file is reported with its line) and keeps the text as given.
 */
function checkedInterval(flag: string): (value: string) => string {
  return (value) => {
    parseAnyDuration(value, flag, { min: '100ms', max: '24h' });
    return value;
  };
}

/**
 * The PostgreSQL collector's options (docs/postgres-setup.md "Options"), for every --postgres target:
 * each checked where commander reads it (flag, environment, config file) and kept as typed.
 */
const postgresOptionSpecs: Array<{ flag: string; arg: string; help: string; key?: NumericSetting }> = [
  {
    flag: '--postgres-include-databases',
    arg: 'names',
    help: "visit and report only these databases: comma-separated names, * the only wildcard (e.g. 'app*,shop'); repeatable; default all",
  },
  {
    flag: '--postgres-exclude-databases',
    arg: 'names',
    help: 'never visit nor report these databases (names as for --postgres-include-databases); repeatable',
  },
  {
    flag: '--postgres-interval',
    arg: 'duration',
    key: 'intervalMs',
    help: 'how often the PostgreSQL collector runs; default: --interval',
  },
  {
    flag: '--postgres-database-interval',
    arg: 'duration',
    key: 'databaseIntervalMs',
    help: 'per-database families (tables, indexes, statio) at most this often; default 60s',
  },
  {
    flag: '--postgres-statements-top',
    arg: 'n',
    key: 'statementsTopN',
    help: 'statements sent per ranking (time, calls, I/O); default 100',
  },
  {
    flag: '--postgres-statement-text-max',
    arg: 'chars',
    key: 'statementTextMaxLength',
    help: 'statement texts cut to this many characters; default 4096',
  },
  {
    flag: '--postgres-max-tables',
    arg: 'n',
    key: 'maxTablesPerDatabase',
    help: 'tables (and sequences read) per database; default 500',
  },
  {
    flag: '--postgres-max-indexes',
    arg: 'n',
    key: 'maxIndexesPerDatabase',
    help: 'indexes per database; default 1000',
  },
  {
    flag: '--postgres-statement-timeout',
    arg: 'duration',
    key: 'statementTimeoutMs',
    help: "statement_timeout of the collector's sessions; default 5s",
  },
  {
    flag: '--postgres-lock-timeout',
    arg: 'duration',
    key: 'lockTimeoutMs',
    help: "lock_timeout of the collector's sessions; default 1s",
  },
  {
    flag: '--postgres-connect-timeout',
    arg: 'duration',
    key: 'connectTimeoutMs',
    help: 'connection attempt timeout; default 5s',
  },
  {
    flag: '--postgres-keep-connections',
    arg: 'n',
    key: 'keepDatabaseConnections',
    help: 'connections to other databases kept open between visits (0 = none); default: the visit concurrency',
  },
  {
    flag: '--postgres-visit-concurrency',
    arg: 'n',
    key: 'databaseVisitConcurrency',
    help: 'databases visited at the same time, each over its own connection; default 4 (1 = one after another)',
  },
];

/**
 * Settings of `pgvigil agent` that a reload of its config file applies without a restart (SIGHUP); a
 * change to any other key is logged as needing one.
 */
export const liveAgentKeys = [
  'interval',
  'watch_process',
  'postgres',
  'postgres_file',
  'custom_metrics_file',
  'push_interval',
  'log_file',
  'logs',
  'log_level',
  ...postgresOptionKeys(),
] as const;

function rootOptions(cmd: Command): Command {
  cmd
    .addOption(
      new Option('--proc-root <dir>', "where the host's procfs is mounted (as node_exporter's --path.procfs)")
        .default('/proc')
        .env('PGVIGIL_PROC_ROOT'),
    )
    .addOption(
      new Option('--sys-root <dir>', "where the host's sysfs is mounted (cgroups under <dir>/fs/cgroup)")
        .default('/sys')
        .env('PGVIGIL_SYS_ROOT'),
    )
    .addOption(
      new Option('--rootfs <dir>', "where the host's root filesystem is mounted, for filesystem sizes")
        .default('/')
        .env('PGVIGIL_ROOTFS'),
    )
    .option(
      '--watch-process <name|/regex/>',
      'watch processes by name (as pgrep NAME) or /regex/ over the command line (as pgrep -f); repeatable',
      appendValue,
      [],
    )
    .option(
      '--postgres <[name=]url>',
      'a PostgreSQL to monitor (postgres://user@host:5432/db); repeatable. A password here shows in ps: put the URL in PGVIGIL_POSTGRES or --postgres-file, or the password in PGPASSWORD or PGPASSFILE',
      appendValue,
      [],
    )
    .option(
      '--postgres-file <file>',
      'PostgreSQL targets to monitor, one [name=]url a line (# comments); with --postgres and PGVIGIL_POSTGRES (whitespace-separated) they add up',
    )
    .option(
      '--custom-metrics-file <file>',
      'custom SQL metrics run on every PostgreSQL target: [[metric]] tables in TOML, or JSON for a .json name (docs/configuration.md)',
    )
    .option(
      '--scrape-targets-file <file>',
      'application metrics to scrape over HTTP (Prometheus text, OpenMetrics, JSON with a mapping): a TOML file of [[target]] tables or a .json file; read at start',
    );
  return postgresOptions(cmd);
}

/** The config keys of the PostgreSQL options (--postgres-max-tables → postgres_max_tables). */
function postgresOptionKeys(): string[] {
  return postgresOptionSpecs.map((s) => s.flag.slice(2).replace(/-/g, '_'));
}

function postgresOptions(cmd: Command): Command {
  for (const spec of postgresOptionSpecs) {
    const env = `PGVIGIL_${spec.flag.slice(2).replace(/-/g, '_').toUpperCase()}`;
    const key = spec.key;
    // The range comes from the bounds the values are checked against, so the help cannot drift from them.
    const help =
      key === undefined ? spec.help : `${spec.help} (${describeRange(postgresSettingBounds[key])})`;
    const option = new Option(`${spec.flag} <${spec.arg}>`, help).env(env);
    if (key === undefined) {
      const list = spec.flag === '--postgres-include-databases' ? 'includeDatabases' : 'excludeDatabases';
      cmd.addOption(
        option
          .default([])
          .argParser((value: string, previous: string[]) => parseDatabasePatterns(list, value, previous)),
      );
    } else {
      cmd.addOption(
        option.argParser((value: string) => {
          parsePostgresOption(key, value);
          return value;
        }),
      );
    }
  }
  return cmd;
}

/** The custom SQL metrics of --custom-metrics-file (none without it). */
async function customMetrics(flags: RootFlags) {
  if (flags.customMetricsFile === undefined) return [];
  const { readCustomMetricsFile } = await import('./custom-metrics-file.js');
  return readCustomMetricsFile(flags.customMetricsFile);
}

/**
 * Secrets typed on the command line are visible to every user of the host (ps): one warning naming the
 * flags (never the values). Values from a config file or the environment are not on the command line.
 */
async function warnSecretsOnCommandLine(log: Logger, enrollTokenOnCli: boolean, postgresOnCli: string[]) {
  const { secretsOnCommandLine } = await import('./options.js');
  const onCli = secretsOnCommandLine({ enrollToken: enrollTokenOnCli, postgres: postgresOnCli });
  if (onCli.length > 0) {
    log.warn(
      { flags: onCli },
      'a secret was given on the command line, where every user of this host can read it (ps); use PGVIGIL_ENROLL_TOKEN or --enroll-token-file, PGVIGIL_POSTGRES or --postgres-file, or PGPASSWORD/PGPASSFILE instead',
    );
  }
}

/** The application scrape targets of --scrape-targets-file (none without it). */
async function scrapeTargets(flags: RootFlags) {
  if (flags.scrapeTargetsFile === undefined) return [];
  const { readScrapeTargetsFile } = await import('./options.js');
  return readScrapeTargetsFile(flags.scrapeTargetsFile);
}

/** The PostgreSQL targets from --postgres, --postgres-file and PGVIGIL_POSTGRES. */
async function postgresTargets(flags: RootFlags) {
  const { parsePostgresTargets, postgresValues } = await import('./options.js');
  return parsePostgresTargets(
    postgresValues(flags.postgres, flags.postgresFile, process.env.PGVIGIL_POSTGRES),
  );
}

export function registerAgentCommands(program: Command): void {
  const agent = rootOptions(
    program
      .command('agent')
      .description(
        'run the agent on this host: collectors on their interval, shipped to a server and/or served on /metrics',
      )
      .option('--listen <host:port>', 'serve /metrics (Prometheus text format) on this address')
      .option('--interval <duration>', 'how often each collector runs', checkedInterval('--interval'), '10s')
      .option(
        '--server <url>',
        'ship everything to this pgvigil server (http:// or https://); several on one store: comma-separated',
      )
      .addOption(
        new Option(
          '--enroll-token <token>',
          'enroll with the server (first start); shows in ps: prefer PGVIGIL_ENROLL_TOKEN or --enroll-token-file',
        ).env('PGVIGIL_ENROLL_TOKEN'),
      )
      .option('--enroll-token-file <file>', 'read the enrollment token from this file (its first line)')
      .addOption(
        new Option('--state-dir <dir>', 'credential and disk spool')
          .default('/var/lib/pgvigil-agent')
          .env('PGVIGIL_AGENT_STATE_DIR'),
      )
      .option(
        '--push-interval <duration>',
        'how often collected data is sealed into a batch and sent',
        checkedInterval('--push-interval'),
        '10s',
      )
      .addOption(
        new Option('--fsync <policy>', 'when the spool syncs to disk')
          .choices(['seal', 'interval', 'never'])
          .default('seal'),
      )
      .option('--ca <file>', 'CA certificate(s) to trust for an https:// server (private CA)')
      .option('--cert <file>', 'client certificate for mutual TLS')
      .option('--key <file>', 'client key for mutual TLS')
      .option(
        '--log-file <parser:path>',
        'also follow this log file (glob allowed), e.g. postgresql:/var/log/postgresql/*.log; repeatable',
        appendValue,
        [],
      )
      .option('--no-logs', 'ship no logs (by default the common log files present on this host are followed)')
      .addOption(
        new Option(
          '--max-memory <MiB>',
          "the agent's memory budget: V8 heap limit and log buffers; past it, log lines wait in their files or are dropped and counted",
        )
          .default(48)
          .argParser(parseMiB)
          .env('PGVIGIL_AGENT_MAX_MEMORY'),
      )
      .option('--print-systemd-unit', 'print the systemd unit for the agent (deploy/systemd) and exit')
      .option(
        '--node-exporter-memory-names',
        'expose memory as node_exporter names it (node_memory_MemTotal_bytes); promtool flags those CamelCase names, so by default they are lower case (node_memory_memtotal_bytes)',
      ),
  );
  withConfigFile(logOptions(agent), { defaultPath: defaultConfigPaths.agent })
    .addHelpText(
      'after',
      `
With --server the agent ships everything to a pgvigil server: batches are sealed every --push-interval
into a disk spool under --state-dir and sent oldest first, so outages lose nothing. With --listen it also
serves /metrics; with --listen alone it is an exporter only, a drop-in for node_exporter. Pointed at a
server's agent port (--agent-port), the agent also gets a client certificate for a key it makes, keeps it
in --state-dir (0600) and renews it before it ends.

Examples:
  $ pgvigil agent --server https://pgvigil.example:8470 --enroll-token pgv_enroll_… --postgres postgres://pgvigil@localhost/postgres
  $ pgvigil agent --listen 127.0.0.1:9100
  $ pgvigil agent --listen 127.0.0.1:9100 --watch-process postgres --watch-process '/pgbouncer/'
  $ pgvigil agent --listen :9100 --proc-root /host/proc --sys-root /host/sys --rootfs /host   # in a container
  $ pgvigil agent --config ./agent.toml                   # every flag has a key: docs/configuration.md

SIGHUP re-reads the config file and applies ${liveAgentKeys.join(', ')} without a
restart (other keys need one), then pulls the server's config.
`,
    )
    .action(async (flags: AgentFlags, cmd: Command) => {
      const config = configState(cmd);
      try {
        await runAgentCommand(flags, cmd);
      } catch (err) {
        throw blameConfigFile(err, config?.file, config?.values ?? []);
      }
    });

  rootOptions(
    program
      .command('collect')
      .description('collect once and print the rows (two samples --interval apart, so rates exist)')
      .option('--once', 'one collection, then exit (required: continuous collection is `pgvigil agent`)')
      .option('--json', "print JSON (families with their rows, and each collector's status)")
      .option(
        '--only <list>',
        'comma-separated groups (host, process, container) or collectors (cpu, disk, …)',
      )
      .option('--interval <duration>', 'time between the two samples', '1s'),
  )
    .addHelpText(
      'after',
      `
Exit status: 0 when every selected collector succeeded or does not apply to this host, 1 when one failed
(its error is in the output and on stderr), 2 for bad arguments.

Examples:
  $ pgvigil collect --once --json
  $ pgvigil collect --once --json --only host --interval 2s
  $ pgvigil collect --once --only process --watch-process postgres
`,
    )
    .action(async (flags: CollectFlags) => {
      const { parseDuration, parseOnly, parseWatches } = await import('./options.js');
      const { PgvigilError } = await import('../errors.js');
      if (!flags.once) {
        throw new PgvigilError(
          'BAD_ARGUMENT',
          'collect needs --once (it collects one time; for continuous collection run `pgvigil agent`)',
        );
      }
      const only = flags.only === undefined ? undefined : parseOnly(flags.only);
      const intervalMs = parseDuration(flags.interval, '--interval');
      const watches = parseWatches(flags.watchProcess);
      const roots = await parseRoots(flags);
      const { collectOnce, formatCollectText } = await import('./run.js');
      const log = createLogger(process.env.PGVIGIL_LOG_LEVEL ?? 'warn');
      await warnSecretsOnCommandLine(log, false, flags.postgres);
      const postgres = await postgresTargets(flags);
      const scrape = await scrapeTargets(flags);
      const report = await collectOnce({
        ...roots,
        only,
        intervalMs,
        watches,
        postgres,
        postgresSettings: postgresSettingsFromFlags(flags),
        customMetrics: await customMetrics(flags),
        scrape,
        log,
      });
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatCollectText(report));
      const failed = report.collectors.filter((c) => c.status === 'failing');
      for (const c of failed)
        process.stderr.write(`pgvigil collect: collector ${c.name} failed: ${c.error}\n`);
      if (failed.length > 0) process.exitCode = 1;
    });
}

/** The default log sources present on this host, plus those given with --log-file parser:path. */
async function agentLogSources(files: string[]) {
  const { defaultLogSources, presentSources } = await import('./logs/sources.js');
  const { parsers } = await import('./logs/parsers/index.js');
  const { parseLogFiles } = await import('./options.js');
  const extra = parseLogFiles(files, Object.keys(parsers));
  return [...(await presentSources(defaultLogSources())), ...extra];
}

/** --proc-root, --sys-root, --rootfs, each checked to be a directory. */
async function parseRoots(flags: RootFlags) {
  const { checkRoot } = await import('./options.js');
  return {
    procRoot: checkRoot('--proc-root', flags.procRoot),
    sysRoot: checkRoot('--sys-root', flags.sysRoot),
    rootFs: checkRoot('--rootfs', flags.rootfs),
  };
}

/** `pgvigil agent`: checks the flags, then runs the agent until SIGINT/SIGTERM. */
async function runAgentCommand(flags: AgentFlags, cmd: Command): Promise<void> {
  const { parseDuration, parseListenAddress, parseServerUrl, readSecretFile } = await import('./options.js');
  const { PgvigilError } = await import('../errors.js');
  if (flags.printSystemdUnit) {
    const { printAgentUnit } = await import('./memory.js');
    printAgentUnit();
    return;
  }
  if (flags.listen === undefined && flags.server === undefined) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      'nothing to do: give --server URL to ship to a pgvigil server and/or --listen HOST:PORT to serve /metrics',
    );
  }
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new PgvigilError('BAD_ARGUMENT', '--cert and --key go together (mutual TLS needs both)');
  }
  if (flags.enrollToken !== undefined && flags.enrollTokenFile !== undefined) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      'give the enrollment token once: --enroll-token, PGVIGIL_ENROLL_TOKEN or --enroll-token-file',
    );
  }
  const { followParent, reexecUnderHeapLimit, setMemoryBudget } = await import('./memory.js');
  const bounds = setMemoryBudget(flags.maxMemory);
  if (cmd.getOptionValueSource('maxMemory') !== 'default') await reexecUnderHeapLimit(bounds);
  followParent();
  const log = createLogger(flags.logLevel, { format: flags.logFormat });
  const enrollToken =
    flags.enrollTokenFile === undefined
      ? flags.enrollToken
      : readSecretFile('--enroll-token-file', flags.enrollTokenFile);
  const listen = flags.listen === undefined ? undefined : parseListenAddress(flags.listen);
  const onCli = (name: string) => cmd.getOptionValueSource(name) === 'cli';
  await warnSecretsOnCommandLine(log, onCli('enrollToken'), onCli('postgres') ? flags.postgres : []);
  const server: ServerLink | undefined =
    flags.server === undefined
      ? undefined
      : {
          url: parseServerUrl(flags.server),
          stateDir: flags.stateDir,
          enrollToken,
          tls: { ca: flags.ca, cert: flags.cert, key: flags.key },
          pushIntervalMs: parseDuration(flags.pushInterval, '--push-interval'),
          fsync: flags.fsync,
        };
  const live = await liveSettings(flags, server !== undefined);
  const roots = await parseRoots(flags);
  const config = configState(cmd);
  let current = flags;
  const reloadLocal =
    config === undefined
      ? undefined
      : async () => {
          const values = reloadConfigFile(config);
          const next = asFlags(values) as unknown as AgentFlags;
          let settings: Awaited<ReturnType<typeof liveSettings>>;
          try {
            settings = await liveSettings(next, server !== undefined);
          } catch (err) {
            throw blameConfigFile(err, config.file, values);
          }
          const changed = values.filter(
            (v) =>
              JSON.stringify(v.value) !==
              JSON.stringify((current as unknown as Record<string, unknown>)[v.spec.option.attributeName()]),
          );
          const needRestart = changed
            .map((v) => v.key)
            .filter((k) => !(liveAgentKeys as readonly string[]).includes(k));
          if (needRestart.length > 0) {
            log.warn(
              { keys: needRestart },
              `config file: ${needRestart.join(', ')} changed; that takes a restart (the running values stay until then)`,
            );
          }
          if (next.logLevel !== current.logLevel) log.level = next.logLevel;
          current = {
            ...current,
            ...Object.fromEntries(
              liveAgentKeysAttrs().map((a) => [a, (next as unknown as Record<string, unknown>)[a]]),
            ),
          };
          config.values = values;
          log.debug({ file: config.file ?? null }, 'SIGHUP: config file read');
          return settings;
        };
  const { runAgent } = await import('./run.js');
  await runAgent({
    ...roots,
    listen,
    intervalMs: live.intervalMs,
    watches: live.watches,
    postgres: live.postgres,
    postgresSettings: live.postgresSettings,
    customMetrics: live.customMetrics,
    scrapeTargets: await scrapeTargets(flags),
    server,
    logSources: server ? live.logSources : undefined,
    nodeExporterMemoryNames: flags.nodeExporterMemoryNames ?? false,
    log,
    reloadLocal,
    onReady: ({ url, collectors, agentId }) => {
      const where = [
        url ? `serving ${url}/metrics` : '',
        server ? `shipping to ${server.url} as agent ${agentId}` : '',
      ].filter(Boolean);
      process.stdout.write(
        `pgvigil agent: ${where.join('; ')} (collectors: ${collectors.join(', ')}; every ${flags.interval})\n`,
      );
    },
  });
}

/** The option attribute names of the live keys (watch_process → watchProcess). */
function liveAgentKeysAttrs(): string[] {
  return liveAgentKeys.map((k) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
}

/** The agent settings a config file reload may change, from the flags (as at start). */
async function liveSettings(flags: AgentFlags, shipping: boolean) {
  const { parseDuration, parseWatches } = await import('./options.js');
  return {
    intervalMs: parseDuration(flags.interval, '--interval'),
    watches: parseWatches(flags.watchProcess),
    postgres: await postgresTargets(flags),
    postgresSettings: postgresSettingsFromFlags(flags),
    customMetrics: await customMetrics(flags),
    logSources: shipping && flags.logs ? await agentLogSources(flags.logFile) : [],
    pushIntervalMs: shipping ? parseDuration(flags.pushInterval, '--push-interval') : undefined,
  };
}

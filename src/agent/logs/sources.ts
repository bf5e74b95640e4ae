/**
 * Log sources: what to read and how to parse it. Configured per agent; without configuration the agent
 * uses `defaultLogSources()`, which name the logs common Linux hosts have — sources whose files or
 * directories are missing are skipped quietly (`presentSources`). When the agent has a PostgreSQL
 * connection, `postgresLogSource(settings)` derives the PostgreSQL source from the server's own settings
 * (log_directory, log_filename, log_destination, log_line_prefix, log_timezone) instead of guessing.
 */
import { access, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { expandGlob, hasGlobChars } from './glob.js';
import { parsers } from './parsers/index.js';
import { isValidTimezone } from './time.js';

const volumeSchema = z
  .object({
    intervalMs: z.number().int().positive().optional(),
    maxPerInterval: z.number().int().positive().optional(),
    maxPerFingerprint: z.number().int().positive().optional(),
  })
  .strict();

const nameSchema = z.string().regex(/^[a-z0-9_.-]{1,64}$/, 'lower-case letters, digits, _ . - (at most 64)');

export const fileSourceSchema = z
  .object({
    name: nameSchema,
    kind: z.literal('file'),
    paths: z.array(z.string().min(1)).min(1),
    parser: z.string().refine((p) => p in parsers, { message: 'unknown parser' }),
    prefix: z.string().optional(),
    timezone: z.string().refine(isValidTimezone, { message: 'unknown IANA time zone' }).optional(),
    readFrom: z.enum(['beginning', 'end']).optional(),
    volume: volumeSchema.optional(),
  })
  .strict();

export const journaldSourceSchema = z
  .object({
    name: nameSchema,
    kind: z.literal('journald'),
    units: z.array(z.string().min(1)).optional(),
    extraArgs: z.array(z.string()).optional(),
    firstRunLines: z.number().int().positive().optional(),
    timezone: z.string().refine(isValidTimezone, { message: 'unknown IANA time zone' }).optional(),
    volume: volumeSchema.optional(),
  })
  .strict();

export const logSourceSchema = z.discriminatedUnion('kind', [fileSourceSchema, journaldSourceSchema]);
export const logSourcesSchema = z
  .array(logSourceSchema)
  .refine((list) => new Set(list.map((s) => s.name)).size === list.length, {
    message: 'source names must be unique',
  });

export type FileSourceConfig = z.infer<typeof fileSourceSchema>;
export type JournaldSourceConfig = z.infer<typeof journaldSourceSchema>;
export type LogSourceConfig = z.infer<typeof logSourceSchema>;

/** The logs common Linux hosts (Debian/Ubuntu and RHEL families) have. */
export function defaultLogSources(): LogSourceConfig[] {
  return [
    {
      name: 'postgresql',
      kind: 'file',
      parser: 'postgresql',
      paths: [
        '/var/log/postgresql/postgresql-*.log',
        '/var/lib/pgsql/data/log/*.log',
        '/var/lib/pgsql/*/data/log/*.log',
      ],
    },
    { name: 'auth', kind: 'file', parser: 'syslog', paths: ['/var/log/auth.log', '/var/log/secure'] },
    { name: 'syslog', kind: 'file', parser: 'syslog', paths: ['/var/log/syslog', '/var/log/messages'] },
    { name: 'kernel', kind: 'file', parser: 'syslog', paths: ['/var/log/kern.log'] },
    { name: 'fail2ban', kind: 'file', parser: 'fail2ban', paths: ['/var/log/fail2ban.log'] },
    { name: 'nginx_error', kind: 'file', parser: 'nginx_error', paths: ['/var/log/nginx/*error.log'] },
    {
      name: 'apache_error',
      kind: 'file',
      parser: 'apache_error',
      paths: ['/var/log/apache2/*error.log', '/var/log/httpd/*error_log'],
    },
    { name: 'certbot', kind: 'file', parser: 'certbot', paths: ['/var/log/letsencrypt/letsencrypt.log'] },
  ];
}

/** The subset of sources that exist here: a matching file, or for globs at least their directory. */
export async function presentSources(sources: LogSourceConfig[]): Promise<LogSourceConfig[]> {
  const out: LogSourceConfig[] = [];
  for (const s of sources) {
    if (s.kind === 'journald') {
      out.push(s);
      continue;
    }
    for (const p of s.paths) {
      if (await pathPresent(p)) {
        out.push(s);
        break;
      }
    }
  }
  return out;
}

/** A file, or a glob matching at least one. */
async function pathPresent(p: string): Promise<boolean> {
  return hasGlobChars(p) ? (await expandGlob(p)).length > 0 : await exists(p);
}

/**
 * What the agent tells the server of the sources it follows, in every batch's status (`logSources`), so that
 * a finding about a source's entries names its files: name, parser and the paths that match a file now (all
 * of them when none does). Journald sources are left out: they have no files.
 */
export async function reportLogSources(
  sources: readonly LogSourceConfig[],
): Promise<Array<{ name: string; parser: string; paths: string[] }>> {
  const out: Array<{ name: string; parser: string; paths: string[] }> = [];
  for (const s of sources) {
    if (s.kind !== 'file') continue;
    const present: string[] = [];
    for (const p of s.paths) if (await pathPresent(p)) present.push(p);
    out.push({ name: s.name, parser: s.parser, paths: present.length > 0 ? present : s.paths });
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The settings `postgresLogSource` needs, as `SHOW`/pg_settings return them. */
export interface PostgresLogSettings {
  data_directory: string;
  log_directory: string;
  log_filename: string;
  log_destination: string;
  logging_collector: string;
  log_line_prefix: string;
  log_timezone: string;
}

/**
 * The PostgreSQL log source a server's settings imply, or undefined when it does not write log files we can
 * find (logging_collector off: stderr goes wherever the service manager sends it — journald or a file
 * the packaging chose, which the default source covers). jsonlog is preferred over csvlog over stderr:
 * the structured formats need no prefix and keep multi-line messages intact.
 */
export function postgresLogSource(
  settings: PostgresLogSettings,
  name = 'postgresql',
): LogSourceConfig | undefined {
  if (settings.logging_collector !== 'on') return undefined;
  const dir = isAbsolute(settings.log_directory)
    ? settings.log_directory
    : join(settings.data_directory, settings.log_directory);
  // log_filename is a strftime pattern: every escape becomes a wildcard.
  const base = settings.log_filename.replace(/%./g, '*').replace(/\*+/g, '*');
  const destinations = settings.log_destination.split(',').map((d) => d.trim());
  const stem = base.endsWith('.log') ? base.slice(0, -4) : base;
  const timezone = isValidTimezone(settings.log_timezone) ? settings.log_timezone : undefined;
  if (destinations.includes('jsonlog')) {
    return { name, kind: 'file', parser: 'postgresql_json', paths: [join(dir, `${stem}.json`)], timezone };
  }
  if (destinations.includes('csvlog')) {
    return { name, kind: 'file', parser: 'postgresql_csv', paths: [join(dir, `${stem}.csv`)], timezone };
  }
  if (destinations.includes('stderr')) {
    return {
      name,
      kind: 'file',
      parser: 'postgresql',
      paths: [join(dir, base)],
      prefix: settings.log_line_prefix,
      timezone,
    };
  }
  return undefined;
}

/** The settings `postgresLogSource` reads, by their pg_settings names. */
export const postgresLogSettingNames: ReadonlyArray<keyof PostgresLogSettings> = [
  'data_directory',
  'log_directory',
  'log_filename',
  'log_destination',
  'logging_collector',
  'log_line_prefix',
  'log_timezone',
];

const defaultPostgresPaths = (defaultLogSources().find((s) => s.name === 'postgresql') as FileSourceConfig)
  .paths;

/**
 * The agent's own sources with the PostgreSQL sources its targets' settings imply (`found`, in target
 * order) in place of the default one, whose globs only guess where a packaging puts the log: the first
 * takes the name `postgresql`, the others `postgresql_2`, `postgresql_3`… Two targets that log to the same
 * files give one source. A `postgresql` source the operator set (other paths than the default's) is kept
 * as it is, and nothing is added.
 */
export function withPostgresSources(
  own: readonly LogSourceConfig[],
  found: readonly FileSourceConfig[],
): LogSourceConfig[] {
  const current = own.find((s) => s.name === 'postgresql');
  const isDefault =
    current === undefined ||
    (current.kind === 'file' && current.paths.join('\n') === defaultPostgresPaths.join('\n'));
  if (!isDefault || found.length === 0) return [...own];
  const taken = new Set(own.filter((s) => s !== current).map((s) => s.name));
  const seen = new Set<string>();
  const added: LogSourceConfig[] = [];
  for (const source of found) {
    const key = source.paths.join('\n');
    if (seen.has(key)) continue;
    seen.add(key);
    let name = 'postgresql';
    for (let n = 2; taken.has(name); n++) name = `postgresql_${n}`;
    taken.add(name);
    added.push({ ...source, name });
  }
  const out = own.filter((s) => s !== current);
  // Where the default stood, so the order of the other sources stays.
  const at = current === undefined ? out.length : own.indexOf(current);
  out.splice(at, 0, ...added);
  return out;
}

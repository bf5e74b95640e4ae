/**
 * Parsing and checking of the agent's command-line values. Each parser throws a PgvigilError
 * (BAD_ARGUMENT) whose message names the flag, what was given and what is expected.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseDuration as parseFlagDuration } from '../duration.js';
import { PgvigilError } from '../errors.js';
import { parseScrapeTarget, type ScrapeTarget } from '../scrape/target.js';
import { collectorGroups, collectorNames, type PostgresTarget } from './collectors/index.js';
import { type ProcessWatch, parseProcessWatch } from './collectors/process.js';
import type { FileSourceConfig } from './logs/sources.js';

/** An agent interval ("500ms", "1s", "10s", "1m") → milliseconds: from 100ms to 24h. */
export function parseDuration(value: string, flag: string): number {
  return parseFlagDuration(value, flag, { min: '100ms', max: '24h' });
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** "127.0.0.1:9100", "[::1]:9100", "localhost:0", ":9100" (all interfaces, as node_exporter reads it). */
export function parseListenAddress(value: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `--listen ${JSON.stringify(value)}: expected HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:9100 (port 0-65535)`,
    );
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** --only: groups (host, process, container) and/or collector names (cpu, disk, …), comma-separated. */
export function parseOnly(value: string): Set<string> {
  const valid = new Set<string>([...collectorGroups, ...collectorNames]);
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0)
    throw new PgvigilError('BAD_ARGUMENT', '--only: give at least one group or collector');
  for (const item of items) {
    if (!valid.has(item)) {
      throw new PgvigilError(
        'BAD_ARGUMENT',
        `--only ${item}: unknown; groups are ${collectorGroups.join(', ')}; collectors are ${collectorNames.join(', ')}`,
      );
    }
  }
  return new Set(items);
}

/** --watch-process values, duplicates dropped (one series per watch). */
export function parseWatches(values: string[]): ProcessWatch[] {
  const out: ProcessWatch[] = [];
  for (const v of new Set(values)) {
    try {
      out.push(parseProcessWatch(v));
    } catch (err) {
      throw new PgvigilError('BAD_ARGUMENT', (err as Error).message);
    }
  }
  return out;
}

/** A --proc-root must look like procfs (a `stat` file), a --sys-root like sysfs (a `fs` directory). */
export function checkRoot(flag: '--proc-root' | '--sys-root' | '--rootfs', dir: string): string {
  const probe = flag === '--proc-root' ? 'stat' : flag === '--sys-root' ? 'fs' : '';
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new PgvigilError('BAD_ARGUMENT', `${flag} ${dir}: no such directory`);
  }
  if (probe !== '') {
    try {
      statSync(join(dir, probe));
    } catch {
      const what =
        flag === '--proc-root' ? 'a procfs (no "stat" file in it)' : 'a sysfs (no "fs" directory in it)';
      throw new PgvigilError('BAD_ARGUMENT', `${flag} ${dir}: does not look like ${what}`);
    }
  }
  return dir;
}

/**
 * A target's name when none is given: host:port. A Unix socket (`%2Fvar%2Frun%2Fpostgresql` as the host, or
 * `?host=/var/run/postgresql`) is this host's: `localhost:5432`, not the encoded directory.
 */
function defaultTargetName(url: URL): string {
  const host = url.hostname.startsWith('%2F') || url.hostname.startsWith('%2f') ? '' : url.hostname;
  const portParam = url.searchParams.get('port') ?? '';
  return `${host || 'localhost'}:${url.port || (/^\d{1,5}$/.test(portParam) ? portParam : '5432')}`;
}

/** --postgres values: "postgres://…" or "name=postgres://…"; the name defaults to host:port. */
export function parsePostgresTargets(values: string[]): PostgresTarget[] {
  const out: PostgresTarget[] = [];
  for (const value of values) {
    const m = /^([A-Za-z0-9_.:-]{1,100})=(postgres(?:ql)?:\/\/.*)$/.exec(value);
    const url = m ? m[2]! : value;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new PgvigilError(
        'BAD_ARGUMENT',
        '--postgres: expected postgres://user:password@host:5432/db (the value is not a URL)',
      );
    }
    if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
      throw new PgvigilError(
        'BAD_ARGUMENT',
        `--postgres: expected a postgres:// URL, got ${parsed.protocol}//…`,
      );
    }
    try {
      for (const part of [parsed.username, parsed.password, parsed.pathname]) decodeURIComponent(part);
    } catch {
      // The collector decodes them to connect; a malformed escape there left the target as "?:?".
      throw new PgvigilError(
        'BAD_ARGUMENT',
        "--postgres: the URL's user, password or database is not valid percent-encoding",
      );
    }
    const name = m ? m[1]! : defaultTargetName(parsed);
    if (out.some((t) => t.name === name)) {
      throw new PgvigilError(
        'BAD_ARGUMENT',
        `--postgres: two targets named ${name}; name them with NAME=URL`,
      );
    }
    out.push({ name, url });
  }
  return out;
}

/** Servers one agent may be given (several instances on one store). */
const maxServers = 16;

/**
 * --server: an http:// or https:// URL without a path, or several separated by commas (instances on one
 * store, tried in turn: ./http.ts), all of one scheme; normalised and without repeats.
 */
export function parseServerUrl(value: string): string {
  const urls = [
    ...new Set(
      value
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '')
        .map(oneServerUrl),
    ),
  ];
  if (urls.length === 0) throw new PgvigilError('BAD_ARGUMENT', '--server: expected http(s)://host:port');
  if (urls.length > maxServers) {
    throw new PgvigilError('BAD_ARGUMENT', `--server: at most ${maxServers} servers, got ${urls.length}`);
  }
  if (new Set(urls.map((u) => u.split(':')[0])).size > 1) {
    throw new PgvigilError('BAD_ARGUMENT', `--server ${value}: all http:// or all https://, not both`);
  }
  return urls.join(',');
}

function oneServerUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new PgvigilError('BAD_ARGUMENT', `--server ${JSON.stringify(value)}: expected http(s)://host:port`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new PgvigilError('BAD_ARGUMENT', `--server ${value}: expected http:// or https://`);
  }
  return `${u.protocol}//${u.host}`;
}

/**
 * The contents of a file holding one secret (--enroll-token-file): its first line, without surrounding
 * whitespace. The file's name may be printed, never its content.
 */
export function readSecretFile(flag: string, path: string): string {
  const value = readFlagFile(flag, path).split('\n', 1)[0]!.trim();
  if (value === '') throw new PgvigilError('BAD_ARGUMENT', `${flag} ${path}: the file is empty`);
  return value;
}

function readFlagFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new PgvigilError('BAD_ARGUMENT', `${flag} ${path}: cannot read the file (${code})`);
  }
}

/** Values of a list file (--postgres-file): one a line; blank lines and lines starting with # skipped. */
export function readListFile(flag: string, path: string): string[] {
  return readFlagFile(flag, path)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/**
 * Every --postgres value, from wherever it was given: the flag (repeatable), --postgres-file (one a line)
 * and PGVIGIL_POSTGRES (several separated by whitespace). Together they are the targets; two of the same
 * name are refused by parsePostgresTargets.
 */
export function postgresValues(flags: string[], file: string | undefined, env: string | undefined): string[] {
  const fromEnv = (env ?? '').split(/\s+/).filter((v) => v !== '');
  return [...flags, ...(file === undefined ? [] : readListFile('--postgres-file', file)), ...fromEnv];
}

/** True when a --postgres value carries a password (user:password@ or ?password=). */
export function urlHasPassword(value: string): boolean {
  const url = /^[A-Za-z0-9_.:-]{1,100}=(postgres(?:ql)?:\/\/.*)$/.exec(value)?.[1] ?? value;
  try {
    const u = new URL(url);
    return u.password !== '' || u.searchParams.has('password');
  } catch {
    return false;
  }
}

/**
 * The flags whose secret was typed on the command line, where every user of the host sees it (`ps`,
 * /proc/PID/cmdline); empty when there is none. Only flag names: the caller warns without the values.
 */
export function secretsOnCommandLine(given: { enrollToken?: boolean; postgres: string[] }): string[] {
  const out: string[] = [];
  if (given.enrollToken) out.push('--enroll-token');
  if (given.postgres.some(urlHasPassword)) out.push('--postgres (a URL with a password)');
  return out;
}

/**
 * --log-file values (PARSER:/absolute/path, glob allowed) → file log sources named file_1, file_2 …;
 * `parsers` are the parser names the agent has.
 */
export function parseLogFiles(values: string[], parsers: string[]): FileSourceConfig[] {
  return values.map((value, i) => {
    const m = /^([a-z0-9_]+):(\/.+)$/.exec(value);
    if (!m || !parsers.includes(m[1]!)) {
      throw new PgvigilError(
        'BAD_ARGUMENT',
        `--log-file ${value}: expected PARSER:/absolute/path with a parser of ${parsers.join(', ')}`,
      );
    }
    return { name: `file_${i + 1}`, kind: 'file' as const, parser: m[1]!, paths: [m[2]!] };
  });
}

/**
 * --scrape-targets-file: application scrape targets, a TOML file of `[[target]]` tables or a JSON file
 * (`.json`) `{"targets": [...]}`; each target's keys as src/scrape/target.ts reads them (name, url,
 * format, interval_ms, timeout_ms, max_bytes, max_series, json_mapping). Names must differ.
 */
export async function readScrapeTargetsFile(path: string): Promise<ScrapeTarget[]> {
  const flag = '--scrape-targets-file';
  const text = readFlagFile(flag, path);
  let doc: unknown;
  try {
    doc = path.endsWith('.json') ? JSON.parse(text) : (await import('smol-toml')).parse(text);
  } catch (err) {
    throw new PgvigilError('BAD_ARGUMENT', `${flag} ${path}: ${(err as Error).message.split('\n', 1)[0]}`);
  }
  const list =
    (doc as { target?: unknown; targets?: unknown }).target ?? (doc as { targets?: unknown }).targets;
  if (!Array.isArray(list))
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `${flag} ${path}: expected [[target]] tables (TOML) or {"targets": [...]} (JSON)`,
    );
  const out: ScrapeTarget[] = [];
  for (const [i, entry] of list.entries()) {
    let t: ScrapeTarget;
    try {
      t = parseScrapeTarget(entry, `scrape target ${i + 1}`);
    } catch (err) {
      throw new PgvigilError('BAD_ARGUMENT', `${flag} ${path}: ${(err as Error).message}`);
    }
    if (out.some((o) => o.name === t.name))
      throw new PgvigilError('BAD_ARGUMENT', `${flag} ${path}: two targets named ${t.name}`);
    out.push(t);
  }
  return out;
}

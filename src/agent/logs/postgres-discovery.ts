/**
 * Where a PostgreSQL target writes its log, read from its own settings (docs/logs.md, "Sources"): one
 * short read-only session per target runs one statement on pg_settings, and `postgresLogSource` turns the
 * answer into a file source. `data_directory` (needed when log_directory is relative, as by default) is
 * shown to superusers and members of pg_read_all_settings, which pg_monitor includes.
 *
 * A source is used only where its directory is on this host and readable: a target on another host, or
 * a log directory the agent's user cannot read, leaves the default source in place (and the latter is
 * logged once, with what to do about it).
 */
import { readdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../../log.js';
import type { PostgresTarget } from '../collectors/index.js';
import { PostgresTarget as TargetConnection } from '../collectors/postgres/session.js';
import {
  type FileSourceConfig,
  type PostgresLogSettings,
  postgresLogSettingNames,
  postgresLogSource,
} from './sources.js';

/** What reading one target's settings gave: its source here, none, or why the read failed (try again). */
export type Discovery = { source: FileSourceConfig | undefined } | { failed: string };

const timeoutMs = 3_000;

export async function discoverPostgresLogSource(target: PostgresTarget, log: Logger): Promise<Discovery> {
  const conn = new TargetConnection(target.url, {
    statementTimeoutMs: timeoutMs,
    lockTimeoutMs: timeoutMs,
    connectTimeoutMs: timeoutMs,
  });
  let settings: Partial<PostgresLogSettings>;
  try {
    const session = await conn.open(conn.database, log, true);
    try {
      const { rows } = await session.query<{ name: keyof PostgresLogSettings; setting: string }>(
        'SELECT name, setting FROM pg_settings WHERE name = ANY($1)',
        [postgresLogSettingNames],
      );
      settings = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
    } finally {
      await session.end();
    }
  } catch (err) {
    return { failed: conn.connectErrorText(err, conn.database) };
  }
  const missing = postgresLogSettingNames.filter((n) => typeof settings[n] !== 'string');
  // Only data_directory is ever hidden (from roles without pg_read_all_settings); an absolute
  // log_directory does not need it.
  if (missing.some((n) => n !== 'data_directory')) return { source: undefined };
  if (missing.length > 0 && !(settings.log_directory ?? '').startsWith('/')) {
    log.warn(
      { target: target.name },
      'the PostgreSQL log directory is relative to data_directory, which this role may not read: the default log source stays (GRANT pg_monitor TO the role the agent connects as)',
    );
    return { source: undefined };
  }
  const source = postgresLogSource({ data_directory: '', ...settings } as PostgresLogSettings);
  if (source?.kind !== 'file') return { source: undefined };
  const dir = dirname(source.paths[0]!);
  try {
    await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Not on this host: the target is another machine's, or runs in a container of its own.
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      log.warn(
        { target: target.name, dir, code },
        "PostgreSQL logs to a directory this agent cannot read: the default log source stays (give the agent's user read access: the postgres group, with group access to the data directory and log_file_mode = 0640)",
      );
    }
    return { source: undefined };
  }
  log.info(
    { target: target.name, paths: source.paths, parser: source.parser },
    'PostgreSQL log source from the server settings',
  );
  return { source };
}

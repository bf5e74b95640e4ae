/**
 * Where a PostgreSQL target writes its log, read from its own settings (docs/logs.md, "Sources"): one
 * short read-only session per target runs one statement on pg_settings, and `postgresLogSource` turns the
 * answer into a file source. `log_directory`, `log_filename` and `data_directory` (needed when
 * log_directory is relative, as by default) are shown only to superusers and members of
 * pg_read_all_settings, which pg_monitor includes.
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
  // A role without pg_read_all_settings sees neither data_directory nor log_directory and log_filename;
  // an absolute log_directory does not need data_directory.
  const hidden = postgresLogSettingNames.filter(
    (n) =>
      typeof settings[n] !== 'string' &&
      !(n === 'data_directory' && (settings.log_directory ?? '').startsWith('/')),
  );
  if (hidden.length > 0) {
    if (settings.logging_collector === 'on') {
      log.warn(
        { target: target.name, hidden },
        'PostgreSQL hides where it logs from the role the agent connects as: the default log source stays (GRANT pg_monitor TO that role)',
      );
    }
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

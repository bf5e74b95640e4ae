/**
 * The PostgreSQL collector's options on the agent's command line: flags, the config keys that follow from
 * them (`--postgres-max-tables` → `postgres_max_tables`) and environment variables
 * (PGVIGIL_POSTGRES_MAX_TABLES). Bounds live in src/protocol/postgres-options.ts, shared with the
 * configuration a server pushes. Kept light (no collectors, no zod): the CLI checks values with it where
 * commander reads them, so a bad value in a config file is reported with its line.
 */
import { parseDurationMs } from '../duration.js';
import { PgvigilError } from '../errors.js';
import {
  databaseListFlags,
  databasePatternError,
  describeRange,
  maxDatabasePatternLength,
  maxDatabasePatterns,
  type NumericSetting,
  numericSettingError,
  type PostgresCollectorSettings,
  postgresSettingBounds,
} from '../protocol/postgres-options.js';

/**
 * The PostgreSQL collector options as flags, config keys (`--postgres-max-tables` → `postgres_max_tables`)
 * and environment variables (PGVIGIL_POSTGRES_MAX_TABLES); bounds in src/protocol/postgres-options.ts.
 */
export interface PostgresOptionFlags {
  postgresIncludeDatabases: string[];
  postgresExcludeDatabases: string[];
  postgresInterval?: string;
  postgresDatabaseInterval?: string;
  postgresStatementsTop?: string;
  postgresStatementTextMax?: string;
  postgresMaxTables?: string;
  postgresMaxIndexes?: string;
  postgresStatementTimeout?: string;
  postgresLockTimeout?: string;
  postgresConnectTimeout?: string;
  postgresKeepConnections?: string;
  postgresVisitConcurrency?: string;
}

const postgresOptionAttrs: Record<NumericSetting, keyof PostgresOptionFlags> = {
  intervalMs: 'postgresInterval',
  databaseIntervalMs: 'postgresDatabaseInterval',
  statementsTopN: 'postgresStatementsTop',
  statementTextMaxLength: 'postgresStatementTextMax',
  maxTablesPerDatabase: 'postgresMaxTables',
  maxIndexesPerDatabase: 'postgresMaxIndexes',
  statementTimeoutMs: 'postgresStatementTimeout',
  lockTimeoutMs: 'postgresLockTimeout',
  connectTimeoutMs: 'postgresConnectTimeout',
  keepDatabaseConnections: 'postgresKeepConnections',
  databaseVisitConcurrency: 'postgresVisitConcurrency',
};

/** One numeric PostgreSQL option as typed ("5s", "500ms", "3") → its value, or BAD_ARGUMENT naming it. */
export function parsePostgresOption(key: NumericSetting, value: string | number): number {
  const b = postgresSettingBounds[key];
  const text = String(value).trim();
  let n: number | undefined;
  if (b.kind === 'count') n = /^\d{1,9}$/.test(text) ? Number(text) : undefined;
  else n = text === '0' ? 0 : parseDurationMs(text);
  if (n === undefined) {
    const expected =
      b.kind === 'count' ? 'a whole number' : 'a duration such as 500ms, 5s or 1m (units ms, s, m, h)';
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `${b.flag} ${JSON.stringify(text.slice(0, 80))}: expected ${expected} ${describeRange(b)}`,
    );
  }
  const why = numericSettingError(key, n);
  if (why) throw new PgvigilError('BAD_ARGUMENT', `${b.flag} ${text}: ${why}`);
  return n;
}

/**
 * Database names for --postgres-include-databases / --postgres-exclude-databases, comma-separated and
 * repeatable, added to `previous`: `*` is the only wildcard; at most 100 names of at most 63 characters.
 */
export function parseDatabasePatterns(
  key: keyof typeof databaseListFlags,
  value: string,
  previous: readonly string[] = [],
): string[] {
  const flag = databaseListFlags[key];
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0)
    throw new PgvigilError('BAD_ARGUMENT', `${flag}: give at least one database name, e.g. 'app*,shop'`);
  for (const item of items) {
    const why = databasePatternError(item);
    if (why)
      throw new PgvigilError(
        'BAD_ARGUMENT',
        `${flag} ${JSON.stringify(item.slice(0, 80))}: ${why}; expected database names of at most ${maxDatabasePatternLength} characters, * the only wildcard`,
      );
  }
  const out = [...new Set([...previous, ...items])];
  if (out.length > maxDatabasePatterns)
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `${flag}: at most ${maxDatabasePatterns} database names, got ${out.length}`,
    );
  return out;
}

/** The collector options the flags set (only those given: the collector's defaults fill the rest). */
export function postgresSettingsFromFlags(flags: PostgresOptionFlags): PostgresCollectorSettings {
  const out: PostgresCollectorSettings = {};
  if (flags.postgresIncludeDatabases.length > 0) out.includeDatabases = flags.postgresIncludeDatabases;
  if (flags.postgresExcludeDatabases.length > 0) out.excludeDatabases = flags.postgresExcludeDatabases;
  for (const [key, attr] of Object.entries(postgresOptionAttrs) as [
    NumericSetting,
    keyof PostgresOptionFlags,
  ][]) {
    const raw = flags[attr];
    if (raw !== undefined) out[key] = parsePostgresOption(key, raw as string);
  }
  return out;
}

/**
 * The operator-settable options of the PostgreSQL collector (docs/postgres-setup.md "Options"): their
 * bounds, in one table read by the agent's flags (src/agent/postgres-flags.ts), the config keys that derive
 * from them, and the configuration a server pushes (agent-config.ts), so that every way in refuses the
 * same values with the same words.
 *
 * Guarantees: a value outside its bounds never reaches the collector; every refusal names the option and
 * the allowed range. Database names are patterns where `*` is the only special character (any run of
 * characters); everything else matches itself, so a pattern can never be a costly regular expression.
 */
/** The settable options, as the collector takes them (src/agent/collectors/postgres/collector.ts). */
export interface PostgresCollectorSettings {
  includeDatabases?: string[];
  excludeDatabases?: string[];
  intervalMs?: number;
  databaseIntervalMs?: number;
  statementsTopN?: number;
  statementTextMaxLength?: number;
  maxTablesPerDatabase?: number;
  maxIndexesPerDatabase?: number;
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
  connectTimeoutMs?: number;
  keepDatabaseConnections?: number;
  databaseVisitConcurrency?: number;
}

export type NumericSetting = Exclude<
  keyof PostgresCollectorSettings,
  'includeDatabases' | 'excludeDatabases'
>;

export interface SettingBounds {
  /** The agent flag that sets it. */
  flag: string;
  /** Durations are written as durations on flags ("5s"); in pushed config they are milliseconds. */
  kind: 'duration' | 'count';
  min: number;
  max: number;
  /** A value allowed below `min` with a meaning of its own (0: every collection). */
  zero?: string;
}

export const postgresSettingBounds: Record<NumericSetting, SettingBounds> = {
  intervalMs: { flag: '--postgres-interval', kind: 'duration', min: 1000, max: 3_600_000 },
  databaseIntervalMs: {
    flag: '--postgres-database-interval',
    kind: 'duration',
    min: 1000,
    max: 86_400_000,
    zero: 'every collection',
  },
  statementsTopN: { flag: '--postgres-statements-top', kind: 'count', min: 1, max: 1000 },
  statementTextMaxLength: { flag: '--postgres-statement-text-max', kind: 'count', min: 64, max: 65_536 },
  maxTablesPerDatabase: { flag: '--postgres-max-tables', kind: 'count', min: 1, max: 20_000 },
  maxIndexesPerDatabase: { flag: '--postgres-max-indexes', kind: 'count', min: 1, max: 50_000 },
  statementTimeoutMs: { flag: '--postgres-statement-timeout', kind: 'duration', min: 100, max: 60_000 },
  lockTimeoutMs: { flag: '--postgres-lock-timeout', kind: 'duration', min: 10, max: 60_000 },
  connectTimeoutMs: { flag: '--postgres-connect-timeout', kind: 'duration', min: 100, max: 60_000 },
  keepDatabaseConnections: { flag: '--postgres-keep-connections', kind: 'count', min: 0, max: 50 },
  databaseVisitConcurrency: { flag: '--postgres-visit-concurrency', kind: 'count', min: 1, max: 16 },
};

export const databaseListFlags = {
  includeDatabases: '--postgres-include-databases',
  excludeDatabases: '--postgres-exclude-databases',
} as const;

/** Patterns per list, and characters per pattern (PostgreSQL names are at most 63 bytes). */
export const maxDatabasePatterns = 100;
export const maxDatabasePatternLength = 63;

/** A duration in milliseconds as written on a flag: "500ms", "5s", "1m", "1h". */
export function formatMs(ms: number): string {
  if (ms === 0) return '0';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The allowed range of a numeric option, in the words of its kind ("from 1s to 1h, or 0 for …"). */
export function describeRange(b: SettingBounds): string {
  const f = b.kind === 'duration' ? formatMs : String;
  return `from ${f(b.min)} to ${f(b.max)}${b.zero ? `, or 0 for ${b.zero}` : ''}`;
}

/** Why `ms`/`n` is out of bounds, or undefined when it is allowed. */
export function numericSettingError(key: NumericSetting, value: number): string | undefined {
  const b = postgresSettingBounds[key];
  const whole = Number.isInteger(value);
  if (whole && ((value >= b.min && value <= b.max) || (value === 0 && b.zero !== undefined)))
    return undefined;
  return `must be ${b.kind === 'count' ? 'a whole number' : 'a duration'} ${describeRange(b)}`;
}

/** Why a database pattern is refused, or undefined when it is a valid one. */
export function databasePatternError(pattern: string): string | undefined {
  if (pattern.length === 0) return 'an empty name';
  if (pattern.length > maxDatabasePatternLength) return `longer than ${maxDatabasePatternLength} characters`;
  // Control characters are never part of a name an operator means; commas separate names on a flag.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f,]/.test(pattern)) return 'a comma or a control character in it';
  return undefined;
}

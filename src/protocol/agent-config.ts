/**
 * The configuration a server pushes to an agent (see agent/remote-config.ts for how it is applied). Shared
 * so the server validates a config before storing it with the same rules the agent applies.
 */
import { z } from 'zod';
import { parseCustomMetrics } from './custom-metrics.js';
import {
  type databaseListFlags,
  databasePatternError,
  maxDatabasePatternLength,
  maxDatabasePatterns,
  type NumericSetting,
  numericSettingError,
  postgresSettingBounds,
} from './postgres-options.js';

const duration = z.number().int().min(1000).max(3_600_000);

function patternList(key: keyof typeof databaseListFlags) {
  return z
    .array(z.string())
    .max(maxDatabasePatterns, `at most ${maxDatabasePatterns} names`)
    .superRefine((list, ctx) => {
      for (const [i, p] of list.entries()) {
        const why = databasePatternError(p);
        if (why)
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [i],
            message: `${key} ${JSON.stringify(p.slice(0, 80))}: ${why} (names of at most ${maxDatabasePatternLength} characters, * the only wildcard)`,
          });
      }
    });
}

function numeric(key: NumericSetting) {
  return z.number().superRefine((v, ctx) => {
    const why = numericSettingError(key, v);
    if (why) {
      const b = postgresSettingBounds[key];
      const ms =
        b.kind === 'duration' ? ` (in milliseconds: ${b.zero ? '0 or ' : ''}${b.min} to ${b.max})` : '';
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${key} ${v}: ${why}${ms}` });
    }
  });
}

/** The `postgres` object of a pushed config (postgres-options.ts): durations in milliseconds, as `collectIntervalMs` is. */
export const postgresSettingsSchema = z
  .object({
    includeDatabases: patternList('includeDatabases').optional(),
    excludeDatabases: patternList('excludeDatabases').optional(),
    intervalMs: numeric('intervalMs').optional(),
    databaseIntervalMs: numeric('databaseIntervalMs').optional(),
    statementsTopN: numeric('statementsTopN').optional(),
    statementTextMaxLength: numeric('statementTextMaxLength').optional(),
    maxTablesPerDatabase: numeric('maxTablesPerDatabase').optional(),
    maxIndexesPerDatabase: numeric('maxIndexesPerDatabase').optional(),
    statementTimeoutMs: numeric('statementTimeoutMs').optional(),
    lockTimeoutMs: numeric('lockTimeoutMs').optional(),
    connectTimeoutMs: numeric('connectTimeoutMs').optional(),
    keepDatabaseConnections: numeric('keepDatabaseConnections').optional(),
    databaseVisitConcurrency: numeric('databaseVisitConcurrency').optional(),
  })
  .strict();

export const remoteConfigSchema = z
  .object({
    collectIntervalMs: duration.optional(),
    pushIntervalMs: duration.optional(),
    collectors: z
      .object({
        enable: z.array(z.string().max(64)).max(100).optional(),
        disable: z.array(z.string().max(64)).max(100).optional(),
      })
      .strict()
      .optional(),
    watchProcesses: z.array(z.string().min(1).max(256)).max(100).optional(),
    logSources: z
      .array(
        z
          .object({
            name: z.string().min(1).max(64),
            path: z.string().min(1).max(4096).optional(),
            journald: z.string().min(1).max(256).optional(),
            parser: z.string().min(1).max(64),
          })
          .strict(),
      )
      .max(100)
      .optional(),
    targets: z
      .array(z.object({ name: z.string().min(1).max(253), url: z.string().min(1).max(4096) }).strict())
      .max(100)
      .optional(),
    /** Custom SQL metrics (custom-metrics.ts), replacing the agent's own file's when given. */
    customMetrics: z
      .unknown()
      .transform((v, ctx) => {
        const r = parseCustomMetrics(v);
        if (r.ok) return r.metrics;
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: r.error });
        return z.NEVER;
      })
      .optional(),
    /** PostgreSQL collector options (postgres-options.ts), key by key over the agent's own. */
    postgres: postgresSettingsSchema.optional(),
  })
  .strict();

export type RemoteConfig = z.infer<typeof remoteConfigSchema>;

/** Validates a pushed config; the error names the first bad field. */
export function parseRemoteConfig(
  value: unknown,
): { ok: true; config: RemoteConfig } | { ok: false; error: string } {
  const r = remoteConfigSchema.safeParse(value);
  if (r.success) return { ok: true, config: r.data };
  const issue = r.error.issues[0]!;
  return { ok: false, error: `${issue.path.join('.') || '(root)'}: ${issue.message}` };
}

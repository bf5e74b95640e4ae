/**
 * The configuration a server pushes to an agent (see agent/remote-config.ts for how it is applied). Shared
 * so the server validates a config before storing it with the same rules the agent applies.
 */
import { z } from 'zod';
import { parseCustomMetrics } from './custom-metrics.js';

const duration = z.number().int().min(1000).max(3_600_000);

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

import { PgvigilError } from './errors.js';

/** "500ms", "10s", "1.5m", "12h", "7d" → milliseconds; undefined when the text is not such a duration. */
export function parseDurationMs(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(value.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    m[2] as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  return Number(m[1]) * unit;
}

/** Bounds of a duration flag, written as durations ("100ms", "24h"). */
export interface DurationBounds {
  min?: string;
  max?: string;
}

/**
 * A duration given on the command line → milliseconds. Anything else is BAD_ARGUMENT naming the flag, what
 * was given and what is expected — the one parser of every command's duration flags.
 */
export function parseDuration(value: string, flag: string, bounds: DurationBounds = {}): number {
  const ms = parseDurationMs(value);
  if (ms === undefined) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `${flag} ${JSON.stringify(value)}: expected a duration such as 500ms, 1s, 10s or 1m ` +
        '(units ms, s, m, h, d)',
    );
  }
  if (bounds.min !== undefined && ms < (parseDurationMs(bounds.min) ?? 0))
    throw new PgvigilError('BAD_ARGUMENT', `${flag} ${value}: must be at least ${bounds.min}`);
  if (bounds.max !== undefined && ms > (parseDurationMs(bounds.max) ?? Number.POSITIVE_INFINITY))
    throw new PgvigilError('BAD_ARGUMENT', `${flag} ${value}: must be at most ${bounds.max}`);
  return ms;
}

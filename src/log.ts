import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * The program's structured logger: JSON lines on stderr (stdout is kept for what a command prints).
 * Connection strings and credentials are redacted wherever they appear under these keys.
 */
export function createLogger(level: string = process.env.PGVIGIL_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: {
        paths: [
          'password',
          '*.password',
          'databaseUrl',
          '*.databaseUrl',
          'credential',
          '*.credential',
          'token',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything, for tests and tools that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

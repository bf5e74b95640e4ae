/** A logger for tests that assert a server logged no error: every line at level error or above is kept. */
import { Writable } from 'node:stream';
import pino from 'pino';

export function errorCollectingLogger(errors: string[]): pino.Logger {
  const sink = new Writable({
    write(chunk, _enc, done) {
      const line = JSON.parse(String(chunk)) as { level: number; msg: string; err?: { message?: string } };
      if (line.level >= 50) errors.push(`${line.msg}: ${line.err?.message ?? ''}`);
      done();
    },
  });
  return pino({ level: 'warn' }, sink);
}

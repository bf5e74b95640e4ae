/** Maps the level words of every supported format onto the seven levels of the protocol. */
import type { LogLevel } from '../../protocol/logs.js';

const words: Record<string, LogLevel> = {
  debug: 'debug',
  debug1: 'debug',
  debug2: 'debug',
  debug3: 'debug',
  debug4: 'debug',
  debug5: 'debug',
  trace: 'debug',
  trace1: 'debug',
  trace2: 'debug',
  trace3: 'debug',
  trace4: 'debug',
  trace5: 'debug',
  trace6: 'debug',
  trace7: 'debug',
  trace8: 'debug',
  info: 'info',
  information: 'info',
  log: 'info',
  statement: 'info',
  notice: 'notice',
  warn: 'warning',
  warning: 'warning',
  err: 'error',
  error: 'error',
  crit: 'fatal',
  critical: 'fatal',
  fatal: 'fatal',
  alert: 'fatal',
  emerg: 'panic',
  emergency: 'panic',
  panic: 'panic',
};

/** A level word in any case, or undefined when it is not one. */
export function levelFromWord(word: string): LogLevel | undefined {
  return words[word.toLowerCase()];
}

/** syslog/journald PRIORITY 0–7. */
export function levelFromSyslogPriority(priority: number): LogLevel {
  switch (priority) {
    case 0:
      return 'panic';
    case 1:
    case 2:
      return 'fatal';
    case 3:
      return 'error';
    case 4:
      return 'warning';
    case 5:
      return 'notice';
    case 7:
      return 'debug';
    default:
      return 'info';
  }
}

const errorWords = /\b(?:error|errors|fatal|panic|critical|segfault|oom-kill(?:er)?|out of memory)\b/i;
const warningWords = /\b(?:warn|warning|fail|failed|failure|denied|refused|invalid|timed? ?out)\b/i;

/** For formats without a level field: a guess from the words of the message, info when nothing stands out. */
export function levelFromText(message: string): LogLevel {
  if (errorWords.test(message)) return 'error';
  if (warningWords.test(message)) return 'warning';
  return 'info';
}

/**
 * The program's structured logger (pino) on stderr; stdout is kept for what a command prints.
 *
 * Two renderings of the same events: JSON lines (one object a line, for journald, files and log shippers)
 * and text (one readable line an event, for a person at a terminal). Text is the default when stderr is a
 * terminal, JSON otherwise; `--log-format` (PGVIGIL_LOG_FORMAT) forces one. Text is rendered from the JSON
 * pino produced, so redaction applies to both: connection strings and credentials under the keys below
 * never reach either.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

export const logFormats = ['text', 'json'] as const;
export type LogFormat = (typeof logFormats)[number];

export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export function isLogLevel(value: string): value is LogLevel {
  return (logLevels as readonly string[]).includes(value);
}

export interface LoggerOptions {
  /** `text` or `json`; default: PGVIGIL_LOG_FORMAT, else text on a terminal and JSON otherwise. */
  format?: LogFormat;
}

/** Which rendering applies: the one asked for, else PGVIGIL_LOG_FORMAT, else by whether stderr is a TTY. */
export function resolveLogFormat(asked: string | undefined, stderrIsTty: boolean): LogFormat {
  const value = asked ?? process.env.PGVIGIL_LOG_FORMAT;
  if (value === 'text' || value === 'json') return value;
  return stderrIsTty ? 'text' : 'json';
}

export function createLogger(
  level: string = process.env.PGVIGIL_LOG_LEVEL ?? 'info',
  options: LoggerOptions = {},
): Logger {
  const fd2 = pino.destination({ fd: 2, sync: false });
  const format = resolveLogFormat(options.format, process.stderr.isTTY === true);
  const color = format === 'text' && process.stderr.isTTY === true && !process.env.NO_COLOR;
  const destination: DestinationStream =
    format === 'json' ? fd2 : { write: (line: string) => fd2.write(renderLogLine(line, { color })) };
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
          // an agentless target's connection URL (src/server/agentless/) carries its password
          'targetUrl',
          '*.targetUrl',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

interface Part {
  /** The logger the part's parent was made from, without any `component` binding. */
  base: Logger;
  /** The bindings of the part and its parents, but `component`. */
  bindings: Record<string, unknown>;
  component: string;
}
const parts = new WeakMap<Logger, Part>();

/**
 * A logger for one part of the program, named by `component` and nested under the part `log` belongs to
 * (`agent.logs` for the log tailing of the agent that `pgvigil up` runs), with that part's other bindings.
 * Pino writes a child's bindings after its parent's without merging them, so `child({ component })` of a
 * logger that already had one wrote the key twice in one line, which JSON consumers read differently (the
 * last wins, the first wins, or — Elasticsearch — the line is refused). So the child is made from the
 * logger the first part was made from, and every part is made here.
 */
export function componentLogger(
  log: Logger,
  component: string,
  bindings: Record<string, unknown> = {},
): Logger {
  const parent = parts.get(log);
  const base = parent?.base ?? log;
  const merged = { ...parent?.bindings, ...bindings };
  const name = parent ? `${parent.component}.${component}` : component;
  const child = base.child({ ...merged, component: name });
  parts.set(child, { base, bindings: merged, component: name });
  return child;
}

/** A logger that drops everything, for tests and tools that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const levelNames: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const levelColors: Record<number, string> = { 10: '90', 20: '90', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields every event carries, or that the line shows in its own place. */
const fixedFields = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'component']);

/** A field value as `key=value` shows it: quoted when it has spaces or quotes, lists comma-joined. */
function fieldValue(value: unknown): string {
  if (typeof value === 'string')
    return /^[^\s"'=]*$/.test(value) && value !== '' ? value : JSON.stringify(value);
  if (Array.isArray(value) && value.every((v) => ['string', 'number', 'boolean'].includes(typeof v)))
    return fieldValue(value.join(','));
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * One pino JSON line → one readable line: local time, level, `[component]`, message, then the other
 * fields as key=value; an error's stack follows, indented, for errors. Lines that are not JSON objects
 * pass through unchanged (nothing is lost for being unexpected).
 */
export function renderLogLine(line: string, opts: { color?: boolean } = {}): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return line;
    record = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  const paint = (code: string, text: string) => (opts.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const t = new Date(typeof record.time === 'number' ? record.time : Date.now());
  const time = `${pad2(t.getHours())}:${pad2(t.getMinutes())}:${pad2(t.getSeconds())}`;
  const levelNumber = typeof record.level === 'number' ? record.level : 30;
  const level = (levelNames[levelNumber] ?? String(record.level)).padEnd(5);
  const parts = [paint('2', time), paint(levelColors[levelNumber] ?? '0', level)];
  if (typeof record.component === 'string') parts.push(`[${record.component}]`);
  parts.push(typeof record.msg === 'string' ? record.msg : '');
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [key, value] of Object.entries(record)) {
    if (fixedFields.has(key) || value === undefined) continue;
    if ((key === 'err' || key === 'error') && value !== null && typeof value === 'object') {
      const err = value as { message?: unknown; stack?: unknown };
      fields.push(`${paint('2', `${key}=`)}${fieldValue(String(err.message ?? ''))}`);
      if (levelNumber >= 50 && typeof err.stack === 'string') stack = err.stack;
      continue;
    }
    fields.push(`${paint('2', `${key}=`)}${fieldValue(value)}`);
  }
  let out = parts.join(' ');
  if (fields.length > 0) out += `  ${fields.join(' ')}`;
  if (stack) {
    const frames = stack.split('\n').slice(1);
    if (frames.length > 0) out += `\n${frames.map((f) => `    ${f.trim()}`).join('\n')}`;
  }
  return `${out}\n`;
}

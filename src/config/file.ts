/**
 * Reading and checking a TOML config file against a command's keys (keys.ts). Every problem is reported,
 * not just the first, each as `FILE:LINE: key "KEY": what is wrong`; a TOML syntax error as
 * `FILE:LINE:COLUMN: …`. A file with any problem yields no values: a half-applied file is worse than none.
 *
 * smol-toml gives positions for syntax errors but not for keys, so the line of each top-level key is found
 * here by a small scan of the text (keys.ts allows only top-level keys, so tables are reported as one
 * unknown key at their header).
 */
import { readFileSync } from 'node:fs';
import { parse, TomlError } from 'smol-toml';
import { type ConfigKey, parseOptionValue } from './keys.js';

export interface ConfigIssue {
  file: string;
  line?: number;
  column?: number;
  key?: string;
  message: string;
}

export interface ConfigEntry {
  key: string;
  /** The value as the option holds it (after its parser). */
  value: unknown;
  /** The value as written in the file. */
  raw: unknown;
  line: number | undefined;
  spec: ConfigKey;
}

export interface LoadedConfig {
  file: string;
  entries: Map<string, ConfigEntry>;
  issues: ConfigIssue[];
}

export function formatIssue(issue: ConfigIssue): string {
  const where = [issue.file, issue.line, issue.line !== undefined ? issue.column : undefined]
    .filter((p) => p !== undefined)
    .join(':');
  return `${where}: ${issue.key !== undefined ? `key "${issue.key}": ` : ''}${issue.message}`;
}

const keyPart = String.raw`(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')`;
const keyLine = new RegExp(String.raw`^\s*(${keyPart})(?:\s*\.\s*${keyPart})*\s*=`);
const headerLine = new RegExp(String.raw`^\s*\[\[?\s*(${keyPart})`);

function unquoteKey(k: string): string {
  if (k.startsWith('"')) {
    try {
      return JSON.parse(k) as string;
    } catch {
      return k.slice(1, -1);
    }
  }
  return k.startsWith("'") ? k.slice(1, -1) : k;
}

/**
 * The line (1-based) where each top-level key is first defined: `key = …`, `key.sub = …`, or a table
 * header `[key]` / `[[key]]`. Lines inside multi-line strings and the keys inside tables are skipped.
 */
export function topLevelKeyLines(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let inTable = false;
  let openQuote: string | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (openQuote !== undefined) {
      if (line.split(openQuote).length % 2 === 0) openQuote = undefined;
      continue;
    }
    const header = headerLine.exec(line);
    if (header) {
      inTable = true;
      const key = unquoteKey(header[1]!);
      if (!out.has(key)) out.set(key, i + 1);
      continue;
    }
    const m = keyLine.exec(line);
    if (m && !inTable) {
      const key = unquoteKey(m[1]!);
      if (!out.has(key)) out.set(key, i + 1);
    }
    // A value opening a multi-line string that does not close on this line.
    for (const q of ['"""', "'''"]) {
      if (line.split(q).length % 2 === 0) openQuote = q;
    }
  }
  return out;
}

/** Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`: a typo's distance. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known key closest to an unknown one, when it is close enough to be a slip. */
export function suggestKey(unknown: string, known: Iterable<string>): string | undefined {
  const norm = unknown.toLowerCase().replace(/-/g, '_');
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = k === norm ? 0 : editDistance(norm, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(norm.length / 4)) ? best : undefined;
}

function tomlType(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  if (value !== null && typeof value === 'object') return 'a table';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'boolean') return 'a boolean';
  return 'a number';
}

/** A parser's message without the flag it starts with: the key names the setting here. */
export function errorText(err: unknown, flag: string): string {
  const m = ((err as Error).message ?? String(err)).replace(/^error: /, '');
  return m.startsWith(`${flag} `) ? m.slice(flag.length + 1).replace(/^: /, '') : m;
}

/** One value from the file → the option's value, or the reason it is refused. */
function convert(spec: ConfigKey, raw: unknown): { value: unknown } | { error: string } {
  const scalar = (v: unknown): string | undefined =>
    typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
  const choices = spec.option.argChoices ? ` (one of ${spec.option.argChoices.join(', ')})` : '';
  try {
    if (spec.type === 'boolean') {
      if (typeof raw !== 'boolean') return { error: `expected true or false, got ${tomlType(raw)}` };
      return { value: raw };
    }
    if (spec.type === 'list') {
      if (!Array.isArray(raw) || raw.some((v) => scalar(v) === undefined))
        return { error: `expected an array of strings, e.g. ["a", "b"], got ${tomlType(raw)}` };
      let value: unknown = [];
      for (const v of raw) {
        value = spec.option.parseArg
          ? parseOptionValue(spec.option, scalar(v)!, value)
          : [...(value as unknown[]), scalar(v)];
      }
      return { value };
    }
    const s = scalar(raw);
    if (s === undefined) return { error: `expected a string${choices}, got ${tomlType(raw)}` };
    return { value: parseOptionValue(spec.option, s, spec.option.defaultValue) };
  } catch (err) {
    return { error: errorText(err, spec.flag) };
  }
}

/** Checks `text` (the contents of `file`) against `keys`; pure. */
export function checkConfigText(file: string, text: string, keys: Map<string, ConfigKey>): LoadedConfig {
  const entries = new Map<string, ConfigEntry>();
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const message = err.message.replace(/^Invalid TOML document: /, '').split('\n')[0]!;
      return {
        file,
        entries,
        issues: [{ file, line: err.line, column: err.column, message: `TOML syntax error: ${message}` }],
      };
    }
    throw err;
  }
  const lines = topLevelKeyLines(text);
  const issues: ConfigIssue[] = [];
  for (const [key, raw] of Object.entries(doc)) {
    const line = lines.get(key);
    const spec = keys.get(key);
    if (!spec) {
      const hint = suggestKey(key, keys.keys());
      issues.push({ file, line, key, message: `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}` });
      continue;
    }
    const converted = convert(spec, raw);
    if ('error' in converted) issues.push({ file, line, key, message: converted.error });
    else entries.set(key, { key, value: converted.value, raw, line, spec });
  }
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return { file, entries: issues.length > 0 ? new Map() : entries, issues };
}

/** Reads and checks a file; an unreadable file is one issue naming it and why. */
export function loadConfigFile(file: string, keys: Map<string, ConfigKey>): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? 'unreadable');
    return { file, entries: new Map(), issues: [{ file, message: `cannot read the config file (${why})` }] };
  }
  return checkConfigText(file, text, keys);
}

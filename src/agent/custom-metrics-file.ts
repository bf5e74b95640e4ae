/**
 * `--custom-metrics-file`: the agent's custom SQL metric definitions (src/protocol/custom-metrics.ts) in a
 * file of their own — TOML (`[[metric]]` tables) or, for a name ending in `.json`, JSON
 * (`{ "metric": [ … ] }`) — because the agent's config file takes top-level keys only. Read at start and
 * on SIGHUP; an invalid file is refused whole with an error naming the file, the metric and the field.
 */
import { readFileSync, statSync } from 'node:fs';
import { parse, TomlError } from 'smol-toml';
import { PgvigilError } from '../errors.js';
import { type CustomMetricDef, parseCustomMetrics } from '../protocol/custom-metrics.js';

/** A definitions file larger than this is not one a person wrote. */
export const maxCustomMetricsFileBytes = 1024 * 1024;

function bad(path: string, message: string): never {
  throw new PgvigilError('BAD_ARGUMENT', `--custom-metrics-file ${path}: ${message}`);
}

/** The definitions in a file's text (pure): `json` for JSON, else TOML. */
export function parseCustomMetricsText(
  text: string,
  format: 'toml' | 'json',
  path: string,
): CustomMetricDef[] {
  let doc: unknown;
  try {
    doc = format === 'json' ? JSON.parse(text) : parse(text);
  } catch (err) {
    const where = err instanceof TomlError ? ` at line ${err.line}` : '';
    bad(path, `not valid ${format.toUpperCase()}${where}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    bad(path, 'expected a table of [[metric]]');
  const keys = Object.keys(doc);
  const unknown = keys.filter((k) => k !== 'metric');
  if (unknown.length > 0) {
    bad(path, `unknown top-level key "${unknown[0]!.slice(0, 40)}": definitions go in [[metric]] tables`);
  }
  const list = Object.hasOwn(doc, 'metric') ? (doc as { metric: unknown }).metric : [];
  const parsed = parseCustomMetrics(list);
  if (!parsed.ok) bad(path, parsed.error);
  return parsed.metrics;
}

/** Reads and checks the file; throws a BAD_ARGUMENT error naming it when it cannot be used. */
export function readCustomMetricsFile(path: string): CustomMetricDef[] {
  let text: string;
  try {
    if (statSync(path).size > maxCustomMetricsFileBytes)
      bad(path, `larger than ${maxCustomMetricsFileBytes} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof PgvigilError) throw err;
    bad(path, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  return parseCustomMetricsText(text, path.toLowerCase().endsWith('.json') ? 'json' : 'toml', path);
}

/**
 * Fixture scopes for the unit tests of ingest checks: the rows of one target (or host) cut by the real
 * `scopesOf`, so a test sees exactly what the engine hands a check — newest row per series, pairs,
 * remembered settings and host facts. Test support only; nothing in the server imports it.
 */
import type { ValidBatch, ValidTable } from '../../protocol/batch.js';
import { familyByName } from '../../protocol/families/index.js';
import { SampleMemory, scopesOf } from '../scope-rows.js';
import type { Check, ScopeRows, Thresholds } from './types.js';

export interface FixtureOptions {
  /** Settings remembered for the target (name → setting), as a pg_settings snapshot would leave them. */
  settings?: Record<string, string>;
  host?: { memoryTotalBytes?: number; cores?: number };
  /** Rows without `ts` get this one (ms). */
  ts?: number;
}

/** The target scope "main" (id 1 of server 1) for these rows, by family. */
export function targetScope(
  tables: Record<string, Array<Record<string, unknown>>>,
  opts: FixtureOptions = {},
): ScopeRows {
  const memory = new SampleMemory();
  Object.assign(memory.hostOf(1), opts.host ?? {});
  if (opts.settings) memory.storeSettings('1|1', new Map(Object.entries(opts.settings)));
  const valid: ValidTable[] = [];
  for (const [family, rows] of Object.entries(tables)) {
    const columns = ['ts', 'target', ...(familyByName(family)?.columns.map((c) => c.name) ?? [])];
    for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
    valid.push({
      table: family,
      columns,
      types: [],
      rows: rows.map((r) =>
        columns.map((c) =>
          c === 'ts' ? (r.ts ?? opts.ts ?? 1_700_000_000_000) : c === 'target' ? 'main' : (r[c] ?? null),
        ),
      ),
      tsIndex: 0,
      targetIndex: 1,
    });
  }
  const batch: ValidBatch = {
    agentId: 'fixture',
    seq: 1,
    sealedAt: 0,
    tables: valid,
    gaps: [],
    rowCount: 0,
    rejected: { future: 0, tooOld: 0 },
  };
  const scope = scopesOf(1, batch, new Map([['main', 1]]), memory)[0];
  if (!scope) throw new Error('fixture has no rows');
  return scope;
}

/** A check's thresholds at their defaults, with overrides. */
export function defaultThresholds(
  check: Pick<Check, 'thresholds'>,
  overrides: Record<string, number> = {},
): Thresholds {
  const t: Record<string, number> = Object.create(null);
  for (const [k, s] of Object.entries(check.thresholds)) t[k] = s.default;
  return Object.assign(t, overrides);
}

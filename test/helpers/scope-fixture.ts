/**
 * ScopeRows for unit tests of ingest checks, built the way the engine builds them (scopesOf over a batch),
 * from fixture collections: every family of one collection shares its ts, as the agent sends them.
 */
import type { Row, ScopeRows } from '../../src/intelligence/checks/types.js';
import { SampleMemory, scopesOf } from '../../src/intelligence/scope-rows.js';
import type { ValidBatch, ValidTable } from '../../src/protocol/batch.js';

export interface FixtureCollection {
  ts: number;
  /** Family → rows (column → value). pg_instance defaults to one answering row. */
  families: Record<string, Row[]>;
}

export interface FixtureOptions {
  /** pg_settings values sent with the first collection. */
  settings?: Record<string, string>;
  host?: { memoryTotalBytes?: number; cores?: number };
  /** Host filesystem rows (mountpoint, size_bytes, avail_bytes) sent in the same batch. */
  filesystems?: Row[];
}

const targetName = 'db1';

/** The target scope of one batch holding `collections` (oldest first). */
export function fixtureScope(
  collections: readonly FixtureCollection[],
  opts: FixtureOptions = {},
): ScopeRows {
  const byFamily = new Map<string, Array<{ ts: number; row: Row }>>();
  const add = (family: string, ts: number, row: Row) => {
    let list = byFamily.get(family);
    if (!list) {
      list = [];
      byFamily.set(family, list);
    }
    list.push({ ts, row });
  };
  collections.forEach((c, i) => {
    if (!Object.hasOwn(c.families, 'pg_instance')) add('pg_instance', c.ts, { up: true });
    for (const [family, rows] of Object.entries(c.families)) for (const r of rows) add(family, c.ts, r);
    if (i === 0 && opts.settings) {
      for (const [name, setting] of Object.entries(opts.settings))
        add('pg_settings', c.ts, { name, setting });
    }
  });
  const tables: ValidTable[] = [];
  for (const [family, list] of byFamily) {
    const names = [...new Set(list.flatMap((x) => Object.keys(x.row)))];
    tables.push({
      table: family,
      columns: ['ts', 'target', ...names],
      types: [],
      rows: list.map((x) => [x.ts, targetName, ...names.map((n) => x.row[n] ?? null)]),
      tsIndex: 0,
      targetIndex: 1,
    });
  }
  if (opts.filesystems) {
    const names = ['mountpoint', 'size_bytes', 'avail_bytes'];
    const ts = collections[collections.length - 1]?.ts ?? 0;
    tables.push({
      table: 'host_filesystem',
      columns: ['ts', ...names],
      types: [],
      rows: opts.filesystems.map((r) => [ts, ...names.map((n) => r[n] ?? null)]),
      tsIndex: 0,
      targetIndex: -1,
    });
  }
  const batch: ValidBatch = {
    agentId: 'a',
    seq: 1,
    sealedAt: 0,
    tables,
    gaps: [],
    rowCount: 0,
    rejected: { future: 0, tooOld: 0 },
  };
  const memory = new SampleMemory();
  Object.assign(memory.hostOf(1), opts.host ?? {});
  const scope = scopesOf(1, batch, new Map([[targetName, 1]]), memory).find((s) => s.targetId === 1);
  if (!scope) throw new Error('fixture batch has no target scope');
  return scope;
}

/** The target scope of a batch holding one collection. */
export function oneCollection(families: Record<string, Row[]>, opts: FixtureOptions = {}): ScopeRows {
  return fixtureScope([{ ts: 1, families }], opts);
}

/**
 * Running collectors on fixture trees: paths under test/fixtures, and a collect context whose clocks the
 * test moves, so rates over a fixture pair (6.1.0 → 6.1.0-later, 10 s apart) are exact.
 */

import type {
  CollectContext,
  Collector,
  ExposedMetric,
  FamilyRows,
} from '../../src/agent/collectors/types.js';
import { silentLogger } from '../../src/log.js';
import { packageRoot } from '../../src/version.js';

export function fixture(...parts: string[]): string {
  return [packageRoot, 'test', 'fixtures', ...parts].join('/');
}

export interface FakeContext extends CollectContext {
  /** Moves both clocks forward. */
  advance(ms: number): void;
  /** The last exposition a collector handed over. */
  exposed: ExposedMetric[] | undefined;
}

export function fakeContext(
  roots: { procRoot?: string; sysRoot?: string; rootFs?: string } = {},
): FakeContext {
  let mono = 1_000_000;
  let wall = Date.parse('2026-01-15T12:00:00Z');
  const ctx: FakeContext = {
    procRoot: roots.procRoot ?? fixture('proc', '6.1.0'),
    sysRoot: roots.sysRoot ?? fixture('cgroup', 'v2'),
    rootFs: roots.rootFs,
    now: () => wall,
    monotonic: () => mono,
    log: silentLogger(),
    signal: new AbortController().signal,
    exposed: undefined,
    expose(metrics) {
      ctx.exposed = metrics;
    },
    advance(ms) {
      mono += ms;
      wall += ms;
    },
  };
  return ctx;
}

/** The rows of one family from a collect() result (throws when the family is missing). */
export function rowsOf(result: FamilyRows[], family: string): FamilyRows['rows'] {
  const f = result.find((r) => r.family === family);
  if (!f) throw new Error(`no ${family} in ${result.map((r) => r.family).join(', ')}`);
  return f.rows;
}

/** Collects from the 6.1.0 tree, then 10 s later from the 6.1.0-later tree; returns the second result. */
export async function collectFixturePair(
  collector: Collector,
  first = fixture('proc', '6.1.0'),
  second = fixture('proc', '6.1.0-later'),
): Promise<{ first: FamilyRows[]; second: FamilyRows[]; ctx: FakeContext }> {
  const ctx = fakeContext({ procRoot: first });
  const a = await collector.collect(ctx);
  ctx.advance(10_000);
  ctx.procRoot = second;
  const b = await collector.collect(ctx);
  return { first: a, second: b, ctx };
}

export function metricOf(metrics: ExposedMetric[] | undefined, name: string): ExposedMetric {
  const m = metrics?.find((x) => x.name === name);
  if (!m) throw new Error(`no metric ${name}`);
  return m;
}

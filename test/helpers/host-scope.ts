/**
 * Host-scope ingest checks on fixture rows, through the engine's own scope code (scopesOf, SampleMemory):
 * each `feed` is one batch of one server, so sustained conditions and previous samples behave as on ingest.
 */
import type { FamilyRows } from '../../src/agent/collectors/types.js';
import type { Draft, IngestCheck, Thresholds } from '../../src/intelligence/checks/types.js';
import { SampleMemory, scopesOf } from '../../src/intelligence/scope-rows.js';
import type { ValidBatch } from '../../src/protocol/batch.js';
import { families } from '../../src/protocol/families/index.js';

export function defaultsOf(check: IngestCheck, overrides: Record<string, number> = {}): Thresholds {
  const t: Record<string, number> = Object.create(null);
  for (const [name, s] of Object.entries(check.thresholds)) t[name] = s.default;
  return Object.assign(t, overrides);
}

/** A batch of host families as the ingest route validates it (ts first, then the family's columns). */
export function hostBatch(rows: readonly FamilyRows[], seq = 1): ValidBatch {
  const tables = new Map<string, ValidBatch['tables'][number]>();
  let count = 0;
  for (const fr of rows) {
    const spec = families[fr.family];
    if (!spec) throw new Error(`unknown family ${fr.family}`);
    let t = tables.get(fr.family);
    if (!t) {
      t = {
        table: fr.family,
        columns: ['ts', ...spec.columns.map((c) => c.name)],
        types: ['timestamptz', ...spec.columns.map((c) => c.type)],
        rows: [],
        tsIndex: 0,
        targetIndex: -1,
      };
      tables.set(fr.family, t);
    }
    for (const r of fr.rows) {
      t.rows.push([fr.ts, ...spec.columns.map((c) => r[c.name] ?? null)]);
      count++;
    }
  }
  return {
    agentId: '00000000-0000-4000-8000-000000000001',
    seq,
    sealedAt: Date.now(),
    tables: [...tables.values()],
    gaps: [],
    rowCount: count,
    rejected: { future: 0, tooOld: 0 },
  };
}

/** One server's batches, fed to checks in order. */
export class HostFeed {
  readonly memory = new SampleMemory();
  private seq = 0;

  constructor(readonly serverId = 1) {}

  /**
   * Evaluates `checks` on one batch (as the engine does: only when the batch holds one of a check's
   * inputs) and returns what they observed, in check order.
   */
  feed(
    checks: readonly IngestCheck[],
    rows: readonly FamilyRows[],
    overrides: Record<string, number> = {},
  ): Draft[] {
    const out: Draft[] = [];
    for (const s of scopesOf(this.serverId, hostBatch(rows, ++this.seq), new Map(), this.memory)) {
      for (const c of checks) {
        if (c.scope !== 'host' || !c.inputs.some((f) => s.tables.has(f))) continue;
        out.push(...c.evaluate(s, defaultsOf(c, overrides)));
      }
      s.commit();
    }
    return out;
  }
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checks } from '../intelligence/checks/index.js';
import type { IngestCheck } from '../intelligence/checks/types.js';
import { SampleMemory, scopesOf } from '../intelligence/scope-rows.js';
import { ThresholdBook } from '../intelligence/thresholds.js';
import { defaultBatchLimits, validateBatch } from '../protocol/batch.js';
import { type BenchData, batchShape, makeBatch } from './bench-ingest.js';

/** Observations of every ingest check, by check, over `batches` consecutive batches of one host. */
function observe(data: BenchData, batches: number): Map<string, number> {
  const shape = batchShape(1000);
  const ingest = checks.filter((c): c is IngestCheck => c.mode === 'ingest');
  const book = new ThresholdBook(checks);
  const memory = new SampleMemory();
  const wanted = new Set([...ingest.flatMap((c) => c.inputs), 'host_memory', 'host_cpu', 'host_filesystem']);
  const out = new Map<string, number>();
  const start = Date.parse('2026-12-03T12:00:00Z');
  for (let seq = 1; seq <= batches; seq++) {
    const body = makeBatch(shape, '00000000-0000-4000-8000-000000000001', seq, start + seq * 1000, data).body;
    const v = validateBatch(JSON.parse(body), defaultBatchLimits);
    assert.ok(v.ok, v.ok ? '' : v.message);
    for (const s of scopesOf(1, v.batch, new Map([['bench-pg', 1]]), memory, wanted)) {
      for (const c of ingest) {
        if ((c.scope === 'host') !== (s.targetId === null) || !c.inputs.some((f) => s.tables.has(f)))
          continue;
        const n = c.evaluate(s, book.for(c.id, 1, s.targetId)).length;
        if (n > 0) out.set(c.id, (out.get(c.id) ?? 0) + n);
      }
      s.commit();
    }
  }
  return out;
}

test('the ingest bench healthy data makes no finding over 300 batches of a host', () => {
  assert.deepEqual(Object.fromEntries(observe('healthy', 300)), {});
});

test('the ingest bench alerting data makes findings of several checks in every batch', () => {
  const seen = observe('alerting', 20);
  assert.ok(seen.size >= 5, `checks with findings: ${[...seen.keys()].join(', ')}`);
  assert.ok([...seen.values()].reduce((a, b) => a + b, 0) >= 20 * 10);
});

test('healthy and alerting batches carry the same rows and values', () => {
  const shape = batchShape(1000);
  const h = makeBatch(shape, '00000000-0000-4000-8000-000000000001', 7, 1_800_000_000_000, 'healthy');
  const a = makeBatch(shape, '00000000-0000-4000-8000-000000000001', 7, 1_800_000_000_000, 'alerting');
  assert.equal(h.values, a.values);
  const rows = (b: string) =>
    Object.entries(JSON.parse(b).families as Record<string, { rows: unknown[][] }>).map(([f, t]) => [
      f,
      t.rows.length,
    ]);
  assert.deepEqual(rows(h.body), rows(a.body));
});

/**
 * The findings engine's pure part on ingest: cutting a batch into scopes and running every ingest check,
 * per batch, in-process, on the batch shape of `pgvigil bench ingest` (host families, 20 tables, ~25
 * statements ≈ 1,000 values), for 100 hosts in turn. Three data sets: the ingest bench's `--alerting` values
 * (which march with the batch number and make about 25 findings per batch), the same rows with every
 * number zero, and the ingest bench's default healthy values (no finding): what a healthy host costs.
 *
 * Run: npm run build && node dist/bench/findings-eval.js [--batches 5000]
 */
import { checks } from '../src/intelligence/checks/index.js';
import type { IngestCheck } from '../src/intelligence/checks/types.js';
import { SampleMemory, scopesOf } from '../src/intelligence/scope-rows.js';
import { ThresholdBook } from '../src/intelligence/thresholds.js';
import { defaultBatchLimits, validateBatch } from '../src/protocol/batch.js';
import { batchShape, makeBatch } from '../src/tools/bench-ingest.js';
import { arg } from './args.js';

type Data = 'alerting' | 'zero' | 'healthy';

function run(batches: number, data: Data): { msPerBatch: number; observations: number } {
  const shape = batchShape(1000);
  const ingest = checks.filter((c): c is IngestCheck => c.mode === 'ingest');
  const book = new ThresholdBook(checks);
  const memory = new SampleMemory();
  const wanted = new Set([
    ...ingest.flatMap((c) => c.inputs),
    'host_memory',
    'host_cpu',
    'host_filesystem',
    'pg_settings',
  ]);
  const agent = '00000000-0000-4000-8000-000000000001';
  const valid = [];
  for (let i = 0; i < batches; i++) {
    let body = makeBatch(
      shape,
      agent,
      i + 1,
      Date.now() - 60_000 + i,
      data === 'healthy' ? 'healthy' : 'alerting',
    ).body;
    // Every number but the timestamps set to 0.
    if (data === 'zero')
      body = body.replace(/(?<=[,[])-?\d+(\.\d+)?(?=[,\]])/g, (m) => (Number(m) > 1e12 ? m : '0'));
    const v = validateBatch(JSON.parse(body), defaultBatchLimits);
    if (!v.ok) throw new Error(v.message);
    valid.push(v.batch);
  }
  let observations = 0;
  const t0 = performance.now();
  valid.forEach((batch, i) => {
    for (const s of scopesOf(1 + (i % 100), batch, new Map([['bench-pg', 1]]), memory, wanted)) {
      for (const c of ingest) {
        if ((c.scope === 'host') !== (s.targetId === null) || !c.inputs.some((f) => s.tables.has(f)))
          continue;
        observations += c.evaluate(s, book.for(c.id, 1, s.targetId)).length;
      }
      s.commit();
    }
  });
  return { msPerBatch: (performance.now() - t0) / batches, observations: observations / batches };
}

const batches = Number(arg('batches', '5000'));
const label: Record<Data, string> = {
  alerting: 'ingest bench --alerting values',
  zero: 'every number zero           ',
  healthy: 'ingest bench healthy values ',
};
for (const data of ['alerting', 'zero', 'healthy', 'alerting', 'zero', 'healthy'] as const) {
  const r = run(batches, data);
  console.log(
    `${label[data]}: ${r.msPerBatch.toFixed(3)} ms per batch, ${r.observations.toFixed(1)} observations per batch`,
  );
}

/**
 * Fuzz: thousands of generated and damaged batch texts through what the server does with a body (JSON.parse,
 * the shape guard, validateBatch). Nothing throws; every refusal names a path and says why; whatever is
 * accepted can be serialised again (its status too). Fixed seed; PGVIGIL_FUZZ_SEED replays another.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateBatch } from '../src/protocol/batch.js';
import { batchShapeLimits, checkJsonShape } from '../src/protocol/json-guard.js';
import { batchText, mutate, validBatch } from './helpers/fuzz-batches.js';
import { fuzzSeed, mulberry32 } from './helpers/prng.js';

const agentId = '6f1c2a4e-8b9d-4c1e-9f2a-3b4c5d6e7f80';

test('generated_and_damaged_batches_are_accepted_or_refused_with_a_path_and_never_throw', () => {
  const seed = fuzzSeed(20261202);
  const rng = mulberry32(seed);
  const now = Date.now();
  const tally = { unparsable: 0, shape: 0, invalid: 0, ok: 0 };
  for (let i = 0; i < 3000; i++) {
    const b = validBatch(rng, agentId, i + 1, now);
    for (let m = rng.int(4); m > 0; m--) mutate(rng, b);
    const text = batchText(rng, b);
    const where = `seed ${seed}, case ${i}: ${text.slice(0, 300)}`;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      tally.unparsable++;
      continue;
    }
    const shape = checkJsonShape(body, batchShapeLimits);
    if (!shape.ok) {
      assert.equal(typeof shape.path, 'string', where);
      tally.shape++;
      continue;
    }
    let v: ReturnType<typeof validateBatch>;
    try {
      v = validateBatch(body, undefined, now);
    } catch (err) {
      assert.fail(`validateBatch threw ${(err as Error).stack}: ${where}`);
    }
    if (!v.ok) {
      assert.ok(v.message.length > 0, where);
      tally.invalid++;
      continue;
    }
    assert.doesNotThrow(() => JSON.stringify(v.batch), where);
    tally.ok++;
  }
  // Each path was taken: the generator is not stuck on one kind of input.
  for (const [k, n] of Object.entries(tally)) assert.ok(n > 50, `${k}: ${n} of 3000 (seed ${seed})`);
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ValidBatch } from '../protocol/batch.js';
import { SampleMemory, scopesOf } from './scope-rows.js';

describe('scopesOf', () => {
  test('host_facts_of_a_batch_reach_a_target_scope_listed_before_the_host_rows', () => {
    const batch: ValidBatch = {
      agentId: 'a',
      seq: 1,
      sealedAt: 0,
      // The target's table comes first in the batch, the host's memory after it.
      tables: [
        {
          table: 'pg_instance',
          columns: ['ts', 'target', 'up'],
          types: [],
          rows: [[1000, 'main', true]],
          tsIndex: 0,
          targetIndex: 1,
        },
        {
          table: 'host_memory',
          columns: ['ts', 'total_bytes'],
          types: [],
          rows: [[1000, 16 * 1024 ** 3]],
          tsIndex: 0,
          targetIndex: -1,
        },
      ],
      gaps: [],
      rowCount: 2,
      rejected: { future: 0, tooOld: 0 },
    };
    const scopes = scopesOf(7, batch, new Map([['main', 3]]), new SampleMemory());
    const target = scopes.find((s) => s.targetId === 3);
    assert.ok(target);
    assert.equal(scopes.indexOf(target), 0, 'the target scope is the first evaluated');
    assert.equal(target.host.memoryTotalBytes, 16 * 1024 ** 3);
  });
});

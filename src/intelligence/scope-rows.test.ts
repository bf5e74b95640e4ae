import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ValidBatch } from '../protocol/batch.js';
import { SampleMemory, scopesOf } from './scope-rows.js';

function batchOfFilesystems(rows: unknown[][]): ValidBatch {
  return {
    agentId: 'a',
    seq: 1,
    sealedAt: 0,
    tables: [
      {
        table: 'host_filesystem',
        columns: ['ts', 'mountpoint', 'size_bytes', 'avail_bytes'],
        types: [],
        rows,
        tsIndex: 0,
        targetIndex: -1,
      },
    ],
    gaps: [],
    rowCount: rows.length,
    rejected: { future: 0, tooOld: 0 },
  };
}

test('host_facts_keep_the_newest_filesystem_snapshot_without_failed_mounts', () => {
  const memory = new SampleMemory();
  scopesOf(
    7,
    batchOfFilesystems([
      [1000, '/old', 10, 5],
      [2000, '/', '100', '40'],
      [2000, '/nfs', null, null],
      [2000, '/data', 500, 200],
    ]),
    new Map(),
    memory,
  );
  assert.deepEqual(memory.hostOf(7).filesystems, [
    { mountpoint: '/', availBytes: 40, sizeBytes: 100 },
    { mountpoint: '/data', availBytes: 200, sizeBytes: 500 },
  ]);
  // A later batch without host_filesystem keeps what was known; one with it replaces it.
  scopesOf(7, { ...batchOfFilesystems([]), tables: [] }, new Map(), memory);
  assert.equal(memory.hostOf(7).filesystems?.length, 2);
  scopesOf(7, batchOfFilesystems([[3000, '/', 100, 10]]), new Map(), memory);
  assert.deepEqual(memory.hostOf(7).filesystems, [{ mountpoint: '/', availBytes: 10, sizeBytes: 100 }]);
});

test('host_filesystem_facts_are_bounded', () => {
  const memory = new SampleMemory();
  const rows = Array.from({ length: 500 }, (_, i) => [1, `/m${i}`, 10, 1]);
  scopesOf(1, batchOfFilesystems(rows), new Map(), memory);
  assert.equal(memory.hostOf(1).filesystems?.length, 64);
});

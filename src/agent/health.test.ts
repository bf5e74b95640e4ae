import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readAgentHealth } from '../protocol/agent-health.js';
import { agentHealthExposition, buildAgentHealth, DroppedContents } from './health.js';
import type { ShipperStats } from './shipper.js';
import type { SpoolStats } from './spool/spool.js';

test('rows_of_dropped_batches_are_counted_once_by_reason', () => {
  const d = new DroppedContents();
  d.sealed(1, 10, 2);
  d.sealed(2, 20, 0);
  d.sealed(3, 30, 5);
  d.sealed(4, 40, 0);
  d.settle([{ fromSeq: 1, toSeq: 2, count: 2, reason: 'spool-full' }], 2);
  // The same gap reported again (its carrier was lost) counts nothing more.
  d.settle(
    [
      { fromSeq: 1, toSeq: 2, count: 2, reason: 'spool-full' },
      { fromSeq: 4, toSeq: 4, count: 1, reason: 'dead-letter' },
    ],
    4,
  );
  assert.equal(d.rows['spool-full'], 30);
  assert.equal(d.logs['spool-full'], 2);
  assert.equal(d.rows['dead-letter'], 40);
  // Seq 3 was delivered (done without a gap): a later gap over it finds nothing to count.
  d.settle([{ fromSeq: 3, toSeq: 3, count: 1, reason: 'corrupt' }], 4);
  assert.equal(d.rows.corrupt, 0);
});

test('the_tracked_batches_are_bounded', () => {
  const d = new DroppedContents(2);
  for (let seq = 1; seq <= 3; seq++) d.sealed(seq, 1, 0);
  d.settle([{ fromSeq: 1, toSeq: 3, count: 3, reason: 'spool-full' }], 3);
  assert.equal(d.rows['spool-full'], 2, 'the oldest was forgotten');
});

function health() {
  const spool: SpoolStats = {
    bytesOnDisk: 4096,
    segments: 2,
    pendingRecords: 3,
    memoryRecords: 0,
    memoryBytes: 0,
    nextSeq: 9,
    ackedSeq: 5,
    dropped: { 'spool-full': 2, corrupt: 0, 'memory-full': 0, 'dead-letter': 1 },
    corruptRecords: 0,
    deadLettered: 1,
    degraded: { kind: 'disk-full', message: 'ENOSPC', since: '2026-12-02T10:00:00.000Z' },
    logsPaused: true,
    logPauses: 1,
    droppedLogLines: 0,
  };
  const shipper: ShipperStats = {
    sent: 5,
    duplicates: 1,
    deadLettered: 1,
    retries: 4,
    failuresByStatus: { '400': 1, '503': 2, network: 2 },
    retriesByStatus: { '503': 2, network: 2 },
    lastSuccessAt: Date.parse('2026-12-02T10:00:05Z'),
    state: 'backoff',
    lastError: 'HTTP 503',
  };
  const dropped = new DroppedContents();
  dropped.sealed(1, 7, 3);
  dropped.settle([{ fromSeq: 1, toSeq: 1, count: 1, reason: 'spool-full' }], 1);
  return buildAgentHealth({
    spool,
    shipper,
    dropped,
    volume: { cap: 11, flood: 12 },
    configReloads: { applied: 2, rejected: 1, failed: 0 },
  });
}

test('health_metrics_follow_the_naming_rules_and_carry_the_figures', () => {
  const metrics = agentHealthExposition(health());
  for (const m of metrics) {
    assert.match(m.name, /^pgvigil_agent_[a-z_]+$/);
    assert.equal(m.type === 'counter', m.name.endsWith('_total'), `${m.name} is a ${m.type}`);
  }
  const value = (name: string, labels: Record<string, string> = {}) =>
    metrics
      .find((m) => m.name === name)
      ?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v))?.value;
  assert.equal(value('pgvigil_agent_spool_bytes'), 4096);
  assert.equal(value('pgvigil_agent_dropped_batches_total', { reason: 'spool-full' }), 2);
  assert.equal(value('pgvigil_agent_dropped_rows_total', { reason: 'spool-full' }), 7);
  assert.equal(value('pgvigil_agent_dropped_log_entries_total', { reason: 'spool-full' }), 3);
  assert.equal(value('pgvigil_agent_dropped_log_entries_total', { reason: 'volume-flood' }), 12);
  assert.equal(value('pgvigil_agent_push_failures_total', { status: 'network' }), 2);
  assert.equal(value('pgvigil_agent_push_retries_total', { status: '503' }), 2);
  assert.equal(value('pgvigil_agent_spool_degraded', { kind: 'disk-full' }), 1);
  assert.equal(value('pgvigil_agent_logs_paused'), 1);
  assert.equal(value('pgvigil_agent_log_pauses_total'), 1);
  assert.equal(value('pgvigil_agent_config_reloads_total', { result: 'rejected' }), 1);
  assert.equal(value('pgvigil_agent_last_push_timestamp_seconds'), Date.parse('2026-12-02T10:00:05Z') / 1000);
});

test('the_server_reads_a_report_as_sent_and_keeps_only_known_well_typed_fields', () => {
  const h = health();
  assert.deepEqual(readAgentHealth(JSON.parse(JSON.stringify({ collectors: [], health: h }))), h);
  assert.equal(readAgentHealth({ collectors: [] }), null);
  assert.equal(readAgentHealth(null), null);
  const hostile = readAgentHealth({
    health: {
      spool: {
        bytes: 'lots',
        segments: -1,
        droppedBatches: JSON.parse('{"spool-full": 1e400, "__proto__": 5}'),
      },
      shipper: { failures: { '503': 2, constructor: 1, ['x'.repeat(5000)]: 1 }, lastSuccessAt: 7 },
      logs: { pausedDiskFull: 'yes' },
      config: [],
    },
  });
  assert.equal(hostile?.spool.bytes, 0);
  assert.equal(hostile?.spool.segments, 0);
  assert.equal(hostile?.spool.droppedBatches['spool-full'], 0);
  assert.deepEqual(hostile?.shipper.failures, { '503': 2 });
  assert.equal(hostile?.shipper.lastSuccessAt, null);
  assert.equal(hostile?.logs.pausedDiskFull, false);
  assert.deepEqual(hostile?.config.reloads, { applied: 0, rejected: 0, failed: 0 });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ValidBatch, validateBatch } from '../../protocol/batch.js';
import { parseClientMessage } from './messages.js';
import { maxNotifyBytes, sampleMessage } from './summary.js';

const agentId = '6f1c2a4e-8b9d-4c1e-9f2a-3b4c5d6e7f80';
const now = Date.parse('2026-11-22T12:00:00Z');

function valid(families: Record<string, unknown>): ValidBatch {
  const v = validateBatch({ v: 1, agentId, seq: 3, sealedAt: now, families }, undefined, now);
  assert.ok(v.ok, JSON.stringify(v));
  return v.batch;
}

test('a_batch_naming_many_targets_stays_under_the_notify_limit_and_counts_what_it_left_out', () => {
  const names = Array.from({ length: 500 }, (_, i) => `${String(i).padStart(3, '0')}-${'n'.repeat(240)}`);
  const ids = new Map(names.map((n, i) => [n, i + 1]));
  const batch = valid({
    pg_instance: { columns: ['ts', 'target', 'up', 'backends'], rows: names.map((n) => [now, n, true, 3]) },
  });
  const { message, json } = sampleMessage(1, agentId, batch, ids);
  assert.ok(Buffer.byteLength(json) <= maxNotifyBytes, `${Buffer.byteLength(json)} bytes`);
  assert.ok(message.targets.length > 0);
  assert.equal(message.targets.length + (message.targetsOmitted ?? 0), 500);
  assert.equal(message.targets[0]!.name.length, 200, 'long names are cut');
  assert.deepEqual(JSON.parse(json), message);
});

test('values_the_batch_did_not_carry_are_null_not_zero', () => {
  const batch = valid({
    host_cpu: { columns: ['ts', 'cpu', 'idle_pct'], rows: [[now, 'total', 90]] },
    host_memory: { columns: ['ts', 'total_bytes'], rows: [[now, 1000]] },
  });
  const { message } = sampleMessage(1, agentId, batch, new Map());
  assert.deepEqual(message.node, {
    ts: now,
    cpuBusyPct: null,
    memoryUsedPct: null,
    load1: null,
    load5: null,
    load15: null,
  });
});

test('two_database_samples_in_one_batch_give_a_rate_and_a_counter_reset_gives_none', () => {
  const db = (a: number, b: number) =>
    valid({
      pg_database: {
        columns: ['ts', 'target', 'datname', 'xact_commit', 'xact_rollback'],
        rows: [
          [now - 10_000, 'main', 'app', a, 0],
          [now - 10_000, 'main', 'other', 100, 0],
          [now, 'main', 'app', b, 0],
          [now, 'main', 'other', 150, 0],
        ],
      },
    });
  const ids = new Map([['main', 9]]);
  assert.deepEqual(sampleMessage(1, agentId, db(1000, 1450), ids).message.targets[0]!.transactions, {
    ts: now,
    total: 1600,
    perSec: 50,
  });
  assert.deepEqual(sampleMessage(1, agentId, db(1000, 20), ids).message.targets[0]!.transactions, {
    ts: now,
    total: 170,
    perSec: null,
  });
});

test('a_client_message_with_unknown_fields_or_bad_ids_is_refused_with_the_reason', () => {
  assert.deepEqual(parseClientMessage('{"type":"subscribe","servers":[1,2],"id":"a"}', 10), {
    ok: true,
    request: { type: 'subscribe', id: 'a', servers: [1, 2], targets: [] },
  });
  const bad = (text: string) => {
    const r = parseClientMessage(text, 10);
    return r.ok ? 'accepted' : r.message;
  };
  assert.match(bad('{"type":"subscribe","servers":[0]}'), /positive integer/);
  assert.match(bad('{"type":"subscribe","servers":[1.5]}'), /positive integer/);
  assert.match(bad('{"type":"subscribe","hosts":[1]}'), /unknown field "hosts"/);
  assert.match(bad('{"type":"publish"}'), /unknown type/);
  assert.match(bad('[1]'), /JSON object/);
  assert.match(
    bad(`{"type":"subscribe","targets":[${Array.from({ length: 11 }, (_, i) => i + 1)}]}`),
    /more than 10/,
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateBatch } from './batch.js';

const agentId = '6f1c2a4e-8b9d-4c1e-9f2a-3b4c5d6e7f80';
const now = Date.parse('2026-11-22T12:00:00Z');

function batch(families: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { v: 1, agentId, seq: 7, sealedAt: now, families, ...extra };
}

test('a_valid_batch_keeps_its_rows_with_ts_in_ms', () => {
  const v = validateBatch(
    batch({ host_load: { columns: ['ts', 'load1'], rows: [['2026-11-22T11:59:00Z', 0.5]] } }),
    undefined,
    now,
  );
  assert.ok(v.ok);
  assert.equal(v.batch.rowCount, 1);
  assert.equal(v.batch.tables[0]!.rows[0]![0], now - 60_000);
});

test('int8_values_beyond_2_53_travel_as_decimal_strings', () => {
  const texts = (queryid: unknown) =>
    batch({
      pg_statement_texts: {
        columns: ['ts', 'target', 'queryid', 'dbid', 'userid', 'query'],
        rows: [[now, 'main', queryid, 1, 10, 'SELECT 1']],
      },
    });
  assert.ok(validateBatch(texts('-2244834584745371746'), undefined, now).ok);
  assert.ok(validateBatch(texts('9223372036854775807'), undefined, now).ok);
  const over = validateBatch(texts('9223372036854775808'), undefined, now);
  assert.ok(!over.ok && /64-bit integer/.test(over.message));
  const junk = validateBatch(texts('12abc'), undefined, now);
  assert.ok(!junk.ok && junk.path === 'families.pg_statement_texts.rows[0][2]');
});

test('the_first_bad_field_is_named_by_its_path', () => {
  const v = validateBatch(
    batch({ host_cpu: { columns: ['ts', 'cpu', 'user_pct'], rows: [[now, 'total', 'x']] } }),
    undefined,
    now,
  );
  assert.deepEqual(v.ok ? null : [v.kind, v.path], ['invalid', 'families.host_cpu.rows[0][2]']);
  const noLabel = validateBatch(
    batch({ host_cpu: { columns: ['ts', 'user_pct'], rows: [] } }),
    undefined,
    now,
  );
  assert.ok(!noLabel.ok && /label column "cpu"/.test(noLabel.message));
  const dup = validateBatch(
    batch({ host_load: { columns: ['ts', 'load1', 'load1'], rows: [] } }),
    undefined,
    now,
  );
  assert.ok(!dup.ok && /appears twice/.test(dup.message));
  const nul = validateBatch(
    batch({ host_cpu: { columns: ['ts', 'cpu'], rows: [[now, 'a\u0000b']] } }),
    undefined,
    now,
  );
  assert.ok(!nul.ok && /NUL/.test(nul.message));
});

test('versions_and_agents_are_checked_first', () => {
  const v2 = validateBatch({ ...batch({}), v: 2 }, undefined, now);
  assert.ok(!v2.ok && v2.kind === 'version');
  const badId = validateBatch({ ...batch({}), agentId: 'nope' }, undefined, now);
  assert.ok(!badId.ok && badId.path === 'agentId');
  const badSeq = validateBatch({ ...batch({}), seq: 0 }, undefined, now);
  assert.ok(!badSeq.ok && badSeq.path === 'seq');
});

test('rows_outside_the_window_are_counted_not_failed', () => {
  const v = validateBatch(
    batch({
      host_load: {
        columns: ['ts', 'load1'],
        rows: [
          [now + 11 * 60_000, 1],
          [now - 8 * 86_400_000, 1],
          [now, 1],
        ],
      },
    }),
    undefined,
    now,
  );
  assert.ok(v.ok);
  assert.deepEqual(v.batch.rejected, { future: 1, tooOld: 1 });
  assert.equal(v.batch.rowCount, 1);
});

test('family_names_of_Object_prototype_are_unknown_families', () => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
    // JSON.parse makes `__proto__` an own key, as a request body would.
    const body = JSON.parse(
      `{"v":1,"agentId":"${agentId}","seq":7,"sealedAt":${now},"families":{"${name}":{"columns":["ts"],"rows":[]}}}`,
    );
    const v = validateBatch(body, undefined, now);
    assert.ok(!v.ok, name);
    assert.equal(v.path, `families.${name}`);
    assert.match(v.message, /unknown family/);
  }
});

test('a_timestamp_column_out_of_the_representable_range_is_refused', () => {
  const inst = (start: unknown) =>
    batch({ pg_instance: { columns: ['ts', 'target', 'start_time'], rows: [[now, 'main', start]] } });
  for (const bad of [1e300, -1, 253_402_300_800_000, '+275760-09-13T00:00:00Z']) {
    const v = validateBatch(inst(bad), undefined, now);
    assert.ok(!v.ok, String(bad));
    assert.equal(v.path, 'families.pg_instance.rows[0][2]');
  }
  assert.ok(validateBatch(inst(now - 86_400_000), undefined, now).ok);
});

test('timestamps_are_ms_or_ISO_8601_with_a_zone_and_nothing_read_in_local_time', () => {
  const load = (ts: unknown) => batch({ host_load: { columns: ['ts', 'load1'], rows: [[ts, 0.5]] } });
  for (const bad of [
    '11/22/2026 11:00',
    'Sun, 22 Nov 2026 11:00:00 GMT',
    '2026-11-22T11:00:00',
    '2026-11-22 11:00:00Z',
    '2026-02-30T11:00:00Z',
    '2026-11-22T25:00:00Z',
    '2026-11-22T11:00:00+24:00',
  ]) {
    const v = validateBatch(load(bad), undefined, now);
    assert.ok(!v.ok, bad);
    assert.match(v.message, /ISO 8601 with a zone/);
  }
  for (const good of ['2026-11-22T11:00:00Z', '2026-11-22T12:00:00.123456+01:00', '2026-11-22T06:30-05:30']) {
    const v = validateBatch(load(good), undefined, now);
    assert.ok(v.ok, good);
    assert.equal(v.batch.tables[0]!.rows.length, 1, good);
  }
});

test('float4_values_beyond_its_range_are_refused_and_values_below_its_precision_become_zero', () => {
  const cpu = (pct: number) =>
    batch({ host_cpu: { columns: ['ts', 'cpu', 'user_pct'], rows: [[now, 'total', pct]] } });
  const over = validateBatch(cpu(1e39), undefined, now);
  assert.ok(!over.ok && /float4 range/.test(over.message) && over.path === 'families.host_cpu.rows[0][2]');
  const tiny = validateBatch(cpu(1e-50), undefined, now);
  assert.ok(tiny.ok);
  assert.equal(tiny.batch.tables[0]!.rows[0]![2], 0);
});

test('a_sealedAt_that_is_not_a_time_is_refused', () => {
  const v = validateBatch(batch({}, { sealedAt: 1e300 }), undefined, now);
  assert.ok(!v.ok && v.path === 'sealedAt');
});

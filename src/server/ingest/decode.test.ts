import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { batchMediaType } from '../../protocol/batch.js';
import { decodeBatch } from './decode.js';

const agentId = '6f1c2a4e-8b9d-4c1e-9f2a-3b4c5d6e7f80';
const limits = { maxDecompressedBytes: 1024 * 1024, maxAgeMs: 7 * 86_400_000 };

function input(text: string, level = 6) {
  return {
    contentType: batchMediaType,
    contentEncoding: 'gzip',
    body: gzipSync(Buffer.from(text), { level }),
  };
}

const good = () =>
  JSON.stringify({
    v: 1,
    agentId,
    seq: 1,
    sealedAt: Date.now(),
    families: { host_load: { columns: ['ts', 'load1'], rows: [[Date.now(), 0.5]] } },
    status: { collectors: { cpu: { ok: true } } },
  });

test('a_status_nested_5000_deep_is_refused_as_an_invalid_batch_naming_its_path', () => {
  const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
  const text = good().replace('"status":{', `"status":{"x":${deep},`);
  const r = decodeBatch(input(text), limits);
  assert.ok(!r.ok);
  assert.equal(r.error.code, 'BATCH_INVALID');
  assert.equal(r.reason, 'shape');
  assert.match(r.error.message, /^status\.x(\[0\]){30}: nested deeper than 32 levels$/);
});

test('a_valid_batch_carries_its_digest_and_its_status_as_JSON_text_with_the_clock_skew_seen', () => {
  const text = good();
  const sealedAt = (JSON.parse(text) as { sealedAt: number }).sealedAt;
  const r = decodeBatch(input(text), limits, sealedAt + 1500);
  assert.ok(r.ok);
  assert.equal(r.digest.length, 32);
  assert.deepEqual(JSON.parse(r.status!), { collectors: { cpu: { ok: true } }, serverClockSkewMs: -1500 });
  const again = decodeBatch(input(text, 1), limits);
  assert.ok(again.ok);
  assert.ok(again.digest.equals(r.digest), 'another compression level is the same batch');
  const other = decodeBatch(input(text.replace('0.5', '0.25')), limits);
  assert.ok(other.ok && !other.digest.equals(r.digest));
});

test('a_missing_content_type_is_refused_with_415', () => {
  const r = decodeBatch({ ...input(good()), contentType: undefined }, limits);
  assert.ok(!r.ok && r.error.code === 'UNSUPPORTED_MEDIA_TYPE' && /\(none\)/.test(r.error.message));
});

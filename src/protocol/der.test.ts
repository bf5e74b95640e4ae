import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DerError,
  integer,
  namedBits,
  oid,
  readChildren,
  readElement,
  readOid,
  sequence,
  time,
  utf8String,
} from './der.js';

test('lengths_over_127_bytes_use_the_long_form_and_read_back', () => {
  const long = utf8String('x'.repeat(300));
  assert.deepEqual([...long.subarray(0, 4)], [0x0c, 0x82, 0x01, 0x2c]);
  const e = readElement(sequence(long, integer(5)));
  const [s, n] = readChildren(e.content);
  assert.equal(s!.content.toString(), 'x'.repeat(300));
  assert.deepEqual([...n!.content], [5]);
});

test('integers_are_minimal_and_positive', () => {
  assert.deepEqual([...integer(0)], [0x02, 0x01, 0x00]);
  assert.deepEqual([...integer(128)], [0x02, 0x02, 0x00, 0x80]);
  assert.deepEqual([...integer(Buffer.from([0, 0, 0x7f]))], [0x02, 0x01, 0x7f]);
  assert.deepEqual([...integer(Buffer.from([0xff]))], [0x02, 0x02, 0x00, 0xff]);
});

test('object_identifiers_round_trip', () => {
  for (const id of ['2.5.29.17', '1.2.840.10045.4.3.2', '1.3.6.1.5.5.7.3.2', '1.2.840.113549.1.1.11']) {
    assert.equal(readOid(readElement(oid(id))), id);
  }
});

test('key_usage_bits_drop_trailing_zero_bits', () => {
  assert.deepEqual([...namedBits([0])], [0x03, 0x02, 0x07, 0x80]); // digitalSignature
  assert.deepEqual([...namedBits([5, 6])], [0x03, 0x02, 0x01, 0x06]); // keyCertSign, cRLSign
});

test('times_before_2050_are_utc_time_and_later_ones_generalized_time', () => {
  assert.equal(time(new Date('2026-12-03T07:08:09Z')).toString('latin1', 2), '261203070809Z');
  assert.equal(time(new Date('2051-01-02T03:04:05Z')).toString('latin1', 2), '20510102030405Z');
});

test('malformed_elements_are_refused_without_reading_past_the_buffer', () => {
  const bad = [
    Buffer.from([0x30]), // no length
    Buffer.from([0x30, 0x05, 0x01]), // content shorter than its length
    Buffer.from([0x30, 0x80, 0x00, 0x00]), // indefinite length
    Buffer.from([0x30, 0x85, 1, 1, 1, 1, 1]), // 5 length bytes
    Buffer.from([0x30, 0x81, 0x05, 1, 2, 3, 4, 5]), // long form for a short length
    Buffer.from([0x1f, 0x01, 0x00]), // multi-byte tag
  ];
  for (const b of bad) assert.throws(() => readElement(b), DerError, b.toString('hex'));
  assert.throws(() => readOid(readElement(Buffer.from([0x06, 0x02, 0x2a, 0x86]))), DerError);
});

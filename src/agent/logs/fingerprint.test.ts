import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fingerprintOf, normaliseMessage } from './fingerprint.js';

describe('fingerprints', () => {
  test('replaces_values_with_placeholders', () => {
    const cases: Array<[string, string]> = [
      [
        'duration: 12.5 ms  statement: SELECT * FROM t WHERE id = 42',
        'duration: <N> ms statement: SELECT * FROM t WHERE id = <N>',
      ],
      ["name = 'O''Brien' and \"Col\" = 1", 'name = <S> and <S> = <N>'],
      ['from 192.168.1.20 port 5022', 'from <IP> port <N>'],
      ['from 10.0.0.1:5432 and fe80::1ff:fe23:4567:890a and ::1', 'from <IP> and <IP> and <IP>'],
      ['request 3f2504e0-4f89-11d3-9a0c-0305e82c3301 done', 'request <UUID> done'],
      ['addr 0x7ffd5e8c and deadbeef1234', 'addr <HEX> and <HEX>'],
      ['could not open /var/lib/postgresql/16/main/base/1/2', 'could not open <PATH>'],
      ['redo starts at 0/1A2B3C4', 'redo starts at <LSN>'],
      ['wrote 12kB at 10:20:30 on 2026-11-22', 'wrote <N>kB at <N> on <N>'],
      ['table1 and pg_stat_io keep their digits', 'table1 and pg_stat_io keep their digits'],
    ];
    for (const [input, want] of cases) assert.equal(normaliseMessage(input), want, input);
  });

  test('is_the_first_16_hex_of_sha256_of_source_level_and_normalised_text', async () => {
    const { createHash } = await import('node:crypto');
    const want = createHash('sha256')
      .update('pg|error|relation <S> does not exist')
      .digest('hex')
      .slice(0, 16);
    assert.equal(fingerprintOf('pg', 'error', 'relation "orders" does not exist'), want);
    assert.equal(fingerprintOf('pg', 'error', 'relation "users" does not exist'), want);
    assert.notEqual(fingerprintOf('pg', 'fatal', 'relation "users" does not exist'), want);
    assert.notEqual(fingerprintOf('other', 'error', 'relation "users" does not exist'), want);
  });
});

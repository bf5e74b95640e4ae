import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pgSequenceExhaustion } from './postgres-sequences.js';
import { defaultThresholds, targetScope } from './scope-fixture.js';

function seq(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    datname: 'shop',
    schemaname: 'public',
    sequencename: 'orders_id_seq',
    data_type: 'integer',
    last_value: 1_800_000_000,
    max_value: 2_147_483_647,
    min_value: 1,
    increment_by: 1,
    cycle: false,
    used_pct: 83.8,
    ...extra,
  };
}

describe('pg.sequence_exhaustion', () => {
  const t = defaultThresholds(pgSequenceExhaustion);
  test('an_integer_sequence_past_the_thresholds_proposes_bigint', () => {
    const scope = targetScope({
      pg_sequences: [
        seq({}),
        seq({ sequencename: 'b_seq', used_pct: 95 }),
        seq({ sequencename: 'low', used_pct: 10 }),
        seq({ sequencename: 'wraps', used_pct: 99, cycle: true }),
        seq({ sequencename: 'odd', used_pct: 'NaN' }),
        seq({
          sequencename: 'capped',
          data_type: 'bigint',
          max_value: '9000000000000000000',
          last_value: '8900000000000000000',
          used_pct: 98.9,
        }),
      ],
    });
    const out = pgSequenceExhaustion.evaluate(scope, t);
    assert.deepEqual(
      out.map((d) => [d.object, d.severity]),
      [
        ['shop/public.orders_id_seq', 'warning'],
        ['shop/public.b_seq', 'critical'],
        ['shop/public.capped', 'critical'],
      ],
    );
    assert.match(
      out[0]?.action ?? '',
      /^psql -d shop -c .* -c "ALTER SEQUENCE public.orders_id_seq AS bigint;"$/,
    );
    assert.match(out[0]?.explanation ?? '', /ALTER TABLE … ALTER COLUMN … TYPE bigint/);
    assert.match(out[2]?.action ?? '', /ALTER SEQUENCE public.capped NO MAXVALUE;/);
    // int8 beyond 2^53 stays exact in the evidence.
    assert.equal(out[2]?.evidence.last_value, '8900000000000000000');
  });

  test('descending_and_full_range_bigint_sequences_get_the_right_advice', () => {
    const scope = targetScope({
      pg_sequences: [
        seq({
          sequencename: 'down',
          data_type: 'bigint',
          increment_by: -1,
          min_value: '-1000000',
          max_value: -1,
          used_pct: 80,
        }),
        seq({
          sequencename: 'full',
          data_type: 'bigint',
          min_value: 1,
          max_value: '9223372036854775807',
          used_pct: 76,
        }),
      ],
    });
    const [down, full] = pgSequenceExhaustion.evaluate(scope, t);
    assert.match(down?.action ?? '', /ALTER SEQUENCE public\.down NO MINVALUE;/);
    assert.doesNotMatch(full?.action ?? '', /ALTER SEQUENCE/);
    assert.match(full?.explanation ?? '', /full range/);
  });
});

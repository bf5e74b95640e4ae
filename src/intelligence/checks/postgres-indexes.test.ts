import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pgDuplicateIndex, pgInvalidIndex, pgUnusedIndex } from './postgres-indexes.js';
import { defaultThresholds, targetScope } from './scope-fixture.js';

const now = Date.parse('2026-12-02T12:00:00Z');
const MB = 1024 * 1024;

function index(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    ts: now,
    datname: 'shop',
    schemaname: 'public',
    relname: 'orders',
    indexrelname: 'orders_note_idx',
    idx_scan: 0,
    size_bytes: 50 * MB,
    is_unique: false,
    is_primary: false,
    is_valid: true,
    unused: true,
    ...extra,
  };
}

describe('pg.unused_index', () => {
  test('a_big_unused_index_is_a_drop_recommendation_with_its_caveats', () => {
    const scope = targetScope({
      pg_indexes: [
        index({}),
        index({ indexrelname: 'small_idx', size_bytes: 2 * MB }),
        index({ indexrelname: 'orders_pkey', is_primary: true, is_unique: true }),
        index({ indexrelname: 'used_idx', unused: false, idx_scan: 40 }),
        index({ indexrelname: 'odd_idx', size_bytes: 'huge' }),
      ],
      pg_database: [{ datname: 'shop', stats_reset: '2026-11-01T00:00:00Z' }],
    });
    const out = pgUnusedIndex.evaluate(scope, defaultThresholds(pgUnusedIndex));
    assert.equal(out.length, 1);
    assert.equal(out[0]?.severity, 'info');
    assert.equal(out[0]?.action, 'psql -d shop -c "DROP INDEX CONCURRENTLY public.orders_note_idx;"');
    assert.match(out[0]?.explanation ?? '', /standbys/);
    assert.equal(out[0]?.evidence.stats_reset, '2026-11-01T00:00:00.000Z');
  });
});

describe('pg.invalid_index', () => {
  test('invalid_in_two_samples_is_reported_a_build_in_progress_is_not', () => {
    const scope = targetScope({
      pg_indexes: [
        index({ ts: now - 60_000, is_valid: false, unused: false }),
        index({ is_valid: false, unused: false }),
        index({ ts: now, indexrelname: 'building_idx', is_valid: false }),
        index({ ts: now - 60_000, indexrelname: 'orders_x_idx_ccnew', is_valid: false }),
        index({ ts: now, indexrelname: 'orders_x_idx_ccnew', is_valid: false }),
      ],
    });
    const out = pgInvalidIndex.evaluate(scope, {});
    assert.deepEqual(
      out.map((d) => d.action),
      [
        'psql -d shop -c "REINDEX INDEX CONCURRENTLY public.orders_note_idx;"',
        'psql -d shop -c "DROP INDEX CONCURRENTLY public.orders_x_idx_ccnew;"',
      ],
    );
    assert.equal(out[0]?.severity, 'warning');
  });
});

describe('pg.duplicate_index', () => {
  test('the_duplicate_is_named_with_the_index_it_duplicates', () => {
    const scope = targetScope({
      pg_indexes: [
        index({
          indexrelname: 'orders_customer_idx',
          unused: false,
          idx_scan: 100,
          definition: 'CREATE INDEX orders_customer_idx ON public.orders USING btree (customer_id)',
          duplicate_of: '',
        }),
        index({
          indexrelname: 'orders_customer_idx1',
          definition: 'CREATE INDEX orders_customer_idx1 ON public.orders USING btree (customer_id)',
          duplicate_of: 'orders_customer_idx',
        }),
        index({ indexrelname: 'legacy', duplicate_of: null }),
      ],
    });
    const out = pgDuplicateIndex.evaluate(scope, defaultThresholds(pgDuplicateIndex));
    assert.equal(out.length, 1);
    assert.equal(out[0]?.object, 'shop/public.orders_customer_idx1');
    assert.equal(out[0]?.action, 'psql -d shop -c "DROP INDEX CONCURRENTLY public.orders_customer_idx1;"');
    assert.equal(out[0]?.evidence.duplicate_of, 'orders_customer_idx');
    assert.equal(out[0]?.evidence.duplicate_of_idx_scan, 100);
    assert.match(String(out[0]?.evidence.duplicate_of_definition), /btree \(customer_id\)/);
  });
});

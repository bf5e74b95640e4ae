import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pgDeadTuples, pgVacuumOverdue } from './postgres-tables.js';
import { defaultThresholds, targetScope } from './scope-fixture.js';

const now = Date.parse('2026-12-02T12:00:00Z');
const day = 86_400_000;

function table(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    ts: now,
    datname: 'shop',
    schemaname: 'public',
    relname: 'orders',
    n_live_tup: 8000,
    n_dead_tup: 100,
    dead_pct: 1.2,
    n_mod_since_analyze: 0,
    n_ins_since_vacuum: 0,
    last_autovacuum: new Date(now - 3_600_000).toISOString(),
    last_autoanalyze: new Date(now - 3_600_000).toISOString(),
    table_bytes: 10_000_000,
    autovacuum_count: 4,
    ...extra,
  };
}

describe('pg.dead_tuples', () => {
  const t = defaultThresholds(pgDeadTuples);
  test('grades_the_dead_share_and_names_the_database_in_the_action', () => {
    const scope = targetScope({
      pg_tables: [
        table({ n_dead_tup: 12_000, dead_pct: 60, last_autovacuum: null, autovacuum_count: 0 }),
        table({ relname: 'Line Items', n_dead_tup: 2500, dead_pct: 23.8 }),
      ],
    });
    const [crit, warn] = pgDeadTuples.evaluate(scope, t);
    assert.equal(crit?.severity, 'critical');
    assert.equal(crit?.object, 'shop/public.orders');
    assert.equal(
      crit?.action,
      'psql -d shop -c "VACUUM (VERBOSE, ANALYZE) public.orders;" -c "ALTER TABLE public.orders SET (autovacuum_vacuum_scale_factor = 0.05);"',
    );
    assert.equal(crit?.evidence.autovacuum_behind, true);
    assert.equal(crit?.evidence.n_dead_tup, 12_000);
    assert.equal(warn?.severity, 'warning');
    // Autovacuum ran an hour ago: vacuum now, no tuning yet. The quoted name survives the shell word.
    assert.equal(warn?.action, `psql -d shop -c 'VACUUM (VERBOSE, ANALYZE) public."Line Items";'`);
  });

  test('small_or_clean_tables_and_odd_values_give_nothing', () => {
    const scope = targetScope({
      pg_tables: [
        table({ n_live_tup: 10, n_dead_tup: 900, dead_pct: 98.9 }),
        table({ relname: 'b', n_dead_tup: 400, dead_pct: 4.7 }),
        table({ relname: 'c', n_live_tup: 'lots', n_dead_tup: null, dead_pct: 'x' }),
        table({ relname: 'd', n_dead_tup: 1500, dead_pct: 15.8 }),
      ],
    });
    assert.deepEqual(pgDeadTuples.evaluate(scope, t), []);
  });
});

describe('pg.vacuum_overdue', () => {
  const t = defaultThresholds(pgVacuumOverdue);
  test('a_busy_table_not_vacuumed_for_days_is_reported_a_quiet_one_is_not', () => {
    const old = new Date(now - 10 * day).toISOString();
    const scope = targetScope({
      pg_tables: [
        table({ n_live_tup: 100_000, n_dead_tup: 60_000, last_autovacuum: old, last_autoanalyze: old }),
        table({
          relname: 'quiet',
          n_live_tup: 100_000,
          n_dead_tup: 50,
          last_autovacuum: old,
          last_autoanalyze: old,
        }),
        table({
          relname: 'fresh',
          n_live_tup: 5,
          n_dead_tup: 0,
          last_autovacuum: null,
          last_autoanalyze: null,
        }),
        table({ relname: 'stats', n_live_tup: 200_000, n_mod_since_analyze: 30_000, last_autoanalyze: old }),
      ],
    });
    const out = pgVacuumOverdue.evaluate(scope, t);
    assert.deepEqual(
      out.map((d) => [d.object, d.severity]),
      [
        ['shop/public.orders', 'warning'],
        ['shop/public.stats', 'info'],
      ],
    );
    assert.equal(out[0]?.action, 'psql -d shop -c "VACUUM (VERBOSE, ANALYZE) public.orders;"');
    assert.match(out[0]?.title ?? '', /not vacuumed for 10 days/);
    assert.equal(out[1]?.action, 'psql -d shop -c "ANALYZE VERBOSE public.stats;"');
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtureScope } from '../../../test/helpers/scope-fixture.js';
import {
  pgBackendFsync,
  pgCacheHit,
  pgCheckpoints,
  pgDeadlocks,
  pgRollbackRatio,
  pgTempFiles,
} from './postgres-counters.js';
import type { IngestCheck, Row } from './types.js';

const defaults = (c: IngestCheck) =>
  Object.fromEntries(Object.entries(c.thresholds).map(([k, v]) => [k, v.default]));
const MiB = 1024 ** 2;

const db = (extra: Row): Row => ({
  datname: 'shop',
  xact_commit: 1000,
  xact_rollback: 10,
  deadlocks: 0,
  temp_files: 0,
  temp_bytes: 0,
  blks_hit: 1_000_000,
  blks_read: 1000,
  stats_reset: '2026-01-01T00:00:00Z',
  ...extra,
});

/** Two collections 30 s apart: the pair the checks see. */
function interval(
  prev: Row,
  cur: Row,
  opts: Parameters<typeof fixtureScope>[1] = {},
  more: Record<string, Row[]> = {},
) {
  return fixtureScope(
    [
      { ts: 0, families: { pg_database: [db(prev)] } },
      { ts: 30_000, families: { pg_database: [db(cur)], ...more } },
    ],
    opts,
  );
}

test('a_deadlock_in_the_interval_is_a_warning_and_none_is_nothing', () => {
  const t = defaults(pgDeadlocks);
  assert.deepEqual(pgDeadlocks.evaluate(interval({ deadlocks: 3 }, { deadlocks: 3 }), t), []);
  const [f] = pgDeadlocks.evaluate(interval({ deadlocks: 3 }, { deadlocks: 4 }), t);
  assert.ok(f);
  assert.equal(f.object, 'db:shop');
  assert.equal(f.severity, 'warning');
  assert.equal(f.evidence.deadlocks, 1);
  assert.equal(f.evidence.interval_s, 30);
  assert.match(f.action, /log_lock_waits = on/);
});

test('counters_never_give_a_delta_from_one_sample_or_across_a_reset', () => {
  const t = defaults(pgDeadlocks);
  const one = fixtureScope([{ ts: 0, families: { pg_database: [db({ deadlocks: 50 })] } }]);
  assert.deepEqual(pgDeadlocks.evaluate(one, t), []);
  assert.deepEqual(pgDeadlocks.evaluate(interval({ deadlocks: 9 }, { deadlocks: 2 }), t), [], 'went back');
  assert.deepEqual(
    pgDeadlocks.evaluate(
      interval({ deadlocks: 0 }, { deadlocks: 5, stats_reset: '2026-02-01T00:00:00Z' }),
      t,
    ),
    [],
    'statistics were reset in between',
  );
});

test('rollback_ratio_needs_enough_transactions_in_the_interval', () => {
  const t = defaults(pgRollbackRatio);
  // 50 transactions, 40 % rolled back: too few to say anything.
  assert.deepEqual(pgRollbackRatio.evaluate(interval({}, { xact_commit: 1030, xact_rollback: 30 }), t), []);
  // 200 transactions, 15 % rolled back.
  const [f] = pgRollbackRatio.evaluate(interval({}, { xact_commit: 1170, xact_rollback: 40 }), t);
  assert.ok(f);
  assert.equal(f.evidence.rollback_pct, 15);
  assert.equal(f.evidence.rollbacks, 30);
  // 1000 transactions, 5 %: fine.
  assert.deepEqual(pgRollbackRatio.evaluate(interval({}, { xact_commit: 1950, xact_rollback: 60 }), t), []);
});

test('temp_files_over_100_mib_recommend_twice_the_work_mem_capped_by_memory', () => {
  const t = defaults(pgTempFiles);
  assert.deepEqual(pgTempFiles.evaluate(interval({}, { temp_files: 3, temp_bytes: 50 * MiB }), t), []);
  const input = interval(
    {},
    { temp_files: 12, temp_bytes: 300 * MiB },
    { settings: { work_mem: '4096', max_connections: '100' }, host: { memoryTotalBytes: 64 * 1024 * MiB } },
  );
  const [f] = pgTempFiles.evaluate(input, t);
  assert.ok(f);
  assert.equal(f.kind, undefined, 'a recommendation, as the check says');
  assert.equal(f.severity, 'info');
  assert.equal(f.evidence.temp_bytes, 300 * MiB);
  assert.equal(f.evidence.work_mem_kb, 4096);
  assert.match(f.action, /^ALTER SYSTEM SET work_mem = '8MB'; SELECT pg_reload_conf\(\);/);
  // 1 GiB of RAM shared by 100 connections leaves ~2.6 MB each: no global raise, per role only.
  const tight = interval(
    {},
    { temp_bytes: 300 * MiB },
    { settings: { work_mem: '4096', max_connections: '100' }, host: { memoryTotalBytes: 1024 * MiB } },
  );
  const [g] = pgTempFiles.evaluate(tight, t);
  assert.ok(g);
  assert.doesNotMatch(g.action, /ALTER SYSTEM/);
  assert.match(g.action, /ALTER ROLE <role> IN DATABASE shop SET work_mem = '8MB';/);
});

test('a_statement_spilling_more_than_10000_blocks_names_its_role', () => {
  const input = fixtureScope([
    {
      ts: 0,
      families: {
        pg_database: [db({})],
        pg_statements: [
          {
            queryid: '77',
            dbid: 5,
            userid: 10,
            datname: 'shop',
            usename: 'report',
            calls: 2,
            temp_blks_written: 20_000,
          },
          {
            queryid: '78',
            dbid: 5,
            userid: 10,
            datname: 'shop',
            usename: 'app',
            calls: 9,
            temp_blks_written: 10,
          },
        ],
        pg_statement_texts: [{ queryid: '77', dbid: 5, userid: 10, query: 'SELECT * FROM t ORDER BY x' }],
      },
    },
  ]);
  const [f] = pgTempFiles.evaluate(input, defaults(pgTempFiles));
  assert.ok(f);
  assert.equal(f.object, 'db:shop');
  const st = f.evidence.statements as Row[];
  assert.equal(st[0]?.queryid, '77');
  assert.equal(st[0]?.query, 'SELECT * FROM t ORDER BY x');
  assert.match(f.action, /ALTER ROLE report IN DATABASE shop SET work_mem = '8MB';/);
});

const bgw = (extra: Row): Row => ({
  checkpoints_timed: 10,
  checkpoints_req: 2,
  buffers_backend_fsync: 0,
  stats_reset: 'r',
  ...extra,
});

function bgwInterval(prev: Row, cur: Row, settings?: Record<string, string>) {
  return fixtureScope(
    [
      { ts: 0, families: { pg_bgwriter: [bgw(prev)], pg_wal: [{ lsn_bytes: 1000 }] } },
      { ts: 60_000, families: { pg_bgwriter: [bgw(cur)], pg_wal: [{ lsn_bytes: 5000 }] } },
    ],
    settings ? { settings } : {},
  );
}

test('requested_checkpoints_outnumbering_timed_ones_recommend_twice_max_wal_size', () => {
  const t = defaults(pgCheckpoints);
  assert.deepEqual(
    pgCheckpoints.evaluate(bgwInterval({}, { checkpoints_req: 3 }), t),
    [],
    'one is not a pattern',
  );
  assert.deepEqual(
    pgCheckpoints.evaluate(bgwInterval({}, { checkpoints_req: 5, checkpoints_timed: 14 }), t),
    [],
    'more timed than requested',
  );
  const [f] = pgCheckpoints.evaluate(bgwInterval({}, { checkpoints_req: 6 }, { max_wal_size: '2048' }), t);
  assert.ok(f);
  assert.equal(f.evidence.checkpoints_req, 4);
  assert.equal(f.evidence.wal_bytes, 4000);
  assert.equal(f.action, "ALTER SYSTEM SET max_wal_size = '4GB'; SELECT pg_reload_conf();");
  // Without a pg_settings row max_wal_size is at its default, 1GB.
  const [g] = pgCheckpoints.evaluate(bgwInterval({}, { checkpoints_req: 6 }), t);
  assert.match(g!.action, /max_wal_size = '2GB'/);
});

test('backend_fsyncs_warn_and_a_null_counter_of_newer_versions_says_nothing', () => {
  const t = defaults(pgBackendFsync);
  assert.equal(
    pgBackendFsync.evaluate(bgwInterval({}, { buffers_backend_fsync: 3 }), t)[0]?.severity,
    'warning',
  );
  assert.deepEqual(
    pgBackendFsync.evaluate(bgwInterval({ buffers_backend_fsync: null }, { buffers_backend_fsync: null }), t),
    [],
  );
});

test('cache_hit_ratio_is_over_the_interval_and_needs_enough_reads', () => {
  const t = defaults(pgCacheHit);
  // Since the reset the ratio is 99.9 %, but this interval read 2000 of 20000 blocks: 90 % → info.
  const [f] = pgCacheHit.evaluate(interval({}, { blks_hit: 1_018_000, blks_read: 3000 }), t);
  assert.ok(f);
  assert.equal(f.severity, 'info');
  assert.equal(f.evidence.hit_pct, 90);
  // 50 % but only 500 reads: an idle database says nothing.
  assert.deepEqual(pgCacheHit.evaluate(interval({}, { blks_hit: 1_000_500, blks_read: 1500 }), t), []);
  const [g] = pgCacheHit.evaluate(
    interval({}, { blks_hit: 1_002_000, blks_read: 11_000 }, { host: { memoryTotalBytes: 32 * 1024 * MiB } }),
    t,
  );
  assert.equal(g?.severity, 'warning');
  assert.match(g!.action, /ALTER SYSTEM SET shared_buffers = '8GB';/);
});

test('counter_rows_with_odd_values_do_not_throw', () => {
  const input = interval(
    { deadlocks: 'x', blks_read: null },
    { deadlocks: {}, blks_read: 'y', temp_bytes: -5 },
  );
  for (const c of [pgDeadlocks, pgRollbackRatio, pgTempFiles, pgCacheHit]) {
    assert.deepEqual(c.evaluate(input, defaults(c)), [], c.id);
  }
});

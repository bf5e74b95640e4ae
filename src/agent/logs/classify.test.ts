import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LogContext } from '../../protocol/logs.js';
import { classifyPostgresEvent } from './classify.js';

function classify(message: string, ctx: LogContext = {}): LogContext {
  classifyPostgresEvent(message, ctx);
  return ctx;
}

describe('PostgreSQL event classification', () => {
  test('reads_checkpoint_figures_of_postgresql_13_to_18', () => {
    const c17 = classify(
      'checkpoint complete: wrote 4 buffers (0.0%); 0 WAL file(s) added, 0 removed, 1 recycled; write=0.302 s, sync=0.001 s, total=0.310 s; sync files=3, longest=0.001 s, average=0.001 s; distance=13 kB, estimate=13 kB; lsn=0/1A2B3C8, redo lsn=0/1A2B3C0',
    );
    assert.equal(c17.event, 'checkpoint_complete');
    assert.equal(c17.buffers_written, 4);
    assert.equal(c17.wal_files_recycled, 1);
    assert.equal(c17.total_s, 0.31);
    assert.equal(c17.duration_ms, 310);
    const c18 = classify(
      'checkpoint complete: wrote 7 buffers (0.0%), wrote 3 SLRU buffers; 0 WAL file(s) added, 0 removed, 0 recycled; write=0.001 s, sync=0.001 s, total=0.003 s; sync files=0, longest=0.000 s, average=0.000 s; distance=1 kB, estimate=1 kB; lsn=0/1, redo lsn=0/1',
    );
    assert.equal(c18.buffers_written, 7);
    assert.equal(c18.slru_buffers_written, 3);
    assert.deepEqual(classify('restartpoint starting: time wal').reasons, ['time', 'wal']);
  });

  test('reads_autovacuum_reports_with_their_counts', () => {
    const msg = [
      'automatic aggressive vacuum to prevent wraparound of table "shop.public.orders": index scans: 1',
      'pages: 2 removed, 45 remain, 47 scanned (100.00% of total)',
      'tuples: 1500 removed, 500 remain, 3 are dead but not yet removable',
      'buffer usage: 180 hits, 2 misses, 60 dirtied',
      'avg read rate: 1.5 MB/s, avg write rate: 12.25 MB/s',
      'WAL usage: 150 records, 2 full page images, 30000 bytes',
      'system usage: CPU: user: 0.01 s, system: 0.00 s, elapsed: 0.04 s',
    ].join('\n');
    const c = classify(msg);
    assert.equal(c.event, 'autovacuum');
    assert.equal(c.aggressive, true);
    assert.equal(c.wraparound, true);
    assert.equal(c.table, 'shop.public.orders');
    assert.equal(c.schema, 'public');
    assert.equal(c.relation, 'orders');
    assert.equal(c.pages_removed, 2);
    assert.equal(c.tuples_removed, 1500);
    assert.equal(c.tuples_dead_not_removable, 3);
    assert.equal(c.buffer_reads, 2);
    assert.equal(c.wal_bytes, 30000);
    assert.equal(c.duration_ms, 40);
    assert.equal(
      classify(
        'automatic analyze of table "a.b.c"\nsystem usage: CPU: user: 0.00 s, system: 0.00 s, elapsed: 0.01 s',
      ).event,
      'autoanalyze',
    );
  });

  test('reads_lock_waits_with_the_blocking_processes', () => {
    const c = classify('process 812 still waiting for ShareLock on transaction 9911 after 1000.123 ms', {
      detail: 'Process holding the lock: 811. Wait queue: 812, 813.',
    });
    assert.equal(c.event, 'lock_wait');
    assert.equal(c.waiting_pid, 812);
    assert.equal(c.lock_mode, 'ShareLock');
    assert.equal(c.lock_transaction, 9911);
    assert.equal(c.wait_ms, 1000.123);
    assert.deepEqual(c.blocking_pids, [811]);
    assert.deepEqual(c.wait_queue, [812, 813]);
  });

  test('reads_the_processes_and_queries_of_a_deadlock', () => {
    const c = classify('deadlock detected', {
      detail: [
        'Process 11 waits for ShareLock on transaction 501; blocked by process 12.',
        'Process 12 waits for ShareLock on transaction 500; blocked by process 11.',
        'Process 11: UPDATE a SET v = 1',
        '  WHERE id = 2',
        'Process 12: UPDATE a SET v = 2 WHERE id = 1',
      ].join('\n'),
    });
    assert.equal(c.event, 'deadlock');
    assert.deepEqual(c.processes, [
      {
        pid: 11,
        waits_for: 'ShareLock on transaction 501',
        lock_mode: 'ShareLock',
        blocked_by: 12,
        query: 'UPDATE a SET v = 1\n  WHERE id = 2',
      },
      {
        pid: 12,
        waits_for: 'ShareLock on transaction 500',
        lock_mode: 'ShareLock',
        blocked_by: 11,
        query: 'UPDATE a SET v = 2 WHERE id = 1',
      },
    ]);
  });

  test('reads_statement_durations_and_temp_files', () => {
    const d = classify('duration: 1234.567 ms  execute S_1: SELECT * FROM t WHERE id = $1');
    assert.equal(d.event, 'slow_statement');
    assert.equal(d.duration_ms, 1234.567);
    assert.equal(d.phase, 'execute');
    assert.equal(d.prepared_name, 'S_1');
    assert.equal(d.statement, 'SELECT * FROM t WHERE id = $1');
    assert.equal(classify('duration: 0.5 ms').event, 'statement_duration');
    const t = classify('temporary file: path "base/pgsql_tmp/pgsql_tmp811.0", size 1400000');
    assert.deepEqual(
      [t.event, t.path, t.size_bytes],
      ['temp_file', 'base/pgsql_tmp/pgsql_tmp811.0', 1400000],
    );
  });

  test('reads_connections_and_authentication_failures', () => {
    assert.deepEqual(classify('connection received: host=10.0.0.4 port=50123'), {
      event: 'connection_received',
      host: '10.0.0.4',
      port: 50123,
    });
    const a = classify(
      'connection authorized: user=bob database=shop application_name=psql SSL enabled (protocol=TLSv1.3)',
    );
    assert.deepEqual(
      [a.event, a.user, a.database, a.application, a.ssl],
      ['connection_authorized', 'bob', 'shop', 'psql', true],
    );
    const f = classify('password authentication failed for user "bob"', { host: '10.0.0.4' });
    assert.deepEqual(
      [f.event, f.user, f.auth_method, f.host],
      ['auth_failed', 'bob', 'password', '10.0.0.4'],
    );
    const h = classify(
      'no pg_hba.conf entry for host "10.9.9.9", user "eve", database "shop", no encryption',
    );
    assert.deepEqual([h.event, h.host, h.user, h.database], ['auth_rejected', '10.9.9.9', 'eve', 'shop']);
    const d = classify(
      'disconnection: session time: 0:01:02.500 user=bob database=shop host=10.0.0.4 port=50123',
    );
    assert.equal(d.session_ms, 62500);
  });

  test('tries_each_message_only_against_patterns_of_its_first_letter_and_misses_none', () => {
    // The dispatch on first letters and literal starts must find what trying every pattern in turn found,
    // including the patterns whose first word is free (auth methods, process names).
    const cases: Array<[string, string]> = [
      ['password authentication failed for user "bob"', 'auth_failed'],
      ['md5 authentication failed for user "a""b"', 'auth_failed'],
      [
        'pg_hba.conf rejects connection for host "10.0.0.1", user "x", database "y", SSL off',
        'auth_rejected',
      ],
      ['role "ghost" does not exist', 'auth_failed'],
      ['too many connections for role "app"', 'too_many_connections'],
      ['autovacuum launcher process (PID 12) was terminated by signal 11: Segmentation fault', 'crash'],
      ['terminating walreceiver process due to administrator command', 'replication_error'],
      ['terminating connection because of crash of another server process', 'crash'],
      ['the database system is starting up', 'server_unavailable'],
      ['shutting down', 'shutdown_requested'],
      ['archive command failed with exit code 1', 'archive_failed'],
      ['checkpoints are occurring too frequently (2 seconds apart)', 'checkpoints_too_frequent'],
      ['could not extend file "base/1/2": No space left on device', 'disk_full'],
      ['replication slot "s1" does not exist', 'replication_error'],
      ['redo starts at 0/1A2B3C4', 'recovery_redo_started'],
      ['database system was shut down at 2026-11-22 10:00:00 UTC', 'server_starting'],
    ];
    for (const [msg, event] of cases) assert.equal(classify(msg).event, event, msg);
    assert.equal(classify('md5 authentication failed for user "a""b"').user, 'a"b');
    for (const msg of [
      'duplicate key value violates unique constraint "account_pkey"',
      'process 12 is not an event',
      'password is too short',
      'relation "t" does not exist',
      'terminating soon',
      'canceling nothing',
      'a process (PID x) was not terminated',
    ]) {
      assert.equal(classify(msg).event, undefined, msg);
    }
  });

  test('names_capacity_cancellation_crash_and_replication_events', () => {
    const cases: Array<[string, string]> = [
      ['sorry, too many clients already', 'too_many_connections'],
      [
        'remaining connection slots are reserved for roles with the SUPERUSER attribute',
        'too_many_connections',
      ],
      ['out of memory', 'out_of_memory'],
      ['canceling statement due to statement timeout', 'statement_timeout'],
      ['canceling statement due to lock timeout', 'lock_timeout'],
      ['canceling statement due to conflict with recovery', 'recovery_conflict'],
      ['canceling autovacuum task', 'autovacuum_canceled'],
      ['terminating connection due to idle-in-transaction timeout', 'idle_in_transaction_timeout'],
      ['database system is ready to accept connections', 'server_ready'],
      ['database system is shut down', 'server_stopped'],
      ['received fast shutdown request', 'shutdown_requested'],
      ['database system was not properly shut down; automatic recovery in progress', 'crash_recovery'],
      ['all server processes terminated; reinitializing', 'crash'],
      ['server process (PID 4242) was terminated by signal 9: Killed', 'crash'],
      ['starting PostgreSQL 18.1 on x86_64-pc-linux-gnu, compiled by gcc', 'server_starting'],
      [
        'could not receive data from WAL stream: server closed the connection unexpectedly',
        'replication_error',
      ],
      ['requested WAL segment 000000010000000000000003 has already been removed', 'replication_error'],
      ['started streaming WAL from primary at 0/3000000 on timeline 1', 'replication_started'],
    ];
    for (const [msg, event] of cases) assert.equal(classify(msg).event, event, msg);
    assert.equal(classify('received fast shutdown request').mode, 'fast');
    const oom = classify('out of memory', {
      detail: 'Failed on request of size 1048576 in memory context "ExecutorState".',
    });
    assert.equal(oom.request_bytes, 1048576);
    const k = classify('server process (PID 4242) was terminated by signal 9: Killed');
    assert.equal(k.possible_oom_kill, true);
    assert.equal(classify('starting PostgreSQL 18.1 on x86_64').version, '18.1');
  });

  test('leaves_unknown_messages_untouched', () => {
    assert.deepEqual(classify('something nobody has seen before', { user: 'x' }), { user: 'x' });
  });
});

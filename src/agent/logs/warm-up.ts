/**
 * A few dozen lines of a PostgreSQL stderr log (default prefix) holding one of each kind of line and
 * entry the stderr parser, the assembler, the classifier, the fingerprint and the writer tell apart, run
 * through all of them before `logs parse` reads its input, output discarded.
 *
 * Why: V8's optimising compiler compiles a hot function for the branches it has seen run. A log's first
 * few thousand lines rarely hold every kind of line (a background process, a deadlock's report, an
 * autovacuum report, a context of another shape), so the compiled code of the parser, the assembler, the
 * classifier and the writer was thrown away at the first line of a new kind and compiled again: about a
 * dozen compilations per run, each milliseconds of a core. Seen once here, each branch has its feedback
 * before the first compilation. Nothing of it reaches the output: the parser, assembler and writer used
 * are instances of their own, and what the modules keep across instances (the fingerprint cache, the
 * time-text cache, the context keys' bytes) are memos of pure functions.
 */
import { type AssemblerOptions, EntryAssembler } from './assemble.js';
import type { OutputBuffer } from './parse-stream.js';
import type { AsciiSpan, LogParserSpec } from './types.js';

const lines = [
  '2026-01-05 10:00:00.100 UTC [4100] LOG:  starting PostgreSQL 18.1 on x86_64-pc-linux-gnu',
  '2026-01-05 10:00:00.101 UTC [4100] LOG:  listening on IPv4 address "127.0.0.1", port 5432',
  '2026-01-05 10:00:00.180 UTC [4103] LOG:  database system was shut down at 2026-01-05 09:59:58 UTC',
  '2026-01-05 10:00:00.200 UTC [4100] LOG:  database system is ready to accept connections',
  '2026-01-05 10:00:01.001 UTC [4110] [unknown]@[unknown] LOG:  connection received: host=10.1.2.3 port=40112',
  '2026-01-05 10:00:01.020 UTC [4110] app@shop LOG:  connection authenticated: identity="app" method=scram-sha-256 (/etc/postgresql/pg_hba.conf:12)',
  '2026-01-05 10:00:01.021 UTC [4110] app@shop LOG:  connection authorized: user=app database=shop application_name=psql SSL enabled (protocol=TLSv1.3)',
  '2026-01-05 10:00:01.100 UTC [4110] app@shop LOG:  duration: 0.412 ms',
  '2026-01-05 10:00:01.101 UTC [4110] app@shop LOG:  duration: 1.250 ms  statement: SELECT name FROM item WHERE id = 42',
  '2026-01-05 10:00:01.102 UTC [4110] app@shop LOG:  duration: 0.050 ms  execute <unnamed>: SELECT 1',
  '2026-01-05 10:00:01.103 UTC [4110] app@shop LOG:  duration: 0.030 ms  bind s1: SELECT $1',
  '2026-01-05 10:00:01.104 UTC [4110] app@shop LOG:  statement: UPDATE item SET price = 9.5 WHERE id = 7',
  '2026-01-05 10:00:01.200 UTC [4111] app@shop ERROR:  duplicate key value violates unique constraint "item_pkey"',
  '2026-01-05 10:00:01.200 UTC [4111] app@shop DETAIL:  Key (id)=(7) already exists.',
  "2026-01-05 10:00:01.200 UTC [4111] app@shop STATEMENT:  INSERT INTO item (id, name) VALUES (7, 'it''s')",
  '2026-01-05 10:00:01.300 UTC [4112] app@shop ERROR:  stock 88 not found',
  '2026-01-05 10:00:01.300 UTC [4112] app@shop DETAIL:  move of 2.5 from 88 to 0x1F at 0/1A2B3C4',
  '2026-01-05 10:00:01.300 UTC [4112] app@shop HINT:  Check "stock" against /var/lib/app/stock.csv.',
  '2026-01-05 10:00:01.300 UTC [4112] app@shop CONTEXT:  PL/pgSQL function move(integer,integer) line 5 at RAISE',
  '2026-01-05 10:00:01.300 UTC [4112] app@shop STATEMENT:  SELECT move(88,',
  '\t  0)',
  '2026-01-05 10:00:01.400 UTC [4113] app@shop WARNING:  audit: 3 rows below threshold',
  '2026-01-05 10:00:01.400 UTC [4113] app@shop DETAIL:  first line',
  '\tsecond line',
  '2026-01-05 10:00:01.500 UTC [4114] app@shop ERROR:  syntax error at or near "FORM" at character 10',
  '2026-01-05 10:00:01.500 UTC [4114] app@shop STATEMENT:  SELECT *',
  '\t  FORM item',
  '2026-01-05 10:00:01.600 UTC [4115] app@shop ERROR:  canceling statement due to statement timeout',
  '2026-01-05 10:00:01.600 UTC [4115] app@shop STATEMENT:  SELECT pg_sleep(1)',
  '2026-01-05 10:00:01.700 UTC [4116] app@shop LOG:  temporary file: path "base/pgsql_tmp/pgsql_tmp4116.0", size 270336',
  '2026-01-05 10:00:01.700 UTC [4116] app@shop STATEMENT:  SELECT g FROM generate_series(1, 90000) g ORDER BY g DESC',
  '2026-01-05 10:00:01.800 UTC [4117] app@shop LOG:  process 4117 still waiting for ShareLock on transaction 901 after 10.120 ms',
  '2026-01-05 10:00:01.800 UTC [4117] app@shop DETAIL:  Process holding the lock: 4118. Wait queue: 4117.',
  '2026-01-05 10:00:01.800 UTC [4117] app@shop CONTEXT:  while updating tuple (0,3) in relation "counter"',
  '2026-01-05 10:00:01.800 UTC [4117] app@shop STATEMENT:  UPDATE counter SET n = n + 1 WHERE id = 3',
  '2026-01-05 10:00:01.850 UTC [4119] app@shop LOG:  process 4119 still waiting for RowExclusiveLock on relation 16390 of database 16384 after 1000.072 ms',
  '2026-01-05 10:00:01.860 UTC [4119] app@shop LOG:  process 4119 still waiting for ExclusiveLock on tuple (1,2) of relation 16390 of database 16384 after 10.010 ms',
  '2026-01-05 10:00:01.860 UTC [4119] app@shop DETAIL:  Process holding the lock: 4117. Wait queue: 4119.',
  '2026-01-05 10:00:01.870 UTC [4126] app@shop LOG:  process 4126 still waiting for ShareLock on transaction 903 after 10.040 ms',
  '2026-01-05 10:00:01.870 UTC [4126] app@shop DETAIL:  Processes holding the lock: 4117, 4118. Wait queue: 4126.',
  '2026-01-05 10:00:01.870 UTC [4126] app@shop STATEMENT:  DELETE FROM counter WHERE id = 3',
  '2026-01-05 10:00:01.880 UTC [4127] app@shop LOG:  process 4127 avoided deadlock for AccessExclusiveLock on relation 16390 of database 16384 by rearranging queue order after 10.002 ms',
  '2026-01-05 10:00:01.880 UTC [4127] app@shop CONTEXT:  SQL statement "LOCK counter"',
  '2026-01-05 10:00:01.880 UTC [4127] app@shop STATEMENT:  SELECT lock_all()',
  '2026-01-05 10:00:01.900 UTC [4117] app@shop LOG:  process 4117 acquired ShareLock on transaction 901 after 95.003 ms',
  '2026-01-05 10:00:01.900 UTC [4117] app@shop CONTEXT:  while updating tuple (0,3) in relation "counter"',
  '2026-01-05 10:00:01.950 UTC [4118] app@shop ERROR:  deadlock detected',
  '2026-01-05 10:00:01.950 UTC [4118] app@shop DETAIL:  Process 4118 waits for ShareLock on transaction 902; blocked by process 4117.',
  '\tProcess 4117 waits for ShareLock on transaction 901; blocked by process 4118.',
  '\tProcess 4118: UPDATE counter SET n = n + 1 WHERE id = 4',
  '\tProcess 4117: UPDATE counter SET n = n + 1 WHERE id = 3',
  '2026-01-05 10:00:01.950 UTC [4118] app@shop HINT:  See server log for query details.',
  '2026-01-05 10:00:01.950 UTC [4118] app@shop CONTEXT:  while updating tuple (0,4) in relation "counter"',
  '2026-01-05 10:00:01.950 UTC [4118] app@shop STATEMENT:  UPDATE counter SET n = n + 1 WHERE id = 4',
  '2026-01-05 10:00:02.000 UTC [4120] nobody@shop FATAL:  password authentication failed for user "nobody"',
  '2026-01-05 10:00:02.000 UTC [4120] nobody@shop DETAIL:  Role "nobody" does not exist.',
  '\tConnection matched file "/etc/postgresql/pg_hba.conf" line 12: "host all all 10.0.0.0/8 scram-sha-256"',
  '2026-01-05 10:00:02.010 UTC [4121] app@nodb FATAL:  database "nodb" does not exist',
  '2026-01-05 10:00:02.020 UTC [4122] x@y FATAL:  role "x" does not exist',
  '2026-01-05 10:00:02.030 UTC [4123] app@shop FATAL:  no pg_hba.conf entry for host "10.9.9.9", user "app", database "shop", no encryption',
  '2026-01-05 10:00:02.040 UTC [4124] app@shop FATAL:  sorry, too many clients already',
  '2026-01-05 10:00:02.050 UTC [4125] app@shop FATAL:  terminating connection due to idle-in-transaction timeout',
  '2026-01-05 10:00:02.100 UTC [4110] app@shop LOG:  disconnection: session time: 0:00:01.099 user=app database=shop host=10.1.2.3 port=40112',
  '2026-01-05 10:00:02.200 UTC [4101] LOG:  checkpoint starting: time',
  '2026-01-05 10:00:02.300 UTC [4101] LOG:  checkpoint complete: wrote 12 buffers (0.1%), wrote 1 SLRU buffers; 0 WAL file(s) added, 0 removed, 1 recycled; write=0.010 s, sync=0.002 s, total=0.015 s; sync files=4, longest=0.001 s, average=0.001 s; distance=120 kB, estimate=400 kB; lsn=0/3000100, redo lsn=0/30000C8',
  '2026-01-05 10:00:02.400 UTC [4130] LOG:  automatic vacuum of table "shop.public.counter": index scans: 1',
  '\tpages: 0 removed, 5 remain, 5 scanned (100.00% of total)',
  '\ttuples: 40 removed, 100 remain, 2 are dead but not yet removable',
  '\tbuffer usage: 60 hits, 0 reads, 4 dirtied',
  '\tavg read rate: 0.000 MB/s, avg write rate: 1.250 MB/s',
  '\tWAL usage: 12 records, 3 full page images, 9000 bytes',
  '\tsystem usage: CPU: user: 0.00 s, system: 0.00 s, elapsed: 0.02 s',
  '2026-01-05 10:00:02.450 UTC [4130] LOG:  automatic analyze of table "shop.public.item"',
  '\tsystem usage: CPU: user: 0.01 s, system: 0.00 s, elapsed: 0.03 s',
  '2026-01-05 10:00:02.500 UTC [4131] LOG:  background worker "logical replication launcher" (PID 4131) exited with exit code 1',
  '2026-01-05 10:00:02.600 CET [4132] app@shop NOTICE:  relation "item" already exists, skipping',
  '2026-01-05 10:00:02 [4133] LOG:  redo starts at 0/3000100',
  '2026-01-05 10:00:02.700 UTC [4134] app@shop DEBUG1:  snapshot of 0+0 running transaction ids',
  'a line written by something else',
];

/** The lines above through a parser, an assembler and `out` of their own, output discarded. */
export function warmUpPipeline(spec: LogParserSpec, opts: AssemblerOptions, out: OutputBuffer): void {
  const assembler = new EntryAssembler(spec, opts);
  const now = Date.parse('2026-01-05T10:00:03Z');
  // Each line from its bytes, the way parseStream gives ASCII lines. Not from its text as well: the text
  // path (lines of a chunk that is not all ASCII) then stays out of the optimising compiler's work in a run
  // over an ASCII log (a round of it cost 30 M instructions at start-up and 60 M more over 20 MB).
  const span: AsciiSpan = { bytes: Buffer.from(lines.join('\n'), 'latin1'), at: 0 };
  for (const line of lines) {
    const e = assembler.push(line, now, 0, span);
    if (e) out.entry(e);
    span.at += line.length + 1;
  }
  for (const e of assembler.flush()) out.entry(e);
}

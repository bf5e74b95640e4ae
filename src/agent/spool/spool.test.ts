import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { pino } from 'pino';
import { silentLogger } from '../../log.js';
import { encodeRecord, HEADER_BYTES } from './record.js';
import { Spool, type SpoolOptions, segmentFileName } from './spool.js';

const log = silentLogger();

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgvigil-spool-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic payload per seq, so any mix-up or damage shows. */
function payloadFor(seq: number, size = 200): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (seq * 31 + i * 7) & 0xff;
  return b;
}

async function open(dir: string, extra: Partial<SpoolOptions> = {}): Promise<Spool> {
  return Spool.open({ dir, log, ...extra });
}

async function appendMany(spool: Spool, n: number, size = 200): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) seqs.push(await spool.append(payloadFor(spool.nextSeq(), size), {}));
  return seqs;
}

/** Ships everything: peek, check the payload, ack. Returns the seqs in the order seen. */
async function drain(spool: Spool, size = 200): Promise<number[]> {
  const seen: number[] = [];
  for (let rec = await spool.peek(); rec !== undefined; rec = await spool.peek()) {
    assert.deepEqual(rec.payload, payloadFor(rec.seq, size), `payload of seq ${rec.seq}`);
    seen.push(rec.seq);
    await spool.ack(rec.seq);
  }
  return seen;
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('segment-')).sort();
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('records_come_back_in_seq_order_across_segments_and_restarts', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir, { segmentBytes: 1000 });
  assert.equal(a.nextSeq(), 1);
  assert.deepEqual(await appendMany(a, 10, 300), range(1, 10));
  assert.ok((await segmentFiles(dir)).length >= 4, 'records of 320 bytes in segments of 1000 bytes');
  await a.close();
  const b = await open(dir, { segmentBytes: 1000 });
  assert.equal(b.nextSeq(), 11);
  assert.equal(b.stats().pendingRecords, 10);
  assert.deepEqual(await drain(b, 300), range(1, 10));
  await b.close();
});

test('acknowledged_records_are_not_sent_again_after_a_restart', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir);
  await appendMany(a, 5);
  await a.ack(3);
  // No close(): a crash right after the ack resolved.
  const b = await open(dir);
  assert.equal((await b.peek())?.seq, 4);
  assert.equal(b.stats().ackedSeq, 3);
  await b.close();
  await a.close(); // only to release its files; it writes the same position
});

test('skips_a_torn_last_record_and_continues', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir);
  await appendMany(a, 3);
  await a.close();
  const [file] = await segmentFiles(dir);
  assert.ok(file);
  const goodSize = (await stat(join(dir, file))).size;
  // A crash in the middle of writing seq 4: half a record at the end of the newest segment.
  const torn = encodeRecord(4, payloadFor(4)).subarray(0, 90);
  await writeFile(join(dir, file), torn, { flag: 'a' });

  const b = await open(dir);
  assert.equal(b.stats().corruptRecords, 1);
  assert.deepEqual(b.pendingGaps(), [], 'the torn append never resolved, so no seq was lost');
  assert.equal(b.nextSeq(), 4, 'the seq of the append that never resolved is reused');
  assert.equal((await stat(join(dir, file))).size, goodSize, 'torn bytes cut off');
  const aside = await readdir(join(dir, 'corrupt'));
  assert.equal(aside.length, 1);
  assert.deepEqual(await readFile(join(dir, 'corrupt', aside[0] as string)), torn);
  assert.equal(await b.append(payloadFor(4)), 4);
  assert.deepEqual(await drain(b), [1, 2, 3, 4]);
  await b.close();

  const c = await open(dir);
  assert.equal(c.stats().corruptRecords, 1, 'counted once, not at every open');
  await c.close();
});

test('a_corrupt_record_in_the_middle_is_moved_aside_and_counted', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir);
  await appendMany(a, 5);
  await a.close();
  const [file] = await segmentFiles(dir);
  const path = join(dir, file as string);
  const bytes = await readFile(path);
  const recordBytes = HEADER_BYTES + 200;
  const at = 2 * recordBytes + HEADER_BYTES + 17; // one bit of seq 3's payload
  bytes[at] = (bytes[at] as number) ^ 0x40;
  await writeFile(path, bytes);

  const b = await open(dir);
  const s = b.stats();
  assert.equal(s.corruptRecords, 1);
  assert.equal(s.dropped.corrupt, 1);
  assert.deepEqual(b.pendingGaps(), [{ fromSeq: 3, toSeq: 3, count: 1, reason: 'corrupt' }]);
  const aside = await readdir(join(dir, 'corrupt'));
  assert.deepEqual(aside, [`${file}@${2 * recordBytes}.bad`]);
  assert.equal((await readFile(join(dir, 'corrupt', aside[0] as string))).length, recordBytes);
  await b.close();

  const c = await open(dir);
  assert.equal(c.stats().corruptRecords, 1, 'not counted again at the next open');
  assert.equal(c.pendingGaps().length, 1, 'not reported twice');
  assert.deepEqual(await drain(c), [1, 2, 4, 5]);
  await c.close();
});

test('a_whole_corrupt_segment_between_good_ones_becomes_a_gap_bounded_by_the_segment_names', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir, { segmentBytes: 2 * (HEADER_BYTES + 200) });
  await appendMany(a, 6);
  await a.close();
  const files = await segmentFiles(dir);
  assert.deepEqual(files, [segmentFileName(1), segmentFileName(3), segmentFileName(5)]);
  const middle = join(dir, files[1] as string);
  await writeFile(middle, Buffer.alloc((await stat(middle)).size, 0xab));

  const b = await open(dir, { segmentBytes: 2 * (HEADER_BYTES + 200) });
  assert.deepEqual(b.pendingGaps(), [{ fromSeq: 3, toSeq: 4, count: 2, reason: 'corrupt' }]);
  assert.deepEqual(await drain(b), [1, 2, 5, 6]);
  assert.equal(b.nextSeq(), 7);
  await b.close();
});

test('a_record_damaged_after_open_is_moved_aside_when_read_and_skipped', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir);
  await appendMany(a, 3);
  const [file] = await segmentFiles(dir);
  const path = join(dir, file as string);
  const bytes = await readFile(path);
  const at = HEADER_BYTES + 200 + HEADER_BYTES + 5; // seq 2's payload, behind the spool's back
  bytes[at] = (bytes[at] as number) ^ 0x01;
  await writeFile(path, bytes);

  assert.equal((await a.peek())?.seq, 1);
  await a.ack(1);
  assert.equal((await a.peek())?.seq, 3, 'seq 2 is skipped, not a crash and not a stuck queue');
  assert.equal(a.stats().corruptRecords, 1);
  assert.deepEqual(a.pendingGaps(), [{ fromSeq: 2, toSeq: 2, count: 1, reason: 'corrupt' }]);
  assert.equal((await readdir(join(dir, 'corrupt'))).length, 1);
  await a.close();

  const b = await open(dir);
  assert.equal(b.stats().corruptRecords, 1, 'known damage is not counted again');
  assert.deepEqual(await drain(b), [3]);
  await b.close();
});

test('seq_continues_after_restart_when_every_segment_was_deleted', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir);
  await appendMany(a, 5);
  assert.deepEqual(await drain(a), range(1, 5));
  await a.close();

  const b = await open(dir);
  assert.deepEqual(await segmentFiles(dir), [], 'no longer written, fully acknowledged: deleted at open');
  assert.equal(b.nextSeq(), 6);
  await b.close();

  const c = await open(dir);
  assert.equal(c.nextSeq(), 6, 'the seq floor lives in the state file');
  assert.equal(await c.append(payloadFor(6)), 6);
  await c.close();
});

test('segments_are_deleted_only_after_every_record_is_acknowledged', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir, { segmentBytes: 2 * (HEADER_BYTES + 200) });
  await appendMany(a, 5);
  const s1 = segmentFileName(1);
  const s3 = segmentFileName(3);
  const s5 = segmentFileName(5);
  assert.deepEqual(await segmentFiles(dir), [s1, s3, s5]);
  await a.ack(1);
  assert.deepEqual(
    await segmentFiles(dir),
    [s1, s3, s5],
    'seq 2 in the first segment is not acknowledged yet',
  );
  await a.ack(2);
  assert.deepEqual(await segmentFiles(dir), [s3, s5]);
  await a.ack(3);
  assert.deepEqual(await segmentFiles(dir), [s3, s5]);
  await a.ack(5); // acks are cumulative: 4 and 5
  assert.deepEqual(await segmentFiles(dir), [s5], 'the segment being written is never deleted');
  assert.equal(a.stats().pendingRecords, 0);
  await a.close();
});

test('the_oldest_segments_are_dropped_beyond_the_cap_and_reported_as_a_gap', async (t) => {
  const dir = await tempDir(t);
  const rec = HEADER_BYTES + 480; // 500 bytes per record, 2 per segment, 4 segments in the cap
  const opts = { segmentBytes: 2 * rec, maxBytes: 8 * rec };
  const a = await open(dir, opts);
  await appendMany(a, 10, 480);
  assert.deepEqual(a.pendingGaps(), [{ fromSeq: 1, toSeq: 2, count: 2, reason: 'spool-full' }]);
  assert.equal(a.stats().dropped['spool-full'], 2);
  assert.ok(a.stats().bytesOnDisk <= opts.maxBytes);
  assert.equal((await a.peek())?.seq, 3);
  await a.append(payloadFor(11, 480));
  assert.deepEqual(
    a.pendingGaps(),
    [{ fromSeq: 1, toSeq: 4, count: 4, reason: 'spool-full' }],
    'adjacent drops merge',
  );
  assert.equal(
    (await a.peek())?.seq,
    5,
    'the head the shipper had was dropped too; it moves on to the oldest kept',
  );
  await a.close();

  const b = await open(dir, opts);
  assert.deepEqual(
    b.pendingGaps(),
    [{ fromSeq: 1, toSeq: 4, count: 4, reason: 'spool-full' }],
    'gaps survive a restart',
  );
  assert.equal(b.stats().dropped['spool-full'], 4);
  assert.deepEqual(await drain(b, 480), range(5, 11));
  await b.close();
});

test('gaps_stay_pending_until_an_append_that_reports_them_is_durable', async (t) => {
  const dir = await tempDir(t);
  const rec = HEADER_BYTES + 480;
  const opts = { segmentBytes: 2 * rec, maxBytes: 8 * rec };
  const a = await open(dir, opts);
  await appendMany(a, 9, 480);
  assert.equal(a.pendingGaps().length, 1);
  await assert.rejects(a.append(payloadFor(10, 480), { gapsIncluded: 2 }), RangeError);
  await a.append(payloadFor(10, 480), { gapsIncluded: 1 });
  assert.deepEqual(a.pendingGaps(), []);
  await a.close();
  const b = await open(dir, opts);
  assert.deepEqual(b.pendingGaps(), [], 'cleared for good once the carrying batch was on disk');
  await b.close();
});

test('dead_lettered_batches_are_moved_aside_counted_and_not_sent_again', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir);
  await appendMany(a, 3);
  const head = await a.peek();
  assert.equal(head?.seq, 1);
  await a.deadLetter(1, 'HTTP 400: rows[0][2]: expected number');
  assert.equal((await a.peek())?.seq, 2);
  const s = a.stats();
  assert.equal(s.deadLettered, 1);
  assert.equal(s.dropped['dead-letter'], 1);
  assert.deepEqual(a.pendingGaps(), [{ fromSeq: 1, toSeq: 1, count: 1, reason: 'dead-letter' }]);
  const dl = join(dir, 'dead-letter');
  assert.deepEqual(await readFile(join(dl, '0000000000000001.batch')), payloadFor(1));
  const meta = JSON.parse(await readFile(join(dl, '0000000000000001.json'), 'utf8')) as { reason: string };
  assert.equal(meta.reason, 'HTTP 400: rows[0][2]: expected number');
  await a.close();

  const b = await open(dir);
  assert.equal((await b.peek())?.seq, 2);
  assert.equal(b.stats().deadLettered, 1);
  await b.close();
});

test('a_damaged_state_file_is_moved_aside_and_the_spool_still_opens', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir);
  await appendMany(a, 3);
  await a.ack(1);
  await a.close();
  await writeFile(join(dir, 'state.json'), '{"version":1,"ackedThr');
  const b = await open(dir);
  assert.equal(b.nextSeq(), 4, 'the seq floor comes from the segments');
  assert.deepEqual(await drain(b), [1, 2, 3], 'the position is lost: sent again, the server deduplicates');
  assert.ok((await readdir(join(dir, 'corrupt'))).some((n) => n.startsWith('state-')));
  await b.close();
});

test('acks_of_seqs_never_appended_are_refused', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir);
  await appendMany(a, 2);
  await assert.rejects(a.ack(3), RangeError);
  await assert.rejects(a.ack(0), RangeError);
  await a.ack(2);
  await a.ack(1); // a late duplicate ack is harmless
  assert.equal(a.stats().ackedSeq, 2);
  await a.close();
  await assert.rejects(a.append(payloadFor(3)), /closed/);
});

function chattr(flag: '+i' | '-i', ...paths: string[]): boolean {
  try {
    execFileSync('chattr', [flag, ...paths], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('a_read_only_directory_keeps_batches_in_memory_and_recovers', async (t) => {
  // Root ignores permission bits, but not the immutable attribute: `chattr +i` on the directory
  // and the segment makes every create, write and rename fail with a real EPERM from the kernel.
  const dir = await tempDir(t);
  const lines: string[] = [];
  const capture = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const a = await Spool.open({ dir, log: capture });
  await appendMany(a, 2);
  const [file] = await segmentFiles(dir);
  const segment = join(dir, file as string);
  if (!chattr('+i', dir, segment)) {
    t.skip('chattr +i is not available on this filesystem');
    await a.close();
    return;
  }
  try {
    await appendMany(a, 3);
    const s = a.stats();
    assert.equal(s.degraded?.kind, 'read-only');
    assert.match(s.degraded?.message ?? '', /EPERM|not permitted/);
    assert.equal(s.memoryRecords, 3);
    assert.equal(s.pendingRecords, 5);
    // The shipper goes on, disk and memory records in one order.
    assert.equal((await a.peek())?.seq, 1);
    await a.ack(1);
    assert.equal((await a.peek())?.seq, 2);
    const warnings = lines.filter((l) => l.includes('spool cannot write to disk'));
    assert.equal(warnings.length, 1, 'the condition is logged once, not per batch');
  } finally {
    chattr('-i', dir, segment);
  }
  assert.equal(await a.append(payloadFor(6)), 6);
  const s = a.stats();
  assert.equal(s.degraded, null, 'recovered by itself at the next append');
  assert.equal(s.memoryRecords, 0, 'in-memory batches were written out');
  assert.ok(lines.some((l) => l.includes('spool writes to disk again')));
  await a.close();

  const b = await open(dir);
  assert.deepEqual(await drain(b), range(2, 6), 'everything unacknowledged is on disk, in order');
  await b.close();
});

test('a_full_disk_keeps_batches_in_memory_and_drops_the_oldest_beyond_the_memory_limit', async (t) => {
  // A real ENOSPC without mount rights: every segment the spool will create next is a symlink to
  // /dev/full, whose writes always fail with ENOSPC.
  const dir = await tempDir(t);
  const opts = { segmentBytes: 300, memoryLimitBytes: 2 * 200 + 100 };
  const a = await open(dir, opts);
  await appendMany(a, 1);
  const full = range(2, 12).map((s) => join(dir, segmentFileName(s)));
  for (const p of full) await symlink('/dev/full', p);

  await appendMany(a, 3); // 2, 3, 4: memory holds two, the oldest (2) is dropped
  let s = a.stats();
  assert.equal(s.degraded?.kind, 'disk-full');
  assert.equal(s.memoryRecords, 2);
  assert.deepEqual(a.pendingGaps(), [{ fromSeq: 2, toSeq: 2, count: 1, reason: 'memory-full' }]);
  assert.equal(s.dropped['memory-full'], 1);
  assert.equal((await a.peek())?.seq, 1);
  await a.ack(1);
  assert.equal((await a.peek())?.seq, 3, 'the shipper can ship in-memory batches directly');

  // The spool may already have removed the one it abandoned (seq 2's, empty) once seq 1 was acked.
  for (const p of full) await rm(p, { force: true });
  await a.append(payloadFor(5));
  s = a.stats();
  assert.equal(s.degraded, null);
  assert.equal(s.memoryRecords, 0);
  await a.close();

  const b = await open(dir, opts);
  assert.deepEqual(await drain(b), [3, 4, 5]);
  assert.deepEqual(b.pendingGaps(), [{ fromSeq: 2, toSeq: 2, count: 1, reason: 'memory-full' }]);
  await b.close();
});

test('drains_a_backlog_of_10000_records_without_rescanning_files', async (t) => {
  const dir = await tempDir(t);
  const size = 1000;
  const a = await open(dir, { fsync: 'never', segmentBytes: 1024 * 1024 });
  for (let i = 1; i <= 10_000; i++) await a.append(payloadFor(i, size));
  await a.close();

  const b = await open(dir, { fsync: 'never' });
  const started = performance.now();
  let peekMs = 0;
  let n = 0;
  for (;;) {
    const t0 = performance.now();
    const rec = await b.peek();
    peekMs += performance.now() - t0;
    if (rec === undefined) break;
    if (rec.seq % 997 === 0) assert.deepEqual(rec.payload, payloadFor(rec.seq, size));
    await b.ack(rec.seq);
    n++;
  }
  const ms = performance.now() - started;
  t.diagnostic(
    `drained ${n} records in ${ms.toFixed(0)} ms (${((n / ms) * 1000).toFixed(0)}/s), of which peek ${peekMs.toFixed(0)} ms`,
  );
  assert.equal(n, 10_000);
  // A peek that rescanned its 1 MiB segment would cost ~1 ms each; an indexed read is ~0.05 ms.
  assert.ok(peekMs < 5_000, `peeks took ${peekMs} ms in total`);
  assert.ok(ms < 60_000, `draining took ${ms} ms`);
  assert.deepEqual(await segmentFiles(dir), [], 'all segments deleted once acknowledged');
  await b.close();
});

test('batches_held_in_memory_at_a_crash_are_reported_lost_and_their_seqs_not_reused', async (t) => {
  // Segment writes fail (ENOSPC via /dev/full) while the small state file still fits — as on a
  // nearly full disk — so the state records which seqs lived only in memory.
  const dir = await tempDir(t);
  const opts = { segmentBytes: 300 };
  const a = await open(dir, opts);
  await appendMany(a, 1);
  const full = range(2, 6).map((s) => join(dir, segmentFileName(s)));
  for (const p of full) await symlink('/dev/full', p);
  await appendMany(a, 3); // 2, 3, 4 in memory
  assert.equal(a.stats().memoryRecords, 3);
  // kill -9 now: the memory is gone. (Remove the traps first: a new start must find a sane dir.)
  for (const p of full) await rm(p, { force: true });

  const b = await open(dir, opts);
  assert.equal(b.nextSeq(), 5, 'seqs 2-4 may have reached the server: never handed out again');
  assert.deepEqual(b.pendingGaps(), [{ fromSeq: 2, toSeq: 4, count: 3, reason: 'memory-full' }]);
  assert.deepEqual(await drain(b), [1]);
  await b.close();
  await a.close();
});

test('every_fsync_policy_keeps_records_across_a_restart', async (t) => {
  for (const fsync of ['seal', 'interval', 'never'] as const) {
    const dir = await tempDir(t);
    const a = await open(dir, { fsync, fsyncIntervalMs: 10, segmentBytes: 1000 });
    await appendMany(a, 8, 300);
    await new Promise((r) => setTimeout(r, 30)); // let the interval flush run at least once
    await a.ack(2);
    await a.close();
    const b = await open(dir, { fsync });
    assert.deepEqual(await drain(b, 300), range(3, 8), `policy ${fsync}`);
    await b.close();
  }
});

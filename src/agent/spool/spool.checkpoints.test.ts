import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { silentLogger } from '../../log.js';
import type { SourceCheckpoint } from '../logs/positions.js';
import { encodeRecord } from './record.js';
import { Spool, type SpoolOptions, segmentFileName } from './spool.js';

const log = silentLogger();

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgvigil-spool-ckpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function open(dir: string, extra: Partial<SpoolOptions> = {}): Promise<Spool> {
  return Spool.open({ dir, log, ...extra });
}

function fileAt(seq: number, offset: number): SourceCheckpoint {
  return {
    kind: 'file',
    seq,
    files: [{ dev: '1', ino: '2', fp: 'ab', fpLen: 2, offset, path: '/var/log/app.log' }],
  };
}

const journal = (seq: number, cursor: string): SourceCheckpoint => ({ kind: 'journald', seq, cursor });

async function drain(spool: Spool): Promise<number[]> {
  const seen: number[] = [];
  for (let rec = await spool.peek(); rec !== undefined; rec = await spool.peek()) {
    seen.push(rec.seq);
    await spool.ack(rec.seq);
  }
  return seen;
}

test('checkpoints_come_back_from_the_newest_record_per_source_after_a_restart', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir, { segmentBytes: 400 });
  await a.append(Buffer.from('batch 1'), { checkpoints: { app: fileAt(1, 100) }, logLines: 3 });
  await a.append(Buffer.from('batch 2'), { checkpoints: { app: fileAt(2, 250), jd: journal(1, 'c1') } });
  await a.append(Buffer.from('batch 3 (rows only)'));
  await a.append(Buffer.from('batch 4'), { checkpoints: { jd: journal(2, 'c2') }, logLines: 1 });
  assert.deepEqual({ ...a.checkpoints() }, { app: fileAt(2, 250), jd: journal(2, 'c2') });
  // kill -9: no close, no state written since the appends.
  const b = await open(dir, { segmentBytes: 400 });
  assert.deepEqual({ ...b.checkpoints() }, { app: fileAt(2, 250), jd: journal(2, 'c2') });
  const peeked = await b.peek();
  assert.deepEqual(peeked?.payload, Buffer.from('batch 1'), 'the payload of a version-2 record is the batch');
  assert.deepEqual(await drain(b), [1, 2, 3, 4]);
  await b.close();
  await a.close();
});

test('checkpoints_survive_when_every_segment_holding_them_was_acknowledged_and_deleted', async (t) => {
  const dir = await tempDir(t);
  const a = await open(dir, { segmentBytes: 100 });
  await a.append(Buffer.from('x'), { checkpoints: { app: fileAt(7, 700) }, logLines: 1 });
  await a.append(Buffer.from('y')); // the first record fills its segment: this one starts the next
  assert.deepEqual(await drain(a), [1, 2]);
  await a.close();
  const segments = (await readdir(dir)).filter((n) => n.startsWith('segment-'));
  assert.ok(!segments.includes(segmentFileName(1)), 'the record holding the checkpoint is gone');
  const b = await open(dir, { segmentBytes: 100 });
  assert.deepEqual({ ...b.checkpoints() }, { app: fileAt(7, 700) });
  await b.close();
});

test('version_1_records_of_an_older_agent_still_recover_and_ship', async (t) => {
  const dir = await tempDir(t);
  const v1 = Buffer.concat([
    encodeRecord(1, Buffer.from('old one')),
    encodeRecord(2, Buffer.from('old two')),
  ]);
  await writeFile(join(dir, segmentFileName(1)), v1);
  const a = await open(dir);
  assert.equal(a.nextSeq(), 3);
  assert.deepEqual({ ...a.checkpoints() }, {});
  assert.deepEqual((await a.peek())?.payload, Buffer.from('old one'));
  await a.append(Buffer.from('new'), { checkpoints: { app: fileAt(1, 10) }, logLines: 1 });
  assert.deepEqual(await drain(a), [1, 2, 3]);
  await a.close();
});

test('positions_never_move_past_a_batch_held_in_memory_and_log_reading_pauses_until_the_disk_works', async (t) => {
  // Segment writes fail with ENOSPC (/dev/full) while the small state file still fits.
  const dir = await tempDir(t);
  const opts = { segmentBytes: 300 };
  const a = await open(dir, opts);
  await a.append(Buffer.from('on disk'), { checkpoints: { app: fileAt(1, 100) }, logLines: 1 });
  assert.equal(a.acceptsLogs(), true);
  const traps = [2, 3, 4, 5].map((s) => join(dir, segmentFileName(s)));
  for (const p of traps) await symlink('/dev/full', p);
  await a.append(Buffer.from('in memory'), { checkpoints: { app: fileAt(2, 200) }, logLines: 5 });
  let s = a.stats();
  assert.equal(s.memoryRecords, 1);
  assert.equal(s.degraded?.kind, 'disk-full');
  assert.equal(s.logsPaused, true);
  assert.equal(s.logPauses, 1);
  assert.equal(a.acceptsLogs(), false);
  assert.deepEqual({ ...a.checkpoints() }, { app: fileAt(1, 100) }, 'not past the in-memory batch');
  assert.equal(await a.retryDisk(), false, 'still full');

  // kill -9 now: a restart resumes from the checkpoint on disk, so the 5 lines are read again.
  for (const p of traps) await rm(p, { force: true });
  const b = await open(dir, opts);
  assert.deepEqual({ ...b.checkpoints() }, { app: fileAt(1, 100) });
  assert.equal(b.stats().droppedLogLines, 0, 'lines of a batch lost from memory are read again, not lost');
  await b.close();

  // Without the kill: the disk works again, the batch is written out and its checkpoint counts.
  assert.equal(await a.retryDisk(), true);
  s = a.stats();
  assert.equal(s.logsPaused, false);
  assert.equal(s.memoryRecords, 0);
  assert.deepEqual({ ...a.checkpoints() }, { app: fileAt(2, 200) });
  await a.close();
});

test('log_lines_of_batches_dropped_beyond_the_memory_bound_are_counted_as_lines', async (t) => {
  const dir = await tempDir(t);
  const opts = { segmentBytes: 300, memoryLimitBytes: 250 };
  const a = await open(dir, opts);
  const traps = [1, 2, 3, 4, 5, 6].map((s) => join(dir, segmentFileName(s)));
  for (const p of traps) await symlink('/dev/full', p);
  await a.append(Buffer.alloc(100, 1), { checkpoints: { app: fileAt(1, 100) }, logLines: 7 });
  await a.append(Buffer.alloc(100, 2)); // rows only
  await a.append(Buffer.alloc(100, 3)); // rows only: over the bound, the oldest rows-only batch goes
  let s = a.stats();
  assert.equal(s.dropped['memory-full'], 1);
  assert.equal(s.droppedLogLines, 0, 'a batch without log lines is dropped first');
  await a.append(Buffer.alloc(100, 4));
  await a.append(Buffer.alloc(100, 5));
  s = a.stats();
  assert.ok(s.memoryBytes <= 250);
  // Two log batches (lines read just before the pause): the older one has to go.
  await a.append(Buffer.alloc(240, 6), { checkpoints: { app: fileAt(2, 200) }, logLines: 2 });
  s = a.stats();
  assert.equal(s.droppedLogLines, 7);
  for (const p of traps) await rm(p, { force: true });
  await a.close();
});

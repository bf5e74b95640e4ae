import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../log.js';
import { scanSegment } from './record.js';
import { Spool } from './spool.js';
import { parseState } from './state.js';

/**
 * Deterministic payload per seq with sizes from 100 B to ~24 KB, so records straddle segment
 * boundaries at varied offsets. Passed to the child process as source text: it must stay
 * self-contained.
 */
function crashPayload(seq: number): Buffer {
  const size = 100 + ((seq * 7919) % 24_000);
  const b = Buffer.alloc(size);
  b.writeUInt32LE(seq, 0);
  for (let i = 4; i < size; i++) b[i] = (seq + i * 13) & 0xff;
  return b;
}

const SEGMENT_BYTES = 64 * 1024;

/**
 * The child: appends in a loop (the batcher) and ships 2 of every 3 (the shipper: peek, check, ack),
 * so a backlog grows, segments rotate and get deleted. It reports each append and ack only after
 * the call resolved, with a synchronous write to a pipe, so what the parent reads is exactly what
 * the spool had promised when the SIGKILL came.
 */
const childSource = (spoolUrl: string, logUrl: string): string => `
import { writeSync } from 'node:fs';
import { Spool } from ${JSON.stringify(spoolUrl)};
import { silentLogger } from ${JSON.stringify(logUrl)};
const crashPayload = ${crashPayload.toString()};
const spool = await Spool.open({ dir: process.argv[1], log: silentLogger(), segmentBytes: ${SEGMENT_BYTES} });
writeSync(1, 'open ' + spool.nextSeq() + '\\n');
for (let i = 0; ; i++) {
  const seq = await spool.append(crashPayload(spool.nextSeq()));
  writeSync(1, 'appended ' + seq + '\\n');
  if (i % 3 !== 2) {
    const head = await spool.peek();
    if (head === undefined) continue;
    if (!head.payload.equals(crashPayload(head.seq))) {
      writeSync(1, 'bad ' + head.seq + '\\n');
      process.exit(3);
    }
    writeSync(1, 'sending ' + head.seq + '\\n');
    await spool.ack(head.seq);
    writeSync(1, 'acked ' + head.seq + '\\n');
  }
}
`;

interface Round {
  opened: number;
  appended: number[];
  sent: number[];
  acked: number[];
}

async function runChildUntilKilled(source: string, dir: string, delayMs: number): Promise<Round> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', source, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => {
    child.on('exit', (code, signal) => resolve(signal ?? code));
  });
  // Kill at a random moment after the child started appending (open → recovery included).
  await new Promise<void>((resolve) => {
    const started = (): void => {
      if (out.includes('open ')) {
        child.stdout.off('data', started);
        setTimeout(resolve, delayMs);
      }
    };
    child.stdout.on('data', started);
    void exited.then(() => resolve());
  });
  child.kill('SIGKILL');
  const how = await exited;
  assert.equal(how, 'SIGKILL', `child ended on its own (${String(how)}): ${err}\n${out.slice(-500)}`);
  const round: Round = { opened: 0, appended: [], sent: [], acked: [] };
  for (const line of out.split('\n')) {
    const [word, n] = line.split(' ');
    const seq = Number(n);
    if (word === 'open') round.opened = seq;
    else if (word === 'appended') round.appended.push(seq);
    else if (word === 'sending') round.sent.push(seq);
    else if (word === 'acked') round.acked.push(seq);
    else if (word === 'bad') assert.fail(`child read a wrong payload for seq ${seq}`);
  }
  return round;
}

/** What is on disk, read without opening a Spool (which would repair it): records and damage. */
async function inspect(dir: string) {
  const names = (await readdir(dir)).filter((n) => n.startsWith('segment-')).sort();
  const state = parseState(
    await readFile(join(dir, 'state.json'), 'utf8').catch(
      () =>
        '{"version":1,"ackedThrough":0,"nextSeq":1,"memoryFrom":null,"gaps":[],"counters":{},"quarantined":[]}',
    ),
  );
  const quarantined = new Set(state.quarantined.map((q) => `${q.segment}@${q.offset}`));
  const records: Array<{ seq: number; payload: Buffer }> = [];
  let last = 0;
  for (const [i, name] of names.entries()) {
    const buf = await readFile(join(dir, name));
    const scan = scanSegment(buf, last);
    for (const r of scan.records) {
      records.push({ seq: r.seq, payload: buf.subarray(r.offset + 20, r.offset + 20 + r.payloadLength) });
      last = r.seq;
    }
    for (const bad of scan.bad) {
      // A kill can tear only the record being written, at the end of the newest segment (or one
      // already recorded as handled, when the kill came between recording and cutting it off).
      const allowed = bad.toEof && (i === names.length - 1 || quarantined.has(`${name}@${bad.offset}`));
      assert.ok(allowed, `unexpected damage in ${name} at ${bad.offset} (${bad.reason})`);
    }
  }
  return { state, records };
}

test('kill_9_during_append_loses_nothing_acknowledged_and_doubles_nothing', {
  timeout: 240_000,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pgvigil-spool-crash-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const source = childSource(
    new URL('./spool.js', import.meta.url).href,
    new URL('../../log.js', import.meta.url).href,
  );

  const everAppended = new Set<number>();
  const everAcked: number[] = [];
  /** Seqs whose ack was in flight at a kill and turned out to have been persisted. */
  const inFlightAcked = new Set<number>();
  let lastAcked = 0;
  let totalAppends = 0;

  for (let round = 0; round < 20; round++) {
    const r = await runChildUntilKilled(source, dir, 20 + Math.floor(Math.random() * 400));
    totalAppends += r.appended.length;
    // Seqs are never reused: this run started after everything any earlier run had appended.
    for (const s of r.appended) {
      assert.ok(!everAppended.has(s), `seq ${s} handed out twice`);
      everAppended.add(s);
    }
    for (const s of r.acked) {
      assert.ok(s > lastAcked, `seq ${s} was acknowledged before (doubled)`);
      lastAcked = s;
      everAcked.push(s);
    }

    const { state, records } = await inspect(dir);
    // Nothing acknowledged is sent again, except the one ack in flight at the kill.
    const inFlight = r.sent.length > r.acked.length ? r.sent[r.sent.length - 1] : undefined;
    assert.ok(
      state.ackedThrough >= lastAcked,
      `state says ${state.ackedThrough}, ${lastAcked} was acknowledged`,
    );
    assert.ok(
      state.ackedThrough === lastAcked || state.ackedThrough === inFlight,
      `state moved to ${state.ackedThrough} beyond any ack made (last ${lastAcked}, in flight ${inFlight})`,
    );
    if (state.ackedThrough !== lastAcked && inFlight !== undefined) {
      inFlightAcked.add(inFlight);
      lastAcked = inFlight;
    }
    // Nothing unacknowledged is lost, and what is there is intact and in order.
    const pending = records.filter((x) => x.seq > state.ackedThrough);
    for (const x of pending)
      assert.ok(x.payload.equals(crashPayload(x.seq)), `payload of seq ${x.seq} differs`);
    const pendingSeqs = pending.map((x) => x.seq);
    for (let i = 1; i < pendingSeqs.length; i++) {
      assert.equal(pendingSeqs[i], (pendingSeqs[i - 1] as number) + 1, 'pending seqs are contiguous');
    }
    const wanted = [...everAppended].filter((s) => s > state.ackedThrough).sort((a, b) => a - b);
    for (const s of wanted)
      assert.ok(pendingSeqs.includes(s), `seq ${s} was appended, not acknowledged, and is gone`);
    if (pendingSeqs.length > 0)
      assert.equal(pendingSeqs[0], state.ackedThrough + 1, 'the head follows the position');
  }
  assert.ok(
    totalAppends > 100,
    `only ${totalAppends} appends in 20 rounds: the kills came too early to test much`,
  );

  // The parent opens it like the next agent start would: recovery, then the full picture.
  const spool = await Spool.open({ dir, log: silentLogger(), segmentBytes: SEGMENT_BYTES });
  assert.deepEqual(spool.pendingGaps(), [], 'kills lose no handed-out seq, so there is no gap to report');
  const maxAppended = Math.max(...everAppended);
  assert.ok(spool.nextSeq() > maxAppended && spool.nextSeq() <= maxAppended + 2);
  const rest: number[] = [];
  for (let rec = await spool.peek(); rec !== undefined; rec = await spool.peek()) {
    assert.ok(rec.payload.equals(crashPayload(rec.seq)));
    rest.push(rec.seq);
    await spool.ack(rec.seq);
  }
  // Every seq ever handed out was acknowledged exactly once, or is still there to be sent.
  const delivered = new Set([...everAcked, ...inFlightAcked, ...rest]);
  assert.equal(delivered.size, everAcked.length + inFlightAcked.size + rest.length, 'no seq delivered twice');
  for (const s of everAppended) assert.ok(delivered.has(s), `seq ${s} never delivered`);
  t.diagnostic(
    `${totalAppends} appends, ${everAcked.length} acks over 20 kills; ${rest.length} left at the end; ` +
      `acks in flight at a kill that had landed: ${inFlightAcked.size}; torn records found: ${spool.stats().corruptRecords}`,
  );
  await spool.close();
});

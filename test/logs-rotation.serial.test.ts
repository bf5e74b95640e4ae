/**
 * File tailing across everything that happens to log files, with real files: rename-and-create rotation,
 * copy-and-truncate, truncation while stopped, deletion, new files matching a glob, inode reuse, a partial
 * line at shutdown, and an agent killed (SIGKILL) between the spool write and the position save. Each
 * case checks that the spool holds every written line exactly once, in order.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { PositionStore } from '../src/agent/logs/positions.js';
import { logLine, startTestAgent, type TestAgent } from './helpers/log-agent.js';
import { FileSpool } from './helpers/logs.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgvigil-tail-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const expected = (label: string, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `${label}-${String(from + i).padStart(6, '0')}`);

function write(path: string, label: string, from: number, to: number): void {
  let text = '';
  for (let n = from; n <= to; n++) text += logLine(label, n);
  appendFileSync(path, text);
}

/** Steps the agent until nothing new arrives for a few rounds (rotated files wait out rotateWaitMs). */
async function drain(agent: TestAgent, quietRounds = 4): Promise<void> {
  let quiet = 0;
  while (quiet < quietRounds) {
    const n = await agent.step();
    quiet = n === 0 ? quiet + 1 : 0;
    await sleep(40);
  }
}

async function spooled(agent: TestAgent): Promise<string[]> {
  return agent.spool.messages();
}

function assertExactlyOnce(actual: string[], wanted: string[]): void {
  const seen = new Set<string>();
  const dupes: string[] = [];
  for (const m of actual) {
    if (seen.has(m)) dupes.push(m);
    seen.add(m);
  }
  const want = new Set(wanted);
  const missing = wanted.filter((m) => !seen.has(m));
  const extra = actual.filter((m) => !want.has(m));
  const show = (xs: string[]) => `${xs.length} (${xs.slice(0, 5).join(', ')}${xs.length > 5 ? ', …' : ''})`;
  assert.equal(dupes.length, 0, `lines doubled: ${show(dupes)}`);
  assert.equal(missing.length, 0, `lines lost: ${show(missing)}`);
  assert.equal(extra.length, 0, `unexpected lines: ${show(extra)}`);
  const firstOutOfOrder = actual.findIndex((m, i) => m !== wanted[i]);
  assert.equal(firstOutOfOrder, -1, `out of order at ${firstOutOfOrder}: ${actual[firstOutOfOrder]}`);
}

describe('file tailing', () => {
  test('drains_the_old_file_first_after_rename_and_create', async () => {
    const log = join(dir, 'app.log');
    write(log, 'a', 1, 100);
    const agent = await startTestAgent(dir, [log]);
    await agent.step();
    write(log, 'a', 101, 150); // not read yet when the rotation happens
    renameSync(log, `${log}.1`);
    write(`${log}.1`, 'a', 151, 160); // the writer still had the old file open
    write(log, 'b', 1, 50);
    await drain(agent);
    write(log, 'b', 51, 60);
    await drain(agent);
    assertExactlyOnce(await spooled(agent), [...expected('a', 1, 160), ...expected('b', 1, 60)]);
    await agent.stop();
  });

  test('reads_the_copy_then_starts_over_after_copytruncate', async () => {
    const log = join(dir, 'app.log');
    write(log, 'a', 1, 100);
    const agent = await startTestAgent(dir, [log]);
    await agent.step();
    write(log, 'a', 101, 150); // written after our last read, before the copy
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    write(log, 'b', 1, 40);
    await drain(agent);
    assertExactlyOnce(await spooled(agent), [...expected('a', 1, 150), ...expected('b', 1, 40)]);
    await agent.stop();
  });

  test('reads_a_file_truncated_while_stopped_from_its_start', async () => {
    const log = join(dir, 'app.log');
    write(log, 'a', 1, 100);
    let agent = await startTestAgent(dir, [log]);
    await drain(agent);
    await agent.stop();
    truncateSync(log, 0);
    write(log, 'b', 1, 10); // shorter than the saved offset
    agent = await startTestAgent(dir, [log]);
    await drain(agent);
    await agent.stop();
    truncateSync(log, 0);
    write(log, 'c', 1, 300); // longer than the saved offset: only the first bytes tell
    agent = await startTestAgent(dir, [log]);
    await drain(agent);
    assertExactlyOnce(await spooled(agent), [
      ...expected('a', 1, 100),
      ...expected('b', 1, 10),
      ...expected('c', 1, 300),
    ]);
    await agent.stop();
  });

  test('drains_a_deleted_file_and_then_forgets_it', async () => {
    const log = join(dir, 'app.log');
    write(log, 'a', 1, 20);
    const agent = await startTestAgent(dir, [log]);
    await agent.step();
    write(log, 'a', 21, 40);
    unlinkSync(log);
    await drain(agent);
    assertExactlyOnce(await spooled(agent), expected('a', 1, 40));
    const batch = await agent.source.read();
    assert.equal(
      batch.checkpoint.kind === 'file' && batch.checkpoint.files.length,
      0,
      'the deleted file is forgotten',
    );
    await agent.stop();
  });

  test('reads_new_files_matching_the_glob_from_their_start', async () => {
    const agent = await startTestAgent(dir, [join(dir, '*.log')]);
    write(join(dir, 'first.log'), 'a', 1, 5);
    await drain(agent);
    write(join(dir, 'second.log'), 'b', 1, 5);
    write(join(dir, 'ignored.txt'), 'x', 1, 5);
    await drain(agent);
    assertExactlyOnce(await spooled(agent), [...expected('a', 1, 5), ...expected('b', 1, 5)]);
    await agent.stop();
  });

  test('does_not_mistake_a_reused_inode_for_the_same_file', async (t) => {
    const log = join(dir, 'app.log');
    write(log, 'a', 1, 50);
    let agent = await startTestAgent(dir, [log]);
    await drain(agent);
    await agent.stop();
    const oldIno = statSync(log).ino;
    unlinkSync(log);
    // ext4 hands a freed inode number to a later file once the freeing transaction is committed: sync,
    // then create candidates (kept, so each takes the next free number) until one gets it; a few rounds,
    // since the allocator does not always start where the freed number is.
    let reused = false;
    for (let round = 0; round < 5 && !reused; round++) {
      spawnSync('sync');
      const made: string[] = [];
      for (let i = 0; i < 600 && !reused; i++) {
        const p = join(dir, `candidate-${round}-${i}`);
        writeFileSync(p, '');
        if (statSync(p).ino === oldIno) {
          renameSync(p, log);
          reused = true;
        } else {
          made.push(p);
          if (i % 100 === 99) spawnSync('sync');
        }
      }
      for (const p of made) unlinkSync(p);
    }
    if (!reused) {
      t.skip(`SKIPPED: this filesystem did not reuse inode ${oldIno} in 5 rounds of 600 new files`);
      return;
    }
    write(log, 'b', 1, 80); // longer than the old offset, so size alone would not tell
    agent = await startTestAgent(dir, [log]);
    await drain(agent);
    assertExactlyOnce(await spooled(agent), [...expected('a', 1, 50), ...expected('b', 1, 80)]);
    await agent.stop();
  });

  test('skips_a_torn_last_line_until_it_is_complete', async () => {
    const log = join(dir, 'app.log');
    write(log, 'a', 1, 3);
    const torn = logLine('a', 4);
    appendFileSync(log, torn.slice(0, 20));
    let agent = await startTestAgent(dir, [log]);
    await drain(agent);
    assertExactlyOnce(await spooled(agent), expected('a', 1, 3));
    const positions = JSON.parse(readFileSync(join(dir, 'positions.json'), 'utf8'));
    assert.equal(
      positions.sources.app.files[0].offset,
      logLine('a', 1).length * 3,
      'the torn line is not in the position',
    );
    await agent.stop(); // shutdown with the line still partial
    appendFileSync(log, torn.slice(20));
    write(log, 'a', 5, 6);
    agent = await startTestAgent(dir, [log]);
    await drain(agent);
    assertExactlyOnce(await spooled(agent), expected('a', 1, 6));
    await agent.stop();
  });

  test('finishes_a_file_rotated_away_while_stopped', async () => {
    const log = join(dir, 'app.log');
    write(log, 'a', 1, 30);
    let agent = await startTestAgent(dir, [log]);
    await drain(agent);
    await agent.stop();
    write(log, 'a', 31, 60);
    renameSync(log, `${log}.1`);
    write(log, 'b', 1, 30);
    agent = await startTestAgent(dir, [log]);
    await drain(agent);
    assertExactlyOnce(await spooled(agent), [...expected('a', 1, 60), ...expected('b', 1, 30)]);
    await agent.stop();
  });

  test('loses_and_doubles_nothing_when_killed_between_spool_write_and_position_save', async () => {
    const log = join(dir, 'app.log');
    const child = fileURLToPath(new URL('./helpers/log-agent-child.js', import.meta.url));
    const start = async (): Promise<ChildProcess> => {
      const c = spawn(process.execPath, [child, dir, join(dir, 'app.log*')], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await once(c.stdout!, 'data');
      return c;
    };
    const total = 3000;
    let n = 0;
    let rotations = 0;
    let kills = 0;
    let inWindow = 0;
    // The spool holds a newer checkpoint than the positions file: the kill came after the spool write
    // and before the position save — the window this test is about.
    const killedBeforePositionSave = async () => {
      const inSpool = (await new FileSpool(join(dir, 'spool.ndjson')).lastCheckpoint(false))?.seq ?? 0;
      const saved = (await PositionStore.open(join(dir, 'positions.json'))).get('app')?.seq ?? 0;
      return inSpool > saved;
    };
    let proc = await start();
    const fd = { current: openSync(log, 'a') };
    while (n < total) {
      const burst = 1 + Math.floor(Math.random() * 60);
      for (let i = 0; i < burst && n < total; i++) writeSync(fd.current, logLine('k', ++n));
      if (Math.random() < 0.05) {
        // Rotate by rename and create. Rotated files are kept: deleting a file the agent has not read
        // yet (it may be down right then) loses its lines whatever the agent does.
        closeSync(fd.current);
        renameSync(log, `${log}.${rotations + 1}`);
        fd.current = openSync(log, 'a');
        rotations++;
      }
      await sleep(Math.random() * 8);
      if (Math.random() < 0.15) {
        proc.kill('SIGKILL');
        await once(proc, 'exit');
        kills++;
        if (await killedBeforePositionSave()) inWindow++;
        proc = await start();
      }
    }
    closeSync(fd.current);
    const deadline = Date.now() + 30_000;
    const spool = (await startTestAgent(dir, [join(dir, 'app.log*')])).spool;
    for (;;) {
      const msgs = await spool.messages();
      if (msgs.length >= total || Date.now() > deadline) break;
      await sleep(100);
    }
    await sleep(300);
    proc.kill('SIGKILL');
    await once(proc, 'exit');
    assert.ok(kills >= 5, `the agent was killed ${kills} times`);
    assert.ok(
      inWindow >= 1,
      `${inWindow} of ${kills} kills fell between the spool write and the position save`,
    );
    const msgs = await spool.messages();
    const wanted = expected('k', 1, total);
    // Rotation with a glob matching both names may reorder lines across the two files; the contract is
    // exactly once, and order within a file.
    assertExactlyOnce([...msgs].sort(), wanted);
    assert.ok(rotations >= 1, `the log was rotated ${rotations} times`);
  });
});

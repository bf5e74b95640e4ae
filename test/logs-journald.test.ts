/**
 * journald source against the real journalctl, reading journal files written by systemd-journal-remote
 * (the machine running the tests need not run journald). Needs Debian's systemd (journalctl) and
 * systemd-journal-remote: skipped with a visible message without them, failed under CI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { JournaldLogSource } from '../src/agent/logs/pipeline.js';
import { PositionStore } from '../src/agent/logs/positions.js';
import type { JournaldSourceConfig } from '../src/agent/logs/sources.js';

const journalRemote = '/lib/systemd/systemd-journal-remote';
const hasJournalctl = spawnSync('journalctl', ['--version']).status === 0;
const missing = !hasJournalctl
  ? 'journalctl'
  : !existsSync(journalRemote)
    ? 'systemd-journal-remote'
    : undefined;
const skip =
  missing && process.env.CI !== 'true'
    ? `SKIPPED: ${missing} is not installed (apt-get install systemd systemd-journal-remote)`
    : false;
if (skip) process.stdout.write(`\n${skip}\n\n`);

/** Writes entries [from, to) into a new journal file in `dir`, through the journal export format. */
function writeJournal(dir: string, name: string, from: number, to: number): void {
  const parts: Buffer[] = [];
  const base = Date.now() * 1000;
  for (let i = from; i < to; i++) {
    parts.push(
      Buffer.from(
        `__REALTIME_TIMESTAMP=${base + i}\n__MONOTONIC_TIMESTAMP=${1000 + i}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n` +
          `PRIORITY=${i % 10 === 3 ? 3 : 6}\nSYSLOG_IDENTIFIER=pgvigil-test\n_SYSTEMD_UNIT=pgvigil-test.service\n_PID=42\n`,
      ),
    );
    if (i % 10 === 1) {
      // Coloured output is stored as bytes; journalctl prints such a MESSAGE as an array of numbers.
      const msg = Buffer.from(`\u001b[31mentry ${i}\u001b[0m coloured`);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(msg.length));
      parts.push(Buffer.from('MESSAGE\n'), len, msg, Buffer.from('\n'));
    } else {
      parts.push(Buffer.from(`MESSAGE=entry ${i}\n`));
    }
    parts.push(Buffer.from('\n'));
  }
  const exportFile = join(dir, `${name}.export`);
  writeFileSync(exportFile, Buffer.concat(parts));
  const r = spawnSync(journalRemote, [`--output=${join(dir, 'journal', `${name}.journal`)}`, exportFile]);
  assert.equal(r.status, 0, r.stderr.toString());
}

describe('journald source', { skip }, () => {
  let dir: string;
  before(() => {
    assert.equal(missing, undefined, `${missing} is required under CI`);
    dir = mkdtempSync(join(tmpdir(), 'pgvigil-journal-'));
    spawnSync('mkdir', ['-p', join(dir, 'journal')]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cfg = (): JournaldSourceConfig => ({
    name: 'journal',
    kind: 'journald',
    extraArgs: [`--directory=${join(dir, 'journal')}`],
  });

  test('reads_only_the_last_100_entries_on_the_first_run_then_follows_the_saved_cursor', async () => {
    writeJournal(dir, 'a', 0, 150);
    const positions = join(dir, 'positions.json');
    let source = new JournaldLogSource(cfg(), { store: await PositionStore.open(positions) });
    const first = await source.read();
    assert.equal(first.entries.length, 100);
    assert.equal(first.entries[0]!.message, 'entry 50');
    assert.equal(first.entries.at(-1)!.message, 'entry 149');
    const coloured = first.entries.find((e) => e.message.startsWith('entry 51'))!;
    assert.equal(coloured.message, 'entry 51 coloured', 'byte-array MESSAGE decoded, ANSI stripped');
    assert.equal(first.entries.find((e) => e.message === 'entry 53')!.level, 'error');
    assert.equal(first.entries[0]!.component, 'pgvigil-test');
    assert.equal(first.entries[0]!.context.unit, 'pgvigil-test.service');
    assert.equal(
      first.entries[0]!.context.cursor,
      undefined,
      'the cursor is the checkpoint, not entry context',
    );
    await first.commit();

    writeJournal(dir, 'b', 150, 160);
    // A restart: a new source resumes after the saved cursor.
    source = new JournaldLogSource(cfg(), { store: await PositionStore.open(positions) });
    const second = await source.read();
    assert.deepEqual(
      second.entries.map((e) => e.message),
      Array.from({ length: 10 }, (_, i) => (i === 1 ? 'entry 151 coloured' : `entry ${150 + i}`)),
    );
    // Not committed (the spool write "failed"): after a restart the same entries come again.
    source = new JournaldLogSource(cfg(), { store: await PositionStore.open(positions) });
    const again = await source.read();
    assert.equal(again.entries.length, 10);
    await again.commit();
    const none = await new JournaldLogSource(cfg(), { store: await PositionStore.open(positions) }).read();
    assert.equal(none.entries.length, 0);
  });

  test('reports_a_journalctl_failure_as_an_error_of_the_read', async () => {
    const source = new JournaldLogSource(
      { name: 'bad', kind: 'journald', extraArgs: ['--directory=/nonexistent/journal', '--no-such-flag'] },
      { store: await PositionStore.open(join(dir, 'p2.json')) },
    );
    await assert.rejects(source.read(), /journalctl exited/);
  });
});

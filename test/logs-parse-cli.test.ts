/** `pgvigil logs parse` as a user runs it: streaming NDJSON out, clear errors, quiet in a closed pipe. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { LogEntry } from '../src/protocol/logs.js';
import { binPath } from './helpers/cli.js';
import { runLogsParse } from './helpers/logs.js';
import { until } from './helpers/wait.js';

const line = (n: number) =>
  `2026-11-22 10:00:00.${String(n % 1000).padStart(3, '0')} UTC [${n}] bob@db LOG:  duration: 0.${n} ms  statement: SELECT ${n}\n`;

describe('pgvigil logs parse', () => {
  test('prints_entries_while_the_input_is_still_open', async () => {
    const child = spawn(
      process.execPath,
      [binPath, 'logs', 'parse', '--parser', 'postgresql', '--timezone', 'UTC'],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // Enough lines to pass the output buffer, then wait with stdin still open.
    let text = '';
    for (let i = 0; i < 5000; i++) text += line(i);
    child.stdin.write(text);
    await until(() => out.split('\n').length >= 1000, 10_000, 'entries printed before stdin closed');
    child.stdin.end(line(5000));
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
    const entries = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as LogEntry);
    assert.equal(entries.length, 5001);
    assert.equal(entries[5000]!.context.statement, 'SELECT 5000');
    assert.equal(entries[0]!.context.event, 'slow_statement');
  });

  test('refuses_an_unknown_parser_and_lists_the_known_ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgvigil-cli-'));
    try {
      const f = join(dir, 'in.log');
      writeFileSync(f, 'x\n');
      const r = await runLogsParse(['--parser', 'nope'], f);
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /unknown parser "nope"; choose one of: postgresql, postgresql_csv, postgresql_json, syslog/,
      );
      const tz = await runLogsParse(['--parser', 'syslog', '--timezone', 'Mars/Olympus'], f);
      assert.equal(tz.code, 2);
      assert.match(tz.stderr, /unknown time zone/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('ends_quietly_when_the_reader_closes_the_pipe', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgvigil-cli-'));
    try {
      const f = join(dir, 'big.log');
      let text = '';
      for (let i = 0; i < 100_000; i++) text += line(i);
      writeFileSync(f, text);
      const child = spawn(
        'sh',
        ['-c', `"${process.execPath}" "${binPath}" logs parse --parser postgresql < "${f}" | head -n 3`],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
      assert.equal(out.trim().split('\n').length, 3);
      assert.equal(err, '', 'no stack trace for a closed pipe');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

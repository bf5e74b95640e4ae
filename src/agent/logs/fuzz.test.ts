/**
 * Property tests: whatever bytes arrive, no parser, the assembler or the classifier throws, and every
 * entry is well formed (a known level, a string message, a valid time, JSON-safe context, a fingerprint).
 * Inputs: random bytes, every truncation of real sample lines, and random mutations of them. The PRNG is
 * seeded (PGVIGIL_FUZZ_SEED to replay a failure) so a failure can be reproduced.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isLogLevel, type LogEntry } from '../../protocol/logs.js';
import { EntryAssembler } from './assemble.js';
import { classifyPostgresEvent } from './classify.js';
import { normaliseMessage } from './fingerprint.js';
import { parsers } from './parsers/index.js';

const seed = Number(process.env.PGVIGIL_FUZZ_SEED ?? Date.now() % 1_000_000);

function prng(s: number): () => number {
  let x = s >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const samples = [
  '2026-11-22 10:00:00.123 UTC [42] bob@db LOG:  duration: 1.5 ms  statement: SELECT 1',
  '2026-11-22 10:00:00.123 UTC [42] bob@db DETAIL:  Process 1 waits for ShareLock on transaction 5; blocked by process 2.',
  '\tcontinued line',
  '2026-11-22 10:00:00.123 UTC,"bob","db",4242,"127.0.0.1:5555",6740a1b2.1092,3,"SELECT",2026-11-22 09:00:00 UTC,3/4,0,ERROR,22012,"division by zero",,,,,,"SELECT 1/0",,,"psql","client backend",,0',
  '{"timestamp":"2026-11-22 10:00:00.500 UTC","pid":5,"error_severity":"LOG","message":"checkpoint complete: wrote 3 buffers (0.0%); write=0.1 s, sync=0.0 s, total=0.1 s"}',
  '<34>1 2026-10-11T22:14:15.003Z mymachine su 77 ID47 [a@1 b="c"] msg',
  'Nov 22 10:00:01 db1 sshd[811]: Failed password for invalid user x from 1.2.3.4 port 5 ssh2',
  '[Wed Oct 11 14:32:52.123456 2026] [core:error] [pid 35708:tid 4328636416] [client 1.2.3.4:50504] AH00037: x',
  '2026/11/22 03:04:05 [crit] 1234#5678: *9 failed, client: 10.0.0.1, request: "GET / HTTP/1.1"',
  '[2026-11-22 10:00:00] ERROR: health check failed',
  '2026-11-22 10:00:00,123 fail2ban.actions        [812]: NOTICE  [sshd] Ban 198.51.100.4',
  '2026-11-22 10:00:00,001:ERROR:certbot._internal.renewal:Failed to renew',
  '{"MESSAGE":[27,91,51,50,109,104,105],"PRIORITY":"3","__REALTIME_TIMESTAMP":"1795345872345678"}',
  'automatic vacuum of table "a.b.c": index scans: 0\npages: 0 removed, 1 remain',
  'process 1 still waiting for ShareLock on transaction 5 after 1000.0 ms',
  '<172>Dec  3 07:45:49 vm postgres[2045]: [4-3] #011  FROM generate_series(1,2)',
  '<172>1 2026-12-03T07:45:49.941125+00:00 vm postgres 2045 - -  [4-2] 2026-12-03 07:45:49.936 UTC [2045] u@d STATEMENT:  SELECT 1',
  '2026-12-03 07:50:05 UTC:2001:db8::5(51240):bob@app:[2046]:ERROR:  division by zero',
  '{"level":"info","ts":1619781249.7188137,"logger":"postgres","msg":"record","record":{"log_time":"2026-12-03 07:50:00.100 UTC","process_id":"1","error_severity":"LOG","message":"checkpoint starting: time"}}',
  '{"textPayload":"2026-12-03 07:50:00.100 UTC [1]: [1-1] db=a,user=b LOG:  x\\n\\ty","timestamp":"2026-12-03T07:50:00Z","resource":{"labels":{"database_id":"p:i"}}}',
  '{"jsonPayload":{"message":"LOG:  y"},"timestamp":"2026-12-03T07:50:00Z"}',
];

function checkEntry(e: LogEntry, input: string): void {
  const where = `seed ${seed}, input ${JSON.stringify(input).slice(0, 200)}`;
  assert.ok(isLogLevel(e.level), `level ${e.level}: ${where}`);
  assert.equal(typeof e.message, 'string', where);
  assert.equal(typeof e.component, 'string', where);
  assert.ok(!Number.isNaN(Date.parse(e.ts)), `ts ${e.ts}: ${where}`);
  assert.match(e.fingerprint, /^[0-9a-f]{16}$/, where);
  assert.doesNotThrow(() => JSON.stringify(e.context), where);
}

function runAll(lines: string[]): number {
  let n = 0;
  for (const spec of Object.values(parsers)) {
    const asm = new EntryAssembler(spec, { source: 'fuzz', prefix: '%m [%p] %q%u@%d ' });
    for (const line of lines) {
      const e = asm.push(line, 1_795_345_872_000, 0);
      if (e) {
        checkEntry(e, line);
        n++;
      }
    }
    for (const e of asm.flush()) checkEntry(e, 'flush');
  }
  return n;
}

describe(`parser fuzzing (seed ${seed})`, () => {
  test('random_bytes_never_throw_out_of_a_parser', () => {
    const rnd = prng(seed);
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const len = Math.floor(rnd() * 300);
      const bytes = Buffer.alloc(len);
      for (let j = 0; j < len; j++) bytes[j] = Math.floor(rnd() * 256);
      lines.push(bytes.toString('utf8').replace(/\n/g, ' '));
    }
    assert.ok(runAll(lines) > 0);
  });

  test('every_truncation_of_a_real_line_parses', () => {
    const lines: string[] = [];
    for (const s of samples) for (let i = 0; i <= s.length; i++) lines.push(s.slice(0, i));
    assert.ok(runAll(lines) > 0);
  });

  test('mutated_real_lines_parse', () => {
    const rnd = prng(seed + 1);
    const alphabet = '"\'[]{}():,.-/\\ \t0123456789abcXYZ%@#\u0000\u001b\u00e9\ud83d\ude00';
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const s = samples[Math.floor(rnd() * samples.length)]!.split('');
      const edits = 1 + Math.floor(rnd() * 6);
      for (let k = 0; k < edits; k++) {
        const at = Math.floor(rnd() * (s.length + 1));
        const op = rnd();
        const ch = alphabet[Math.floor(rnd() * alphabet.length)]!;
        if (op < 0.4) s.splice(at, 1);
        else if (op < 0.8) s.splice(at, 0, ch);
        else s[at] = ch;
      }
      lines.push(s.join(''));
    }
    assert.ok(runAll(lines) > 0);
  });

  test('the_classifier_and_normaliser_accept_anything', () => {
    const rnd = prng(seed + 2);
    for (let i = 0; i < 3000; i++) {
      const base = samples[Math.floor(rnd() * samples.length)]!;
      const cut = base.slice(Math.floor(rnd() * base.length));
      const messages = [
        cut,
        `duration: ${cut}`,
        `checkpoint complete: ${cut}`,
        `automatic vacuum of table "${cut}`,
      ];
      for (const m of messages) {
        assert.doesNotThrow(() => classifyPostgresEvent(m, { detail: cut }), `seed ${seed}: ${m}`);
        assert.equal(typeof normaliseMessage(m), 'string');
      }
    }
  });
});

/**
 * Every wrapped PostgreSQL log format (syslog, RDS, CloudNativePG, Cloud SQL, Heroku, Azure) gives the
 * same entries as the stderr log of the same events: the fixtures in test/fixtures/logs hold ten events
 * written in each format (each file's `.about` says where its shape comes from), and each is parsed and
 * compared with stderr.log field by field — event class, level, message, time, and the fields the format
 * carries.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EntryAssembler } from '../src/agent/logs/assemble.js';
import { detectParser } from '../src/agent/logs/parsers/detect.js';
import { parsers } from '../src/agent/logs/parsers/index.js';
import type { LogEntry } from '../src/protocol/logs.js';
import { packageRoot } from '../src/version.js';
import { binPath } from './helpers/cli.js';
import { runLogsParse } from './helpers/logs.js';

const fixtures = join(packageRoot, 'test/fixtures/logs');
const now = Date.UTC(2026, 11, 3, 8);

function parseText(text: string, parser: string, prefix?: string): LogEntry[] {
  const spec = parsers[parser];
  assert.ok(spec, `parser ${parser} exists`);
  const asm = new EntryAssembler(spec, { source: 'pg', prefix, timezone: 'UTC' });
  const out: LogEntry[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    const e = asm.push(line, now, 0);
    if (e) out.push(e);
  }
  out.push(...asm.flush());
  return out;
}

const fixture = (name: string) => readFileSync(join(fixtures, name), 'utf8');

type Key = 'user' | 'database' | 'pid' | 'detail' | 'statement' | 'context';

/** What two formats of the same event must agree on; `keys` are the context fields the format carries. */
function projection(entries: LogEntry[], keys: readonly Key[]) {
  return entries.map((e) => {
    const p: Record<string, unknown> = {
      second: e.ts.slice(0, 19),
      level: e.level,
      message: e.message,
      event: e.context.event ?? null,
    };
    for (const k of keys) p[k] = e.context[k] ?? null;
    return p;
  });
}

const allKeys: Key[] = ['user', 'database', 'pid', 'detail', 'statement', 'context'];

interface Case {
  file: string;
  parser: string;
  prefix?: string;
  keys: readonly Key[];
  /** Entries that are not PostgreSQL's (a platform's own lines), dropped before comparing. */
  skip?: (e: LogEntry) => boolean;
}

const cases: Case[] = [
  { file: 'syslog-rfc3164.log', parser: 'postgresql_syslog', keys: allKeys },
  { file: 'syslog-rfc5424.log', parser: 'postgresql_syslog', keys: allKeys },
  { file: 'rds.log', parser: 'postgresql_rds', keys: allKeys },
  {
    file: 'cloudnativepg.jsonl',
    parser: 'postgresql_cnpg',
    keys: allKeys,
    skip: (e) => e.component === 'instance-manager',
  },
  { file: 'cloudsql.jsonl', parser: 'postgresql_cloudsql', keys: allKeys },
  { file: 'heroku.log', parser: 'postgresql_heroku', keys: ['pid', 'detail', 'statement', 'context'] },
  { file: 'azure.log', parser: 'postgresql_azure', keys: ['detail', 'statement', 'context'] },
  {
    file: 'azure-diagnostic.jsonl',
    parser: 'postgresql_azure',
    keys: ['pid', 'detail', 'statement', 'context'],
  },
];

describe('wrapped PostgreSQL log formats read like stderr', () => {
  const reference = parseText(fixture('stderr.log'), 'postgresql');

  test('the_reference_has_the_ten_events', () => {
    assert.equal(reference.length, 10);
    assert.deepEqual(
      reference.map((e) => e.context.event ?? null),
      [
        'checkpoint_starting',
        'checkpoint_complete',
        'connection_received',
        'auth_failed',
        'connection_authorized',
        null,
        'slow_statement',
        null,
        'lock_wait',
        'disconnection',
      ],
    );
    assert.equal(reference[5]!.context.statement, 'SELECT 1/0\n  FROM generate_series(1,2)\n\tWHERE true;');
  });

  for (const c of cases) {
    test(`${c.file}_with_${c.parser}_gives_the_stderr_entries`, () => {
      let got = parseText(fixture(c.file), c.parser, c.prefix);
      if (c.skip) got = got.filter((e) => !c.skip!(e));
      assert.deepEqual(projection(got, c.keys), projection(reference, c.keys));
    });
  }

  test('auto_detection_picks_each_fixture_s_parser', () => {
    const got = Object.fromEntries(
      [{ file: 'stderr.log', parser: 'postgresql' }, ...cases].map((c) => [
        c.file,
        detectParser(fixture(c.file).split('\n')).parser,
      ]),
    );
    assert.deepEqual(
      got,
      Object.fromEntries(
        [{ file: 'stderr.log', parser: 'postgresql' }, ...cases].map((c) => [c.file, c.parser]),
      ),
    );
  });

  test('logs_parse_with_parser_auto_says_what_it_chose_and_parses_everything', async () => {
    const run = await runLogsParse(
      ['--parser', 'auto', '--timezone', 'UTC'],
      join(fixtures, 'syslog-rfc5424.log'),
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /--parser auto chose postgresql_syslog \(18 of the first 18 line\(s\) look like PostgreSQL through syslog\)/,
    );
    const got = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as LogEntry);
    assert.deepEqual(projection(got, allKeys), projection(reference, allKeys));
  });

  test('parser_auto_decides_on_a_slow_stream_without_waiting_for_its_end_and_loses_no_line', async () => {
    const lines = fixture('syslog-rfc3164.log').trimEnd().split('\n');
    const child = spawn(
      process.execPath,
      [binPath, 'logs', 'parse', '--parser', 'auto', '--timezone', 'UTC'],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.stdin.write(`${lines.slice(0, 3).join('\n')}\n`);
    const deadline = Date.now() + 15_000;
    while (!err.includes('chose') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(err, /chose postgresql_syslog \(3 of the first 3 line/, 'decided while stdin is still open');
    child.stdin.end(`${lines.slice(3).join('\n')}\n`);
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, err);
    const got = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as LogEntry);
    assert.deepEqual(projection(got, allKeys), projection(reference, allKeys));
  });
});

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import type { LogEntry } from '../../protocol/logs.js';
import { entryToJson, parseStream } from './parse-stream.js';
import { parsers } from './parsers/index.js';

describe('NDJSON output', () => {
  test('writes_exactly_what_json_stringify_writes', () => {
    const tricky = [
      'plain',
      'quote " and \\ backslash',
      'tab\tnew\nline\u0001',
      'emoji 😀',
      'lone \ud800 surrogate',
      '',
    ];
    for (const s of tricky) {
      const e: LogEntry = {
        ts: '2026-11-22T10:00:00.000Z',
        source: s,
        level: 'info',
        component: s,
        message: s,
        context: {
          text: s,
          n: 1.5,
          neg: -0,
          big: 1e21,
          flag: false,
          none: null,
          list: [1, s],
          obj: { k: s },
        },
        fingerprint: '0123456789abcdef',
      };
      assert.equal(entryToJson(e), JSON.stringify(e), s);
    }
  });

  test('reads_a_last_line_without_newline_and_crlf_endings', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let out = '';
    output.on('data', (d) => (out += d));
    input.end('Nov 22 10:00:00 h a: one\r\nNov 22 10:00:01 h a: two');
    const r = await parseStream(input, output, parsers.syslog!, { source: 's', timezone: 'UTC' });
    assert.deepEqual(r, { lines: 2, entries: 2 });
    assert.deepEqual(
      out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as LogEntry).message),
      ['one', 'two'],
    );
  });
});

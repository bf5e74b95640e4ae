import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import type { LogEntry } from '../../protocol/logs.js';
import { entryToJson, OutputBuffer, parseStream } from './parse-stream.js';
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
  test('the_output_buffer_writes_the_bytes_of_json_stringify_for_any_text', () => {
    // Random texts over the characters that take different paths: ASCII, escapes, 2- and 3-byte UTF-8,
    // surrogate pairs and lone surrogates at every position, and long ones past the buffer size.
    const alphabet = [
      'a',
      'Z',
      '0',
      ' ',
      '"',
      '\\',
      '\n',
      '\t',
      '\r',
      '\b',
      '\f',
      '\u0000',
      '\u001f',
      '\u007f',
      'é',
      'ß',
      '\u07ff',
      '\u0800',
      '€',
      '\u2028',
      '\uffff',
      '😀',
      '\ud800',
      '\udbff',
      '\udc00',
      '\udfff',
    ];
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    // Every third text from letters that need no escape (ASCII, then also multi-byte), so that long texts
    // of both kinds take the native encoder's path too.
    const plain = alphabet.filter((c) => {
      const code = c.charCodeAt(0);
      return code >= 0x20 && c !== '"' && c !== '\\' && (code < 0xd800 || code > 0xdfff);
    });
    const text = (max: number) => {
      const kind = rand(3);
      const from = kind === 0 ? alphabet : kind === 1 ? plain.slice(0, 4) : plain;
      let t = '';
      for (let i = rand(max); i > 0; i--) t += from[rand(from.length)];
      return t;
    };
    const out = new OutputBuffer();
    const expected: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const long = i % 500 === 0;
      const e: LogEntry = {
        ts: '2026-11-22T10:00:00.000Z',
        source: text(5),
        level: 'error',
        component: text(5),
        message: long ? text(300_000) : text(60),
        context: {
          [text(4)]: text(20),
          n: rand(1000) / 7,
          inf: Number.POSITIVE_INFINITY,
          flag: i % 2 === 0,
          none: null,
          list: [1, text(8)],
        },
        fingerprint: '0123456789abcdef',
      };
      // An undefined value is left out, as JSON.stringify leaves it out.
      (e.context as Record<string, unknown>).skipped = undefined;
      out.entry(e);
      expected.push(`${entryToJson(e)}\n`);
      assert.equal(entryToJson(e), JSON.stringify(e));
    }
    out.cut();
    assert.ok(out.ready.length > 1, 'long entries and many entries span several buffers');
    assert.equal(Buffer.compare(Buffer.concat(out.ready), Buffer.from(expected.join(''), 'utf8')), 0);
  });

  test('a_postgresql_log_cut_into_chunks_anywhere_gives_the_entries_of_one_chunk', async () => {
    // Every line has a time (a line without one would be stamped with the clock). ASCII lines, a CRLF line,
    // a continuation, a line longer than the chunks and one with a two-byte character, so that chunk
    // boundaries fall inside prefixes, between CR and LF, inside a character and across several chunks.
    const log = [
      '2026-01-05 10:00:01.100 UTC [4110] app@shop LOG:  duration: 0.412 ms',
      '2026-01-05 10:00:01.200 UTC [4111] app@shop ERROR:  duplicate key value violates unique constraint "item_pkey"',
      '2026-01-05 10:00:01.200 UTC [4111] app@shop DETAIL:  Key (id)=(7) already exists.\r',
      '\tsecond line',
      `2026-01-05 10:00:01.300 UTC [4112] bob@shop LOG:  statement: SELECT '${'x'.repeat(300)}'`,
      '2026-01-05 10:00:01.400 UTC [4113] josé@shop ERROR:  relation "café" does not exist',
      '2026-01-05 10:00:01.500 UTC [4114] app@shop LOG:  checkpoint starting: time',
      '',
    ].join('\n');
    const bytes = Buffer.from(log, 'utf8');
    const run = async (size: number) => {
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
      const output = new PassThrough();
      let out = '';
      output.on('data', (d) => (out += d));
      await parseStream(
        (async function* () {
          yield* chunks;
        })(),
        output,
        parsers.postgresql!,
        { source: 'postgresql', timezone: 'UTC' },
      );
      return out;
    };
    const whole = await run(bytes.length);
    assert.equal(whole.trim().split('\n').length, 5);
    for (const size of [1, 2, 3, 5, 7, 13, 31, 64, 100, 257])
      assert.equal(await run(size), whole, `chunks of ${size}`);
  });
});

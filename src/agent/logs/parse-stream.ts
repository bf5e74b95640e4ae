/**
 * A byte stream of log text → NDJSON of entries, streaming: memory stays bounded by the longest entry,
 * whatever the input size. What `pgvigil logs parse` runs, and what the benchmark measures.
 */

import { isAscii } from 'node:buffer';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { LogContext, LogEntry } from '../../protocol/logs.js';
import { EntryAssembler } from './assemble.js';
import { postgresStderrParser } from './parsers/postgres.js';
import type { AsciiSpan, LogParserSpec, ParserOptions } from './types.js';
import { warmUpPipeline } from './warm-up.js';

export interface ParseStreamOptions extends ParserOptions {
  source: string;
}

export interface ParseStreamResult {
  lines: number;
  entries: number;
}

const outputChunk = 256 * 1024;
/** The longest line that began in the chunk before whose bytes are put together (longer: read as text). */
const joinedBytes = 16 * 1024;
const empty = new Uint8Array(0);
/** Room for many entries past `outputChunk`, since the buffer is cut between input chunks only. */
const bufferSize = 1024 * 1024;

function write(output: Writable, data: string | Uint8Array): Promise<void> | undefined {
  if (output.write(data)) return undefined;
  return new Promise((resolve) => output.once('drain', resolve));
}

// Most strings need no escaping; testing for that natively and wrapping them in quotes is several times
// faster than JSON.stringify's own escaping on Node 20. Lone surrogates go the slow way too, so the
// output stays byte-for-byte what JSON.stringify gives.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what needs escaping
const needsEscape = /[\u0000-\u001f"\\\ud800-\udfff]/;
const quote = (value: string): string => (needsEscape.test(value) ? JSON.stringify(value) : `"${value}"`);
const quotedKeys = new Map<string, string>();

function quotedKey(key: string): string {
  let q = quotedKeys.get(key);
  if (q === undefined) {
    q = JSON.stringify(key);
    if (quotedKeys.size < 1000) quotedKeys.set(key, q);
  }
  return q;
}

function contextToJson(ctx: LogContext): string {
  let out = '{';
  for (const key in ctx) {
    const v = ctx[key];
    let json: string;
    if (typeof v === 'string') json = quote(v);
    else if (typeof v === 'number') json = Number.isFinite(v) ? String(v) : 'null';
    else if (typeof v === 'boolean') json = v ? 'true' : 'false';
    else if (v === undefined) continue;
    else json = JSON.stringify(v);
    out += out.length === 1 ? `${quotedKey(key)}:${json}` : `,${quotedKey(key)}:${json}`;
  }
  return `${out}}`;
}

/**
 * An entry as one line of JSON, the same text JSON.stringify gives, written out by hand (the reference
 * for OutputBuffer.entry, which parseStream uses): serialising was
 * a third of `logs parse`'s CPU, and this halves it (see bench/RESULTS.md). ts, level and fingerprint are
 * our own ASCII and need no escaping.
 */
export function entryToJson(e: LogEntry): string {
  return `{"ts":"${e.ts}","source":${quote(e.source)},"level":"${e.level}","component":${quote(e.component)},"message":${quote(e.message)},"context":${contextToJson(e.context)},"fingerprint":"${e.fingerprint}"}`;
}

const hex = '0123456789abcdef';

/** The bytes of an ASCII text (the JSON syntax between an entry's fields). */
const asciiBytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const tsStart = asciiBytes('{"ts":"');
const sourceStart = asciiBytes('","source":');
const levelStart = asciiBytes(',"level":"');
const componentStart = asciiBytes('","component":');
const messageStart = asciiBytes(',"message":');
const contextStart = asciiBytes(',"context":{');
const fingerprintStart = asciiBytes('},"fingerprint":"');
const entryEnd = asciiBytes('"}\n');
/**
 * Every write that checks for room leaves at least this many bytes free after it, so that the fixed pieces
 * of syntax above (at most one between two checked writes, none longer than 17 bytes) need no check.
 */
const slack = 64;

/** A context key as written: its JSON string and the colon, UTF-8. */
const keyBytesCache = new Map<string, Uint8Array>();

function keyBytes(key: string): Uint8Array {
  let b = keyBytesCache.get(key);
  if (b === undefined) {
    b = Buffer.from(`${JSON.stringify(key)}:`, 'utf8');
    if (keyBytesCache.size < 1000) keyBytesCache.set(key, b);
  }
  return b;
}

/**
 * Entries written as NDJSON straight into a byte buffer, the same bytes as `JSON.stringify` + UTF-8 gives
 * (see entryToJson, the reference the tests compare against): each string is escaped and encoded in one
 * pass over it. Building each entry's JSON text first and encoding that cost a quarter of `logs parse`
 * on an event-rich log (the text is a tree of pieces that must be flattened, then scanned for escapes,
 * then encoded); the concatenation of entries into one string before that cost as much again.
 * The syntax between fields and the context keys are copied from bytes made once, without a room check
 * each (see `slack`).
 * A full buffer is handed over in `ready` and a new one started, so the output may keep it.
 */
export class OutputBuffer {
  private buf: Buffer;
  private pos = 0;
  /** Chunks ready for the output, in order. */
  ready: Uint8Array[];

  constructor() {
    // Each field is stored twice: V8 takes a field stored once for a constant and folds it into the
    // optimised writer, which the first new buffer (or the output's taking of `ready`) then throws away,
    // recompiling the writer's seven methods at the start of every run.
    this.buf = Buffer.allocUnsafe(0);
    this.buf = Buffer.allocUnsafe(bufferSize);
    this.ready = [];
    this.ready = [];
  }

  /** Bytes appended since the last cut. */
  get size(): number {
    return this.pos;
  }

  /** Moves what was appended to `ready`. */
  cut(): void {
    if (this.pos === 0) return;
    this.ready.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(bufferSize);
    this.pos = 0;
  }

  /** Room for `bytes` more and `slack` after them: a new buffer (cutting the current one) when they do not fit. */
  private room(bytes: number): void {
    if (this.pos + bytes + slack <= this.buf.length) return;
    if (this.pos > 0) this.ready.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(Math.max(bufferSize, bytes + slack));
    this.pos = 0;
  }

  /** Bytes of at most `slack`, with no room check (one such write between two checked ones). */
  private fixed(bytes: Uint8Array): void {
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < bytes.length; i++) buf[pos++] = bytes[i]!;
    this.pos = pos;
  }

  /** Bytes of any length. */
  private bytes(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.fixed(bytes);
  }

  /** Text known to be ASCII needing no escape (our timestamps, levels, numbers). */
  private ascii(text: string): void {
    const n = text.length;
    this.room(n);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < n; i++) buf[pos++] = text.charCodeAt(i);
    this.pos = pos;
  }

  /**
   * JSON text made by JSON.stringify (already escaped; may hold non-ASCII): UTF-8 encoded as is. Its lone
   * surrogates are escapes, so the native encoder writes the same bytes.
   */
  private raw(text: string): void {
    this.room(text.length * 3);
    this.pos += this.buf.write(text, this.pos);
  }

  /**
   * A JSON string literal: quotes, escapes as JSON.stringify makes them, UTF-8. Written by the loop below
   * whatever the length: a native write (`Buffer#write`, or JSON.stringify for texts with escapes) costs
   * more in its call than the loop does over the texts of a log (bench/RESULTS.md, 2026-12-05).
   */
  private str(text: string): void {
    // At most 6 bytes per code unit (\u001f) and the two quotes.
    this.room(text.length * 6 + 2);
    this.buf[this.pos++] = 34;
    this.pos = this.encode(text);
    this.buf[this.pos++] = 34;
  }

  /** Writes `text` escaped at this.pos (room already made) and returns the new position. */
  private encode(text: string): number {
    const buf = this.buf;
    let pos = this.pos;
    const n = text.length;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x80) {
        if (c < 0x20 || c === 34 || c === 92) {
          buf[pos++] = 92;
          if (c === 34 || c === 92) buf[pos++] = c;
          else if (c === 10) buf[pos++] = 110;
          else if (c === 9) buf[pos++] = 116;
          else if (c === 13) buf[pos++] = 114;
          else if (c === 8) buf[pos++] = 98;
          else if (c === 12) buf[pos++] = 102;
          else {
            buf[pos++] = 117;
            buf[pos++] = 48;
            buf[pos++] = 48;
            buf[pos++] = hex.charCodeAt(c >> 4);
            buf[pos++] = hex.charCodeAt(c & 15);
          }
        } else buf[pos++] = c;
      } else if (c < 0x800) {
        buf[pos++] = 0xc0 | (c >> 6);
        buf[pos++] = 0x80 | (c & 63);
      } else if (c >= 0xd800 && c <= 0xdfff) {
        const d = i + 1 < n ? text.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          buf[pos++] = 0xf0 | (cp >> 18);
          buf[pos++] = 0x80 | ((cp >> 12) & 63);
          buf[pos++] = 0x80 | ((cp >> 6) & 63);
          buf[pos++] = 0x80 | (cp & 63);
          i++;
        } else {
          // A lone surrogate: JSON.stringify writes it as an escape.
          buf[pos++] = 92;
          buf[pos++] = 117;
          buf[pos++] = hex.charCodeAt(c >> 12);
          buf[pos++] = hex.charCodeAt((c >> 8) & 15);
          buf[pos++] = hex.charCodeAt((c >> 4) & 15);
          buf[pos++] = hex.charCodeAt(c & 15);
        }
      } else {
        buf[pos++] = 0xe0 | (c >> 12);
        buf[pos++] = 0x80 | ((c >> 6) & 63);
        buf[pos++] = 0x80 | (c & 63);
      }
    }
    return pos;
  }

  /** One entry and a newline: the bytes of `entryToJson(e) + '\\n'`. */
  entry(e: LogEntry): void {
    this.room(0);
    this.fixed(tsStart);
    this.ascii(e.ts);
    this.fixed(sourceStart);
    this.str(e.source);
    this.fixed(levelStart);
    this.ascii(e.level);
    this.fixed(componentStart);
    this.str(e.component);
    this.fixed(messageStart);
    this.str(e.message);
    this.fixed(contextStart);
    const ctx = e.context;
    let first = true;
    for (const key in ctx) {
      const v = ctx[key];
      if (v === undefined) continue;
      if (!first) this.buf[this.pos++] = 44;
      first = false;
      this.bytes(keyBytes(key));
      if (typeof v === 'string') this.str(v);
      else if (typeof v === 'number') this.ascii(Number.isFinite(v) ? String(v) : 'null');
      else if (typeof v === 'boolean') this.ascii(v ? 'true' : 'false');
      else this.raw(JSON.stringify(v));
    }
    this.fixed(fingerprintStart);
    this.ascii(e.fingerprint);
    this.fixed(entryEnd);
  }
}

/** How many bytes of a character begun in an earlier chunk the decoder still waits for (0: none). */
const pendingBytes = (decoder: StringDecoder): number =>
  (decoder as unknown as { lastNeed: number }).lastNeed;

export async function parseStream(
  input: Readable | AsyncIterable<Buffer | string>,
  output: Writable,
  spec: LogParserSpec,
  opts: ParseStreamOptions,
): Promise<ParseStreamResult> {
  const assembler = new EntryAssembler(spec, opts);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  // The default parser's code compiled once for every kind of line, not again at the first of a kind.
  if (spec === postgresStderrParser) warmUpPipeline(spec, opts, new OutputBuffer());
  const out = new OutputBuffer();
  let lines = 0;
  let entries = 0;
  const emit = (e: LogEntry | undefined) => {
    if (e) {
      out.entry(e);
      entries++;
    }
  };
  const drain = async () => {
    const chunks = out.ready;
    out.ready = [];
    for (const chunk of chunks) {
      const p = write(output, chunk);
      if (p) await p;
    }
  };
  // The bytes of the current chunk's lines when the chunk is ASCII: the parser may read those instead.
  const span: AsciiSpan = { bytes: empty, at: 0 };
  // A line that began in the chunk before, its bytes copied together when both parts are ASCII.
  const joined: AsciiSpan = { bytes: Buffer.allocUnsafe(joinedBytes), at: 0 };
  let restAscii = true;
  for await (const chunk of input) {
    const now = Date.now();
    let ascii = false;
    let text: string;
    if (typeof chunk === 'string') text = chunk;
    else if (pendingBytes(decoder) === 0 && isAscii(chunk as Buffer)) {
      // Nothing pending in the decoder and all ASCII: one character per byte, copied as they are.
      text = (chunk as Buffer).toString('latin1');
      ascii = true;
    } else {
      const decoded = decoder.write(chunk as Buffer);
      // Same length: no replacement character for bytes held from before (an invalid sequence) either.
      ascii = decoded.length === chunk.length && isAscii(chunk as Buffer);
      text = decoded;
    }
    if (ascii) span.bytes = chunk as Buffer;
    // The chunk's lines are sliced from its own text: joining it to the unfinished line before (and so
    // copying the whole chunk into one flat string) is done for that first line alone.
    let from = 0;
    let nl = text.indexOf('\n');
    if (rest !== '') {
      if (nl < 0) {
        rest += text;
        restAscii = restAscii && ascii;
        continue;
      }
      const line = rest + text.slice(0, nl);
      let lineSpan: AsciiSpan | undefined;
      if (ascii && restAscii && line.length <= joinedBytes) {
        const bytes = joined.bytes as Buffer;
        bytes.write(rest, 0, 'latin1');
        bytes.set((chunk as Buffer).subarray(0, nl), rest.length);
        lineSpan = joined;
      }
      emit(
        assembler.push(line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line, now, 0, lineSpan),
      );
      lines++;
      from = nl + 1;
      nl = text.indexOf('\n', from);
    }
    for (; nl >= 0; nl = text.indexOf('\n', from)) {
      const end = nl > from && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      let lineSpan: AsciiSpan | undefined;
      if (ascii) {
        span.at = from;
        lineSpan = span;
      }
      emit(assembler.push(text.slice(from, end), now, 0, lineSpan));
      lines++;
      from = nl + 1;
    }
    rest = from === 0 ? text : text.slice(from);
    restAscii = ascii;
    if (out.size >= outputChunk) out.cut();
    if (out.ready.length > 0) await drain();
  }
  rest += decoder.end();
  if (rest !== '') {
    emit(assembler.push(rest.endsWith('\r') ? rest.slice(0, -1) : rest, Date.now(), 0));
    lines++;
  }
  for (const e of assembler.flush()) emit(e);
  out.cut();
  await drain();
  return { lines, entries };
}

/**
 * A byte stream of log text → NDJSON of entries, streaming: memory stays bounded by the longest entry,
 * whatever the input size. What `pgvigil logs parse` runs, and what the benchmark measures.
 */

import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { LogContext, LogEntry } from '../../protocol/logs.js';
import { EntryAssembler } from './assemble.js';
import type { LogParserSpec, ParserOptions } from './types.js';

export interface ParseStreamOptions extends ParserOptions {
  source: string;
}

export interface ParseStreamResult {
  lines: number;
  entries: number;
}

const outputChunk = 256 * 1024;
/** Room for many entries past `outputChunk`, since the buffer is cut between input chunks only. */
const bufferSize = 1024 * 1024;

function write(output: Writable, data: string | Uint8Array): Promise<void> | undefined {
  if (output.write(data)) return undefined;
  return new Promise((resolve) => output.once('drain', resolve));
}

/**
 * Entries' JSON encoded straight into a buffer as they come. Concatenating them into one string and
 * encoding that cost as much as parsing, classifying and serialising together (the concatenation is a
 * tree of small strings that must be flattened, then measured, then encoded); each entry's own string
 * is small and flat. A full buffer is handed to the output and a new one started, so the output may keep it.
 */
class OutputBuffer {
  private buf = Buffer.allocUnsafe(bufferSize);
  private pos = 0;
  /** Chunks ready for the output, in order. */
  ready: Uint8Array[] = [];

  /** Appends `text` and a newline. */
  line(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const most = text.length * 3 + 1;
    if (this.pos + most > this.buf.length) {
      this.cut();
      if (most > this.buf.length) {
        this.ready.push(Buffer.from(`${text}\n`, 'utf8'));
        return;
      }
    }
    this.pos += this.buf.write(text, this.pos);
    this.buf[this.pos++] = 10;
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
 * An entry as one line of JSON, the same text JSON.stringify gives, written out by hand: serialising was
 * a third of `logs parse`'s CPU, and this halves it (see bench/RESULTS.md). ts, level and fingerprint are
 * our own ASCII and need no escaping.
 */
export function entryToJson(e: LogEntry): string {
  return `{"ts":"${e.ts}","source":${quote(e.source)},"level":"${e.level}","component":${quote(e.component)},"message":${quote(e.message)},"context":${contextToJson(e.context)},"fingerprint":"${e.fingerprint}"}`;
}

export async function parseStream(
  input: Readable,
  output: Writable,
  spec: LogParserSpec,
  opts: ParseStreamOptions,
): Promise<ParseStreamResult> {
  const assembler = new EntryAssembler(spec, opts);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  const out = new OutputBuffer();
  let lines = 0;
  let entries = 0;
  const emit = (e: LogEntry | undefined) => {
    if (e) {
      out.line(entryToJson(e));
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
  for await (const chunk of input) {
    const now = Date.now();
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer));
    let from = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
      const end = nl > from && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      emit(assembler.push(text.slice(from, end), now, 0));
      lines++;
      from = nl + 1;
    }
    rest = from === 0 ? text : text.slice(from);
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

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

function write(output: Writable, text: string): Promise<void> | undefined {
  if (output.write(text)) return undefined;
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
  let out = '';
  let lines = 0;
  let entries = 0;
  const emit = (e: LogEntry | undefined) => {
    if (e) {
      out += `${entryToJson(e)}\n`;
      entries++;
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
    if (out.length >= outputChunk) {
      const p = write(output, out);
      out = '';
      if (p) await p;
    }
  }
  rest += decoder.end();
  if (rest !== '') {
    emit(assembler.push(rest.endsWith('\r') ? rest.slice(0, -1) : rest, Date.now(), 0));
    lines++;
  }
  for (const e of assembler.flush()) emit(e);
  if (out !== '') await write(output, out);
  return { lines, entries };
}

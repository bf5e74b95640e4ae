/**
 * A byte stream of log text → NDJSON of entries, streaming: memory stays bounded by the longest entry,
 * whatever the input size. What `pgvigil logs parse` runs, and what the benchmark measures.
 */

import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { LogEntry } from '../../protocol/logs.js';
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

/** Entries as one JSON object per line. */
export function entryToJson(entry: LogEntry): string {
  return JSON.stringify(entry);
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

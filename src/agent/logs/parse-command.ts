/**
 * `pgvigil logs parse` itself, apart from its command-line definition (cli.ts) so that it can be run
 * without loading the command-line library or the parsers it does not use (see main.ts).
 */
import { fstatSync, readSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { PgvigilError } from '../../errors.js';
import { parseStream } from './parse-stream.js';
import { postgresStderrParser } from './parsers/postgres.js';
import { isValidTimezone } from './time.js';
import type { LogParserSpec } from './types.js';

export interface ParseFlags {
  parser: string;
  prefix?: string;
  source?: string;
  timezone?: string;
}

/**
 * stdin when it is a regular file (`< postgresql.log`), read with plain synchronous reads: a file's read
 * never waits for a writer, and the stream machinery of process.stdin cost a tenth of `logs parse`'s CPU
 * on a 50 MB log. Pipes and terminals keep process.stdin, whose reads do not hold up the output.
 */
function stdinChunks(): Readable | AsyncIterable<Buffer> {
  let isFile = false;
  try {
    isFile = fstatSync(0).isFile();
  } catch {
    // no stdin to stat: the stream says what is wrong
  }
  if (!isFile) return process.stdin;
  return (async function* () {
    // One buffer for all reads: parseStream decodes each chunk into text before it asks for the next.
    const buf = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const n = readSync(0, buf, 0, buf.length, null);
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  })();
}

async function parserNamed(name: string): Promise<LogParserSpec | undefined> {
  const { parsers } = await import('./parsers/index.js');
  return Object.hasOwn(parsers, name) ? parsers[name] : undefined;
}

/** `pgvigil logs parse`: stdin → NDJSON entries on stdout. */
export async function runParse(flags: ParseFlags): Promise<void> {
  let input: Readable | AsyncIterable<Buffer> | undefined;
  let name = flags.parser;
  if (name === 'auto') {
    const { detectFromStream } = await import('./parsers/detect-stream.js');
    // Said on stderr, so that stdout stays the entries alone.
    const { detection, stream } = await detectFromStream(process.stdin);
    process.stderr.write(`pgvigil: --parser auto chose ${detection.parser} (${detection.reason})\n`);
    name = detection.parser;
    input = stream;
  }
  // The default parser alone is loaded without the others (a tenth of the command's start-up).
  const spec = name === postgresStderrParser.name ? postgresStderrParser : await parserNamed(name);
  if (!spec) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `unknown parser "${flags.parser}"; choose one of: ${(await import('./parsers/index.js')).parserNames().join(', ')}`,
    );
  }
  if (flags.timezone !== undefined && !isValidTimezone(flags.timezone)) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `unknown time zone "${flags.timezone}" (expected an IANA name such as Europe/Paris)`,
    );
  }
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    // A closed pipe (`| head`) ends the command quietly, as other Unix tools do.
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  await parseStream(input ?? stdinChunks(), process.stdout, spec, {
    source: flags.source ?? spec.name,
    prefix: flags.prefix,
    timezone: flags.timezone,
  });
}

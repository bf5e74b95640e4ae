/**
 * `--parser auto` on a stream: reads the stream's head (up to detectMaxLines lines, detectMaxBytes, the end
 * of input, or `waitMs` after the first byte — so a slow `tail -F` is not held up), picks the parser from
 * it, and returns a stream that yields the head again followed by the rest, so nothing is lost or repeated.
 */
import { Readable } from 'node:stream';
import { type Detection, detectMaxBytes, detectMaxLines, detectParser } from './detect.js';

export async function detectFromStream(
  input: Readable,
  waitMs = 2000,
): Promise<{ detection: Detection; stream: Readable }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const head: (Buffer | string)[] = [];
  let bytes = 0;
  let newlines = 0;
  let done = false;
  let pending: Promise<IteratorResult<Buffer | string>> | undefined;
  let deadline: number | undefined;
  while (bytes < detectMaxBytes && newlines < detectMaxLines) {
    pending ??= it.next();
    let timer: NodeJS.Timeout | undefined;
    const timeout =
      deadline === undefined
        ? undefined
        : new Promise<'timeout'>((r) => {
            timer = setTimeout(() => r('timeout'), Math.max(0, deadline! - Date.now()));
          });
    const r = await (timeout ? Promise.race([pending, timeout]) : pending);
    if (timer) clearTimeout(timer);
    if (r === 'timeout') break;
    pending = undefined;
    if (r.done) {
      done = true;
      break;
    }
    head.push(r.value);
    const text = typeof r.value === 'string' ? r.value : r.value.toString('latin1');
    bytes += text.length;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) newlines++;
    deadline ??= Date.now() + waitMs;
  }
  const headText = Buffer.concat(head.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))).toString(
    'utf8',
  );
  const detection = detectParser(headText.split('\n'));
  async function* replay(): AsyncGenerator<Buffer | string> {
    for (const c of head) yield c;
    if (done) return;
    if (pending) {
      const r = await pending;
      if (r.done) return;
      yield r.value;
    }
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { detection, stream: Readable.from(replay(), { objectMode: true }) };
}

/**
 * Turns a stream of physical lines into log entries: joins lines while a quoted field is open (csvlog),
 * folds continuation records into the record they continue, classifies PostgreSQL events, stamps a time on
 * entries whose line had none, and computes the fingerprint.
 *
 * An entry is complete only when the next record starts (or on `flush`, when the stream is idle or ends),
 * because a continuation may still follow. `pendingMark` tells the caller where the unfinished entry began,
 * so a position saved for the stream never lies past a line that is not yet in an emitted entry.
 *
 * Guarantees: never throws on any input; continuation lines that have no record to join (the first line
 * of a stream) become entries of their own; a record that grows past `maxEntryChars` stops growing (the
 * excess is dropped and counted in `context.truncated_chars`).
 */
import type { LogEntry } from '../../protocol/logs.js';
import { classifyPostgresEvent } from './classify.js';
import { fingerprintOf } from './fingerprint.js';
import type { AsciiSpan, LineParser, LogParserSpec, ParsedRecord, ParserOptions } from './types.js';

export const maxEntryChars = 1_000_000;

let isoSecond = Number.NaN;
let isoPrefix = '';
/**
 * The last time formatted and its text: entries come several to a millisecond (two in three on an
 * event-rich log), and the text is then neither built again nor again made flat by the writer's first read.
 */
let lastTs = Number.NaN;
let lastIso = '';

/**
 * ISO 8601 of an epoch ms. Lines come in time order, so the text up to the second is cached and only the
 * milliseconds are formatted (Date#toISOString per entry was a tenth of `logs parse`).
 */
export function isoTime(ts: number, fallback: number): string {
  if (ts === lastTs) return lastIso;
  const second = Math.floor(ts / 1000);
  if (second !== isoSecond) {
    const d = new Date(second * 1000);
    if (Number.isNaN(d.getTime())) return isoTime(fallback || Date.now(), 0);
    const iso = d.toISOString();
    if (iso.length !== 24) return new Date(ts).toISOString(); // years outside 0000–9999
    isoPrefix = iso.slice(0, 20);
    isoSecond = second;
  }
  const ms = Math.floor(ts - second * 1000);
  lastIso = `${isoPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
  lastTs = ts;
  return lastIso;
}

export interface AssemblerOptions extends ParserOptions {
  source: string;
}

export class EntryAssembler<Mark = number> {
  private readonly parse: LineParser;
  private readonly spec: LogParserSpec;
  private readonly source: string;
  private pending: ParsedRecord | undefined;
  private pendingStart: Mark | undefined;
  private pendingReadAt = 0;
  private lastField: 'message' | string = 'message';
  private size = 0;
  private joined: string | undefined;
  private joinedStart: Mark | undefined;

  constructor(spec: LogParserSpec, opts: AssemblerOptions) {
    this.spec = spec;
    this.parse = spec.create(opts);
    this.source = opts.source;
  }

  /**
   * Feeds one physical line (no newline). `mark` is the stream position where the line starts; `ascii`,
   * where its bytes are when they are ASCII (see AsciiSpan). Returns the entry this line completed, if any.
   */
  push(line: string, now: number, mark: Mark, ascii?: AsciiSpan): LogEntry | undefined {
    let text = line;
    let start = mark;
    if (this.spec.quoteOpenAfter) {
      if (this.joined !== undefined) {
        this.joined = this.joined.length < maxEntryChars ? `${this.joined}\n${line}` : this.joined;
        text = this.joined;
        start = this.joinedStart as Mark;
      }
      const open = this.spec.quoteOpenAfter(line, this.joined !== undefined);
      if (open) {
        if (this.joined === undefined) {
          this.joined = line;
          this.joinedStart = mark;
        }
        return undefined;
      }
      this.joined = undefined;
      this.joinedStart = undefined;
    }
    const rec = this.parse(text, now, this.pending !== undefined, text === line ? ascii : undefined);
    if (rec.continues && this.pending) {
      this.attach(this.pending, rec);
      return undefined;
    }
    const done = this.finishPending();
    this.pending = rec;
    this.pendingStart = start;
    this.pendingReadAt = now;
    this.lastField = 'message';
    this.size = rec.message.length;
    if (rec.continues) {
      // Nothing to continue: keep it as an entry of its own, under a name saying what it was.
      if (rec.continues !== 'text') rec.context.orphan = rec.continues;
      delete rec.continues;
    }
    return done;
  }

  /** Where the entry still being assembled began (undefined when none is pending). */
  get pendingMark(): Mark | undefined {
    return this.joined !== undefined ? this.joinedStart : this.pendingStart;
  }

  /** Completes whatever is pending (the stream is idle or finished): zero, one or two entries. */
  flush(): LogEntry[] {
    const out: LogEntry[] = [];
    for (let e = this.flushOne(); e; e = this.flushOne()) out.push(e);
    return out;
  }

  private flushOne(): LogEntry | undefined {
    if (this.joined !== undefined) {
      // An unterminated quote at the end of a finished stream: parse what there is.
      const text = this.joined;
      const start = this.joinedStart as Mark;
      this.joined = undefined;
      this.joinedStart = undefined;
      const done = this.finishPending();
      this.pending = this.parse(text, this.pendingReadAt || Date.now());
      delete this.pending.continues;
      this.pendingStart = start;
      if (done) {
        // Two entries at once: emit the older now, keep the newer pending for the next flush.
        return done;
      }
    }
    return this.finishPending();
  }

  private attach(target: ParsedRecord, rec: ParsedRecord): void {
    if (this.size >= maxEntryChars) {
      target.context.truncated_chars = Number(target.context.truncated_chars ?? 0) + rec.message.length + 1;
      return;
    }
    this.size += rec.message.length + 1;
    const kind = rec.continues;
    if (kind === 'text') {
      if (this.lastField === 'message') target.message += `\n${rec.message}`;
      else {
        const prev = target.context[this.lastField];
        target.context[this.lastField] = typeof prev === 'string' ? `${prev}\n${rec.message}` : rec.message;
      }
      return;
    }
    if (kind === undefined) return;
    const prev = target.context[kind];
    target.context[kind] = typeof prev === 'string' ? `${prev}\n${rec.message}` : rec.message;
    this.lastField = kind;
  }

  private finishPending(): LogEntry | undefined {
    const rec = this.pending;
    if (!rec) return undefined;
    this.pending = undefined;
    this.pendingStart = undefined;
    if (this.spec.postgres) classifyPostgresEvent(rec.message, rec.context);
    const ts = rec.ts !== undefined && Number.isFinite(rec.ts) ? rec.ts : this.pendingReadAt;
    return {
      ts: isoTime(ts, this.pendingReadAt),
      source: this.source,
      level: rec.level,
      component: rec.component,
      message: rec.message,
      context: rec.context,
      fingerprint: fingerprintOf(this.source, rec.level, rec.message),
    };
  }
}

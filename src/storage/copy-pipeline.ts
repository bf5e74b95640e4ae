/**
 * Several `COPY … FROM STDIN` in one round trip and one socket write: a simple-query message holding the
 * statements, followed at once by each COPY's data and CopyDone, all in one buffer.
 *
 * Why: sending COPY the usual way (pg-copy-streams) is a Query message, a wait for CopyInResponse, then a
 * CopyData header, the data and a CopyDone — four socket writes per table, each of which on loopback
 * delivers to PostgreSQL inside the sender's system call — and the data had to be one string, joined from
 * the parts and converted to bytes. For a group transaction of a dozen tables that was the largest single
 * cost of the ingest server's CPU after garbage collection.
 *
 * Why it is safe: PostgreSQL reads the messages of a connection in order; each COPY of the query string
 * takes CopyData messages until its CopyDone, then the next statement runs. If a statement fails, the
 * backend answers ErrorResponse and ReadyForQuery, skips the rest of the query string and drops the
 * CopyData / CopyDone messages still in flight (the protocol says so, and postgres.c accepts and ignores
 * them outside COPY), so the connection is usable again for the ROLLBACK. The caller learns of the failure
 * as of any other statement's.
 *
 * The rows a statement of the message returns (an `UPDATE … RETURNING` after the COPYs, say) come back as
 * text, one result per statement that describes rows, so a statement whose answer the caller needs can
 * ride in the same round trip too.
 */
import type pg from 'pg';

/** The binary COPY stream's header: signature, flags (none), header extension length (0). */
export const copyBinaryHeader = Buffer.from([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
]);
/** The binary COPY stream's trailer: a field count of -1. */
export const copyBinaryTrailer = Buffer.from([0xff, 0xff]);

/** The PostgreSQL wire messages for a query text and its COPYs' data, in one buffer. */
export function copyPipelineMessage(sql: string, copies: ReadonlyArray<readonly Buffer[]>): Buffer {
  const sqlBytes = Buffer.byteLength(sql);
  let total = 1 + 4 + sqlBytes + 1;
  for (const parts of copies) {
    // One CopyData message per part (each part is whole lines; a message stays well under 1 GB), then CopyDone.
    for (const p of parts) total += 5 + p.length;
    total += 5;
  }
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  out[o++] = 0x51; // 'Q'
  out.writeInt32BE(4 + sqlBytes + 1, o);
  o += 4;
  o += out.write(sql, o, 'utf8');
  out[o++] = 0;
  for (const parts of copies) {
    for (const p of parts) {
      out[o++] = 0x64; // 'd' CopyData
      out.writeInt32BE(4 + p.length, o);
      o += 4;
      o += p.copy(out, o);
    }
    out[o++] = 0x63; // 'c' CopyDone
    out.writeInt32BE(4, o);
    o += 4;
  }
  return out;
}

/** The rows one statement of a pipelined message returned: column names, and each row's values as text. */
export interface PipelinedResult {
  fields: string[];
  rows: Array<Array<string | null>>;
}

/**
 * A submittable query for pg's client: written in one piece, answered by ReadyForQuery (done) or an
 * ErrorResponse (failed). The client's query timeout, if one is set, wraps `callback` as for any query.
 */
class PipelinedCopy {
  private settled = false;
  readonly results: PipelinedResult[] = [];

  constructor(
    private readonly message: Buffer,
    public callback: (err: Error | null) => void,
  ) {}

  submit(connection: { stream: { write(b: Buffer): boolean } }): void {
    connection.stream.write(this.message);
  }

  private settle(err: Error | null): void {
    if (this.settled) return;
    this.settled = true;
    this.callback(err);
  }

  handleError(err: Error): void {
    this.settle(err);
  }

  handleReadyForQuery(): void {
    this.settle(null);
  }

  // A statement that returns rows describes them first; its rows follow (text: a simple query's format).
  handleRowDescription(msg: { fields: ReadonlyArray<{ name: string }> }): void {
    this.results.push({ fields: msg.fields.map((f) => f.name), rows: [] });
  }

  handleDataRow(msg: { fields: Array<string | null> }): void {
    this.results[this.results.length - 1]?.rows.push(msg.fields);
  }

  // The data went out with the query: nothing to do on CopyInResponse. Anything else a backend says
  // before ReadyForQuery is ignored.
  handleCopyInResponse(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handleCopyData(): void {}
  handlePortalSuspended(): void {}
}

/**
 * Runs `sql` — statements of which exactly `copies.length` are `COPY … FROM STDIN`, in the order of
 * `copies` — with each COPY reading the concatenation of its parts (in the COPY's format: for binary, the
 * parts include `copyBinaryHeader` first and `copyBinaryTrailer` last). Resolves after the last statement
 * with the rows of the statements that returned some (in order), rejects with the backend's error as
 * `client.query` would.
 */
export function runCopyPipeline(
  client: pg.ClientBase,
  sql: string,
  copies: ReadonlyArray<readonly Buffer[]>,
): Promise<PipelinedResult[]> {
  const message = copyPipelineMessage(sql, copies);
  return new Promise<PipelinedResult[]>((resolve, reject) => {
    const q = new PipelinedCopy(message, (err) => (err ? reject(err) : resolve(q.results)));
    (client as unknown as { query(q: PipelinedCopy): void }).query(q);
  });
}

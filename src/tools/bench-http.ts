/**
 * The ingest bench's HTTP client: one keep-alive HTTP/1.1 connection per simulated agent, a request's
 * head written once per connection and sent with each body in one write, and of the answer only the
 * status read. The bench's load generator shares the machine with the server and the store it measures,
 * so what it spends on a push is taken from them: with node's `http.request` (its request and response
 * objects, header checks, the agent's pool) and the bodies it had to build in the window, the load
 * generator took 0.13–0.14 ms of CPU a push, with this 0.065–0.078 (bench/RESULTS.md, Ingest,
 * "2026-12-06 (morning)"). One request at a time per connection, as an agent's shipper sends; a
 * connection the server closed is opened again for the next request.
 *
 * Answers must carry `content-length` (the server's always do); one without it, or a head over 16 KiB,
 * fails the request instead of being guessed at.
 */
import net from 'node:net';

const maxHeadBytes = 16 * 1024;

interface Pending {
  resolve: (status: number) => void;
  reject: (err: Error) => void;
}

export class BenchConnection {
  private socket: net.Socket | undefined;
  private buffered: Buffer | undefined;
  private pending: Pending | undefined;
  private readonly head: string;

  /** `headers` without content-length, which is added per request. */
  constructor(
    private readonly url: URL,
    path: string,
    headers: Readonly<Record<string, string>>,
  ) {
    const lines = [`POST ${path} HTTP/1.1`, `host: ${url.host}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    this.head = `${lines.join('\r\n')}\r\ncontent-length: `;
  }

  /** POSTs `body`; resolves with the answer's status once the whole answer has arrived. */
  post(body: Buffer): Promise<number> {
    if (this.pending) return Promise.reject(new Error('a request is already in flight on this connection'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      const socket = this.connected();
      socket.cork();
      socket.write(`${this.head}${body.length}\r\n\r\n`, 'latin1');
      socket.write(body);
      socket.uncork();
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connected(): net.Socket {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = net.connect(Number(this.url.port || 80), this.url.hostname);
    socket.setNoDelay(true);
    this.buffered = undefined;
    // Events of a connection already given up (and replaced) are no longer this one's.
    socket.on('data', (chunk) => this.socket === socket && this.read(chunk));
    socket.on('error', (err) => this.socket === socket && this.fail(err));
    socket.on(
      'close',
      () => this.socket === socket && this.fail(new Error('the server closed the connection')),
    );
    this.socket = socket;
    return socket;
  }

  private fail(err: Error): void {
    const p = this.pending;
    this.pending = undefined;
    this.buffered = undefined;
    this.close();
    p?.reject(err);
  }

  private read(chunk: Buffer): void {
    const buf = this.buffered ? Buffer.concat([this.buffered, chunk]) : chunk;
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) {
      if (buf.length > maxHeadBytes) this.fail(new Error(`an answer's head is over ${maxHeadBytes} bytes`));
      else this.buffered = buf;
      return;
    }
    const head = buf.toString('latin1', 0, end);
    const length = /\r\ncontent-length:[ \t]*(\d{1,12})[ \t]*(?:\r|$)/i.exec(head);
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!status || !length) {
      this.fail(
        new Error(`an answer without ${status ? 'content-length' : 'a status line'}: ${head.slice(0, 80)}`),
      );
      return;
    }
    const total = end + 4 + Number(length[1]);
    if (buf.length < total) {
      this.buffered = buf;
      return;
    }
    if (buf.length > total) {
      this.fail(new Error('the server sent more than the answer to the request'));
      return;
    }
    this.buffered = undefined;
    const p = this.pending;
    this.pending = undefined;
    if (!p) this.fail(new Error('an answer to no request'));
    else p.resolve(Number(status[1]));
  }
}

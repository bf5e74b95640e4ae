import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { BenchConnection } from './bench-http.js';

/** A real HTTP server on loopback answering each request as `answer` says. */
async function server(
  answer: (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void,
): Promise<{ url: URL; close: () => Promise<void> }> {
  const s = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => answer(req, Buffer.concat(parts), res));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}`),
    close: () => {
      s.closeAllConnections();
      return new Promise((resolve) => s.close(() => resolve()));
    },
  };
}

test('bench connection: requests in turn on one kept connection, statuses and bodies as sent', async () => {
  const seen: Array<{ path: string; auth: string; bytes: number; socket: unknown }> = [];
  const srv = await server((req, body, res) => {
    seen.push({
      path: req.url ?? '',
      auth: req.headers.authorization ?? '',
      bytes: body.length,
      socket: req.socket,
    });
    // A large answer arrives in several chunks: the client must read it whole.
    const text = body.length === 3 ? 'x'.repeat(200_000) : '{"ok":true}';
    res.writeHead(body.length === 3 ? 202 : 200, { 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  const c = new BenchConnection(srv.url, '/api/v1/ingest', { authorization: 'Bearer t0k' });
  try {
    assert.equal(await c.post(Buffer.alloc(5000, 1)), 200);
    assert.equal(await c.post(Buffer.from('abc')), 202);
    assert.equal(await c.post(Buffer.alloc(0)), 200);
    assert.deepEqual(
      seen.map((s) => [s.path, s.auth, s.bytes]),
      [
        ['/api/v1/ingest', 'Bearer t0k', 5000],
        ['/api/v1/ingest', 'Bearer t0k', 3],
        ['/api/v1/ingest', 'Bearer t0k', 0],
      ],
    );
    assert.ok(seen[0]!.socket === seen[2]!.socket, 'the connection is kept between requests');
  } finally {
    c.close();
    await srv.close();
  }
});

test('bench connection: a connection the server closed is opened again; failures reject, never hang', async () => {
  let n = 0;
  const srv = await server((_req, _body, res) => {
    n++;
    if (n === 2) {
      // No content-length: chunked, which the client refuses rather than guesses at.
      res.writeHead(200);
      res.end('chunked');
      return;
    }
    res.writeHead(200, { connection: 'close', 'content-length': 2 });
    res.end('ok');
  });
  const c = new BenchConnection(srv.url, '/', {});
  try {
    assert.equal(await c.post(Buffer.from('a')), 200);
    // The server closed after its answer: the next request goes on a new connection.
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(c.post(Buffer.from('b')), /without content-length/);
    assert.equal(await c.post(Buffer.from('c')), 200);
    await srv.close();
    await assert.rejects(c.post(Buffer.from('d')), /ECONNREFUSED|closed/);
  } finally {
    c.close();
    await srv.close().catch(() => {});
  }
});

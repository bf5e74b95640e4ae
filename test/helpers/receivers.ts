/**
 * Real receivers of notifications on loopback for tests: an HTTP endpoint (node:http) that records what it
 * gets and answers with a chosen status, an SMTP server (`smtp-server`, from the nodemailer project), and
 * Debian's Alertmanager started with a temporary config and storage.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { freePort } from './prometheus.js';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Date.now() when the whole body had arrived. */
  at: number;
  /** The status this receiver answered. */
  status: number;
}

export interface HttpReceiver {
  url: string;
  received: Received[];
  /** The status for the n-th request (0-based); change it at any time. */
  respond: (n: number) => number;
  close(): Promise<void>;
}

export async function startHttpReceiver(respond: (n: number) => number = () => 200): Promise<HttpReceiver> {
  const received: Received[] = [];
  const r: HttpReceiver = {
    url: '',
    received,
    respond,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  let n = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = r.respond(n++);
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
        status,
      });
      // Like many real receivers, an error answer echoes the request path (a secret, for Slack).
      res
        .writeHead(status, { 'content-type': 'text/plain' })
        .end(status < 300 ? 'ok' : `status ${status} for ${req.url}`);
    });
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = r.close;
  r.close = async () => {
    server.closeAllConnections();
    await close();
  };
  return r;
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  at: number;
}

export interface SmtpReceiver {
  host: string;
  port: number;
  mails: ReceivedMail[];
  close(): Promise<void>;
}

/** An SMTP server on loopback taking any mail (no TLS, no auth) and keeping it. */
export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, done) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((a) => a.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        });
        done();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    mails,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export const alertmanagerPath = '/usr/bin/prometheus-alertmanager';

export interface Alertmanager {
  url: string;
  /** GET /api/v2/alerts (active, silenced, inhibited and unprocessed alerts; resolved ones are left out). */
  alerts(): Promise<
    Array<{
      labels: Record<string, string>;
      annotations: Record<string, string>;
      startsAt: string;
      endsAt: string;
      status: { state: string };
    }>
  >;
  stop(): Promise<void>;
}

/** Debian's Alertmanager on a free loopback port, clustering off, with a temporary config and storage. */
export async function startAlertmanager(): Promise<Alertmanager> {
  const dir = await mkdtemp(join(tmpdir(), 'pgvigil-am-'));
  const config = join(dir, 'alertmanager.yml');
  await writeFile(config, "route:\n  receiver: 'none'\nreceivers:\n  - name: 'none'\n");
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(
      alertmanagerPath,
      [
        `--config.file=${config}`,
        `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    const url = `http://127.0.0.1:${port}`;
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    };
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        if ((await fetch(`${url}/-/ready`)).ok) {
          return {
            url,
            alerts: async () =>
              (await (await fetch(`${url}/api/v2/alerts`)).json()) as Awaited<
                ReturnType<Alertmanager['alerts']>
              >,
            stop: async () => {
              await stop();
              await rm(dir, { recursive: true, force: true });
            },
          };
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await stop();
    if (attempt === 3) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`alertmanager did not start: ${stderr.slice(-2000)}`);
    }
  }
}

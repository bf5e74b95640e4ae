/**
 * The agent port: a second HTTPS listener of the same app, for agents only, that asks every client for a
 * certificate from the agent CA (./auth/ca.ts). The main port never asks for one, so browsers and API
 * clients are never shown a certificate prompt; agents get mutual TLS here.
 *
 * - The handshake asks for a client certificate but does not insist (`rejectUnauthorized: false`): an
 *   agent enrolls here before it has one, and an agent whose certificate expired renews with its bearer
 *   credential. What the certificate proves is decided per request by the agent guard (./auth/guard.ts):
 *   an authorized certificate names the agent (URI `pgvigil:agent:<id>`), one that is not is refused
 *   unless a bearer credential comes with it.
 * - Only agent routes answer here (enrollment, ingest, config, certificate renewal, health): everything
 *   else is 404, so the agent port is no second way into the API or the dashboard.
 * - TLS 1.3 at least unless the server was started with `--tls-min-version 1.2`.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { listenError, PgvigilError } from '../errors.js';
import { agentIdOfCertificate } from './auth/ca.js';

const onAgentListener = Symbol('pgvigil.agentListener');

type MarkedSocket = TLSSocket & { [onAgentListener]?: true };

/** Whether this request came in on the agent port. */
export function onAgentPort(req: FastifyRequest): boolean {
  return (req.raw.socket as MarkedSocket | undefined)?.[onAgentListener] === true;
}

/** What the client certificate of an agent-port request says; undefined when none was presented. */
export interface PeerCertificate {
  /** Chains to the agent CA and is within its validity. */
  authorized: boolean;
  /** Why not, when not (e.g. CERT_HAS_EXPIRED). */
  error?: string;
  /** The agent the certificate names, if exactly one. */
  agentId?: string;
}

export function peerCertificateOf(req: FastifyRequest): PeerCertificate | undefined {
  if (!onAgentPort(req)) return undefined;
  const socket = req.raw.socket as TLSSocket;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const error = socket.authorizationError;
  return {
    authorized: socket.authorized,
    error: error === undefined || error === null ? undefined : String(error),
    agentId: agentIdOfCertificate(cert.subjectaltname),
  };
}

/** The public routes an agent uses; with every `agent` role route, all that answers on the agent port. */
const agentPortPublicRoutes = new Set(['/api/v1/agents/enroll', '/api/v1/health', '/api/v1/ready']);

/** onRequest hook: on the agent port, anything but agent routes is 404 (before any user check). */
export async function agentPortOnly(req: FastifyRequest): Promise<void> {
  if (!onAgentPort(req)) return;
  const route = req.routeOptions.url ?? '';
  const role = req.routeOptions.config?.role;
  if (!(role === 'agent' || (role === 'public' && agentPortPublicRoutes.has(route)))) {
    throw new PgvigilError('NOT_FOUND', 'the agent port serves agent routes only; use the main port');
  }
}

export interface AgentListenerOptions {
  /** The server certificate and key (PEM files), as for the main port. */
  cert: string;
  key: string;
  /** The agent CA certificate (PEM): the only issuer accepted for client certificates here. */
  caCertificate: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  host: string;
  port: number;
}

export interface AgentListener {
  url: string;
  /** Serves this certificate and key (already checked) from the next connection: a renewal in place. */
  setCertificate(cert: Buffer, key: Buffer): void;
  close(): Promise<void>;
}

/** Starts the agent port for `app` (which must be ready); requests go through the app's own routing. */
export async function startAgentListener(
  app: FastifyInstance,
  opts: AgentListenerOptions,
): Promise<AgentListener> {
  const context = (cert: Buffer, key: Buffer) => ({
    cert,
    key,
    ca: opts.caCertificate,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: opts.minVersion,
  });
  const server = https.createServer(context(readFileSync(opts.cert), readFileSync(opts.key)), (req, res) =>
    app.routing(req, res),
  );
  server.on('secureConnection', (socket: MarkedSocket) => {
    socket[onAgentListener] = true;
  });
  // As fastify's own server: idle keep-alive connections do not outlive a stop.
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError(err, opts.host, opts.port, '--agent-port')));
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let closing: Promise<void> | undefined;
  return {
    url: `https://${host}:${port}`,
    setCertificate: (cert, key) => server.setSecureContext(context(cert, key)),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // A connection kept alive after its last answer would hold the stop for the keep-alive timeout.
        setTimeout(() => server.closeAllConnections(), 5000).unref();
      });
      return closing;
    },
  };
}

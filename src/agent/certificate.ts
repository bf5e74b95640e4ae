/**
 * The agent's client certificate for the server's agent port (mutual TLS): the agent makes its own key
 * (EC P-256) and sends only a certificate request, so the private key never leaves this host; the server's
 * agent CA answers with a certificate naming this agent (URI `pgvigil:agent:<id>`).
 *
 * - Kept in `<stateDir>/client-certificate.json` (mode 0600, written whole under a temporary name then
 *   renamed): the PEM key, the PEM certificate, and when it was received (by this host's clock, so renewal
 *   timing does not depend on the server's clock or the certificate's back-dated start).
 * - Renewed at two thirds of its life (received → notAfter), with a new key, over the authenticated
 *   connection: the current certificate while valid, the bearer credential after it expired.
 * - A server without an agent port answers CERTIFICATE_UNAVAILABLE: the agent stops asking until its next
 *   start and goes on with its bearer credential, which every server accepts.
 */
import { type KeyObject, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { createCsr, newAgentKeyPair } from '../protocol/csr.js';
import { type AgentHttp, errorMessage } from './http.js';

export interface ClientCertificate {
  /** PEM. */
  key: string;
  /** PEM. */
  certificate: string;
  /** ISO time this agent received it. */
  receivedAt: string;
}

export function clientCertificateFile(stateDir: string): string {
  return join(stateDir, 'client-certificate.json');
}

export async function saveClientCertificate(stateDir: string, c: ClientCertificate): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = clientCertificateFile(stateDir);
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(c, null, 2), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

export async function loadClientCertificate(stateDir: string): Promise<ClientCertificate | undefined> {
  const file = clientCertificateFile(stateDir);
  if (!existsSync(file)) return undefined;
  try {
    const c = JSON.parse(await readFile(file, 'utf8')) as ClientCertificate;
    new X509Certificate(c.certificate);
    return c;
  } catch {
    // A damaged file is as good as none: the agent asks for a new certificate.
    return undefined;
  }
}

/** A fresh key and a certificate request for it: what enrollment and renewal send. */
export function certificateRequest(): { key: KeyObject; keyPem: string; csr: string } {
  const { privateKey, publicKey } = newAgentKeyPair();
  return {
    key: privateKey,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    csr: createCsr(privateKey, publicKey, `pgvigil agent on ${hostname()}`.slice(0, 64)),
  };
}

/** When a certificate received at `receivedAt` should be renewed: two thirds of the way to its end. */
export function renewalDue(c: ClientCertificate): number {
  const received = Date.parse(c.receivedAt);
  const end = new Date(new X509Certificate(c.certificate).validTo).getTime();
  return received + ((end - received) * 2) / 3;
}

export function expiresAt(c: ClientCertificate): number {
  return new Date(new X509Certificate(c.certificate).validTo).getTime();
}

export interface CertificateKeeperOptions {
  stateDir: string;
  http: AgentHttp;
  agentId: string;
  credential: () => string;
  log: Logger;
  /** How often to check whether renewal is due (default hourly). */
  checkMs?: number;
}

/** Keeps the client certificate current and the HTTP client presenting it. */
export class CertificateKeeper {
  private current: ClientCertificate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unavailable = false;
  private renewing: Promise<void> | undefined;
  /** Renewals done and failed since start, for the agent's health. */
  readonly stats = { renewed: 0, failed: 0 };

  constructor(private readonly opts: CertificateKeeperOptions) {}

  /** The certificate in use, if any. */
  get certificate(): ClientCertificate | undefined {
    return this.current;
  }

  /** Uses `c` from now on (saved first, so a restart keeps it). */
  async adopt(c: ClientCertificate): Promise<void> {
    await saveClientCertificate(this.opts.stateDir, c);
    this.present(c);
  }

  private present(c: ClientCertificate | undefined): void {
    this.current = c;
    if (c && expiresAt(c) > Date.now()) this.opts.http.setClientCertificate(c.certificate, c.key);
    else this.opts.http.setClientCertificate(undefined, undefined);
  }

  /**
   * Loads the saved certificate and presents it while valid; checks for renewal now (not waited for: a
   * server that is away must not hold up the agent's start) and then every `checkMs`.
   */
  async start(): Promise<void> {
    this.present(await loadClientCertificate(this.opts.stateDir));
    void this.check();
    this.timer = setInterval(() => void this.check(), this.opts.checkMs ?? 3_600_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Renews when due (or when there is none yet), once at a time; never throws. */
  check(): Promise<void> {
    if (this.unavailable) return Promise.resolve();
    if (this.current && Date.now() < renewalDue(this.current)) return Promise.resolve();
    this.renewing ??= this.renew().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async renew(): Promise<void> {
    const { log } = this.opts;
    // Past its end the certificate is no credential: stop presenting it and renew with the bearer.
    if (this.current && expiresAt(this.current) <= Date.now()) this.present(undefined);
    const req = certificateRequest();
    try {
      const res = await this.opts.http.request(
        'POST',
        `/api/v1/agents/${this.opts.agentId}/certificate`,
        { authorization: `Bearer ${this.opts.credential()}`, 'content-type': 'application/json' },
        Buffer.from(JSON.stringify({ csr: req.csr })),
      );
      if (res.status === 201) {
        const body = JSON.parse(res.body.toString('utf8')) as {
          certificate: string;
          certificateNotAfter: string;
        };
        await this.adopt({
          key: req.keyPem,
          certificate: body.certificate,
          receivedAt: new Date().toISOString(),
        });
        this.stats.renewed++;
        log.info({ notAfter: body.certificateNotAfter }, 'client certificate received from the server');
        return;
      }
      const reason = errorMessage(res);
      if (res.status === 409 && reason.startsWith('CERTIFICATE_UNAVAILABLE')) {
        this.unavailable = true;
        if (this.current) {
          log.warn({ reason }, 'the server issues no client certificates here; using the bearer credential');
        } else {
          log.debug({ reason }, 'the server issues no client certificates here; using the bearer credential');
        }
        return;
      }
      this.stats.failed++;
      log.warn({ status: res.status, reason }, 'could not renew the client certificate; will retry');
    } catch (err) {
      this.stats.failed++;
      log.warn({ err }, 'could not renew the client certificate; will retry');
    }
  }
}

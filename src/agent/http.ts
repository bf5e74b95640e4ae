/**
 * The agent's HTTP client: node:http/https only (no HTTP library in the agent), keep-alive, a private CA
 * (`--ca`) and mutual TLS — with the operator's `--cert`/`--key`, or else with the client certificate the
 * server's agent CA issued (./certificate.ts, swapped in with `setClientCertificate`) — a timeout on every
 * request, bodies read up to a bound.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class AgentHttp {
  private agent: http.Agent;
  private readonly base: URL;
  private readonly ca: Buffer | undefined;
  /** The operator's --cert/--key: then the issued certificate is not used. */
  private readonly fixedClientCertificate: boolean;
  private readonly retired = new Set<http.Agent>();

  constructor(serverUrl: string, tls: TlsFiles = {}) {
    this.base = new URL(serverUrl);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new Error(`server URL must be http:// or https://, got ${serverUrl}`);
    }
    this.ca = tls.ca ? readFileSync(tls.ca) : undefined;
    this.fixedClientCertificate = tls.cert !== undefined;
    this.agent =
      this.base.protocol === 'https:'
        ? this.httpsAgent(
            tls.cert ? readFileSync(tls.cert) : undefined,
            tls.key ? readFileSync(tls.key) : undefined,
          )
        : new http.Agent({ keepAlive: true, maxSockets: 4 });
  }

  private httpsAgent(cert: Buffer | string | undefined, key: Buffer | string | undefined): https.Agent {
    return new https.Agent({ keepAlive: true, maxSockets: 4, ca: this.ca, cert, key });
  }

  /**
   * Presents this client certificate (PEM) from the next connection on; undefined presents none. A no-op
   * over http:// or when the operator gave --cert/--key; false then. Connections of the previous setting
   * finish their requests and are closed a minute later.
   */
  setClientCertificate(certificate: string | undefined, key: string | undefined): boolean {
    if (this.base.protocol !== 'https:' || this.fixedClientCertificate) return false;
    const old = this.agent;
    this.agent = this.httpsAgent(certificate, key);
    this.retired.add(old);
    setTimeout(() => {
      old.destroy();
      this.retired.delete(old);
    }, 60_000).unref();
    return true;
  }

  request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: Buffer,
    timeoutMs = 30_000,
  ): Promise<HttpResponse> {
    const url = new URL(path, this.base);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method,
          agent: this.agent,
          headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > 4 * 1024 * 1024) {
              req.destroy(new Error('response larger than 4 MiB'));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.setTimeout(timeoutMs, () =>
        req.destroy(new Error(`no answer from ${url.host} within ${timeoutMs} ms`)),
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
    for (const a of this.retired) a.destroy();
    this.retired.clear();
  }
}

/** The server's error message from a JSON error body, for logs. */
export function errorMessage(res: HttpResponse): string {
  try {
    const j = JSON.parse(res.body.toString('utf8')) as { error?: { code?: string; message?: string } };
    if (j.error) return `${j.error.code ?? ''} ${j.error.message ?? ''}`.trim();
  } catch {
    // not JSON
  }
  return res.body.toString('utf8').slice(0, 200) || `HTTP ${res.status}`;
}

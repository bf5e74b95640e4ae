/**
 * The agent's HTTP client: node:http/https only (no HTTP library in the agent), keep-alive, a private CA
 * (`--ca`) and mutual TLS — with the operator's `--cert`/`--key`, or else with the client certificate the
 * server's agent CA issued (./certificate.ts, swapped in with `setClientCertificate`) — a timeout on every
 * request, bodies read up to a bound.
 *
 * Several servers on one store (`--server https://a:8470,https://b:8470`): requests go to one of them until
 * it cannot be reached or answers 502/503/504, and then to the next, within the same request. Any of them
 * may take any request: the store keeps ingest exactly-once (a batch sent again is acknowledged, not
 * stored twice), so a batch whose first answer was lost is safe to send to another.
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

/** Answers after which the next server is tried (a proxy or a server without its store). */
const tryNextStatus = new Set([502, 503, 504]);

/** The servers of a `--server` value: one URL, or several separated by commas. */
export function serverUrls(list: string): string[] {
  return list
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
}

export class AgentHttp {
  private agent: http.Agent;
  private readonly bases: URL[];
  /** The server requests go to first: the last one that answered. */
  private current = 0;
  private readonly ca: Buffer | undefined;
  /** The operator's --cert/--key: then the issued certificate is not used. */
  private readonly fixedClientCertificate: boolean;
  private readonly retired = new Set<http.Agent>();

  constructor(serverUrl: string, tls: TlsFiles = {}) {
    this.bases = serverUrls(serverUrl).map((u) => new URL(u));
    const protocol = this.bases[0]?.protocol;
    if ((protocol !== 'http:' && protocol !== 'https:') || this.bases.some((b) => b.protocol !== protocol)) {
      throw new Error(`server URLs must all be http:// or all https://, got ${serverUrl}`);
    }
    this.ca = tls.ca ? readFileSync(tls.ca) : undefined;
    this.fixedClientCertificate = tls.cert !== undefined;
    this.agent =
      protocol === 'https:'
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
    if (this.bases[0]!.protocol !== 'https:' || this.fixedClientCertificate) return false;
    const old = this.agent;
    this.agent = this.httpsAgent(certificate, key);
    this.retired.add(old);
    setTimeout(() => {
      old.destroy();
      this.retired.delete(old);
    }, 60_000).unref();
    return true;
  }

  async request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: Buffer,
    timeoutMs = 30_000,
  ): Promise<HttpResponse> {
    const n = this.bases.length;
    for (let k = 0; ; k++) {
      const i = (this.current + k) % n;
      const last = k === n - 1;
      try {
        const res = await this.send(this.bases[i]!, method, path, headers, body, timeoutMs);
        if (last || !tryNextStatus.has(res.status)) {
          this.current = i;
          return res;
        }
      } catch (err) {
        if (last) throw err;
      }
    }
  }

  private send(
    base: URL,
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    timeoutMs: number,
  ): Promise<HttpResponse> {
    const url = new URL(path, base);
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

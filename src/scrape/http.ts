/**
 * One bounded HTTP GET for a scrape: node:http/https only, a deadline over the whole exchange (every
 * redirect hop and the body; the request is aborted when it passes), a byte cap on the body (the stream is
 * destroyed at the cap, so no more than the cap is ever held), no compression asked for, redirects followed
 * by hand up to a bound.
 *
 * With an address policy (server-side scrapes, see src/server/scrape/guard.ts) every address is checked
 * where it is used: a literal address in the URL before connecting, every address a name resolves to in
 * the connection's own `lookup` (so the address connected to is one that was checked: a DNS answer that
 * changes between a check and the connection — rebinding — cannot slip past), the socket's remote address
 * once connected, and each redirect hop again, through the same path.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction, type Socket } from 'node:net';

/** Says why an address may not be scraped (a sentence naming the address and the rule), or undefined. */
export type AddressPolicy = (address: string) => string | undefined;

export type FetchFailure = 'refused' | 'timeout' | 'too-large' | 'http' | 'network' | 'redirect';

export class ScrapeFetchError extends Error {
  constructor(
    readonly kind: FetchFailure,
    message: string,
  ) {
    super(message);
    this.name = 'ScrapeFetchError';
  }
}

export interface FetchOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Redirects followed (each hop checked like the first); default 5. */
  maxRedirects?: number;
  accept: string;
  policy?: AddressPolicy;
  userAgent?: string;
}

export interface FetchResult {
  status: number;
  contentType: string;
  body: string;
  bytes: number;
  /** The URL that answered (after redirects), without credentials. */
  url: string;
  /** The address connected to. */
  address: string;
}

/** The URL without user:password, for messages. */
export function redactUrl(u: URL): string {
  if (u.username === '' && u.password === '') return u.href;
  const c = new URL(u.href);
  c.username = '';
  c.password = '';
  return c.href;
}

function bare(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** A `lookup` for net.connect that resolves as the system does and refuses a name with a refused address. */
function guardedLookup(policy: AddressPolicy): LookupFunction {
  return ((
    hostname: string,
    options: { all?: boolean; family?: number },
    callback: (...a: unknown[]) => void,
  ) => {
    dnsLookup(hostname, { all: true, verbatim: true, family: options.family ?? 0 }, (err, addresses) => {
      if (err) return callback(err);
      const list = addresses as LookupAddress[];
      for (const a of list) {
        const why = policy(a.address);
        if (why !== undefined) {
          return callback(new ScrapeFetchError('refused', `refused: ${hostname} resolves to ${why}`));
        }
      }
      if (list.length === 0)
        return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }));
      if (options.all) return callback(null, list);
      return callback(null, list[0]!.address, list[0]!.family);
    });
  }) as LookupFunction;
}

interface Hop {
  status: number;
  location?: string;
  result?: FetchResult;
}

function oneHop(url: URL, opts: FetchOptions, signal: AbortSignal): Promise<Hop> {
  return new Promise((resolve, reject) => {
    const host = bare(url.hostname);
    if (opts.policy && isIP(host)) {
      const why = opts.policy(host);
      if (why !== undefined) return reject(new ScrapeFetchError('refused', `refused: ${why}`));
    }
    const mod = url.protocol === 'https:' ? https : http;
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(e);
    };
    const req = mod.request(
      url,
      {
        method: 'GET',
        agent: false,
        signal,
        headers: {
          accept: opts.accept,
          'accept-encoding': 'identity',
          'user-agent': opts.userAgent ?? 'pgvigil-scrape',
        },
        ...(opts.policy ? { lookup: guardedLookup(opts.policy) } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location !== undefined) {
          res.resume();
          settled = true;
          resolve({ status, location: res.headers.location });
          req.destroy();
          return;
        }
        if (status < 200 || status >= 300) {
          res.resume();
          return fail(new ScrapeFetchError('http', `${redactUrl(url)} answered HTTP ${status}`));
        }
        const enc = (res.headers['content-encoding'] ?? 'identity').toLowerCase();
        if (enc !== 'identity') {
          return fail(
            new ScrapeFetchError(
              'http',
              `${redactUrl(url)} sent a ${enc}-encoded body, which was not asked for`,
            ),
          );
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > opts.maxBytes) {
          return fail(
            new ScrapeFetchError(
              'too-large',
              `${redactUrl(url)} declares ${declared} bytes, over the ${opts.maxBytes}-byte cap`,
            ),
          );
        }
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (bytes > opts.maxBytes) {
            fail(
              new ScrapeFetchError(
                'too-large',
                `${redactUrl(url)} sent more than the ${opts.maxBytes}-byte cap; cut there`,
              ),
            );
            return;
          }
          chunks.push(c);
        });
        res.on('error', (e) => fail(e));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          resolve({
            status,
            result: {
              status,
              contentType: String(res.headers['content-type'] ?? ''),
              body: Buffer.concat(chunks).toString('utf8'),
              bytes,
              url: redactUrl(url),
              address: res.socket?.remoteAddress ?? '',
            },
          });
        });
      },
    );
    req.on('socket', (socket: Socket) => {
      if (!opts.policy) return;
      const policy = opts.policy;
      // Defence in depth: whatever resolved the name, the address connected to is checked too.
      const check = () => {
        const remote = socket.remoteAddress;
        const why = remote === undefined ? undefined : policy(remote);
        if (why !== undefined) fail(new ScrapeFetchError('refused', `refused: connected to ${why}`));
      };
      if (socket.remoteAddress !== undefined && !socket.connecting) check();
      else socket.once('connect', check);
    });
    req.on('error', (e) => {
      if (e instanceof ScrapeFetchError) return fail(e);
      if (signal.aborted)
        return fail(
          new ScrapeFetchError(
            'timeout',
            `no complete answer from ${redactUrl(url)} within ${opts.timeoutMs} ms`,
          ),
        );
      const code = (e as NodeJS.ErrnoException).code;
      fail(new ScrapeFetchError('network', `${redactUrl(url)}: ${code ?? e.message}`));
    });
    req.end();
  });
}

/** GETs `target`, following redirects, under the options' deadline, cap and address policy. */
export async function fetchBounded(target: string, opts: FetchOptions): Promise<FetchResult> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new ScrapeFetchError('network', 'the scrape URL is not a URL');
  }
  const maxRedirects = opts.maxRedirects ?? 5;
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), opts.timeoutMs);
  try {
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new ScrapeFetchError('redirect', `${redactUrl(url)}: only http:// and https:// are scraped`);
      }
      const r = await oneHop(url, opts, ctrl.signal);
      if (r.result) return r.result;
      if (hop >= maxRedirects) {
        throw new ScrapeFetchError(
          'redirect',
          `more than ${maxRedirects} redirects (last to ${r.location!.slice(0, 200)})`,
        );
      }
      try {
        url = new URL(r.location!, url);
      } catch {
        throw new ScrapeFetchError(
          'redirect',
          `redirect to an invalid location ${r.location!.slice(0, 200)}`,
        );
      }
    }
  } catch (e) {
    if (ctrl.signal.aborted && !(e instanceof ScrapeFetchError && e.kind !== 'network')) {
      throw new ScrapeFetchError(
        'timeout',
        `no complete answer from ${redactUrl(url)} within ${opts.timeoutMs} ms`,
      );
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

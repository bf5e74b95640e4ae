/**
 * One HTTP POST to a receiver, through node's fetch with a timeout, and what came of it: sent, or a
 * failure with a bounded reason (the metric label) and whether a retry could ever succeed.
 *
 * Redirects are not followed (a receiver could otherwise send pgvigil on to an address the SSRF guard
 * refuses), and the destination's address is checked again just before the send.
 */
import { type DestinationCheck, refusedDestination } from './address.js';

export interface HttpDelivery {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type FailureReason =
  | 'http-4xx'
  | 'http-5xx'
  | 'redirect'
  | 'timeout'
  | 'network'
  | 'address-refused'
  | 'smtp'
  | 'key-mismatch';

export interface SendResult {
  ok: boolean;
  /** The receiver's HTTP status (SMTP reply code for e-mail), when it answered. */
  status: number | null;
  latencyMs: number;
  reason?: FailureReason;
  /** True when sending the same again cannot succeed (a 4xx other than 408/429). */
  permanent: boolean;
  /** For the operator: the status and the start of the receiver's answer, or the network error. */
  error?: string;
}

export interface SendOptions extends DestinationCheck {
  timeoutMs: number;
}

const maxErrorText = 300;

export function failure(
  reason: FailureReason,
  error: string,
  started: number,
  status: number | null = null,
): SendResult {
  return { ok: false, status, latencyMs: Date.now() - started, reason, permanent: false, error };
}

/** The failure when the destination may not be sent to now (the SSRF guard, at send time), else undefined. */
export async function destinationFailure(
  host: string,
  opts: DestinationCheck,
  started: number,
): Promise<SendResult | undefined> {
  try {
    const refused = await refusedDestination(host, opts);
    return refused ? failure('address-refused', `refused: ${refused}`, started) : undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'lookup failed';
    return failure('network', `the host does not resolve (${code})`, started);
  }
}

/** A fetch failure in words: undici puts the useful part (ECONNREFUSED 127.0.0.1:9) in `cause`. */
function networkError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

export async function postJson(req: HttpDelivery, opts: SendOptions): Promise<SendResult> {
  const started = Date.now();
  const refused = await destinationFailure(new URL(req.url).hostname, opts, started);
  if (refused) return refused;
  let res: Response;
  try {
    res = await fetch(req.url, {
      method: 'POST',
      headers: req.headers,
      body: req.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError')
      return failure('timeout', `no answer within ${opts.timeoutMs} ms`, started);
    return failure('network', networkError(err), started);
  }
  const text = (await res.text().catch(() => '')).slice(0, maxErrorText).replace(/\s+/g, ' ').trim();
  const latencyMs = Date.now() - started;
  if (res.status >= 200 && res.status < 300)
    return { ok: true, status: res.status, latencyMs, permanent: false };
  const error = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
  if (res.status >= 300 && res.status < 400)
    return {
      ...failure('redirect', `${error} (redirects are not followed)`, started, res.status),
      permanent: true,
    };
  if (res.status >= 400 && res.status < 500) {
    return {
      ...failure('http-4xx', error, started, res.status),
      permanent: res.status !== 408 && res.status !== 429,
    };
  }
  return failure('http-5xx', error, started, res.status);
}

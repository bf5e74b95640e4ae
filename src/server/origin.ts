/** Origins (scheme://host[:port]) for the checks that stop other sites acting with a user's cookie. */
import type { FastifyRequest } from 'fastify';

/** scheme://host[:port] in its canonical form (lower case, default port dropped), or undefined. */
export function canonicalOrigin(value: string): string | undefined {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

/**
 * Whether a handshake's Origin may open the feed: absent (not a browser) or equal to the server's own
 * origin as the request names it, or listed.
 */
export function originAllowed(
  origin: string | undefined,
  ownOrigin: string | undefined,
  allowed: ReadonlySet<string>,
): boolean {
  if (origin === undefined) return true;
  const o = canonicalOrigin(origin);
  if (o === undefined) return false;
  return o === ownOrigin || allowed.has(o);
}

/** This server's own origin as the request names it (Host header), canonical; undefined without Host. */
export function ownOrigin(req: FastifyRequest): string | undefined {
  const host = req.headers.host;
  return host ? canonicalOrigin(`${req.protocol}://${host}`) : undefined;
}

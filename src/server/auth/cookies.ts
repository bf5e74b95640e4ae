/** The browser's session cookies: names, parsing and setting (no dependency for three cookies). */
import type { FastifyReply } from 'fastify';

export const accessCookie = 'pgvigil_access';
export const refreshCookie = 'pgvigil_refresh';

/** Cookie header → name/value pairs. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header || header.length > 8192) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const name = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim();
    try {
      out.set(name, decodeURIComponent(value));
    } catch {
      out.set(name, value);
    }
  }
  return out;
}

/** Sets (or with `maxAgeSeconds` 0 clears) an httpOnly, SameSite=Strict cookie. */
export function setCookie(
  reply: FastifyReply,
  name: string,
  value: string,
  opts: { maxAgeSeconds: number; path: string; secure: boolean },
): void {
  const parts = [
    `${name}=${encodeURIComponent(value)}`,
    `Max-Age=${opts.maxAgeSeconds}`,
    `Path=${opts.path}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (opts.secure) parts.push('Secure');
  const prev = reply.getHeader('set-cookie');
  const list = Array.isArray(prev) ? prev : prev === undefined ? [] : [String(prev)];
  reply.header('set-cookie', [...list, parts.join('; ')]);
}
